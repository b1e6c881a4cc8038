// A distribution node: a name in epmd, a listening socket, connections to other nodes and the
// mailboxes (pids) that live on it.
//
//   boost::asio::io_context io;
//   erlnode::node n(io.get_executor(), {.name = "cpp", .cookie = "secret"});
//   co_await n.async_start(use_awaitable);          // listen + register in epmd
//   auto mb = n.create_mailbox(erlnode::atom("server")).value();
//   auto msg = co_await mb.async_receive(use_awaitable);
//
// Dynamic names (node_options::named_by; OTP 23+ `erl -sname undefined` as seen from the node
// that asks a peer for its name, DFLAG_NAME_ME):
//
//   erlnode::node n(io.get_executor(), {.cookie = "secret", .named_by = "server@host"});
//   co_await n.async_start(use_awaitable);  // n.name() is now e.g. '2PMHF4KHSNFPS@thishost'
//
// - async_start dials `named_by` asking for a name and completes once that connection is up;
//   the peer's "named:" answer gives the name ("<random>@host") and the creation. Until then
//   name() is the empty atom and creation() 0. On failure async_start completes with the
//   connection's reason and may be called again: dist::errc::status_not_allowed when the peer
//   refuses to name us (an erlnode peer; an erl whose net_kernel:allow/1 list lacks our host),
//   node_errc::connection_closed when erl drops the request without an answer (it does so when
//   the cookies differ), node_errc::no_such_node or connect_failed when it cannot be reached.
// - The node never listens and is not registered in epmd (OTP: a dynamic name implies
//   dist_listen=false), so only it dials others; it is always hidden (OTP forces that too;
//   node_options::hidden = false is refused with std::errc::invalid_argument), port() is 0.
//   After start it connects to other nodes (async_connect, auto-connect) under its new name.
// - Pids and references carry the node's name, so none may exist before it is known:
//   create_mailbox(), make_ref() and spawn() throw std::logic_error until the name is known
//   (at the latest when async_start completes); create_mailbox(name) returns
//   node_errc::not_started.
//   (OTP renames its existing pids instead; a pid here is a value and cannot follow.)
// - The name lives as long as the connection that gave it. When that connection goes down
//   (the peer stopped or disconnected us, a tick timeout, or our own disconnect()), the node
//   stops as stop() does: every other connection closes (monitor_nodes subscribers see each
//   nodedown), later connects fail with node_errc::closed, and local mailboxes keep working
//   among themselves; name() still reports the old name. OTP restarts its distribution then
//   and asks for a new name; the peer hands the old name (creation + 1) to the next node from
//   our host that asks. To get a name again, make a new node.
//
// All internal work runs on a strand of the given executor; the public functions may be called
// from any thread. The node answers what OTP expects from any node (net_adm:ping, monitors of
// unknown processes, UNLINK_ID), and in visible mode enough of `global`, `rpc` and `pg` for
// global:sync() on the peers to return.
#pragma once

#include <erlnode/atom.hpp>
#include <erlnode/mailbox.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/node_error.hpp>
#include <erlnode/process.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace erlnode {

class rpc_server;  // <erlnode/rpc.hpp>

enum class log_level { debug, info, warning, error };

// dist_auto_connect (kernel parameter): what sending to an unconnected node does.
enum class auto_connect {
  always,  // connect first (default)
  once,    // connect the first time only; after a nodedown only explicit async_connect does
  never,   // only async_connect connects
};

