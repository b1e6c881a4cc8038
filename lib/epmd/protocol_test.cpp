// epmd codec: vectors recorded from real erl and epmd (lib/epmd/testdata), split-at-every-byte
// parsing, and malformed input.
#include <erlnode/epmd/protocol.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

using namespace erlnode;
using namespace erlnode::epmd;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes unhex(const std::string& h) {
  bytes b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    b.push_back(static_cast<std::uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

// "<name> <kind>" -> bytes
const std::map<std::string, bytes>& vectors() {
  static const std::map<std::string, bytes> v = [] {
    std::map<std::string, bytes> m;
    std::ifstream f(ERLNODE_SOURCE_DIR "/lib/epmd/testdata/epmd_vectors.txt");
    REQUIRE(f.good());
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      std::string name, kind, hex;
      ls >> name >> kind >> hex;
      m[name + " " + kind] = unhex(hex);
    }
    return m;
  }();
  return v;
}
const bytes& vec(const std::string& key) {
  auto it = vectors().find(key);
  REQUIRE(it != vectors().end());
  return it->second;
}
std::string str(const bytes& b) { return std::string(b.begin(), b.end()); }

// Feeds `data` in two pieces split at `cut`; returns the final status or error.
template <class Parser>
result<status> feed_split(Parser& p, const bytes& data, std::size_t cut) {
  std::span<const std::uint8_t> a(data.data(), cut), b(data.data() + cut, data.size() - cut);
  auto r = p.feed(a);
  if (!r) return r;
  REQUIRE(a.empty());
  if (*r == status::complete) {
    REQUIRE(b.empty());
    return r;
  }
  return p.feed(b);
}

request parse_request_split(const bytes& data) {
  std::optional<request> first;
  for (std::size_t cut = 0; cut <= data.size(); ++cut) {
    request_parser p;
    auto r = feed_split(p, data, cut);
    REQUIRE(r);
    REQUIRE(*r == status::complete);
    if (!first)
      first = p.get();
    else
      REQUIRE(p.get() == *first);
  }
  return *first;
}

// Every byte fed alone.
template <class Parser>
result<status> feed_bytewise(Parser& p, const bytes& data) {
  result<status> r = status::need_more;
  for (auto byte : data) {
    std::span<const std::uint8_t> one(&byte, 1);
    r = p.feed(one);
    if (!r || *r == status::complete) return r;
  }
  return r;
}

}  // namespace

TEST_CASE("ALIVE2_REQ from erl parses at every split and re-encodes to the same bytes") {
  const bytes& wire = vec("erl_alive2 c2s");
  auto req = parse_request_split(wire);
  auto& a = std::get<alive2_request>(req);
  CHECK(a.node.name == "vecnode");
  CHECK(a.node.node_type == node_type_normal);
  CHECK(a.node.protocol == protocol_tcp);
  CHECK(a.node.highest_version == 6);
  CHECK(a.node.lowest_version == 5);
  CHECK(a.node.extra.empty());
  CHECK(a.node.port != 0);
  CHECK(encode(req).value() == wire);
}

TEST_CASE("PORT_PLEASE2, NAMES, DUMP, KILL and STOP requests from erl and the epmd CLI") {
  CHECK(std::get<port_please2_request>(parse_request_split(vec("erl_port_please_ok c2s"))).name ==
        "vecnode");
  CHECK(std::get<port_please2_request>(parse_request_split(vec("erl_port_please_unknown c2s")))
            .name == "nosuchnode");
  CHECK(std::holds_alternative<names_request>(parse_request_split(vec("erl_names c2s"))));
  CHECK(std::holds_alternative<names_request>(parse_request_split(vec("cli_names_one c2s"))));
  CHECK(std::holds_alternative<dump_request>(parse_request_split(vec("cli_dump_one c2s"))));
  CHECK(std::holds_alternative<kill_request>(parse_request_split(vec("cli_kill_ok c2s"))));
  CHECK(std::get<stop_request>(parse_request_split(vec("cli_stop_ok c2s"))).name == "relaxed");
  for (auto key : {"erl_port_please_ok c2s", "erl_names c2s", "cli_dump_one c2s", "cli_kill_ok c2s",
                   "cli_stop_ok c2s", "cli_stop_missing c2s"}) {
    INFO(key);
    CHECK(encode(parse_request_split(vec(key))).value() == vec(key));
  }
}

