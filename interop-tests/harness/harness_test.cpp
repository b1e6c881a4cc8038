#include "support/erl_process.hpp"

#include <catch2/catch.hpp>

using namespace erlnode::interop;

TEST_CASE("erl nodes evaluate expressions and see each other through an isolated epmd") {
  epmd_instance epmd;
  erl_node a({.epmd_port = epmd.port()});
  erl_node b({.cookie = a.cookie(), .epmd_port = epmd.port()});
  CHECK(a.eval("1 + 1") == "2");
  CHECK(a.eval("X = 20, X * 2") == "40");
  CHECK(a.eval("net_adm:ping('" + b.node_name() + "')") == "pong");
  CHECK(a.eval_catch("error(boom)").find("boom") != std::string::npos);
  CHECK_THROWS(a.eval("exit(x)"));
}