struct node_options {
  // "x" (the host is added: short, or fully qualified with long_names) or "x@host".
  std::string name;
  bool long_names = false;
  // Default: erl's default cookie file (~/.erlang.cookie), created if missing.
  std::optional<std::string> cookie;
  // Hidden (default, like C nodes) or visible (PUBLISHED: appears in the peers' nodes()).
  bool hidden = true;
  // epmd port: default ERL_EPMD_PORT from the environment, else 4369.
  std::optional<std::uint16_t> epmd_port;
  // Start an epmd when nothing answers on the epmd port.
  bool start_epmd = false;
  // epmd-less mode (like erl -erl_epmd_port P): listen on this port and dial every peer on it;
  // no epmd at all. The creation is then random.
  std::optional<std::uint16_t> epmd_less_port;
  // Listen port range (inet_dist_listen_min/max); 0/0: any free port.
  std::uint16_t listen_port_min = 0;
  std::uint16_t listen_port_max = 0;
  std::string listen_address = "0.0.0.0";
  std::chrono::milliseconds net_ticktime{60'000};
  std::chrono::milliseconds net_setuptime{7'000};
  auto_connect dist_auto_connect = auto_connect::always;
  // Receives every log line (connection refusals, invalid messages, nodedown reasons). Default:
  // warnings and errors to stderr.
  std::function<void(log_level, std::string_view)> logger;
  // Bound of one connection's send queue, in bytes (a single larger message is still taken
  // when the queue is empty).
  std::size_t send_queue_limit = 8u << 20;
  // Bound of in-flight fragmented-message memory per connection.
  std::size_t max_reassembly_memory = 1u << 30;
  // Negotiate DFLAG_FRAGMENTS: messages over 64 KiB travel as fragments both ways, so one
  // large message does not hold up the small ones behind it on the same connection. The
  // price: the sending BEAM spends about twice the CPU per byte of a large message (README,
  // performance). Off, every message is one packet, as with ei.
  bool fragments = true;
  // Dynamic name: the peer ("name@host") that gives this node its name (see "Dynamic names"
  // above). `name` is then "" (this host: the short hostname, or the fully qualified one with
  // long_names) or "@host".
  std::string named_by;
};

enum class node_type { visible, hidden };
// Which nodes nodes() lists (erlang:nodes/1).
enum class node_filter { visible, hidden, connected };

struct connection_info {
  atom node;
  node_type type = node_type::hidden;
  std::uint64_t flags = 0;  // negotiated DFLAG_* bits
  std::uint32_t creation = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::uint64_t messages_in = 0, messages_out = 0;
  std::size_t queue_bytes = 0, queue_packets = 0;  // send queue depth now
};

class node {
 public:
  using executor_type = boost::asio::any_io_executor;

  node(executor_type ex, node_options opts);
  ~node();  // stops: connections closed, epmd registration dropped
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Listens and registers in epmd. Completes with void(std::error_code), e.g.
  // node_errc::name_registered when epmd already knows our name.
  template <class Token>
  auto async_start(Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code)>(
        [this](auto h) {
          start_impl(net::any_completion<std::error_code>(std::move(h), get_executor()));
        },
        token);
  }
  // Connects to `peer` ("name@host"), like net_kernel:connect_node/1; completes once the
  // handshake is done (or at once when connected).
  template <class Token>
  auto async_connect(std::string_view peer, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code)>(
        [this](auto h, std::string peer) {
          connect_impl(std::move(peer),
                       net::any_completion<std::error_code>(std::move(h), get_executor()));
        },
        token, std::string(peer));
  }
  // Like net_adm:ping/1: connects, then asks the peer's net_kernel {is_auth, Us}; completes
  // with true (pong) or false (pang).
  template <class Token>
  auto async_ping(std::string_view peer, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code, bool)>(
        [this](auto h, std::string peer) {
          ping_impl(std::move(peer),
                    net::any_completion<std::error_code, bool>(std::move(h), get_executor()));
        },
        token, std::string(peer));
  }
  // Closes the connection (nodedown reason `disconnect`), like erlang:disconnect_node/1.
  bool disconnect(atom peer);
  // Closes everything; pending operations complete with node_errc::closed.
  void stop();

  // A new pid. With a name: registered too (node_errc::name_taken if in use). On a
  // dynamic-name node, only after async_start has completed (see above).
  mailbox create_mailbox();
  result<mailbox> create_mailbox(atom registered_name);
  // A fresh reference of this node.
  reference make_ref();

  // --- processes (<erlnode/process.hpp>) ---
  // Makes Module:Function (any arity) startable by other nodes: spawn(Node, M, F, A),
  // spawn_link/spawn_monitor/spawn_request. Replaces an earlier definition. Undefined
  // functions start a process that exits with {undef, [{M, F, Args, []}]}, as on the BEAM.
  void define_process(atom module, atom function, process_function f);
  bool undefine_process(atom module, atom function);
  // Starts `f(args)` as a new local process on the node's executor; returns its pid.
  pid spawn(process_function f, list args = list{});

  // The rpc service (<erlnode/rpc.hpp>): handlers for rpc:call/erpc:call from other nodes.
  rpc_server& rpc();

  atom name() const;  // name@host (the empty atom while a dynamic name is not yet known)
  std::uint32_t creation() const;
  std::uint16_t port() const;  // listening port (after start)
  executor_type get_executor() const;

  // Cookie for one peer (erlang:set_cookie/2); others use the node cookie.
  void set_cookie(atom peer, std::string cookie);
  void set_cookie(std::string cookie);

  // Introspection, like erlang:nodes/1 and nodes(connected, #{...}).
  std::vector<atom> nodes(node_filter f = node_filter::visible) const;
  std::vector<connection_info> connections() const;
  std::optional<connection_info> connection(atom peer) const;

  // Like net_kernel:monitor_nodes(true, [nodedown_reason, {node_type, all}]): `mb` gets
  // {nodeup, Node, [{node_type, visible|hidden}]} and
  // {nodedown, Node, [{node_type, T}, {nodedown_reason, R}]} with R connection_closed,
  // net_tick_timeout, disconnect, ...
  void monitor_nodes(const mailbox& mb, bool on = true);

  // Test hook: stop (or resume) sending ticks on the connection to `peer`, so that the peer
  // declares us dead.
  void test_pause_ticks(atom peer, bool paused);

  std::shared_ptr<detail::node_impl> impl() const noexcept { return impl_; }

 private:
  void start_impl(net::any_completion<std::error_code> h);
  void connect_impl(std::string peer, net::any_completion<std::error_code> h);
  void ping_impl(std::string peer, net::any_completion<std::error_code, bool> h);
  std::shared_ptr<detail::node_impl> impl_;
};

}  // namespace erlnode
