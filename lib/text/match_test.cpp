// format() placeholders and pattern matching.
#include <erlnode/text.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;

namespace {
term P(std::string_view s) { return parse(s).value(); }
}  // namespace

TEST_CASE("format: placeholders take arguments in order") {
  auto t = format("{~a, ~i, ~s}", {atom("ok"), 42, "text"});
  REQUIRE(t);
  CHECK(*t == P("{ok, 42, \"text\"}"));
  CHECK(format("[~a, ~a, ~a]", {"abc", binary("d e"), atom("x")}).value() == P("[abc, 'd e', x]"));
  CHECK(format("{~u, ~l, ~f, ~d}", {7, big_int("123456789012345678901"), 1.5, 2}).value() ==
        P("{7, 123456789012345678901, 1.5, 2.0}"));
  CHECK(format("[~s, ~s]", {binary("h\xC3\xA9"), atom("at")}).value() == P("[[104,233], \"at\"]"));
  CHECK(format("{~b, ~b}", {"h\xC3\xA9", binary("raw")}).value() ==
        P("{<<104,195,169>>, <<\"raw\">>}"));
  CHECK(format("#{~w => [~w | ~w]}", {tuple{1}, 2, atom("t")}).value() == P("#{{1} => [2 | t]}"));
  CHECK(format("~w", {P("[1,2]")}).value() == P("[1,2]"));
  CHECK(format("{a, b}.", {}).value() == P("{a,b}"));
}

TEST_CASE("format: errors") {
  CHECK(format("{~i}", {atom("x")}).error() == error(text::errc::bad_placeholder, 1));
  CHECK(format("{~u}", {-1}).error().code == text::errc::bad_placeholder);
  CHECK(format("{~q}", {1}).error().code == text::errc::bad_placeholder);
  CHECK(format("{~i, ~i}", {1}).error() == error(text::errc::missing_argument, 5));
  CHECK(format("{~i}", {1, 2}).error().code == text::errc::extra_argument);
  CHECK(format("{~", {1}).error().code == text::errc::unexpected_end);
  CHECK(format("{X}", {}).error().code == text::errc::unbound_variable);
  CHECK(format("~a", {tuple{}}).error().code == text::errc::bad_placeholder);
}

TEST_CASE("match: tuples, variables and wildcards") {
  term t = P("{ok, {1, \"two\"}}");
  auto b = match(t, "{ok, Value}");
  REQUIRE(b);
  CHECK(b->size() == 1);
  CHECK((*b)["Value"] == P("{1, \"two\"}"));
  CHECK(!match(t, "{error, _}"));
  CHECK(match(t, "{_, _}"));
  CHECK(match(t, "{_, {_Num, _}}")->find("_Num")->to_int64() == 1);
  CHECK(!match(t, "{_, _, _}"));
  CHECK(!match(t, "[_]"));
  CHECK(match(P("{1, 1}"), "{A, A}"));
  CHECK(!match(P("{1, 2}"), "{A, A}"));
  CHECK(!match(P("{1, 1.0}"), "{A, A}"));  // =:=
  CHECK(!match(P("1.0"), "1"));
  CHECK(b->find("Other") == nullptr);
  CHECK_THROWS_AS((*b)["Other"], std::out_of_range);
}

TEST_CASE("match: lists, [H | T] and strings") {
  term l = P("[1, 2, 3]");
  auto b = match(l, "[H | T]");
  REQUIRE(b);
  CHECK((*b)["H"] == term(1));
  CHECK((*b)["T"] == P("[2, 3]"));
  b = match(l, "[A, B | T]");
  REQUIRE(b);
  CHECK((*b)["T"] == P("[3]"));
  b = match(l, "[_, _, _ | T]");
  REQUIRE(b);
  CHECK((*b)["T"] == term());
  CHECK(match(l, "[1, 2, 3]"));
  CHECK(!match(l, "[1, 2]"));
  CHECK(!match(l, "[1, 2, 3, 4]"));
  CHECK(!match(l, "[_, _, _, _ | _]"));
  CHECK(!match(term(), "[H | T]"));
  CHECK(match(P("[a | b]"), "[X | b]"));
  CHECK((*match(P("\"hello\""), "[$h | Rest]"))["Rest"] == P("\"ello\""));
  // A list whose tail is another list chunk.
  term chunked = list({1}, term(list({2, 3})));
  CHECK((*match(chunked, "[_, X, _]"))["X"] == term(2));
  CHECK((*match(chunked, "[_ | T]"))["T"] == P("[2, 3]"));
}

TEST_CASE("match: maps are matched by subset") {
  term m = P("#{a => 1, b => {x}, <<\"k\">> => [1]}");
  auto b = match(m, "#{a := A, <<\"k\">> := [K]}");
  REQUIRE(b);
  CHECK((*b)["A"] == term(1));
  CHECK((*b)["K"] == term(1));
  CHECK(match(m, "#{}"));
  CHECK(!match(m, "#{c := _}"));
  CHECK(!match(m, "#{a := 2}"));
  CHECK(!match(P("[]"), "#{}"));
  CHECK(pattern::parse("#{K := 1}").error().code == text::errc::unbound_variable);
  CHECK(pattern::parse("#{a => 1}").error().code == text::errc::unexpected_char);
}

TEST_CASE("match: compiled patterns are reusable; malformed ones fail") {
  auto p = pattern::parse("{reply, Ref, Result}");
  REQUIRE(p);
  for (int i = 0; i < 3; ++i) {
    auto b = p->match(tuple{atom("reply"), i, atom("ok")});
    REQUIRE(b);
    CHECK((*b)["Ref"] == term(i));
  }
  CHECK(pattern::parse("{ok,").error().code == text::errc::unexpected_end);
  CHECK_THROWS_AS(match(term(1), "{"), error_exception);
}

TEST_CASE("match: deep terms match without recursion") {
  term t = atom("leaf");
  for (int i = 0; i < 200'000; ++i) t = tuple{t};
  std::string pat(5000, '{');
  pat += "X";
  pat += std::string(5000, '}');
  auto b = match(t, pat);
  REQUIRE(b);
  CHECK((*b)["X"].is_tuple(1));
}
