#include <erlnode/dist/message.hpp>

#include "dist/test_vectors.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace erlnode;
using namespace erlnode::dist;
using bytes = std::vector<std::uint8_t>;

namespace {
const atom beam{"dist_capture@vm"};

dflags negotiated_of(const std::string& conn) {
  auto ch = test::line_bytes(conn, "hs_challenge");
  dflags beam_flags = 0;
  for (int i = 1; i <= 8; ++i) beam_flags = beam_flags << 8 | ch[static_cast<std::size_t>(i)];
  return negotiate(test::flags_of(conn), beam_flags);
}

// The ops each recorded operation produced, per connection kind.
std::vector<int> expected_ops(const std::string& conn, const std::string& label) {
  const bool old = conn == "old";
  static const std::map<std::string, std::vector<int>> common{
      {"reg_send", {6}},        {"link", {1}},
      {"monitor_p", {19}},      {"demonitor_p", {20}},
      {"monitor_p_name", {19}}, {"demonitor_p_name", {20}},
      {"group_leader", {7}},    {"spawn_request", {29}},
      {"reg_send_tt", {16}},    {"spawn_request_tt", {30}},
      {"alias_send", {33}},     {"alias_send_tt", {34}},
      {"unlink_id_ack", {36}},
  };
  if (auto it = common.find(label); it != common.end()) return it->second;
  if (label == "send" || label == "big_send" || label == "atom_cache_again") return {old ? 2 : 22};
  if (label == "send_tt") return {old ? 12 : 23};
  if (label == "unlink") return {old ? 4 : 35};
  // exit/2 with a seq_trace label carries no token unless send tracing is on.
  if (label == "exit2" || label == "exit2_tt") return {old ? 8 : 26};
  if (label == "link_exit") return {1, old ? 3 : 24};
  if (label == "spawn_reply_and_exit") return {31, old ? 21 : 28};
  if (label == "monitor_p_exit_noproc" || label == "monitor_p_exit_reason") return {old ? 21 : 28};
  return {};
}

struct received {
  std::string label;
  decoded_message terms;
  control_message typed;
};

std::vector<received> receive_all(const std::string& conn) {
  const dflags neg = negotiated_of(conn);
  message_receiver rx({.headers_negotiated = uses_headers(neg)});
  const atom me{"fake_" + conn + "@vm"};
  control_context cx{me, beam, neg};
  std::vector<received> out;
  for (auto& p : test::packets_of(conn)) {
    INFO(conn << " " << p.label);
    auto m = rx.on_packet(p.bytes);
    REQUIRE(m);
    if (!m->has_value()) continue;
    auto d = decode_message(std::move(**m));
    REQUIRE(d);
    std::string why;
    auto c = decode_control(d->control, d->message, cx, &why);
    INFO(why);
    REQUIRE(c);
    out.push_back({p.label, std::move(*d), std::move(*c)});
  }
  return out;
}
}  // namespace

TEST_CASE("every recorded erl message decodes and passes the receiver checks") {
  std::set<int> seen;
  for (std::string conn : {"pass", "hdr", "old"}) {
    auto all = receive_all(conn);
    std::map<std::string, std::vector<int>> ops;
    for (auto& r : all) ops[r.label].push_back(static_cast<int>(op_of(r.typed)));
    for (auto& [label, got] : ops) {
      INFO(conn << " " << label);
      CHECK(got == expected_ops(conn, label));
      seen.insert(got.begin(), got.end());
    }
    CHECK(ops.size() >= 20);
  }
  // Ops a BEAM sent us in the recordings.
  CHECK(seen == std::set<int>{1,  2,  3,  4,  6,  7,  8,  12, 16, 19, 20, 21,
                              22, 23, 24, 26, 28, 29, 30, 31, 33, 34, 35, 36});
}

