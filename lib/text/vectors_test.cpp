// Vectors from a live erl (scripts/gen-text-vectors): each line holds an Erlang source
// literal, what io_lib:format("~w") printed for it, and its term_to_binary. We parse the
// source and must print exactly what erl printed, and parse erl's output back to the same term.
#include <erlnode/text.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace erlnode;

namespace {
struct vector_line {
  std::size_t line;
  std::string source, printed;
};

std::vector<vector_line> load() {
  std::ifstream in(ERLNODE_SOURCE_DIR "/lib/text/testdata/print_vectors.txt");
  REQUIRE(in);
  std::vector<vector_line> out;
  std::string l;
  std::size_t n = 0;
  while (std::getline(in, l)) {
    ++n;
    if (l.empty() || l[0] == '#') continue;
    auto t1 = l.find('\t');
    auto t2 = l.find('\t', t1 + 1);
    REQUIRE(t1 != std::string::npos);
    REQUIRE(t2 != std::string::npos);
    out.push_back({n, l.substr(0, t1), l.substr(t1 + 1, t2 - t1 - 1)});
  }
  return out;
}
}  // namespace

TEST_CASE("vectors: to_string(parse(source)) is what erl ~w printed") {
  auto vs = load();
  REQUIRE(vs.size() > 1000);
  std::size_t floats = 0;
  for (const auto& v : vs) {
    INFO("line " << v.line << ": " << v.source);
    auto t = parse(v.source);
    REQUIRE(t.has_value());
    CHECK(to_string(*t) == v.printed);
    if (t->is_float()) ++floats;
  }
  CHECK(floats > 900);
}

TEST_CASE("vectors: erl's ~w output parses back to the same term") {
  for (const auto& v : load()) {
    INFO("line " << v.line << ": " << v.printed);
    auto a = parse(v.source);
    auto b = parse(v.printed);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(*a == *b);
    CHECK(to_string(*b) == v.printed);
  }
}
