#include <erlnode/node_name.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;

TEST_CASE("own node names follow -sname / -name") {
  auto s = make_node_name("foo", false);
  REQUIRE(s);
  CHECK(s->host == short_hostname());
  CHECK(s->full() == "foo@" + short_hostname());
  auto explicit_host = make_node_name("foo@bar", false);
  REQUIRE(explicit_host);
  CHECK(explicit_host->host == "bar");
  CHECK(make_node_name("a-b_C9@h", false).has_value());
  CHECK(make_node_name("fo.o@h", false).error().code == name_errc::bad_character);
  CHECK(make_node_name("fo.o@h", false).error().offset == 2);
  CHECK(make_node_name("@h", false).error().code == name_errc::empty_name);
  CHECK(make_node_name("x@", false).error().code == name_errc::empty_host);
  CHECK(make_node_name("x@a@b", false).error().code == name_errc::bad_host);
  CHECK(make_node_name("x@host.example.com", true).has_value());
  CHECK(make_node_name("x@127.0.0.1", true).has_value());
  CHECK(make_node_name("x@host", true).error().code == name_errc::no_domain);
  CHECK(make_node_name(std::string(300, 'a'), false).error().code == name_errc::too_long);
}

TEST_CASE("outgoing connections refuse short/long mixing like erl") {
  CHECK(parse_peer_name("a@host", false).has_value());
  CHECK(parse_peer_name("a@host.example.com", false).error().code == name_errc::not_short);
  CHECK(parse_peer_name("a@host", true).error().code == name_errc::not_long);
  CHECK(parse_peer_name("a@host.example.com", true).has_value());
  CHECK(parse_peer_name("a@127.0.0.1", true).has_value());
  CHECK(parse_peer_name("a@127.0.0.1", false).has_value());
  CHECK(parse_peer_name("a", false).error().code == name_errc::empty_host);
  CHECK(parse_peer_name("a@host.x", false).error().message().find("NOT running") !=
        std::string::npos);
}