TEST_CASE("decoded contents of recorded messages") {
  for (std::string conn : {"pass", "hdr", "old"}) {
    INFO(conn);
    auto all = receive_all(conn);
    for (auto& r : all) {
      if (r.label == "send") {
        const auto& t = r.terms.message->as<tuple>();
        CHECK(t[0].is_atom(atom("hello")));
        CHECK(t[1].to_utf8_string() == "world");
        CHECK(t[2] == term(42));
        CHECK(t[3].as<pid>().node() == beam);
      }
      if (r.label == "big_send") {
        const auto& t = r.terms.message->as<tuple>();
        CHECK(t[0].is_atom(atom("big")));
        CHECK(t[1].as<binary>().size() == 150000);
        CHECK(t[1].as<binary>().bytes()[149999] == 3);
      }
      if (r.label == "monitor_p_exit_noproc") {
        const term& reason =
            conn == "old" ? std::get<ctl::monitor_p_exit>(r.typed).reason : *r.terms.message;
        CHECK(reason.is_atom(atom("noproc")));
      }
      if (r.label == "unlink_id_ack") CHECK(std::get<ctl::unlink_id_ack>(r.typed).id == 4711);
    }
  }
}

TEST_CASE("pass-through messages re-encode to the BEAM's exact bytes") {
  for (std::string conn : {"pass", "old"}) {
    message_sender tx({.negotiated = negotiated_of(conn)});
    const dflags neg = negotiated_of(conn);
    message_receiver rx({.headers_negotiated = uses_headers(neg)});
    for (auto& p : test::packets_of(conn)) {
      INFO(conn << " " << p.label);
      auto m = rx.on_packet(p.bytes);
      REQUIRE(m);
      auto d = decode_message(std::move(**m));
      REQUIRE(d);
      std::vector<bytes> out;
      REQUIRE(tx.encode(d->control, d->message, out));
      REQUIRE(out.size() == 1);
      CHECK(out[0] == p.bytes);
    }
  }
}

TEST_CASE("our sender's packets decode through our receiver (atom cache, fragments)") {
  const dflags neg = negotiated_of("hdr");
  REQUIRE((neg & flag::dist_hdr_atom_cache));
  REQUIRE((neg & flag::fragments));
  auto recorded = receive_all("hdr");
  message_sender tx({.negotiated = neg});
  message_receiver rx({.headers_negotiated = true});
  std::size_t first_size = 0, second_size = 0;
  for (int round = 0; round < 2; ++round) {
    for (auto& r : recorded) {
      INFO(r.label);
      std::vector<bytes> packets;
      REQUIRE(tx.encode(r.terms.control, r.terms.message, packets));
      if (r.label == "big_send") {
        CHECK(packets.size() == 3);  // 150 KB at 64 KiB per fragment, as the BEAM does
        CHECK(packets[0][1] == header_fragment_start);
        CHECK(packets[2][1] == header_fragment_cont);
      } else {
        REQUIRE(packets.size() == 1);
        CHECK(packets[0][1] == header_normal);
      }
      if (r.label == "send") (round == 0 ? first_size : second_size) = packets[0].size();
      std::optional<assembled_message> whole;
      for (auto& p : packets) {
        auto m = rx.on_packet(std::move(p));
        REQUIRE(m);
        if (m->has_value()) whole = std::move(**m);
      }
      REQUIRE(whole);
      auto d = decode_message(std::move(*whole));
      REQUIRE(d);
      CHECK(d->control == r.terms.control);
      CHECK(d->message == r.terms.message);
    }
  }
  // The second time the atoms are cache references, not text.
  CHECK(second_size < first_size);
}

