// to_string() on terms built in C++ (the erl-generated vectors are in vectors_test.cpp).
#include <erlnode/text.hpp>

#include <erlnode/etf.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "text/erl_map33_vector.hpp"

using namespace erlnode;

TEST_CASE("print: atoms follow io_lib ~w quoting") {
  CHECK(to_string(atom("ok")) == "ok");
  CHECK(to_string(atom("and")) == "'and'");
  CHECK(to_string(atom("maybe")) == "maybe");
  CHECK(to_string(atom("Abc")) == "'Abc'");
  CHECK(to_string(atom("")) == "''");
  CHECK(to_string(atom("a@b")) == "a@b");
  CHECK(to_string(atom("a.b")) == "'a.b'");
  CHECK(to_string(atom("\xC3\xA9")) == "\xC3\xA9");                              // é
  CHECK(to_string(atom("\xC4\x81")) == "'\\x{101}'");                            // ā
  CHECK(to_string(atom("\xE6\x97\xA5\xE6\x9C\xAC")) == "'\\x{65E5}\\x{672C}'");  // 日本
  CHECK(to_string(atom("a\nb")) == "'a\\nb'");
  CHECK(to_string(atom("a'b\\")) == "'a\\'b\\\\'");
  CHECK(to_string(atom(std::string_view("\x00\x1f\x7f", 3))) == "'\\000\\037\\d'");
}

TEST_CASE("print: numbers") {
  CHECK(to_string(term(0)) == "0");
  CHECK(to_string(term(-42)) == "-42");
  CHECK(to_string(term(INT64_MIN)) == "-9223372036854775808");
  CHECK(to_string(term(big_int("123456789012345678901234567890"))) ==
        "123456789012345678901234567890");
  CHECK(to_string(term(1.0)) == "1.0");
  CHECK(to_string(term(0.1)) == "0.1");
  CHECK(to_string(term(100.0)) == "100.0");
  CHECK(to_string(term(1000.0)) == "1.0e3");
  CHECK(to_string(term(0.0001)) == "0.0001");
  CHECK(to_string(term(0.00001)) == "1.0e-5");
  CHECK(to_string(term(123456789.0)) == "123456789.0");
  CHECK(to_string(term(9007199254740991.0)) == "9007199254740991.0");
  CHECK(to_string(term(9007199254740992.0)) == "9.007199254740992e15");
  CHECK(to_string(term(5e-324)) == "5.0e-324");
  CHECK(to_string(term(-0.0)) == "-0.0");
}

TEST_CASE("print: containers") {
  CHECK(to_string(term(list{})) == "[]");
  CHECK(to_string(term("hi")) == "[104,105]");
  CHECK(to_string(term(list({atom("a")}, atom("b")))) == "[a|b]");
  CHECK(to_string(term(list({1, 2}, term(list({3}, 4))))) == "[1,2,3|4]");
  CHECK(to_string(term(tuple{})) == "{}");
  CHECK(to_string(term(tuple{1, tuple{}, list{}})) == "{1,{},[]}");
  CHECK(to_string(term(map{})) == "#{}");
  CHECK(to_string(term(map{{atom("b"), 1}, {atom("a"), 2}, {1.0, 3}, {1, 4}})) ==
        "#{1 => 4,1.0 => 3,a => 2,b => 1}");
  CHECK(to_string(term(binary())) == "<<>>");
  CHECK(to_string(term(binary("abc"))) == "<<97,98,99>>");
  const std::uint8_t bits[] = {1, 0x40};
  CHECK(to_string(term(binary::bits(bits, 3))) == "<<1,2:3>>");
  const std::uint8_t one[] = {0x80};
  CHECK(to_string(term(binary::bits(one, 1))) == "<<1:1>>");
}

TEST_CASE("print: pids, ports, refs and funs") {
  atom n("node@host");
  CHECK(to_string(term(pid(n, 85, 0, 1))) == "<node@host.85.0>");
  CHECK(to_string(term(pid(atom("a@b.example.com"), 1, 2, 3))) == "<'a@b.example.com'.1.2>");
  CHECK(to_string(term(port(n, 5, 1))) == "#Port<node@host.5>");
  CHECK(to_string(term(reference(n, 1, {1, 2, 3}))) == "#Ref<node@host.3.2.1>");
  CHECK(to_string(term(export_fun(atom("lists"), atom("map"), 2))) == "fun lists:map/2");
  CHECK(to_string(term(export_fun(atom("erlang"), atom("and"), 2))) == "fun erlang:and/2");
  fun::fields f;
  f.module = atom("t2");
  f.index = 0;
  f.extra = {term(0), term(87116599), term(pid(n, 1, 0, 1))};
  CHECK(to_string(term(fun(f))) == "#Fun<t2.0.87116599>");
}