TEST_CASE("ALIVE2 replies from epmd: X_RESP, the old RESP and a taken name") {
  for (auto [key, result, extended] :
       {std::tuple{"erl_alive2 s2c", 0, true}, std::tuple{"alive2_old s2c", 0, false},
        std::tuple{"alive2_taken s2c", 1, true}}) {
    INFO(key);
    const bytes& wire = vec(key);
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      alive2_reply_parser p;
      auto r = feed_split(p, wire, cut);
      REQUIRE(r);
      REQUIRE(*r == status::complete);
      CHECK(int{p.get().result} == result);
      CHECK(p.get().extended == extended);
      bytes out;
      encode(p.get(), out);
      CHECK(out == wire);
    }
  }
  alive2_reply_parser p;
  REQUIRE(feed_bytewise(p, vec("alive2_old s2c")));
  CHECK(p.get().creation >= 1);
  CHECK(p.get().creation <= 3);
}

TEST_CASE("PORT2_RESP from epmd: found and unknown, at every split") {
  const bytes& ok = vec("erl_port_please_ok s2c");
  for (std::size_t cut = 0; cut <= ok.size(); ++cut) {
    port2_reply_parser p;
    auto r = feed_split(p, ok, cut);
    REQUIRE(r);
    REQUIRE(*r == status::complete);
    REQUIRE(p.get().node);
    CHECK(p.get().node->name == "vecnode");
    CHECK(p.get().node->highest_version == 6);
    bytes out;
    encode(p.get(), out);
    CHECK(out == ok);
  }
  // The port in the reply is the one the node registered.
  port2_reply_parser p;
  REQUIRE(feed_bytewise(p, ok));
  request_parser rp;
  std::span<const std::uint8_t> in(vec("erl_alive2 c2s"));
  REQUIRE(rp.feed(in));
  CHECK(p.get().node == std::get<alive2_request>(rp.get()).node);

  port2_reply_parser miss;
  auto r = feed_bytewise(miss, vec("erl_port_please_unknown s2c"));
  REQUIRE(r);
  CHECK(*r == status::complete);
  CHECK(miss.get().result == 1);
  CHECK(!miss.get().node);
  bytes out;
  encode(miss.get(), out);
  CHECK(out == vec("erl_port_please_unknown s2c"));
}

TEST_CASE("NAMES and DUMP replies from epmd") {
  const bytes& wire = vec("erl_names s2c");
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    text_reply_parser p;
    REQUIRE(feed_split(p, wire, cut));
    REQUIRE(p.finish());
    auto names = parse_names(p.get().text);
    REQUIRE(names);
    REQUIRE(names->size() == 1);
    CHECK((*names)[0].name == "vecnode");
    CHECK(format_name_line("vecnode", (*names)[0].port) == p.get().text);
    bytes out;
    encode_port_header(p.get().epmd_port, out);
    out.insert(out.end(), p.get().text.begin(), p.get().text.end());
    CHECK(out == wire);
  }
  text_reply_parser empty;
  REQUIRE(feed_bytewise(empty, vec("cli_names_empty s2c")));
  REQUIRE(empty.finish());
  CHECK(empty.get().text.empty());
  CHECK(parse_names("").value().empty());

  // DUMP lines end in a NUL on the wire.
  text_reply_parser d;
  REQUIRE(feed_bytewise(d, vec("cli_dump_one s2c")));
  REQUIRE(d.finish());
  auto port = parse_names(text_reply_parser{}.get().text);  // (empty)
  REQUIRE(port);
  auto line = d.get().text;
  REQUIRE(line.size() > 1);
  CHECK(line.back() == '\0');
  line.pop_back();
  auto lt = line.find('<'), gt = line.find('>');
  auto fd = std::stoi(line.substr(line.rfind("= ") + 2));
  auto p2 = std::stoi(line.substr(line.find("at port ") + 8));
  CHECK(format_dump_active(line.substr(lt + 1, gt - lt - 1), static_cast<std::uint16_t>(p2), fd) ==
        line);
  text_reply_parser u;
  REQUIRE(feed_bytewise(u, vec("cli_dump_unused s2c")));
  auto text = u.get().text;
  auto first = text.substr(0, text.find('\0'));
  CHECK(format_dump_unused("oldvsn", 4711, std::stoi(first.substr(first.rfind("= ") + 2))) ==
        first);
}