TEST_CASE("fragment sizes from 1 byte up reassemble") {
  const pid to{atom("x@h"), 1, 0, 1};
  term control = tuple{22, pid(atom("y@h"), 2, 0, 1), to};
  term message = tuple{atom("payload"), binary(std::string(300, 'z')), list{1, 2, 3}};
  for (dflags extra : {dflags{0}, flag::dist_hdr_atom_cache}) {
    for (std::size_t size = 1; size <= 400; size += (size < 40 ? 1 : 37)) {
      message_sender tx(
          {.negotiated = mandatory_26 | flag::fragments | extra, .fragment_size = size});
      message_receiver rx({.headers_negotiated = true});
      std::vector<bytes> packets;
      REQUIRE(tx.encode(control, message, packets, 77));
      std::optional<assembled_message> whole;
      for (std::size_t i = 0; i < packets.size(); ++i) {
        auto m = rx.on_packet(packets[i]);
        REQUIRE(m);
        CHECK(m->has_value() == (i + 1 == packets.size()));
        if (m->has_value()) whole = std::move(**m);
      }
      REQUIRE(whole);
      auto d = decode_message(std::move(*whole));
      REQUIRE(d);
      CHECK(d->control == control);
      CHECK(d->message == message);
    }
  }
}

TEST_CASE("only FRAGMENTS negotiated: header 131,68,0") {
  message_sender tx({.negotiated = mandatory_26 | flag::fragments});
  std::vector<bytes> packets;
  REQUIRE(tx.encode(ctl::send{pid(atom("x@h"), 1, 0, 1), atom("m")}, packets));
  REQUIRE(packets.size() == 1);
  CHECK(packets[0][0] == 131);
  CHECK(packets[0][1] == 68);
  CHECK(packets[0][2] == 0);
  CHECK(packets[0][3] == 104);  // SMALL_TUPLE_EXT, no version byte
}

TEST_CASE("malformed message terms") {
  auto msg = [](bytes b, bool pass, std::vector<atom> atoms = {}) {
    assembled_message m;
    m.bytes = std::move(b);
    m.offset = pass ? 1 : 3;
    m.version_bytes = pass;
    m.atoms = std::move(atoms);
    return decode_message(std::move(m));
  };
  // {2,'',x@h pid} + 'm' in pass-through form, then cut at every byte.
  message_sender tx({.negotiated = mandatory_26});
  std::vector<bytes> packets;
  REQUIRE(tx.encode(ctl::send{pid(atom("x@h"), 1, 0, 1), atom("m")}, packets));
  bytes good = packets[0];
  REQUIRE(msg(good, true));
  std::size_t ctl_end = 0;
  for (std::size_t n = 2; n < good.size(); ++n) {
    auto r = msg(bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)), true);
    if (r) {
      ctl_end = n;  // a control term alone is complete
      CHECK_FALSE(r->message);
      continue;
    }
    CHECK(r.error().code == etf::errc::truncated);
  }
  CHECK(ctl_end > 0);
  bytes trailing = good;
  trailing.push_back(131);
  trailing.push_back(106);
  auto t = msg(trailing, true);
  REQUIRE(t.has_error());
  CHECK(t.error().code == errc::trailing_data);
  CHECK(t.error().offset == good.size());
  // ATOM_CACHE_REF beyond this header's table.
  auto c = msg(bytes{131, 68, 0, 104, 1, 82, 0}, false);
  REQUIRE(c.has_error());
  CHECK(c.error().code == etf::errc::bad_atom_cache_ref);
  auto ok = msg(bytes{131, 68, 0, 104, 1, 82, 0}, false, {atom("a")});
  REQUIRE(ok);
  CHECK(ok->control == term(tuple{atom("a")}));
}

TEST_CASE("hostile input: corrupted recorded messages never pass unchecked") {
  const dflags neg = negotiated_of("pass");
  const atom me{"fake_pass@vm"};
  control_context cx{me, beam, neg};
  for (auto& p : test::packets_of("pass")) {
    for (std::size_t i = 1; i < p.bytes.size() && i < 96; ++i) {
      bytes bad = p.bytes;
      bad[i] ^= 0xff;
      message_receiver rx({.headers_negotiated = false});
      auto m = rx.on_packet(bad);
      REQUIRE(m);
      auto d = decode_message(std::move(**m));
      if (!d) continue;
      std::string why;
      auto c = decode_control(d->control, d->message, cx, &why);
      if (!c) CHECK_FALSE(why.empty());
    }
  }
}
