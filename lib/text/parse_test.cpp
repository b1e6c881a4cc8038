// parse(): literals, escapes, binaries, errors with offsets, truncation, depth.
#include <erlnode/text.hpp>

#include <erlnode/etf.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "text/erl_map33_vector.hpp"

using namespace erlnode;

namespace {
term P(std::string_view s) {
  auto r = parse(s);
  INFO(std::string(s) << " -> " << (r ? std::string() : r.error().message()));
  REQUIRE(r.has_value());
  return *r;
}
error E(std::string_view s) {
  auto r = parse(s);
  INFO(std::string(s));
  REQUIRE(r.has_error());
  return r.error();
}
}  // namespace

TEST_CASE("parse: atoms and strings") {
  CHECK(P("ok") == term(atom("ok")));
  CHECK(P("'hello world'") == term(atom("hello world")));
  CHECK(P("a@b") == term(atom("a@b")));
  CHECK(P("''") == term(atom("")));
  CHECK(P("'\\x{101}'") == term(atom("\xC4\x81")));
  CHECK(P("'\xC3\xA9'") == term(atom("\xC3\xA9")));
  CHECK(P("\xC3\xA9t\xC3\xA9") == term(atom("\xC3\xA9t\xC3\xA9")));  // unquoted été
  CHECK(P("\"hi\"") == term("hi"));
  CHECK(P("\"a\" \"b\"  \"c\"") == term("abc"));
  CHECK(P("\"\"") == term());
  CHECK(P("\"\\n\\t\\s\\d\\e\\^a\\101\\7\\x41\\x{1F600}\\q\\\"\"") ==
        term(list{10, 9, 32, 127, 27, 1, 65, 7, 65, 0x1F600, 'q', '"'}));
  CHECK(P("$a") == term('a'));
  CHECK(P("$\\n") == term(10));
  CHECK(P("$\\s") == term(32));
  CHECK(P("$ ") == term(32));
  CHECK(P("$\xC4\x81") == term(0x101));
  CHECK(P("-$a") == term(-97));
  CHECK(P("fun lists:map/2") == term(export_fun(atom("lists"), atom("map"), 2)));
  CHECK(P("fun erlang:and/2") == term(export_fun(atom("erlang"), atom("and"), 2)));
}

TEST_CASE("parse: numbers") {
  CHECK(P("0") == term(0));
  CHECK(P("-42") == term(-42));
  CHECK(P("+42") == term(42));
  CHECK(P("- 42") == term(-42));
  CHECK(P("1_000_000") == term(1000000));
  CHECK(P("16#ff_ff") == term(65535));
  CHECK(P("2#1010") == term(10));
  CHECK(P("36#zZ") == term(36 * 35 + 35));
  CHECK(P("-16#10") == term(-16));
  CHECK(P("9223372036854775807") == term(INT64_MAX));
  CHECK(P("-9223372036854775808") == term(INT64_MIN));
  CHECK(P("9223372036854775808").type() == kind::big_int);
  CHECK(P("16#FFFFFFFFFFFFFFFFFFFF") == term(big_int("1208925819614629174706175")));
  CHECK(P("1.0") == term(1.0));
  CHECK(P("1.5e10") == term(1.5e10));
  CHECK(P("1.5E-10") == term(1.5e-10));
  CHECK(P("1.0e+3") == term(1000.0));
  CHECK(P("1_0.0_1e1_0") == term(10.01e10));
  CHECK(P("-0.0") == term(-0.0));
  CHECK(P("1.0e-400") == term(0.0));
  CHECK(P("5.0e-324") == term(5e-324));
}

TEST_CASE("parse: containers") {
  CHECK(P("[]") == term());
  CHECK(P("[ 1 , 2 ]") == term(list{1, 2}));
  CHECK(P("[a|b]") == term(list({atom("a")}, atom("b"))));
  CHECK(P("[1|[2|[3]]]") == term(list{1, 2, 3}));
  CHECK(to_string(P("[1|[2|x]]")) == "[1,2|x]");
  CHECK(P("{}") == term(tuple{}));
  CHECK(P("{a, {b}, []}") == term(tuple{atom("a"), tuple{atom("b")}, list{}}));
  CHECK(P("#{}") == term(map{}));
  CHECK(P("# { a => 1 }") == term(map{{atom("a"), 1}}));
  CHECK(P("#{a => 1, a => 2}") == term(map{{atom("a"), 2}}));
  CHECK(P("{ok, 1}.") == term(tuple{atom("ok"), 1}));
  CHECK(P("  {ok, 1} . \n") == term(tuple{atom("ok"), 1}));
  CHECK(P("% comment\n[1, % one\n 2]") == term(list{1, 2}));
}