TEST_CASE("print: a million-deep list does not overflow the stack") {
  term t;
  for (int i = 0; i < 1'000'000; ++i) t = list({t});
  std::string s = to_string(t);
  CHECK(s.size() == 2'000'002);
  CHECK(s.substr(0, 3) == "[[[");
  term u = atom("x");
  for (int i = 0; i < 1'000'000; ++i) u = tuple{u, 1};
  CHECK(to_string(u).size() == 1 + 1'000'000 * 4);
}

TEST_CASE("print: maps nested in maps, lists and tuples (expected text from erl's ~w)") {
  atom a("a"), b("b"), c("c"), d("d"), e("e"), f("f"), g("g"), h("h"), k("k");
  CHECK(to_string(term(map{{a, map{{b, 1}}}})) == "#{a => #{b => 1}}");
  // #{a => #{b => #{c => [#{d => {#{}, #{e => 1, f => 2}}}]}}, g => {#{h => 1}}}
  term deep = map{{a, map{{b, map{{c, list{map{{d, tuple{map{}, map{{e, 1}, {f, 2}}}}}}}}}}},
                  {g, tuple{map{{h, 1}}}}};
  CHECK(to_string(deep) ==
        "#{a => #{b => #{c => [#{d => {#{},#{e => 1,f => 2}}}]}},g => {#{h => 1}}}");
  CHECK(to_string(term(list{map{{a, 1}, {b, 2}}, map{{c, map{{d, 1}, {e, 2}}}}})) ==
        "[#{a => 1,b => 2},#{c => #{d => 1,e => 2}}]");
  atom u("u"), v("v"), w("w"), x("x"), y("y"), z("z");
  CHECK(to_string(term(
            tuple{map{{x, list{map{{y, 1}}}}, {w, tuple{map{{v, 1}, {u, 2}}}}}, map{{z, 2}}})) ==
        "{#{w => {#{u => 2,v => 1}},x => [#{y => 1}]},#{z => 2}}");
  // Maps as keys.
  CHECK(to_string(term(map{{map{{a, 1}, {b, 2}}, map{{c, 3}, {d, 4}}},
                           {1, map{}},
                           {e, list{map{{f, 1}}, map{{g, 2}}}}})) ==
        "#{1 => #{},e => [#{f => 1},#{g => 2}],#{a => 1,b => 2} => #{c => 3,d => 4}}");
  // lists:foldl(fun(I, A) -> #{I => A, k => I} end, x, lists:seq(1, 4))
  term t = atom("x");
  for (int i = 1; i <= 4; ++i) t = map{{i, t}, {k, i}};
  CHECK(to_string(t) == "#{4 => #{3 => #{2 => #{1 => x,k => 1},k => 2},k => 3},k => 4}");
  // Any depth: 100,000 levels, each with a sibling key printed after the nested map.
  term m = atom("x");
  for (int i = 0; i < 100'000; ++i) m = map{{0, m}, {k, 1}};
  std::string s = to_string(m);
  CHECK(s.substr(0, 14) == "#{0 => #{0 => ");
  CHECK(s.find(",,") == std::string::npos);
  CHECK(s.find("{,") == std::string::npos);
  CHECK(s.size() == 100'000 * std::string_view("#{0 => ,k => 1}").size() + 1);
}

TEST_CASE("print: a map of more than 32 keys prints in the reverse of its kept order, as erl") {
  auto m = etf::decode(erl_map33_bytes);
  REQUIRE(m.has_value());
  CHECK(to_string(*m) == erl_map33_text);
  // Kept order a, b, c, k1..k30 prints reversed; 32 keys print in key order.
  std::vector<map::value_type> pairs{{atom("a"), 1}, {atom("b"), 2}, {atom("c"), 3}};
  for (int i = 1; i <= 30; ++i) pairs.emplace_back(i, i);
  auto big = map::from_ordered(pairs);
  REQUIRE(big.has_value());
  std::string want = "#{";
  for (int i = 30; i >= 1; --i) want += std::to_string(i) + " => " + std::to_string(i) + ",";
  want += "c => 3,b => 2,a => 1}";
  CHECK(to_string(term(*big)) == want);
  pairs.pop_back();
  CHECK(to_string(term(*map::from_ordered(pairs))).substr(0, 16) == "#{1 => 1,2 => 2,");
  // Nested: the inner large map is reversed too, the outer small one sorted.
  CHECK(to_string(term(map{{atom("z"), *m}, {atom("y"), 0}})) ==
        "#{y => 0,z => " + std::string(erl_map33_text) + "}");
}
