#include <erlnode/etf.hpp>

#include "etf/hand_vectors.hpp"

#include <catch2/catch.hpp>

using namespace erlnode;
using bytes = std::vector<std::uint8_t>;

namespace {
const bytes& vector_named(std::string_view name) {
  for (const auto& v : hand_vectors)
    if (name == v.name) return v.plain;
  FAIL("no vector " << name);
  static bytes none;
  return none;
}
}  // namespace

TEST_CASE("reader walks a term from erl without building it") {
  // {ok, [{<<"key">>, 3.25}, "text", 'über'], #{1 => [], 2.0 => {}}}
  const bytes& b = vector_named("mixed");
  etf::reader r(b);
  REQUIRE(r.read_version());
  CHECK(r.peek_tag().value() == etf::small_tuple_ext);
  CHECK(r.read_tuple_header().value() == 3);
  CHECK(r.read_atom().value() == "ok");
  CHECK(r.read_list_header().value() == 3);
  CHECK(r.read_tuple_header().value() == 2);
  auto bin = r.read_binary().value();
  CHECK(std::string_view(reinterpret_cast<const char*>(bin.data()), bin.size()) == "key");
  CHECK(bin.data() > b.data());  // a view into the input
  CHECK(r.read_float().value() == 3.25);
  CHECK(r.read_string().value() == "text");
  CHECK(r.read_atom().value() ==
        "\xFC"
        "ber");                              // ATOM_EXT text is Latin-1
  CHECK(r.read_list_header().value() == 0);  // the tail, []
  CHECK(r.read_map_header().value() == 2);
  CHECK(r.read_int().value() == 1);
  CHECK(r.read_list_header().value() == 0);
  CHECK(r.read_float().value() == 2.0);
  CHECK(r.read_tuple_header().value() == 0);
  CHECK(r.at_end());
  CHECK(r.offset() == b.size());
}

TEST_CASE("reader scalars") {
  for (auto [name, value] :
       std::initializer_list<std::pair<const char*, std::int64_t>>{{"int_255", 255},
                                                                   {"int_m1", -1},
                                                                   {"int_2p31", 2147483648},
                                                                   {"int_min32_m1", -2147483649},
                                                                   {"int_max64", INT64_MAX},
                                                                   {"int_min64", INT64_MIN}}) {
    INFO(name);
    etf::reader r(vector_named(name), 1);
    CHECK(r.read_int().value() == value);
    CHECK(r.at_end());
  }
  etf::reader big(vector_named("int_2p64"), 1);
  auto e = big.read_int();
  REQUIRE_FALSE(e);
  CHECK(e.error().code == etf::errc::bad_value);
  CHECK(big.offset() == 1);  // nothing consumed on failure

  etf::reader p(vector_named("pid"), 1);
  auto pv = p.read_pid().value();
  CHECK(pv.node == "nonode@nohost");
  CHECK(pv.id == 9);
  CHECK(pv.serial == 0);
  CHECK(p.at_end());

  etf::reader wrong(vector_named("atom_abc"), 1);
  CHECK(wrong.read_int().error().code == etf::errc::bad_tag);
  CHECK(wrong.read_atom().value() == "abc");
  CHECK(wrong.peek_tag().error().code == etf::errc::truncated);

  const bytes not_etf{130};
  etf::reader v(not_etf);
  CHECK(v.read_version().error().code == etf::errc::bad_version);
}

TEST_CASE("skip passes over every erl vector, and fails on every cut") {
  for (const auto& v : hand_vectors) {
    INFO(v.name);
    for (const bytes* b : {&v.plain, &v.minor2}) {
      etf::reader r(*b, 1);
      REQUIRE(r.skip());
      CHECK(r.offset() == b->size());
      for (std::size_t k = 1; k < b->size(); ++k) {
        INFO("cut at " << k);
        etf::reader cut(std::span(b->data(), k), 1);
        auto s = cut.skip();
        REQUIRE_FALSE(s);
        CHECK(s.error().code == etf::errc::truncated);
        CHECK(cut.offset() == 1);
      }
    }
  }
}

