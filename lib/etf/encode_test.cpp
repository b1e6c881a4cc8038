#include <erlnode/etf.hpp>

#include "etf/expected_terms.hpp"
#include "etf/hand_vectors.hpp"

#include <catch2/catch.hpp>

using namespace erlnode;
using bytes = std::vector<std::uint8_t>;

namespace {
etf::encode_options minor2() {
  etf::encode_options o;
  o.minor_version = 2;
  return o;
}
etf::encode_options compressed() {
  etf::encode_options o;
  o.compressed = 6;
  return o;
}
}  // namespace

TEST_CASE("terms built in C++ encode to erl's bytes") {
  for (const auto& v : hand_vectors) {
    auto exp = expected_term(v.name);
    if (!exp) continue;
    INFO(v.name);
    auto plain = etf::encode(*exp);
    REQUIRE(plain);
    CHECK(*plain == v.plain);
    auto m2 = etf::encode(*exp, minor2());
    REQUIRE(m2);
    CHECK(*m2 == v.minor2);
    auto c = etf::encode(*exp, compressed());
    REQUIRE(c);
    CHECK(*c == v.compressed);
    auto size = etf::encoded_size(*exp);
    REQUIRE(size);
    CHECK(*size == v.plain.size());
  }
}

TEST_CASE("decoding erl's bytes and encoding again reproduces them") {
  for (const auto& v : hand_vectors) {
    INFO(v.name);
    auto t = etf::decode(v.plain);
    REQUIRE(t);
    CHECK(etf::encode(*t).value() == v.plain);
    CHECK(etf::encode(*t, minor2()).value() == v.minor2);
    CHECK(etf::encode(*t, compressed()).value() == v.compressed);
    CHECK(etf::encoded_size(*t).value() == v.plain.size());
    auto t2 = etf::decode(v.minor2);
    REQUIRE(t2);
    CHECK(etf::encode(*t2, minor2()).value() == v.minor2);
  }
}

TEST_CASE("STRING_EXT only for byte lists shorter than 65536") {
  auto s = etf::encode(term(list(std::vector<term>(65535, term(1)))));
  REQUIRE(s);
  CHECK(bytes(s->begin(), s->begin() + 4) == bytes{131, 107, 255, 255});
  CHECK(s->size() == 3 + 1 + 65535);
  // 65536 elements: LIST_EXT (erl: <<131,108,0,1,0,0,97,1,...>>).
  auto l = etf::encode(term(list(std::vector<term>(65536, term(1)))));
  REQUIRE(l);
  CHECK(bytes(l->begin(), l->begin() + 8) == bytes{131, 108, 0, 1, 0, 0, 97, 1});
  CHECK(etf::encoded_size(term(list(std::vector<term>(65536, term(1))))).value() == l->size());
  // An element out of range or an improper tail also rules it out.
  CHECK(etf::encode(term(list{1, 256})).value() ==
        bytes{131, 108, 0, 0, 0, 2, 97, 1, 98, 0, 0, 1, 0, 106});
  CHECK(etf::encode(term(list({term(1)}, term(2)))).value() ==
        bytes{131, 108, 0, 0, 0, 1, 97, 1, 97, 2});
}

TEST_CASE("encoder options") {
  etf::encode_options o;
  o.version_byte = false;
  CHECK(etf::encode(term(atom("a")), o).value() == bytes{100, 0, 1, 97});
  CHECK(etf::encoded_size(term(atom("a")), o).value() == 4);

  bytes out{1, 2};
  REQUIRE(etf::encode_to(term(5), out));
  CHECK(out == bytes{1, 2, 131, 97, 5});

  o = {};
  o.atom_ref = [](atom a) { return a == atom("x") ? 7 : -1; };
  CHECK(etf::encode(term(tuple{atom("x"), atom("y")}), o).value() ==
        bytes{131, 104, 2, 82, 7, 100, 0, 1, 121});
  std::vector<atom> table(8, atom("x"));
  etf::decode_options d;
  d.atom_cache = table;
  auto back = etf::decode(etf::encode(term(tuple{atom("x"), atom("y")}), o).value(), d);
  REQUIRE(back);
  CHECK(*back == term(tuple{atom("x"), atom("y")}));
}

TEST_CASE("deep terms: depth-bounded, no recursion") {
  term t = tuple{};
  for (int i = 0; i < 100'000; ++i) t = tuple{t};
  auto r = etf::encode(t);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == etf::errc::not_encodable);
  CHECK_FALSE(etf::encoded_size(t));
  bytes out{9};
  CHECK_FALSE(etf::encode_to(t, out));
  CHECK(out == bytes{9});  // nothing appended on failure

  etf::encode_options o;
  o.max_depth = 200'000;
  auto ok = etf::encode(t, o);
  REQUIRE(ok);
  CHECK(ok->size() == 1 + 100'000 * 2 + 2);
  etf::decode_options d;
  d.max_depth = 200'000;
  auto back = etf::decode(*ok, d);
  REQUIRE(back);
  CHECK(etf::encode(*back, o).value() == *ok);
}

TEST_CASE("large maps keep their order; binaries and bitstrings") {
  std::vector<map::value_type> pairs;
  for (int i = 100; i > 0; --i) pairs.emplace_back(i, atom("v"));
  auto m = map::from_ordered(pairs);
  REQUIRE(m);
  auto b = etf::encode(term(*m)).value();
  auto back = etf::decode(b).value();
  CHECK(back.as<map>().pairs()[0].first == term(100));
  CHECK(etf::encode(back).value() == b);

  const std::uint8_t bits[] = {0xFF, 0xC0};
  CHECK(etf::encode(term(binary::bits(bits, 2))).value() ==
        bytes{131, 77, 0, 0, 0, 2, 2, 0xFF, 0xC0});
}

TEST_CASE("compression keeps the plain form when it does not pay") {
  // term_to_binary(abc, [compressed]) =:= term_to_binary(abc)
  CHECK(etf::encode(term(atom("abc")), compressed()).value() == bytes{131, 100, 0, 3, 97, 98, 99});
  // On a tie erl takes the compressed form: both are 37 bytes here.
  // term_to_binary([1103,1103,128512,128512,20013,1072], [compressed])
  const bytes tie{131, 80, 0,  0,   0,   36,  120, 156, 203, 97, 96,  96, 96,
                  75,  98, 96, 96,  241, 135, 18,  140, 223, 24, 160, 4,  131,
                  159, 46, 72, 204, 32,  11,  0,   108, 233, 6,  108};
  term t = list{1103, 1103, 128512, 128512, 20013, 1072};
  CHECK(etf::encode(t).value().size() == tie.size());
  CHECK(etf::encode(t, compressed()).value() == tie);
}