TEST_CASE("KILL and STOP replies from epmd") {
  CHECK(parse_kill_reply(str(vec("cli_kill_ok s2c"))).value() == kill_result::killed);
  CHECK(parse_kill_reply(str(vec("cli_kill_refused s2c"))).value() == kill_result::refused);
  CHECK(parse_stop_reply(str(vec("cli_stop_ok s2c"))).value() == stop_result::stopped);
  CHECK(parse_stop_reply(str(vec("cli_stop_missing s2c"))).value() == stop_result::no_such_node);
  CHECK(parse_stop_reply(str(vec("cli_stop_strict s2c"))).value() == stop_result::refused);
  CHECK(parse_kill_reply("XY").error().code == errc::bad_reply);
  CHECK(parse_stop_reply("garbage").error().code == errc::bad_reply);
}

TEST_CASE("Two requests in one buffer: feed stops at the end of the first") {
  bytes two = vec("erl_names c2s");
  auto& pp = vec("erl_port_please_ok c2s");
  two.insert(two.end(), pp.begin(), pp.end());
  std::span<const std::uint8_t> in(two);
  request_parser p;
  REQUIRE(p.feed(in).value() == status::complete);
  CHECK(std::holds_alternative<names_request>(p.get()));
  CHECK(in.size() == pp.size());
  REQUIRE(p.feed(in).value() == status::complete);
  CHECK(std::get<port_please2_request>(p.get()).name == "vecnode");
  CHECK(in.empty());
}

TEST_CASE("Malformed requests fail with the error and offset") {
  auto fail = [](bytes b) {
    request_parser p(1024);
    std::span<const std::uint8_t> in(b);
    auto r = p.feed(in);
    REQUIRE(!r);
    return r.error();
  };
  CHECK(fail({0, 0}) == error(errc::bad_length, 0));
  CHECK(fail({0x04, 0x01}) == error(errc::bad_length, 0));  // 1025 > limit
  CHECK(fail({0xff, 0xff, 120}) == error(errc::bad_length, 0));
  CHECK(fail({0, 1, 'G'}) == error(errc::unknown_request, 2));
  CHECK(fail({0, 5, 'G', 'E', 'T', ' ', '/'}) == error(errc::unknown_request, 2));
  CHECK(fail({0, 1, 'z'}) == error(errc::bad_name, 3));              // empty name
  CHECK(fail({0, 3, 'z', 'a', '\n'}) == error(errc::bad_name, 3));   // control character
  CHECK(fail({0, 3, 'z', 0xc3, 0x28}) == error(errc::bad_name, 3));  // invalid UTF-8
  CHECK(fail({0, 1, 's'}) == error(errc::bad_name, 3));
  // ALIVE2 whose name length runs past the request.
  bytes a = vec("erl_alive2 c2s");
  a[12] = 0x40;
  CHECK(fail(a) == error(errc::bad_field, 11));
  // ... whose extra length runs past it.
  a = vec("erl_alive2 c2s");
  a[a.size() - 1] = 5;
  CHECK(fail(a).code == errc::bad_field);
  // ... with a byte after the extra field (length covers it).
  a = vec("erl_alive2 c2s");
  a.push_back(0);
  a[1] += 1;
  CHECK(fail(a) == error(errc::trailing_data, a.size() - 1));
  // ... too short for the fixed fields.
  CHECK(fail({0, 5, 'x', 1, 2, 'M', 0}).code == errc::bad_field);
}