TEST_CASE("skip applies the decoder's checks") {
  auto code = [](const bytes& b, std::size_t max_depth = 10'000) {
    etf::reader r(b);
    auto s = r.skip(max_depth);
    REQUIRE_FALSE(s);
    return s.error().code;
  };
  CHECK(code(bytes{75}) == etf::errc::bad_tag);
  CHECK(code(bytes{108, 255, 255, 255, 255, 106}) == etf::errc::truncated);
  CHECK(code(bytes{119, 2, 0xC3, 0x28}) == etf::errc::bad_atom);
  CHECK(code(bytes{70, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0}) == etf::errc::bad_float);
  CHECK(code(bytes{77, 0, 0, 0, 1, 9, 5}) == etf::errc::bad_value);
  CHECK(code(bytes{90, 0, 0, 100, 0, 1, 97, 0, 0, 0, 0}) == etf::errc::bad_value);
  CHECK(code(bytes{104, 1, 104, 1, 104, 1, 104, 0}, 2) == etf::errc::too_deep);
  const bytes nested{104, 1, 104, 1, 104, 1, 104, 0};
  etf::reader ok(nested);
  CHECK(ok.skip(3));

  // A million nested lists: refused by depth, then walked with a larger limit.
  constexpr std::size_t depth = 1'000'000;
  bytes deep;
  deep.reserve(depth * 6 + 1);
  for (std::size_t i = 0; i < depth; ++i) deep.insert(deep.end(), {108, 0, 0, 0, 1});
  deep.push_back(106);
  deep.insert(deep.end(), depth, 106);
  CHECK(code(deep) == etf::errc::too_deep);
  etf::reader all(deep);
  REQUIRE(all.skip(depth + 1));
  CHECK(all.at_end());

  // Two terms in a row: skip stops after the first.
  const bytes pair{97, 1, 106};
  etf::reader two(pair);
  REQUIRE(two.skip());
  CHECK(two.offset() == 2);
}

TEST_CASE("skip over runs of large binaries (prefetched ahead) stays within the input") {
  // [B1, ..., Bn]: equal sizes (the run the walker prefetches ahead in), a size change midway,
  // and a length claim past the end; every cut fails cleanly and the whole walks to the end.
  auto list_of = [](std::initializer_list<std::size_t> sizes) {
    bytes b{131, 108, 0, 0, 0, static_cast<std::uint8_t>(sizes.size())};
    std::uint8_t fill = 1;
    for (std::size_t n : sizes) {
      b.insert(b.end(),
               {109, static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
      b.insert(b.end(), n, fill++);
    }
    b.push_back(106);
    return b;
  };
  for (const bytes& b :
       {list_of({4096, 4096, 4096, 4096, 4096, 4096}),
        list_of({3000, 3000, 5000, 5000, 5000, 2048, 100, 2048}), list_of({65536, 65536})}) {
    etf::reader r(b);
    REQUIRE(r.read_version());
    REQUIRE(r.skip());
    CHECK(r.at_end());
    for (std::size_t cut = 1; cut < b.size(); cut += 97) {
      bytes part(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
      etf::reader p(part, 1);
      auto s = p.skip();
      REQUIRE_FALSE(s);
      CHECK(s.error().code == etf::errc::truncated);
      CHECK(p.offset() == 1);  // a failed skip leaves the position where it was
    }
  }
  // A run whose next length claims more than is left.
  bytes lie = list_of({4096, 4096, 4096});
  lie[6 + 2 * (5 + 4096) + 1] = 0x7F;  // third binary: ~2 GB
  etf::reader r(lie, 1);
  auto s = r.skip();
  REQUIRE_FALSE(s);
  CHECK(s.error().code == etf::errc::truncated);
}
