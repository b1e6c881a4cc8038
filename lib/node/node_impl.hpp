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

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

namespace erlnode::detail {

struct spawn_state;  // spawn.cpp: process functions, pending spawn requests

inline std::string str(atom a) { return std::string(a.text()); }

// A message on its way to another node, before the control term is chosen (it depends on the
// flags negotiated with that node).
struct outgoing {
  enum class kind { to_pid, to_name, to_alias, control } k = kind::to_pid;
  pid from;
  term to;  // pid, name atom, alias reference, or the whole control tuple
  std::optional<term> msg;
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

  // --- registry and routing (routing.cpp) ---
  mailbox new_mailbox();
  result<void> register_name(const std::shared_ptr<mailbox_queue>& q, atom name);
  void unregister_name(const mailbox_queue& q);
  void close_mailbox(mailbox_queue& q);
  reference make_ref();
  // Sends `o` to `node` (our own node included). Never blocks unless `wait` says so.
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

  // --- spawning (spawn.cpp) ---
  void handle_spawn_request(net::connection_base& c, const term& control, const term& args);
  void handle_spawn_reply(net::connection_base& c, const term& control);
  std::shared_ptr<spawn_state> spawn_;  // created in the constructor by make_spawn_state()
  static std::shared_ptr<spawn_state> make_spawn_state();

  // --- services above the node (rpc.cpp in lib/rpc) ---
  std::mutex services_m_;
  std::shared_ptr<rpc_server> rpc_;

  const node_options& options() const noexcept { return opts_; }
  atom name() const noexcept { return name_; }
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
  struct monitor_entry {
    reference ref;
    pid watcher;
    std::optional<atom> by_name;
  };
  struct proc_entry {
    std::shared_ptr<mailbox_queue> q;
    std::optional<atom> name;
    std::vector<pid> links;
    std::vector<monitor_entry> monitors;
  };
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
  void send_exit_signal(net::connection_base& c, const pid& from, const pid& to, const term& why);
  void send_monitor_exit(net::connection_base& c, const term& target, const pid& watcher,
                         const reference& ref, const term& reason);
  void drop_remote_links(atom peer);
  void notify_proc_exit(const proc_entry& pe, const pid& self, atom reason);

  boost::asio::any_io_executor ex_;
  strand_type strand_;
  node_options opts_;
  std::error_code name_error_;
  node_name nn_;
  atom name_;
  std::atomic<std::uint32_t> creation_{0};
  std::uint16_t port_ = 0;
  std::string cookie_;
  std::map<std::string, std::string> peer_cookies_;
  mutable std::mutex cookie_m_;
  std::atomic<bool> started_{false}, stopped_{false};
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  epmd::registration registration_;
  std::shared_ptr<epmd::server> epmd_server_;  // in-process epmd from start_epmd, if any

  mutable std::shared_mutex peers_m_;
  std::unordered_map<atom, peer_entry> peers_;
  std::set<atom> ever_connected_;

  mutable std::shared_mutex procs_m_;
  std::unordered_map<std::uint64_t, proc_entry> procs_;
  std::unordered_map<atom, std::uint64_t> names_;
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
