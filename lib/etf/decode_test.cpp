#include <erlnode/etf.hpp>

#include "etf/expected_terms.hpp"
#include "etf/hand_vectors.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <cmath>
#include <cstring>

using namespace erlnode;
using bytes = std::vector<std::uint8_t>;

namespace {

// Out of line: g++ 12 warns falsely (-Warray-bounds) on growing small brace-built vectors.
[[gnu::noinline]] void grow(bytes& b, std::size_t size, std::uint8_t fill) { b.resize(size, fill); }
[[gnu::noinline]] void append(bytes& b, std::string_view s) {
  b.insert(b.end(), s.begin(), s.end());
}

std::error_code code_of(const result<term>& r) {
  REQUIRE_FALSE(r);
  return r.error().code;
}

bytes zlib(const bytes& in) {
  uLongf n = compressBound(static_cast<uLong>(in.size()));
  bytes out(n);
  REQUIRE(compress2(out.data(), &n, in.data(), static_cast<uLong>(in.size()), 6) == Z_OK);
  out.resize(n);
  return out;
}

bytes compressed_ext(std::uint32_t claimed, const bytes& payload) {
  bytes out{131,
            80,
            static_cast<std::uint8_t>(claimed >> 24),
            static_cast<std::uint8_t>(claimed >> 16),
            static_cast<std::uint8_t>(claimed >> 8),
            static_cast<std::uint8_t>(claimed)};
  auto z = zlib(payload);
  out.insert(out.end(), z.begin(), z.end());
  return out;
}

}  // namespace

TEST_CASE("live erl vectors decode to the expected terms") {
  for (const auto& v : hand_vectors) {
    INFO(v.name);
    auto exp = expected_term(v.name);
    for (const bytes* b : {&v.plain, &v.minor2, &v.compressed}) {
      auto r = etf::decode(*b);
      REQUIRE(r);
      if (exp) CHECK(*r == *exp);
    }
  }
}

TEST_CASE("a 40-key map from erl decodes in its kept order") {
  const hand_vector* v = nullptr;
  for (const auto& h : hand_vectors)
    if (std::string_view(h.name) == "map_40") v = &h;
  REQUIRE(v);
  auto r = etf::decode(v->plain);
  REQUIRE(r);
  const map& m = r->as<map>();
  REQUIRE(m.size() == 40);
  for (std::int64_t k = 1; k <= 40; ++k) CHECK(m.at(k) == term(k * 2));
  // erl's order for this map starts with 33 (the HAMT order, not key order).
  CHECK(m.pairs()[0].first == term(33));
}

TEST_CASE("a local fun from erl keeps its fields") {
  const hand_vector* v = nullptr;
  for (const auto& h : hand_vectors)
    if (std::string_view(h.name) == "fun_free_vars") v = &h;
  REQUIRE(v);
  auto r = etf::decode(v->plain);
  REQUIRE(r);
  const fun& f = r->as<fun>();
  CHECK(f.module() == atom("etf_vf"));
  CHECK(f.arity() == 1);
  REQUIRE(f.get().free_vars.size() == 2);
  CHECK(f.get().free_vars[0] == term(7));
  CHECK(f.get().free_vars[1] == term(tuple{atom("a"), "b", list{1.5}}));
  CHECK(f.get().extra[2].is_pid());
}

TEST_CASE("every vector cut short fails with truncated") {
  for (const auto& v : hand_vectors) {
    INFO(v.name);
    for (const bytes* b : {&v.plain, &v.minor2, &v.compressed}) {
      for (std::size_t k = 0; k < b->size(); ++k) {
        INFO("cut at " << k);
        auto r = etf::decode(std::span(b->data(), k));
        REQUIRE_FALSE(r);
        CHECK(r.error().code == etf::errc::truncated);
        CHECK(r.error().offset <= k);
      }
    }
  }
}

TEST_CASE("version, tags and trailing data") {
  CHECK(code_of(etf::decode(bytes{130, 106})) == etf::errc::bad_version);
  CHECK(code_of(etf::decode(bytes{131, 75})) == etf::errc::bad_tag);
  CHECK(code_of(etf::decode(bytes{131, 117, 0, 0, 0, 0})) == etf::errc::bad_tag);  // FUN_EXT
  auto bad = etf::decode(bytes{131, 104, 2, 97, 1, 75});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == error(etf::errc::bad_tag, 5));
  auto trail = etf::decode(bytes{131, 106, 106});
  REQUIRE_FALSE(trail);
  CHECK(trail.error() == error(etf::errc::trailing_data, 2));
  etf::decode_options o;
  o.allow_trailing = true;
  CHECK(etf::decode(bytes{131, 106, 106}, o));
  auto p = etf::decode_prefix(bytes{97, 5, 106}, false);
  REQUIRE(p);
  CHECK(p->value == term(5));
  CHECK(p->consumed == 2);
}

