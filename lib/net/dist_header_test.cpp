#include "net/dist_header.hpp"

#include <erlnode/node_error.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;
using namespace erlnode::net::detail;

TEST_CASE("atom cache parts round-trip: new entries, references, long atoms") {
  out_atom_cache oc;
  in_atom_cache ic;
  std::string long_text;  // 200 characters, 400 bytes: needs 2-byte lengths
  for (int i = 0; i < 200; ++i) long_text += "\u00e9";
  std::vector<atom> in = {atom("a"), atom("bb"), atom(long_text)};
  for (int round = 0; round < 2; ++round) {
    std::vector<std::uint8_t> buf;
    oc.write(in, buf);
    std::vector<atom> got;
    auto n = ic.read(buf, got);
    REQUIRE(n);
    CHECK(*n == buf.size());
    CHECK(got == in);
  }
}

TEST_CASE("an atom cache part cut at every byte is an error, never a crash") {
  out_atom_cache oc;
  std::vector<std::uint8_t> buf;
  oc.write(std::vector<atom>{atom("one"), atom("two"), atom("three")}, buf);
  for (std::size_t cut = 0; cut < buf.size(); ++cut) {
    in_atom_cache ic;
    std::vector<atom> got;
    auto n = ic.read(std::span(buf.data(), cut), got);
    CHECK(!n);
  }
}

TEST_CASE("a reference to an empty cache slot is refused") {
  std::vector<std::uint8_t> buf = {1, 0x00, 5};  // one ref, old entry, segment 0, index 5
  in_atom_cache ic;
  std::vector<atom> got;
  auto n = ic.read(buf, got);
  REQUIRE(!n);
  CHECK(n.error().code == node_errc::bad_header);
}

TEST_CASE("message_atoms gives one index per atom and refuses slot collisions") {
  message_atoms m;
  CHECK(m.ref(atom("x")) == 0);
  CHECK(m.ref(atom("y")) == 1);
  CHECK(m.ref(atom("x")) == 0);
  CHECK(m.take().size() == 2);
}

TEST_CASE("reassembly: in order, count down to 1, interleaved sequences, bounds") {
  reassembler r(1000);
  std::vector<std::uint8_t> a = {1, 2}, b = {3}, c = {4, 5};
  auto s1 = r.start(7, 3, {}, a);
  REQUIRE(s1);
  CHECK(!*s1);
  auto s2 = r.start(8, 2, {}, c);
  REQUIRE(s2);
  CHECK(r.in_flight_sequences() == 2);
  CHECK(!r.next(7, 1, b));  // out of order: 2 comes first
  reassembler r2(1000);
  REQUIRE(r2.start(7, 3, {}, a));
  REQUIRE(r2.next(7, 2, b));
  auto done = r2.next(7, 1, c);
  REQUIRE(done);
  REQUIRE(*done);
  CHECK(*(*done)->data == std::vector<std::uint8_t>{1, 2, 3, 4, 5});
  CHECK(r2.in_flight_bytes() == 0);
  CHECK(!r2.next(9, 1, b));  // unknown sequence
  REQUIRE(r2.start(9, 2, {}, a));
  CHECK(!r2.start(9, 2, {}, a));  // sequence id in use
  reassembler small(3);
  REQUIRE(small.start(1, 3, {}, a));
  auto over = small.next(1, 2, c);
  REQUIRE(!over);
  CHECK(over.error().code == node_errc::reassembly_limit);
}
