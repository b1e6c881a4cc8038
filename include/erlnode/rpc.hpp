// RPC both ways: handlers that serve rpc:call / erpc:call from other nodes, and calls from C++
// into other nodes. Get it from node::rpc().
#pragma once

#include <erlnode/process.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>

namespace erlnode {

class node;

// What a handler learns about its caller.
struct rpc_context {
  atom caller_node;
  pid caller;        // the calling process (the erpc process's caller, or rex's client)
  pid group_leader;  // the caller's group leader
};

// A synchronous handler: returns the result term, or throws erlang_exception (error, exit,
// throw) to fail as an Erlang function would; any other exception becomes an error.
using rpc_handler = std::function<term(const rpc_context&, const list& args)>;
// A coroutine handler (runs on the node's executor without blocking other calls).
using rpc_async_handler =
    std::function<boost::asio::awaitable<term>(const rpc_context&, const list& args)>;

class rpc_server {
 public:
  virtual ~rpc_server() = default;
  // Defines module:function/arity (replacing an earlier definition).
  virtual void define(atom module, atom function, unsigned arity, rpc_handler h) = 0;
  virtual void define(atom module, atom function, unsigned arity, rpc_async_handler h) = 0;
  virtual bool undefine(atom module, atom function, unsigned arity) = 0;
};

}  // namespace erlnode