TEST_CASE("lengths the input cannot hold fail fast") {
  // 4G elements in a handful of bytes: refused before any allocation.
  CHECK(code_of(etf::decode(bytes{131, 108, 255, 255, 255, 255, 106})) == etf::errc::truncated);
  CHECK(code_of(etf::decode(bytes{131, 105, 255, 255, 255, 255, 97, 1})) == etf::errc::truncated);
  CHECK(code_of(etf::decode(bytes{131, 116, 255, 255, 255, 255, 97, 1})) == etf::errc::truncated);
  CHECK(code_of(etf::decode(bytes{131, 109, 255, 255, 255, 255, 1})) == etf::errc::truncated);
  CHECK(code_of(etf::decode(bytes{131, 111, 255, 255, 255, 255, 0, 1})) == etf::errc::truncated);
  CHECK(code_of(etf::decode(bytes{131, 107, 255, 255, 1})) == etf::errc::truncated);
  CHECK(code_of(etf::decode(bytes{131, 112, 255, 255, 255, 255, 0})) == etf::errc::truncated);
}

TEST_CASE("atoms: UTF-8 and length checks") {
  CHECK(code_of(etf::decode(bytes{131, 119, 2, 0xC3, 0x28})) == etf::errc::bad_atom);
  CHECK(code_of(etf::decode(bytes{131, 119, 2, 0xC0, 0xAF})) == etf::errc::bad_atom);  // overlong
  CHECK(code_of(etf::decode(bytes{131, 119, 3, 0xED, 0xA0, 0x80})) == etf::errc::bad_atom);
  bytes long_latin1{131, 100, 1, 0};
  long_latin1.resize(4 + 256, 'a');
  CHECK(code_of(etf::decode(long_latin1)) == etf::errc::bad_atom);
  bytes long_utf8{131, 118, 1, 0};
  long_utf8.resize(4 + 256, 'a');  // 256 characters
  CHECK(code_of(etf::decode(long_utf8)) == etf::errc::bad_atom);
  bytes max_utf8{131, 118, 0, 255};
  max_utf8.resize(4 + 255, 'a');
  CHECK(etf::decode(max_utf8));

  // Latin-1 and UTF-8 spellings of the same bytes are different atoms (the per-thread atom
  // cache must not confuse them).
  auto e1 = etf::decode(bytes{131, 119, 2, 0xC3, 0xA9});     // 'é' in UTF-8
  auto e2 = etf::decode(bytes{131, 100, 0, 2, 0xC3, 0xA9});  // 'Ã©' in Latin-1
  auto e3 = etf::decode(bytes{131, 115, 1, 0xE9});           // 'é' in Latin-1
  REQUIRE((e1 && e2 && e3));
  CHECK(*e1 == *e3);
  CHECK(*e1 != *e2);
  CHECK(e2->as<atom>().text() == "\xC3\x83\xC2\xA9");
  CHECK(code_of(etf::decode(bytes{131, 119, 1, 0xE9})) == etf::errc::bad_atom);
}

TEST_CASE("atom cache references") {
  bytes b{131, 104, 2, 82, 0, 82, 1};
  CHECK(code_of(etf::decode(b)) == etf::errc::bad_atom_cache_ref);
  std::vector<atom> table{atom("x"), atom("y")};
  etf::decode_options o;
  o.atom_cache = table;
  auto r = etf::decode(b, o);
  REQUIRE(r);
  CHECK(*r == term(tuple{atom("x"), atom("y")}));
  table.resize(1);
  o.atom_cache = table;
  auto bad = etf::decode(b, o);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == error(etf::errc::bad_atom_cache_ref, 5));
  // Also as a pid's node.
  table = {atom("n@h")};
  o.atom_cache = table;
  auto p = etf::decode(bytes{131, 88, 82, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, o);
  REQUIRE(p);
  CHECK(*p == term(pid(atom("n@h"), 1, 2, 3)));
}

