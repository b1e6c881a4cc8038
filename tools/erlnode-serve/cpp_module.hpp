// The built-in rpc module `cpp` of erlnode-serve, and the process functions Erlang can spawn
// on it (spawn(Node, cpp, F, Args)).
#pragma once

#include "serve_stats.hpp"

#include <erlnode/node.hpp>

namespace erlnode::serve {

// Defines cpp:echo/1, add/2, sleep/1, sha256/1, raise/2 and info/0 in n.rpc().
void define_cpp_module(node& n, serve_stats& stats);

// Defines the process function cpp:exit_after(Ms, Reason): waits Ms milliseconds, then exits
// with Reason (for links and monitors from Erlang).
void define_cpp_processes(node& n);

}  // namespace erlnode::serve