TEST_CASE("parse: binaries") {
  CHECK(P("<<>>") == term(binary()));
  CHECK(P("<<\"abc\">>") == term(binary("abc")));
  CHECK(P("<< 1 , 2 , 3 >>") == term(binary("\x01\x02\x03")));
  CHECK(to_string(P("<<1,2:3>>")) == "<<1,2:3>>");
  CHECK(to_string(P("<<1:1>>")) == "<<1:1>>");
  CHECK(to_string(P("<<-1:12>>")) == "<<255,15:4>>");
  CHECK(to_string(P("<<1:16/little>>")) == "<<1,0>>");
  CHECK(to_string(P("<<1:2/unit:8>>")) == "<<0,1>>");
  CHECK(to_string(P("<<\"\\x{101}\"/utf8>>")) == "<<196,129>>");
  CHECK(to_string(P("<<16#101/utf16>>")) == "<<1,1>>");
  CHECK(to_string(P("<<16#101/utf32-little>>")) == "<<1,1,0,0>>");
  CHECK(to_string(P("<<1.5/float>>")) == "<<63,248,0,0,0,0,0,0>>");
  CHECK(to_string(P("<<1.5:32/float>>")) == "<<63,192,0,0>>");
  CHECK(to_string(P("<<16#123456789abcdef0123:80>>")) == "<<1,35,69,103,137,171,205,239,1,35>>");
  CHECK(to_string(P("<<-1:66>>")) == "<<255,255,255,255,255,255,255,255,3:2>>");
  CHECK(E("<<a>>").code == text::errc::bad_binary);
  CHECK(E("<<1:70000>>").code == text::errc::bad_binary);
  CHECK(E("<<1.5>>").code == text::errc::bad_binary);
  CHECK(E("<<1/utf8:8>>").code == text::errc::bad_binary);
}

TEST_CASE("parse: pids, ports and refs in to_string()'s form") {
  atom n("node@host");
  term p = pid(n, 85, 3, 0);
  CHECK(P("<node@host.85.3>") == p);
  CHECK(P(to_string(p)) == p);
  term q = pid(atom("a@b.example.com"), 1, 2, 0);
  CHECK(P(to_string(q)) == q);
  term r = reference(n, 0, {1, 2, 3});
  CHECK(P("#Ref<node@host.3.2.1>") == r);
  term o = port(n, 5, 0);
  CHECK(P("#Port<node@host.5>") == o);
}