TEST_CASE("A truncated request is need_more at every prefix") {
  for (auto key : {"erl_alive2 c2s", "erl_port_please_ok c2s", "cli_stop_ok c2s"}) {
    const bytes& w = vec(key);
    for (std::size_t n = 0; n < w.size(); ++n) {
      request_parser p;
      std::span<const std::uint8_t> in(w.data(), n);
      auto r = p.feed(in);
      REQUIRE(r);
      CHECK(*r == status::need_more);
      CHECK(p.offset() == n);
    }
  }
}

TEST_CASE("Malformed and truncated replies") {
  alive2_reply_parser a;
  bytes bad{'w', 0};
  std::span<const std::uint8_t> in(bad);
  CHECK(a.feed(in).error() == error(errc::bad_reply, 0));
  const bytes& x = vec("erl_alive2 s2c");
  for (std::size_t n = 0; n < x.size(); ++n) {
    alive2_reply_parser p;
    std::span<const std::uint8_t> s(x.data(), n);
    CHECK(p.feed(s).value() == status::need_more);
  }
  port2_reply_parser p;
  std::span<const std::uint8_t> in2(bad.data(), 1);
  bytes v{'v', 0};
  std::span<const std::uint8_t> in3(v);
  CHECK(p.feed(in3).error() == error(errc::bad_reply, 0));
  const bytes& ok = vec("erl_port_please_ok s2c");
  for (std::size_t n = 0; n < ok.size(); ++n) {
    port2_reply_parser q;
    std::span<const std::uint8_t> s(ok.data(), n);
    CHECK(q.feed(s).value() == status::need_more);
  }
  // A name length beyond any node name is refused before buffering it.
  bytes huge(ok.begin(), ok.begin() + 12);
  huge[10] = 0xff;
  huge[11] = 0xff;
  port2_reply_parser h;
  CHECK(feed_bytewise(h, huge).error() == error(errc::bad_name, 10));

  text_reply_parser t;
  bytes two{0, 0};
  std::span<const std::uint8_t> s2(two);
  REQUIRE(t.feed(s2));
  CHECK(t.finish().error() == error(errc::truncated, 2));
  text_reply_parser small(4);
  bytes big{0, 0, 0x11, 0x11, 'a', 'b', 'c', 'd', 'e'};
  std::span<const std::uint8_t> s3(big);
  CHECK(small.feed(s3).error().code == errc::too_large);
  CHECK(parse_names("name a at port x\n").error().code == errc::bad_field);
  CHECK(parse_names("bogus\n").error().code == errc::bad_reply);
  CHECK(parse_names("name a at port 1").error().code == errc::truncated);
  CHECK(parse_names("name a at port 70000\n").error().code == errc::bad_field);
}

TEST_CASE("Encoders refuse what cannot be sent") {
  CHECK(encode(port_please2_request{""}).error().code == errc::bad_name);
  CHECK(encode(stop_request{std::string(2000, 'a')}).error().code == errc::bad_name);
  alive2_request a;
  a.node.name = "n";
  a.node.extra = std::string(70000, 'e');
  bytes out{1, 2};
  CHECK(encode(a, out).error().code == errc::not_encodable);
  CHECK(out == bytes{1, 2});  // nothing appended on failure
  CHECK(valid_name("caf\xc3\xa9"));
  CHECK(!valid_name("a\x7f"));
}
