// The node's internals (not installed): registry, routing, connections, epmd, services.
#pragma once

#include <erlnode/dist/flags.hpp>
#include <erlnode/epmd/client.hpp>
#include <erlnode/epmd/server.hpp>
#include <erlnode/mailbox.hpp>
#include <erlnode/net/connection.hpp>
#include <erlnode/node.hpp>
#include <erlnode/node_name.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace erlnode::detail {

struct spawn_state;  // spawn.cpp: process functions, pending spawn requests

inline std::string str(atom a) { return std::string(a.text()); }

inline bool same(const reference& a, const reference& b) noexcept {
  auto x = a.words(), y = b.words();
  return a.node() == b.node() && a.creation() == b.creation() &&
         std::equal(x.begin(), x.end(), y.begin(), y.end());
}
inline bool same(const pid& a, const pid& b) noexcept {
  return a.id() == b.id() && a.serial() == b.serial() && a.node() == b.node() &&
         a.creation() == b.creation();
}

// A message on its way to another node, before the control term is chosen (it depends on the
// flags negotiated with that node).
// Signal kinds (link .. monitor_exit) carry their fields in `to`/`msg` as noted; the wire form
// (payload variant or not, UNLINK_ID or UNLINK, MONITOR_P or nothing) is chosen per peer.
struct outgoing {
  enum class kind {
    to_pid,
    to_name,
    to_alias,
    control,       // `to` is the whole control tuple, `msg` the payload if any
    link,          // LINK from -> to (pid)
    unlink,        // UNLINK_ID {35, id, from, to}, or UNLINK without DFLAG_UNLINK_ID
    exit,          // link exit signal from -> to, msg = reason
    exit2,         // exit/2 signal from -> to, msg = reason
    monitor,       // MONITOR_P from -> to (pid or name atom), msg = ref
    demonitor,     // DEMONITOR_P, same fields
    monitor_exit,  // to = {TargetObj, Watcher, Ref}, msg = reason; from = the dying pid
  } k = kind::to_pid;
  pid from;
  term to;  // pid, name atom, alias reference, or the whole control tuple
  std::optional<term> msg;
  std::uint64_t id = 0;  // unlink id
};

