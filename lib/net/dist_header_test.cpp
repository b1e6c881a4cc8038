#include "net/dist_header.hpp"

#include <erlnode/node_error.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;
using namespace erlnode::net::detail;

TEST_CASE("message_atoms gives one index per atom, at most 255") {
  message_atoms m;
  CHECK(m.ref(atom("x")) == 0);
  CHECK(m.ref(atom("y")) == 1);
  CHECK(m.ref(atom("x")) == 0);
  for (int i = 0; i < 300; ++i) m.ref(atom(std::string("a").append(std::to_string(i))));
  CHECK(m.ref(atom("another")) == -1);
  CHECK(m.take().size() == 255);
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
  CHECK(std::vector<std::uint8_t>((*done)->data->begin(), (*done)->data->end()) ==
        std::vector<std::uint8_t>{1, 2, 3, 4, 5});
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

TEST_CASE("reassembly in place: reserve_next checks like next, commit_next completes") {
  reassembler r(100);
  std::vector<std::uint8_t> a = {1, 2};
  REQUIRE(r.start(5, 3, {}, a));
  CHECK(!r.reserve_next(5, 1, 3));  // fragment 2 comes first
  CHECK(!r.reserve_next(6, 2, 3));  // unknown sequence
  auto over = r.reserve_next(5, 2, 99);
  REQUIRE(!over);
  CHECK(over.error().code == node_errc::reassembly_limit);
  CHECK(r.in_flight_bytes() == 2);  // refused reservations change nothing
  auto place = r.reserve_next(5, 2, 3);
  REQUIRE(place);
  REQUIRE(place->size() == 3);
  (*place)[0] = 3, (*place)[1] = 4, (*place)[2] = 5;
  CHECK(!r.commit_next(5));  // one fragment to go
  place = r.reserve_next(5, 1, 1);
  REQUIRE(place);
  (*place)[0] = 6;
  auto done = r.commit_next(5);
  REQUIRE(done);
  CHECK(std::vector<std::uint8_t>(done->data->begin(), done->data->end()) ==
        std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6});
  CHECK(r.in_flight_bytes() == 0);
  CHECK(r.in_flight_sequences() == 0);
}

TEST_CASE("reassembly buffers are reused once the message is dropped") {
  reassembler r(1 << 20);
  std::vector<std::uint8_t> a(1000, 1), b(1000, 2);
  const std::uint8_t* first = nullptr;
  for (int round = 0; round < 3; ++round) {
    REQUIRE(r.start(round, 2, {}, a));
    auto done = r.next(round, 1, b);
    REQUIRE(done);
    REQUIRE(*done);
    auto data = (*done)->data;
    CHECK(data->size() == 2000);
    if (round == 0)
      first = data->data();
    else
      CHECK(data->data() == first);
  }
}