TEST_CASE("parse: errors name the problem and the offset") {
  CHECK(E("") == error(text::errc::unexpected_end, 0));
  CHECK(E("{a,") == error(text::errc::unexpected_end, 3));
  CHECK(E("{a b}") == error(text::errc::unexpected_char, 3));
  CHECK(E("[1,2") == error(text::errc::unexpected_end, 4));
  CHECK(E("[1|2|3]") == error(text::errc::unexpected_char, 4));
  CHECK(E("end") == error(text::errc::bad_atom, 0));
  CHECK(E("{X}") == error(text::errc::unbound_variable, 1));
  CHECK(E("1 2") == error(text::errc::trailing_input, 2));
  CHECK(E("1. 2") == error(text::errc::trailing_input, 3));
  CHECK(E("37#1").code == text::errc::bad_number);
  CHECK(E("1.0e400").code == text::errc::bad_number);
  CHECK(E("1.0e").code == text::errc::unexpected_end);
  CHECK(E("\"\\x{110000}\"").code == text::errc::bad_escape);
  CHECK(E("\"\\xg0\"").code == text::errc::bad_escape);
  CHECK(E("'\\x{101}\\x{101}") == error(text::errc::unexpected_end, 15));
  CHECK(E(std::string(256, 'a')).code == text::errc::bad_atom);
  CHECK(E("#{a := 1}").code == text::errc::unexpected_char);
  CHECK(E(")").code == text::errc::unexpected_char);
  CHECK(E(std::string(100'001, '1')).code == text::errc::bad_number);
  CHECK(text::make_error_code(text::errc::too_deep).message() == "term nested too deeply");
  CHECK(std::string(text::category().name()) == "erlnode.text");
}

TEST_CASE("parse: every prefix of valid input fails cleanly, the whole succeeds") {
  const std::string inputs[] = {
      "{ok, [1, 2.5e-3 | tail], #{<<\"k\">> => \"v\\x{101}\"}, 'q\\'a', <<1,2:3>>, $\\n}.",
      "[fun m:f/1, <n@h.1.2>, #Ref<n@h.1.2.3>, 16#ff, -7, <<\"ab\"/utf8, 3:4>>]",
  };
  for (const auto& in : inputs) {
    term whole = P(in);
    for (std::size_t cut = 0; cut < in.size(); ++cut) {
      auto r = parse(std::string_view(in).substr(0, cut));
      INFO("cut at " << cut);
      if (r) {
        // Only a prefix that is itself a complete term (none here but the one without '.').
        CHECK(cut == in.size() - 1);
        CHECK(*r == whole);
      } else {
        CHECK(r.error().offset <= cut);
      }
    }
  }
}

TEST_CASE("parse: nesting beyond max_parse_depth is refused, not a crash") {
  std::string deep(text::max_parse_depth, '[');
  deep += std::string(text::max_parse_depth, ']');
  CHECK(P(deep).is_list());
  std::string deeper(text::max_parse_depth + 1, '{');
  CHECK(E(deeper) == error(text::errc::too_deep, text::max_parse_depth));
  std::string million(1'000'000, '[');
  CHECK(E(million).code == text::errc::too_deep);
}

TEST_CASE("parse: round trip of printed terms") {
  const char* samples[] = {"{a,'B',[1,2|c],#{x => <<1,2,3:5>>},-1.0e-10,123456789012345678901234}",
                           "[[],{},#{},<<>>,'',[[[]]]]", "fun 'A':'b c'/0"};
  for (const char* s : samples) CHECK(to_string(P(s)) == s);
}

TEST_CASE("parse: mutated input never crashes; what parses prints and re-parses the same") {
  const std::string seeds[] = {
      "{ok, [1, 2.5e-3 | tail], #{<<\"k\">> => \"v\\x{101}\"}, 'q\\'a', <<1,2:3>>, $\\n}.",
      "[fun m:f/1, <n@h.1.2>, #Ref<n@h.1.2.3>, #Port<n@h.9>, 16#ff, -7, <<\"ab\"/utf8, 3:4>>]",
      "#{1 => [a|b], 2.0 => {}, \"s\" => <<1.5:32/float, -1:12/little-unit:2>>} % c",
      "[1_000, 36#Zz, 1.0e-400, $\\^A, '\\x{65E5}', \xC3\xA9t\xC3\xA9, \"a\" \"b\"]"};
  const char alphabet[] = "{}[]<>#|,.:/-+$\"'\\%~_aZ09#e \n\x80\xC3\xA9";
  std::uint64_t rng = 0x9E3779B97F4A7C15ULL;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  std::size_t parsed = 0;
  for (int iter = 0; iter < 20'000; ++iter) {
    std::string s = seeds[next() % std::size(seeds)];
    for (int m = 0, n = 1 + static_cast<int>(next() % 4); m < n && !s.empty(); ++m) {
      std::size_t at = next() % s.size();
      char c = alphabet[next() % (sizeof alphabet - 1)];
      switch (next() % 3) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          s.erase(at, 1 + next() % 3);
      }
    }
    auto r = parse(s);
    if (!r) {
      CHECK(r.error().offset <= s.size());
      continue;
    }
    ++parsed;
    std::string printed = to_string(*r);
    auto again = parse(printed);
    INFO(s << " printed as " << printed);
    REQUIRE(again.has_value());
    CHECK(to_string(*again) == printed);
  }
  CHECK(parsed > 100);
}

TEST_CASE("parse: a map of more than 32 keys keeps the reverse of the text order, as erl") {
  term m = P(erl_map33_text);
  CHECK(etf::encode(m).value() == erl_map33_bytes);
  CHECK(to_string(m) == erl_map33_text);
  // 32 keys: key order, whatever the text order.
  std::string small = "#{";
  for (int i = 32; i >= 1; --i) small += std::to_string(i) + " => 0" + (i > 1 ? "," : "}");
  term st = P(small);
  auto sp = st.get_if<map>()->pairs();
  CHECK(sp.front().first == term(1));
  CHECK(sp.back().first == term(32));
  // A repeated key in a large map: the last one wins, and stands where its last pair was.
  std::string dup = "#{k => 1,";
  for (int i = 1; i <= 32; ++i) dup += std::to_string(i) + " => 0,";
  dup += "k => 2,x => 3}";
  term d = P(dup);
  auto dp = d.get_if<map>()->pairs();
  REQUIRE(dp.size() == 34);
  CHECK(dp[0].first == term(atom("x")));
  CHECK(dp[1].first == term(atom("k")));
  CHECK(dp[1].second == term(2));
  CHECK(dp[2].first == term(32));
  CHECK(dp.back().first == term(1));
  // Repeats that leave 32 keys: a small map again, in key order.
  std::string few = "#{";
  for (int i = 1; i <= 33; ++i) few += std::to_string(i % 32) + " => " + std::to_string(i) + ",";
  few.back() = '}';
  term f = P(few);
  REQUIRE(f.get_if<map>()->size() == 32);
  CHECK(f.get_if<map>()->pairs().front().first == term(0));
  CHECK(f.get_if<map>()->at(term(1)) == term(33));
}
