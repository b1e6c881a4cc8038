// erlnode-call's pieces without erl. What erl_call itself prints and sends is checked against
// the real erl_call in interop-tests/call; these pin the same behaviour down where it is
// cheap to state, and cover what a live comparison cannot reach (deep terms, MD5 padding).
#include "apply_args.hpp"
#include "light_crypto.hpp"
#include "options.hpp"
#include "result_print.hpp"

#include <erlnode/dist/crypto.hpp>
#include <erlnode/text.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace erlnode;
using namespace erlnode::call_tool;

namespace {
std::string hex(const dist::md5_digest& d) {
  std::string s;
  for (auto b : d) {
    s += "0123456789abcdef"[b >> 4];
    s += "0123456789abcdef"[b & 15];
  }
  return s;
}
std::string printed(const term& t) {
  std::string out;
  CHECK(print_result(t, out));
  return out;
}
term args(std::string_view s) {
  auto t = read_erl_call_args(s);
  REQUIRE(t);
  return *t;
}
}  // namespace

TEST_CASE("md5: RFC 1321 vectors and OpenSSL's cookie digest", "[call]") {
  CHECK(hex(md5("")) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(hex(md5("abc")) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(md5("message digest")) == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(hex(md5(
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890")) ==
        "57edf4a22be3c955ac49da2e2107b67a");
  std::mt19937 rng(7);
  for (std::size_t len = 0; len < 200; ++len) {  // every padding case
    std::string cookie;
    for (std::size_t i = 0; i < len; ++i) cookie += static_cast<char>('A' + rng() % 26);
    std::uint32_t ch = rng();
    CHECK(cookie_digest(cookie, ch) == dist::cookie_digest(cookie, ch));
  }
  CHECK(random_challenge() != random_challenge());  // 1 in 2^32 to fail spuriously
}

TEST_CASE("-a text splits as erl_call splits it", "[call]") {
  auto p = split_apply("lists seq [1, 10]");
  REQUIRE(p);
  CHECK(p->module == "lists");
  CHECK(p->function == "seq");
  CHECK(p->args == "[1, 10]");
  p = split_apply("erlang");
  REQUIRE(p);
  CHECK(p->function == "start");
  CHECK(p->args == "[]");
  CHECK_FALSE(split_apply("  \t "));
}

TEST_CASE("Args are read with erl_call's grammar first", "[call]") {
  CHECK(args("[1, a, \"s\", {x, 'Y'}]") == parse("[1, a, [115], {x, 'Y'}]").value());
  CHECK(args("[1 ,2]") == parse("[1]").value());  // ei drops the 2
  CHECK(args("[1 2 3]") == parse("[1, 2, 3]").value());
  CHECK(args("[a|b]") == parse("[a|b]").value());
  CHECK(args("[a | b]") == parse("[a, b]").value());
  CHECK(args("[[a|b], [c, d|e]]") == parse("[[a|b], [c, d|e]]").value());
  CHECK(args("[\"a\\n\"]") == parse("[[97, 92, 110]]").value());   // no escapes
  CHECK(args("[\"\xc3\xa9\"]") == parse("[[195, 169]]").value());  // bytes
  CHECK(args("[1.5e3]") == parse("[1500.0, 3]").value());          // "e" taken as a separator
  CHECK(args("[99999999999999999999]") == parse("[9223372036854775807]").value());
  CHECK(args("[] junk") == term(list{}));
  CHECK_FALSE(read_erl_call_args("[<<1>>]"));
  CHECK_FALSE(read_erl_call_args("[1,,2]"));
  CHECK_FALSE(read_erl_call_args("[X]"));
  CHECK_FALSE(read_erl_call_args("[1"));
  CHECK_FALSE(read_erl_call_args(std::string(5000, '[')));
  // Beyond erl_call: Erlang syntax.
  CHECK(read_apply_args("[<<1>>, #{a => 1}]").value() == parse("[<<1>>, #{a => 1}]").value());
  CHECK_FALSE(read_apply_args("[1,,2]"));
}

TEST_CASE("Args: every prefix and every corrupted byte is read or refused cleanly", "[call]") {
  const std::string s =
      "[1, -2, a, 'Q q', \"s\", {x, [a|b]}, [c | d], 1.5e3, 99999999999999999999]";
  REQUIRE(read_erl_call_args(s));
  for (std::size_t i = 0; i < s.size(); ++i) {
    (void)read_erl_call_args(s.substr(0, i));
    (void)read_apply_args(s.substr(0, i));
    for (int b : {0, int('['), int(']'), int('{'), int('}'), int('"'), int('\''), int('|'),
                  int(','), 0xff}) {
      std::string c = s;
      c[i] = static_cast<char>(b);
      (void)read_erl_call_args(c);
      (void)read_apply_args(c);
    }
  }
  CHECK_FALSE(read_erl_call_args(s.substr(0, s.size() - 1)));  // the list never closes
  CHECK_FALSE(read_apply_args(s.substr(0, s.size() - 1)));
}

TEST_CASE("results print in ei_print_term's form", "[call]") {
  CHECK(printed(parse("{1, -2, a, 'B', [], {}, \"x\\n\", [300]}").value()) ==
        "{1, -2, a, 'B', [], {}, \"x\\n\", [300]}");
  CHECK(printed(parse("[1 | 2]").value()) == "[1 | 2]");
  CHECK(printed(parse("[1.5, 18446744073709551615, -18446744073709551615]").value()) ==
        "[1.500000, 18446744073709551615, -18446744073709551615]");
  CHECK(
      printed(parse("[18446744073709551616, -340282366920938463463374607431768211455]").value()) ==
      "[16#10000000000000000, -16#FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF]");
  CHECK(printed(parse("[[0, 127, 128, 255]]").value()) == "[\"\\x0\x7f\\xffffff80\\xffffffff\"]");
  CHECK(printed(parse("<<1,2,3>>").value()) == "#Bin<1,2,3>");
  CHECK(printed(parse("<<1,2,5:3>>").value()) == "#Bits<1,2,5:3>");
  CHECK(printed(parse("#{a => 1}").value()) == "#{a => 1}");
  CHECK(printed(parse("fun lists:seq/2").value()) == "fun lists:seq/2");
  std::string out;
  CHECK_FALSE(print_result(term(list{atom("ok"), atom("\xce\xbb")}), out));  // not Latin-1
  CHECK(out == "[ok, ");
  // Any depth, without recursion.
  term deep = list{};
  for (int i = 0; i < 300000; ++i) deep = list{deep};
  CHECK(printed(deep).size() == 2 * 300000 + 2);
}

TEST_CASE("the command line: erl_call's exit codes for bad usage", "[call]") {
  auto ok =
      parse_options({"-sname", "n", "-c", "k", "-a", "m f", "-e", "-q", "-timeout", "3"}, "t");
  REQUIRE(ok.opts);
  CHECK(*ok.opts->node == "n");
  CHECK(ok.opts->timeout_s == 3);
  CHECK(ok.opts->eval);
  auto addr = parse_options({"-address", "host:123"}, "t");
  REQUIRE(addr.opts);
  CHECK(*addr.opts->address_host == "host");
  CHECK(addr.opts->port == 123);
  CHECK(parse_options({"-bogus"}, "t").exit_code == 1);
  CHECK(parse_options({"-sname"}, "t").exit_code == 1);
  CHECK(parse_options({"-timeout", "0"}, "t").exit_code == 1);
  CHECK(parse_options({"-address", "70000"}, "t").exit_code == 1);
  auto conflict = parse_options({"-address", "1", "-sname", "x"}, "t");
  CHECK_FALSE(conflict.opts);
  CHECK(conflict.exit_code == 0);
}
