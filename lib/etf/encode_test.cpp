#include <erlnode/etf.hpp>

#include "etf/expected_terms.hpp"
#include "etf/hand_vectors.hpp"

#include <catch2/catch.hpp>

#include <memory>

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

namespace {
bytes bytes_of(std::size_t n, std::uint8_t seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 7);
  return b;
}
// encode_iov's buffers, concatenated, are encode()'s bytes.
void check_iov(const term& t, const etf::encode_options& o = {}) {
  etf::iov_encoding iov;
  REQUIRE(etf::encode_iov(t, iov, o));
  auto plain = etf::encode(t, o).value();
  CHECK(iov.flatten() == plain);
  CHECK(iov.size() == plain.size());
  std::size_t sum = 0;
  for (auto b : iov.buffers()) {
    CHECK_FALSE(b.empty());
    sum += b.size();
  }
  CHECK(sum == plain.size());
}
}  // namespace

TEST_CASE("encode_iov: large binary payloads are referenced, not copied") {
  const std::size_t min = etf::iov_encoding::shared_binary_min;
  binary small(bytes_of(min - 1, 1));
  binary large(bytes_of(min, 2));
  binary huge(bytes_of(1 << 20, 3));
  term t = tuple{atom("data"), small, large, list{huge, 7, huge}, map{{atom("k"), large}}};

  etf::iov_encoding iov;
  REQUIRE(etf::encode_iov(t, iov));
  CHECK(iov.flatten() == etf::encode(t).value());
  // The payloads of `large` (twice) and `huge` (twice) are the binaries' own bytes.
  std::size_t shared = 0;
  for (auto b : iov.buffers()) {
    if (b.data() == large.data()) {
      CHECK(b.size() == min);
      ++shared;
    }
    if (b.data() == huge.data()) {
      CHECK(b.size() == huge.size());
      ++shared;
    }
    CHECK(b.data() != small.data());
  }
  CHECK(shared == 4);

  // The encoding keeps the binaries alive once the term is gone.
  const std::uint8_t* huge_data = huge.data();
  bytes expected = etf::encode(t).value();
  t = term();
  small = large = huge = binary();
  CHECK(iov.flatten() == expected);
  bool found = false;
  for (auto b : iov.buffers()) found = found || b.data() == huge_data;
  CHECK(found);

  // Reuse: a second encoding replaces the first.
  REQUIRE(etf::encode_iov(term(atom("ok")), iov));
  CHECK(iov.flatten() == bytes{131, 100, 0, 2, 111, 107});
  CHECK(iov.buffers().size() == 1);
  iov.clear();
  CHECK(iov.size() == 0);
  CHECK(iov.buffers().empty());
}

TEST_CASE("encode_iov: same bytes as encode for every option and shape") {
  binary big(bytes_of(5000, 4));
  const std::uint8_t bits[] = {0xFF, 0xC0};
  // A binary sliced from a shared buffer (as decode_shared makes them).
  auto owner = std::make_shared<bytes>(bytes_of(10000, 5));
  binary slice = binary::shared(owner, owner->data() + 17, 4000);
  std::vector<term> cases = {
      term(5),
      term(atom("a")),
      term(big),
      term(slice),
      term(binary::bits(bits, 2)),
      term(list{big, big, big}),
      term(list{std::vector<term>{big, 1}, term(big)}),  // improper, binary tail
      term(tuple{1, list{binary("x"), big}, tuple{big, slice}, 2.5}),
      term(map{{big, slice}, {atom("z"), list{}}}),
      term(binary()),
  };
  // A fun whose free variables hold large binaries: its Size field covers their bytes.
  fun::fields f;
  f.module = atom("m");
  f.arity = 1;
  f.index = 3;
  f.free_vars = {big, 42, slice};
  f.extra = {term(0), term(12345), term(pid(atom("n@h"), 1, 2, 3))};
  cases.push_back(term(list{big, term(fun(f)), big}));

  etf::encode_options minor2;
  minor2.minor_version = 2;
  etf::encode_options bare;
  bare.version_byte = false;
  etf::encode_options z;
  z.compressed = 6;
  etf::encode_options refs;
  refs.atom_ref = [](atom a) { return a == atom("z") ? 3 : -1; };
  for (const auto& t : cases) {
    INFO("kind " << kind_name(t.type()));
    check_iov(t);
    check_iov(t, minor2);
    check_iov(t, bare);
    check_iov(t, z);
    check_iov(t, refs);
  }

  // The fun's bytes decode back to the same fun.
  etf::iov_encoding iov;
  REQUIRE(etf::encode_iov(cases.back(), iov));
  auto back = etf::decode(iov.flatten());
  REQUIRE(back);
  CHECK(*back == cases.back());
}

TEST_CASE("encode_iov: a term too deep fails and leaves the encoding empty") {
  term t = tuple{};
  for (int i = 0; i < 20'000; ++i) t = tuple{t, binary(bytes_of(2000, 6))};
  etf::iov_encoding iov;
  REQUIRE(etf::encode_iov(term(atom("x")), iov));
  auto r = etf::encode_iov(t, iov);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == etf::errc::not_encodable);
  CHECK(iov.size() == 0);
  CHECK(iov.buffers().empty());
}
