#include <erlnode/dist/framing.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;
using namespace erlnode::dist;
using bytes = std::vector<std::uint8_t>;

namespace {
bytes stream_of(const std::vector<bytes>& packets) {
  bytes s;
  for (auto& p : packets) {
    if (p.empty())
      append_tick(s);
    else
      REQUIRE(append_packet(s, p));
  }
  return s;
}
}  // namespace

TEST_CASE("packet headers and ticks") {
  CHECK(packet_header(0x01020304) == std::array<std::uint8_t, 4>{1, 2, 3, 4});
  bytes s;
  append_tick(s);
  CHECK(s == bytes{0, 0, 0, 0});
  REQUIRE(append_packet(s, bytes{112, 131, 106}));
  CHECK(s == bytes{0, 0, 0, 0, 0, 0, 0, 3, 112, 131, 106});
}

TEST_CASE("packets split at every byte") {
  std::vector<bytes> packets{{1}, {}, bytes(300, 7), {}, {}, {9, 8, 7, 6, 5}};
  bytes s = stream_of(packets);
  for (std::size_t a = 0; a <= s.size(); ++a) {
    for (std::size_t b = a; b <= s.size(); b += 3) {
      packet_parser p;
      std::vector<bytes> out;
      REQUIRE(p.feed(std::span(s).first(a), out));
      REQUIRE(p.feed(std::span(s).subspan(a, b - a), out));
      REQUIRE(p.feed(std::span(s).subspan(b), out));
      CHECK(out == packets);
      CHECK(p.buffered() == 0);
      CHECK(p.stream_offset() == s.size());
    }
  }
  packet_parser p;  // one byte at a time
  std::vector<bytes> out;
  for (auto byte : s) REQUIRE(p.feed(std::span(&byte, 1), out));
  CHECK(out == packets);
}

TEST_CASE("truncated input waits for more") {
  bytes s = stream_of({bytes(10, 1)});
  packet_parser p;
  std::vector<bytes> out;
  REQUIRE(p.feed(std::span(s).first(s.size() - 1), out));
  CHECK(out.empty());
  CHECK(p.buffered() == s.size() - 1);
}

TEST_CASE("a length above the limit fails at its offset and stays failed") {
  bytes s = stream_of({bytes(5, 1), bytes(101, 2)});
  packet_parser p(100);
  std::vector<bytes> out;
  auto r = p.feed(s, out);
  REQUIRE(r.has_error());
  CHECK(r.error().code == errc::message_too_large);
  CHECK(r.error().offset == 9);
  CHECK(out.size() == 1);
  CHECK(p.failed());
  CHECK(p.feed(bytes{0, 0, 0, 0}, out).has_error());
}

TEST_CASE("a hostile length does not allocate ahead of the data") {
  packet_parser p(std::size_t{1} << 31);
  std::vector<bytes> out;
  bytes s{0x7f, 0xff, 0xff, 0xff, 1, 2, 3};
  REQUIRE(p.feed(s, out));
  CHECK(p.buffered() == 7);
  CHECK(out.empty());
}