TEST_CASE("floats") {
  CHECK(code_of(etf::decode(bytes{131, 70, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0})) == etf::errc::bad_float);
  CHECK(code_of(etf::decode(bytes{131, 70, 0x7F, 0xF8, 0, 0, 0, 0, 0, 1})) == etf::errc::bad_float);
  // FLOAT_EXT: "%.20e" text padded with NULs to 31 bytes.
  auto old = [](std::string_view text) {
    bytes b{131, 99};
    append(b, text);
    grow(b, 33, 0);
    return b;
  };
  auto r = etf::decode(old("1.50000000000000000000e+00"));
  REQUIRE(r);
  CHECK(*r == term(1.5));
  auto n = etf::decode(old("-2.50000000000000000000e-01"));
  REQUIRE(n);
  CHECK(*n == term(-0.25));
  CHECK(code_of(etf::decode(old("inf"))) == etf::errc::bad_float);
  CHECK(code_of(etf::decode(old("1.5x"))) == etf::errc::bad_float);
  CHECK(code_of(etf::decode(old("1e999"))) == etf::errc::bad_float);
}

TEST_CASE("maps refuse duplicate keys") {
  auto r = etf::decode(bytes{131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2});
  REQUIRE_FALSE(r);
  CHECK(r.error() == error(etf::errc::duplicate_map_key, 1));
  // Large maps take the indexed path.
  bytes big{131, 116, 0, 0, 0, 40};
  for (int i = 0; i < 40; ++i) {
    int k = i == 39 ? 3 : i;
    big.insert(big.end(), {97, static_cast<std::uint8_t>(k), 106});
  }
  CHECK(code_of(etf::decode(big)) == etf::errc::duplicate_map_key);
  // 1 and 1.0 are different keys.
  CHECK(etf::decode(bytes{131, 116, 0, 0, 0, 2, 97, 1, 106, 70, 63, 240, 0, 0, 0, 0, 0, 0, 106}));
}

TEST_CASE("bit binaries and references: field ranges") {
  CHECK(code_of(etf::decode(bytes{131, 77, 0, 0, 0, 1, 0, 5})) == etf::errc::bad_value);
  CHECK(code_of(etf::decode(bytes{131, 77, 0, 0, 0, 1, 9, 5})) == etf::errc::bad_value);
  CHECK(code_of(etf::decode(bytes{131, 77, 0, 0, 0, 0, 3})) == etf::errc::bad_value);
  auto full = etf::decode(bytes{131, 77, 0, 0, 0, 1, 8, 5});  // 8 bits: a binary, as erl
  REQUIRE(full);
  CHECK(*full == term(binary(std::string_view("\x05", 1))));
  auto bits = etf::decode(bytes{131, 77, 0, 0, 0, 1, 3, 255});  // <<7:3>>, as erl
  REQUIRE(bits);
  CHECK(bits->as<binary>().bit_size() == 3);
  CHECK(bits->as<binary>().data()[0] == 0xE0);

  bytes ref0{131, 90, 0, 0, 100, 0, 1, 97, 0, 0, 0, 0};
  CHECK(code_of(etf::decode(ref0)) == etf::errc::bad_value);
  bytes ref6{131, 90, 0, 6, 100, 0, 1, 97, 0, 0, 0, 0};
  grow(ref6, ref6.size() + 24, 0);
  CHECK(code_of(etf::decode(ref6)) == etf::errc::bad_value);
  bytes ref5{131, 90, 0, 5, 100, 0, 1, 97, 0, 0, 0, 0};
  grow(ref5, ref5.size() + 20, 0);
  CHECK(etf::decode(ref5));
  // NEW_REFERENCE_EXT, REFERENCE_EXT, PID_EXT and PORT_EXT (one-byte creation).
  auto nr = etf::decode(bytes{131, 114, 0, 1, 100, 0, 1, 97, 2, 0, 0, 0, 7});
  REQUIRE(nr);
  CHECK(*nr == term(reference(atom("a"), 2, {7u})));
  auto old_ref = etf::decode(bytes{131, 101, 100, 0, 1, 97, 0, 0, 0, 7, 2});
  REQUIRE(old_ref);
  CHECK(*old_ref == *nr);
  auto op = etf::decode(bytes{131, 103, 100, 0, 1, 97, 0, 0, 0, 1, 0, 0, 0, 2, 3});
  REQUIRE(op);
  CHECK(*op == term(pid(atom("a"), 1, 2, 3)));
  auto oport = etf::decode(bytes{131, 102, 100, 0, 1, 97, 0, 0, 0, 1, 3});
  REQUIRE(oport);
  CHECK(*oport == term(port(atom("a"), 1, 3)));
}