class node_impl final : public net::connection_owner,
                        public std::enable_shared_from_this<node_impl> {
 public:
  using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
  node_impl(boost::asio::any_io_executor ex, node_options o);
  ~node_impl() override;

  // --- life cycle (node.cpp) ---
  void start(net::any_completion<std::error_code> h);
  void connect(atom peer, net::any_completion<std::error_code> h);
  void ping(std::string peer, net::any_completion<std::error_code, bool> h);
  bool disconnect(atom peer);
  void stop();
  void log(log_level l, const std::string& s) const;
  // Runs `f` on the strand once async_start has succeeded (posted at once if it has). Services
  // that need the node's creation in their pids (rex) start this way.
  void when_started(std::function<void()> f);

  // --- registry and routing (routing.cpp) ---
  mailbox new_mailbox();
  result<void> register_name(const std::shared_ptr<mailbox_queue>& q, atom name);
  void unregister_name(const mailbox_queue& q);
  void close_mailbox(mailbox_queue& q);
  reference make_ref();
  // Sends `o` to `node` (our own node included). Never blocks unless `wait` says so.
  // dist_auto_connect allows dialing `node` now: always, or once and never connected yet.
  bool may_auto_connect(atom node) const;
  std::error_code route(outgoing o, atom node, net::send_wait wait = net::send_wait::never);
  void async_route(outgoing o, atom node, net::any_completion<std::error_code> h);
  bool is_local(const pid& p) const noexcept {
    return p.node() == name_ && (p.creation() == creation_ || p.creation() == 0);
  }
  std::shared_ptr<mailbox_queue> find_local(const pid& p) const;
  std::shared_ptr<mailbox_queue> find_name(atom n) const;
  void monitor_nodes(const std::shared_ptr<mailbox_queue>& q, bool on);

  // --- introspection ---
  std::vector<atom> nodes(node_filter f) const;
  std::vector<connection_info> connections() const;
  std::optional<connection_info> connection(atom peer) const;
  void test_pause_ticks(atom peer, bool paused);
  void set_cookie(atom peer, std::string c);
  void set_cookie(std::string c);

  // --- connection_owner (node.cpp / services.cpp), on the strand ---
  dist::handshake_status on_peer_name(net::connection_base& c,
                                      const dist::need_status_decision& d) override;
  bool on_alive(net::connection_base& c) override;
  void on_up(net::connection_base& c) override;
  void on_message(net::connection_base& c, term control, std::optional<term> payload) override;
  void on_down(net::connection_base& c, std::error_code why, const std::string& detail) override;

  // --- signal bookkeeping used by spawning (signals.cpp) ---
  // Records a link between a local pid and another pid (local or remote) without sending
  // LINK (spawn's link option creates it implicitly on both sides).
  void record_link(const pid& a, const pid& b);
  // Records a monitor: `watcher` monitors `target` under `ref`; either may be remote.
  void record_monitor(const pid& watcher, const pid& target, const reference& ref);

  // --- signals (signals.cpp). Callable from any thread: the bookkeeping is guarded by
  // procs_m_, and every effect (queue pushes, sends, deaths) happens after it is released.
  std::error_code link(const pid& self, const pid& other);
  std::error_code unlink(const pid& self, const pid& other);
  std::error_code exit2(const pid& from, const pid& to, const term& reason);
  // The local process dies with `reason` (no-op when already dead).
  void exit_proc(mailbox_queue& q, const term& reason);
  reference monitor(const pid& self, const term& target, atom node);
  bool demonitor(const pid& self, const reference& ref);
  std::error_code monitor_node(const pid& self, atom node, bool on);
  reference alias(const pid& self);
  bool unalias(const pid& self, const reference& ref);
  std::optional<pid> group_leader(const pid& self) const;
  void set_group_leader(const pid& self, const pid& gl);
  // Every link and monitor across the connection to `peer` fires with noconnection.
  void connection_lost(atom peer);
  // Counts for leak checks (tests, soak).
  struct signal_stats {
    std::size_t processes = 0, names = 0, extras = 0, links = 0, monitors = 0, watching = 0,
                aliases = 0, node_monitors = 0, peer_index = 0;
  };
  signal_stats stats() const;

  // --- spawning (spawn.cpp) ---
  void handle_spawn_request(net::connection_base& c, const term& control, const term& args);
  void handle_spawn_reply(net::connection_base& c, const term& control);
  // The process that asked for `child` with SPAWN_REQUEST, while `child` runs.
  std::optional<pid> spawn_requester(const pid& child) const;
  std::shared_ptr<spawn_state> spawn_;  // created in the constructor by make_spawn_state()
  static std::shared_ptr<spawn_state> make_spawn_state();

  // --- services above the node (rpc.cpp in lib/rpc) ---
  std::mutex services_m_;
  std::shared_ptr<rpc_server> rpc_;

  const node_options& options() const noexcept { return opts_; }
  atom name() const noexcept { return name_; }
  // Dynamic name (node_options::named_by): true once the naming peer has answered. name_ is
  // written once on the strand before this turns true (release), so a reader that sees true
  // (acquire) reads the final name.
  bool dynamic_name() const noexcept { return dynamic_; }
  bool named() const noexcept { return !dynamic_ || named_.load(std::memory_order_acquire); }
  // Pids and refs carry the node's name: on a dynamic-name node none may exist before it.
  // Throws std::logic_error (a programmer error; named() is the non-throwing test).
  void require_named(const char* what) const;
  // Started and able to dial out: listening with a name, or named by a peer.
  bool may_dial() const noexcept {
    return started_ && (dynamic_ ? named_.load(std::memory_order_acquire) : port_ != 0);
  }
  std::uint32_t creation() const noexcept { return creation_; }
  std::uint16_t port() const noexcept { return port_; }
  const strand_type& strand() const noexcept { return strand_; }
  boost::asio::any_io_executor executor() const { return ex_; }

 private:
  struct peer_entry {
    std::shared_ptr<net::connection_base> conn;  // the current attempt, or the up connection
    bool up = false;
    bool dialing = false;  // looking up the port / TCP connect, no connection object yet
    node_type type = node_type::hidden;
    std::vector<std::pair<outgoing, net::any_completion<std::error_code>>> queued;
    std::vector<net::any_completion<std::error_code>> waiters;
  };
  struct link_entry {
    pid other;
    std::uint64_t unlink_id = 0;  // 0: active; else inactive until UNLINK_ID_ACK with this id
  };
  struct monitor_entry {  // `watcher` monitors us
    reference ref;
    pid watcher;
    std::optional<atom> by_name;
  };
  struct watch_entry {  // we monitor someone
    reference ref;
    term object;               // what DOWN names: the pid, or {Name, Node}
    term target;               // what DEMONITOR_P names: the pid, or the name atom
    std::optional<pid> local;  // the target when it is on our node
    atom node;
  };
  // Only processes that link, monitor, own a name or alias, ... carry these (one pointer
  // otherwise), so idle mailboxes stay small.
  struct proc_extras {
    std::optional<atom> name;
    std::optional<pid> group_leader;
    std::vector<link_entry> links;
    std::vector<monitor_entry> monitors;
    std::vector<watch_entry> watching;
    std::vector<reference> aliases;
    std::vector<atom> node_monitors;
    std::vector<atom> peers;  // where by_peer_ lists us
    bool empty() const noexcept {
      return !name && !group_leader && links.empty() && monitors.empty() && watching.empty() &&
             aliases.empty() && node_monitors.empty() && peers.empty();
    }
  };
  struct proc_entry {
    std::shared_ptr<mailbox_queue> q;
    std::unique_ptr<proc_extras> x;
    proc_extras& extras() {
      if (!x) x = std::make_unique<proc_extras>();
      return *x;
    }
  };
  // Deferred effects of a signal, run after procs_m_ is released.
  struct effects;
  static std::uint64_t key(const pid& p) noexcept {
    return (std::uint64_t{p.serial()} << 32) | p.id();
  }

  // node.cpp
  boost::asio::awaitable<void> run_start(net::any_completion<std::error_code> h);
  boost::asio::awaitable<std::error_code> listen();
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<std::error_code> register_epmd();
  boost::asio::awaitable<void> dial(atom peer);
  void dial_failed(atom peer, std::error_code ec, const std::string& detail);
  net::connection_settings settings_for(dist::handshake_role role, const std::string& peer);
  std::string cookie_for(const std::string& peer) const;
  void start_dial_locked(atom peer, peer_entry& e);
  void node_event(atom peer, bool up, node_type t, atom reason);
  // The end of a successful start (both kinds): system pid, accept loop, when_started.
  void finish_start(net::any_completion<std::error_code> h);
  // async_connect's work once the node may dial (waiter on the peer's entry, dial if new).
  void add_connect_waiter(atom peer, net::any_completion<std::error_code> h);
  // Dynamic name: the start waiter on the naming peer's connection.
  void naming_done(std::error_code ec, net::any_completion<std::error_code> h);

  // routing.cpp
  std::error_code send_on(net::connection_base& c, const outgoing& o, net::send_wait w);
  std::error_code deliver_local(const outgoing& o);

  // services.cpp
  void invalid(net::connection_base& c, const term& control, const std::string& why);
  void reply_call(net::connection_base& c, const term& from, const term& reply);
  void handle_reg_send(net::connection_base& c, const pid& from, atom to, const term& msg);
  void handle_monitor(net::connection_base& c, const pid& from, const term& target,
                      const reference& ref);
  void handle_global(net::connection_base& c, const pid& from, const term& msg);
  void handle_link(net::connection_base& c, const pid& from, const pid& to);
  void handle_unlink(const pid& from, const pid& to, std::uint64_t id, bool ack);
  void handle_demonitor(const pid& from, const term& target, const reference& ref);
  void handle_exit(const pid& from, const pid& to, const term& reason, bool link);
  void handle_monitor_exit(const term& from, const pid& to, const reference& ref,
                           const term& reason);
  void handle_alias_send(const reference& alias, const term& msg);

  // signals.cpp
  std::error_code send_signal(outgoing o, atom node);  // only over a connection up or pending
  void run(effects& fx);
  void kill_locked(std::uint64_t k, const term& reason, effects& fx);
  void exit_signal_locked(const pid& from, const pid& to, const term& reason, bool link,
                          effects& fx);
  void drain_locked(effects& fx);
  void index_peer_locked(atom node, std::uint64_t k);

  boost::asio::any_io_executor ex_;
  strand_type strand_;
  node_options opts_;
  std::error_code name_error_;
  node_name nn_;  // dynamic name: only the host until named
  atom name_;
  // Dynamic name (node_options::named_by).
  bool dynamic_ = false;
  atom naming_peer_;
  std::atomic<bool> named_{false};
  const net::connection_base* naming_conn_ = nullptr;  // strand: the up naming connection
  std::error_code naming_error_;                       // strand: why the naming attempt failed
  std::atomic<std::uint32_t> creation_{0};
  // The listening port; 0: not started (routing dials only when it is set). A dynamic-name
  // node has no listen socket: it sets 1 here once named, and port() reports 0.
  std::uint16_t port_ = 0;
  std::string cookie_;
  std::map<std::string, std::string> peer_cookies_;
  mutable std::mutex cookie_m_;
  std::atomic<bool> started_{false}, stopped_{false};
  std::mutex running_m_;
  bool running_ = false;  // async_start completed successfully
  std::vector<std::function<void()>> on_started_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  epmd::registration registration_;
  std::shared_ptr<epmd::server> epmd_server_;  // in-process epmd from start_epmd, if any

  mutable std::shared_mutex peers_m_;
  std::unordered_map<atom, peer_entry> peers_;
  std::set<atom> ever_connected_;
  bool may_auto_connect_locked(atom node) const;  // peers_m_ held

  mutable std::shared_mutex procs_m_;
  std::unordered_map<std::uint64_t, proc_entry> procs_;
  std::unordered_map<atom, std::uint64_t> names_;
  std::unordered_map<term, std::uint64_t> aliases_;  // active alias -> owner
  // Processes with links/monitors over a node's connection (may hold stale keys).
  std::unordered_map<atom, std::unordered_set<std::uint64_t>> by_peer_;
  std::atomic<std::uint64_t> next_unlink_id_{1};
  std::atomic<std::uint64_t> next_pid_{1};
  std::atomic<std::uint64_t> next_ref_{1};
  std::uint32_t ref_salt_ = 0;
  pid system_pid_;  // sender of the node's own replies (net_kernel, global, rex)

  mutable std::mutex mon_m_;
  std::vector<std::weak_ptr<mailbox_queue>> node_monitors_;

  // global (visible mode)
  std::map<std::string, term> global_tags_;
};

}  // namespace erlnode::detail