TEST_CASE("lists: nested tails are flattened, LIST_EXT of zero is its tail") {
  auto r = etf::decode(bytes{131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106});
  REQUIRE(r);
  CHECK(*r == term(list{1, 2}));
  CHECK(r->as<list>().size() == 2);
  auto s = etf::decode(bytes{131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 2, 3});
  REQUIRE(s);
  CHECK(*s == term(list{1, 2, 3}));
  auto z = etf::decode(bytes{131, 108, 0, 0, 0, 0, 100, 0, 1, 97});
  REQUIRE(z);
  CHECK(*z == term(atom("a")));
}

TEST_CASE("big integers are normalised") {
  auto r = etf::decode(bytes{131, 110, 1, 1, 5});
  REQUIRE(r);
  CHECK(*r == term(-5));
  auto z = etf::decode(bytes{131, 110, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0});  // leading zeros
  REQUIRE(z);
  CHECK(*z == term(1));
  CHECK(code_of(etf::decode(bytes{131, 110, 1, 2, 5})) == etf::errc::bad_value);
}

TEST_CASE("deep nesting is refused or decoded, never a crash") {
  constexpr std::size_t depth = 1'000'000;
  bytes b{131};
  b.reserve(depth * 6 + 2);
  for (std::size_t i = 0; i < depth; ++i) b.insert(b.end(), {108, 0, 0, 0, 1});
  b.push_back(106);
  b.insert(b.end(), depth, 106);
  auto r = etf::decode(b);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == etf::errc::too_deep);

  etf::decode_options o;
  o.max_depth = depth + 1;
  auto ok = etf::decode(b, o);
  REQUIRE(ok);
  CHECK(ok->is_list());

  bytes t{131};
  for (std::size_t i = 0; i < depth; ++i) t.insert(t.end(), {104, 1});
  t.push_back(106);
  CHECK(code_of(etf::decode(t)) == etf::errc::too_deep);
  // Three tuples with elements, around an empty one.
  o.max_depth = 2;
  CHECK(code_of(etf::decode(bytes{131, 104, 1, 104, 1, 104, 1, 104, 0}, o)) == etf::errc::too_deep);
  o.max_depth = 3;
  CHECK(etf::decode(bytes{131, 104, 1, 104, 1, 104, 1, 104, 0}, o));
}

TEST_CASE("compressed terms") {
  bytes payload{104, 2, 100, 0, 2, 111, 107, 109, 0, 0, 0, 100};
  grow(payload, payload.size() + 100, 7);
  auto good = compressed_ext(static_cast<std::uint32_t>(payload.size()), payload);
  auto r = etf::decode(good);
  REQUIRE(r);
  CHECK(r->as<tuple>()[1].as<binary>().size() == 100);

  // Size claims that do not match the data.
  CHECK(code_of(etf::decode(compressed_ext(50, payload))) == etf::errc::bad_compressed);
  CHECK(code_of(etf::decode(compressed_ext(500, payload))) == etf::errc::bad_compressed);
  // Beyond the limit: refused before inflating.
  CHECK(code_of(etf::decode(compressed_ext(0xFFFFFFFF, payload))) == etf::errc::too_large);
  // A bomb: 32 MB of zeros in a binary, under a 1 MB limit.
  bytes bomb{109, 0x02, 0, 0, 0};
  grow(bomb, 5 + (32u << 20), 0);
  auto zb = compressed_ext(static_cast<std::uint32_t>(bomb.size()), bomb);
  CHECK(zb.size() < 64 * 1024);
  etf::decode_options o;
  o.max_inflated_size = 1u << 20;
  CHECK(code_of(etf::decode(zb, o)) == etf::errc::too_large);
  // Garbage instead of a zlib stream.
  CHECK(code_of(etf::decode(bytes{131, 80, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8})) ==
        etf::errc::bad_compressed);
  // The payload itself is malformed.
  CHECK(code_of(etf::decode(compressed_ext(2, bytes{104, 1}))) == etf::errc::bad_compressed);
  CHECK(code_of(etf::decode(compressed_ext(2, bytes{97, 1, 106}))) == etf::errc::bad_compressed);
}

TEST_CASE("decode_shared: large binaries are slices of the input") {
  auto buf = std::make_shared<bytes>(bytes{131, 104, 2, 109, 0, 0, 0, 100});
  grow(*buf, buf->size() + 100, 42);
  buf->insert(buf->end(), {109, 0, 0, 0, 3, 1, 2, 3});
  std::span<const std::uint8_t> in(*buf);
  auto r = etf::decode_shared(in, buf);
  REQUIRE(r);
  const binary& large = r->as<tuple>()[0].as<binary>();
  const binary& small = r->as<tuple>()[1].as<binary>();
  CHECK(large.data() == buf->data() + 8);
  CHECK(large.size() == 100);
  CHECK((small.data() < buf->data() || small.data() >= buf->data() + buf->size()));
  // The owner keeps the bytes alive.
  std::weak_ptr<bytes> weak = buf;
  buf.reset();
  CHECK_FALSE(weak.expired());
  CHECK(large.data()[99] == 42);
  term copy = *r;
  r = etf::decode(bytes{131, 106});
  CHECK_FALSE(weak.expired());
  copy = term();
  CHECK(weak.expired());

  // decode() copies.
  bytes plain{131, 109, 0, 0, 0, 80};
  grow(plain, plain.size() + 80, 1);
  auto c = etf::decode(plain);
  REQUIRE(c);
  const auto* d = c->as<binary>().data();
  CHECK((d < plain.data() || d >= plain.data() + plain.size()));
}

TEST_CASE("errors have readable messages") {
  CHECK(etf::category().name() == std::string("erlnode.etf"));
  CHECK(make_error_code(etf::errc::truncated).message() == "input ends inside a term");
  error e(etf::errc::bad_tag, 7);
  CHECK(e.message() == "unknown or unsupported tag at offset 7");
  for (int i = 1; i <= static_cast<int>(etf::errc::not_encodable); ++i)
    CHECK(etf::category().message(i) != etf::category().message(999));
}

TEST_CASE("LOCAL_EXT is kept as opaque bytes") {
  auto r = etf::decode(bytes{131, 121, 1, 2, 3, 4});
  REQUIRE(r);
  auto b = r->as<local_term>().bytes();
  CHECK(bytes(b.begin(), b.end()) == bytes{121, 1, 2, 3, 4});
}

TEST_CASE("a full atom table is reported, known atoms still decode") {
  auto known = etf::decode(bytes{131, 100, 0, 2, 111, 107});  // ok
  REQUIRE(known);
  atom::set_limit(atom::count());
  auto fresh =
      etf::decode(bytes{131, 119, 12, 'e', 't', 'f', '_', 'n', 'e', 'v', 'e', 'r', '_', 's', '1'});
  auto again = etf::decode(bytes{131, 100, 0, 2, 111, 107});
  atom::set_limit(1u << 20);
  REQUIRE_FALSE(fresh);
  CHECK(fresh.error() == error(etf::errc::atom_table_full, 1));
  REQUIRE(again);
  CHECK(*again == *known);
}

TEST_CASE("a long chain of nested list tails is flattened once") {
  // [1 | [2 | [3 | ... | x]]] as 9999 nested LIST_EXTs: linear work, not quadratic.
  bytes b{131};
  for (int i = 0; i < 9999; ++i)
    b.insert(b.end(), {108, 0, 0, 0, 1, 97, static_cast<std::uint8_t>(i)});
  b.insert(b.end(), {100, 0, 1, 120});
  auto r = etf::decode(b);
  REQUIRE(r);
  const list& l = r->as<list>();
  REQUIRE(l.size() == 9999);
  CHECK(l[0] == term(0));
  CHECK(l[300] == term(300 % 256));
  CHECK(l.tail() == term(atom("x")));
  // Inside a tuple, after a string tail, and re-encoded as one LIST_EXT.
  auto t = etf::decode(
      bytes{131, 104, 2, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 107, 0, 2, 3, 4, 106});
  REQUIRE(t);
  CHECK(*t == term(tuple{list{1, 2, 3, 4}, list()}));
  CHECK(etf::encode(*t).value() == bytes{131, 104, 2, 107, 0, 4, 1, 2, 3, 4, 106});
}
