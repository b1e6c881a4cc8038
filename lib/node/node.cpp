#include <erlnode/cookie.hpp>
#include <erlnode/dist/crypto.hpp>
#include <erlnode/epmd/client.hpp>
#include <erlnode/epmd/ensure_running.hpp>
#include <erlnode/node.hpp>

#include "node/node_impl.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>

// GCC 12 flags Asio 1.74's awaitable frame allocator (a false positive in its recycling
// allocator); coroutines in this file would otherwise warn.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace erlnode {

namespace asio = boost::asio;
using asio::ip::tcp;

// ------------------------------------------------------------------------------------------
// node: thin wrappers

namespace detail {
void node_impl::require_named(const char* what) const {
  if (!named())
    throw std::logic_error(std::string("erlnode::node::") + what +
                           ": a dynamic-name node (node_options::named_by) has no name before "
                           "async_start has completed");
}
}  // namespace detail

node::node(executor_type ex, node_options opts)
    : impl_(std::make_shared<detail::node_impl>(std::move(ex), std::move(opts))) {}
node::~node() { impl_->stop(); }
void node::start_impl(net::any_completion<std::error_code> h) { impl_->start(std::move(h)); }
void node::connect_impl(std::string peer, net::any_completion<std::error_code> h) {
  auto a = atom::make(peer);
  if (!a) return h(make_error_code(node_errc::bad_node_name));
  impl_->connect(*a, std::move(h));
}
void node::ping_impl(std::string peer, net::any_completion<std::error_code, bool> h) {
  impl_->ping(std::move(peer), std::move(h));
}
bool node::disconnect(atom peer) { return impl_->disconnect(peer); }
void node::stop() { impl_->stop(); }
mailbox node::create_mailbox() {
  impl_->require_named("create_mailbox");
  return impl_->new_mailbox();
}
result<mailbox> node::create_mailbox(atom n) {
  if (!impl_->named()) return erlnode::error(node_errc::not_started);
  mailbox mb = impl_->new_mailbox();
  if (auto r = mb.register_name(n); !r) return r.error();
  return result<mailbox>(std::move(mb));
}
reference node::make_ref() {
  impl_->require_named("make_ref");
  return impl_->make_ref();
}
atom node::name() const { return impl_->named() ? impl_->name() : atom(); }
std::uint32_t node::creation() const { return impl_->creation(); }
std::uint16_t node::port() const { return impl_->port(); }
node::executor_type node::get_executor() const { return impl_->executor(); }
void node::set_cookie(atom peer, std::string c) { impl_->set_cookie(peer, std::move(c)); }
void node::set_cookie(std::string c) { impl_->set_cookie(std::move(c)); }
std::vector<atom> node::nodes(node_filter f) const { return impl_->nodes(f); }
std::vector<connection_info> node::connections() const { return impl_->connections(); }
std::optional<connection_info> node::connection(atom p) const { return impl_->connection(p); }
void node::monitor_nodes(const mailbox& mb, bool on) {
  impl_->monitor_nodes(mb ? mb.q_ : nullptr, on);
}
void node::test_pause_ticks(atom peer, bool paused) { impl_->test_pause_ticks(peer, paused); }

// ------------------------------------------------------------------------------------------
// node_impl: life cycle

namespace detail {

node_impl::node_impl(asio::any_io_executor ex, node_options o)
    : ex_(ex), strand_(asio::make_strand(ex)), opts_(std::move(o)), system_pid_(atom(), 0, 0, 0) {
  if (!opts_.named_by.empty()) {
    dynamic_ = true;
    auto host = make_dynamic_host(opts_.name, opts_.long_names);
    auto peer = atom::make(opts_.named_by);
    if (!host)
      name_error_ = host.error().code;
    else if (!peer)
      name_error_ = make_error_code(node_errc::bad_node_name);
    else if (!opts_.hidden)
      name_error_ = std::make_error_code(std::errc::invalid_argument);
    if (host) nn_ = *host;
    if (peer) naming_peer_ = *peer;
  } else {
    auto nn = make_node_name(opts_.name, opts_.long_names);
    if (nn) {
      nn_ = *nn;
      name_ = atom(nn_.full());
    } else {
      name_error_ = nn.error().code;
    }
  }
  std::random_device rd;
  ref_salt_ = rd();
  if (opts_.cookie) cookie_ = *opts_.cookie;
  spawn_ = make_spawn_state();
}

node_impl::~node_impl() = default;

void node_impl::log(log_level l, const std::string& s) const {
  if (opts_.logger) return opts_.logger(l, s);
  if (l >= log_level::warning)
    std::cerr << "erlnode " << (named() ? str(name_) : "(unnamed)") << ": " << s << "\n";
}

void node_impl::start(net::any_completion<std::error_code> h) {
  if (started_.exchange(true)) return h(make_error_code(node_errc::already_started));
  asio::co_spawn(strand_, run_start(std::move(h)), asio::detached);
}

asio::awaitable<void> node_impl::run_start(net::any_completion<std::error_code> h) {
  auto self = shared_from_this();
  if (name_error_) {
    if (dynamic_)
      log(log_level::error,
          "cannot ask " + opts_.named_by + " for a name: " +
              (name_error_ == std::errc::invalid_argument
                   ? std::string("a dynamic-name node is always hidden (hidden = false given)")
                   : "name \"" + opts_.name + "\": " + name_error_.message() +
                         " (with named_by, name is \"\" or \"@host\")"));
    co_return h(name_error_);
  }
  if (!opts_.cookie) {
    auto c = default_cookie();
    if (!c) co_return h(c.error().code);
    std::lock_guard lk(cookie_m_);
    cookie_ = *c;
  }
  if (dynamic_) {
    // No listen socket and no epmd registration (OTP: a dynamic name implies
    // dist_listen=false). Start completes when the naming connection is up (naming_done).
    naming_error_ = {};
    std::unique_lock lk(peers_m_);
    auto [it, fresh] = peers_.try_emplace(naming_peer_);
    it->second.waiters.emplace_back(
        [self, h = std::move(h)](std::error_code ec) mutable {
          self->naming_done(ec, std::move(h));
        },
        strand_);
    if (fresh) start_dial_locked(naming_peer_, it->second);
    co_return;
  }
  if (auto ec = co_await listen()) co_return h(ec);
  if (opts_.epmd_less_port) {
    std::random_device rd;
    std::uint32_t c = 0;
    while (c < 4) c = rd();
    creation_ = c;
  } else if (auto ec = co_await register_epmd()) {
    boost::system::error_code ig;
    acceptor_->close(ig);
    co_return h(ec);
  }
  system_pid_ = pid(name_, 1, 0, creation_);
  next_pid_ = 2;
  finish_start(std::move(h));
}

void node_impl::finish_start(net::any_completion<std::error_code> h) {
  if (acceptor_) asio::co_spawn(strand_, accept_loop(), asio::detached);
  std::vector<std::function<void()>> fs;
  {
    std::lock_guard lk(running_m_);
    running_ = true;
    fs.swap(on_started_);
  }
  for (auto& f : fs) f();
  h(std::error_code());
}

void node_impl::naming_done(std::error_code ec, net::any_completion<std::error_code> h) {
  if (named_) {
    // Named; but the naming connection may have gone (and the node stopped) meanwhile.
    if (stopped_) return h(make_error_code(node_errc::closed));
    return finish_start(std::move(h));
  }
  if (!ec) ec = make_error_code(node_errc::handshake_failed);  // up without a name: not so
  if (naming_error_) ec = naming_error_;                       // the handshake's own reason
  naming_error_ = {};
  log(log_level::error,
      "cannot get a name from " + opts_.named_by + ": " + ec.message() +
          (ec == node_errc::connection_closed
               ? " (erl closes a name request without an answer when the cookies differ)"
               : ""));
  started_ = false;  // async_start may be called again
  h(ec);
}

void node_impl::when_started(std::function<void()> f) {
  {
    std::lock_guard lk(running_m_);
    if (!running_) return on_started_.push_back(std::move(f));
  }
  asio::post(strand_, std::move(f));
}

asio::awaitable<std::error_code> node_impl::listen() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(opts_.listen_address, ec);
  if (ec) co_return make_error_code(node_errc::listen_failed);
  std::uint16_t lo = opts_.listen_port_min, hi = opts_.listen_port_max;
  if (opts_.epmd_less_port) lo = hi = *opts_.epmd_less_port;
  if (hi < lo) hi = lo;
  for (std::uint32_t p = lo; p <= hi; ++p) {
    auto a = std::make_unique<tcp::acceptor>(strand_);
    tcp::endpoint ep(addr, static_cast<std::uint16_t>(p));
    a->open(ep.protocol(), ec);
    if (ec) break;
    a->set_option(tcp::acceptor::reuse_address(true), ec);
    a->bind(ep, ec);
    if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      port_ = a->local_endpoint().port();
      acceptor_ = std::move(a);
      co_return std::error_code();
    }
  }
  log(log_level::error, "cannot listen on " + opts_.listen_address + " ports " +
                            std::to_string(lo) + ".." + std::to_string(hi));
  co_return make_error_code(node_errc::listen_failed);
}

namespace {
std::uint16_t epmd_port_of(const node_options& o) {
  return o.epmd_port ? *o.epmd_port : epmd::port_from_env();
}
}  // namespace

asio::awaitable<std::error_code> node_impl::register_epmd() {
  const std::uint16_t eport = epmd_port_of(opts_);
  boost::system::error_code ec;
  if (opts_.start_epmd) {
    epmd::ensure_options eo;
    eo.port = eport;
    auto r = co_await epmd::async_ensure_running(strand_, eo,
                                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      log(log_level::error,
          "cannot start epmd on port " + std::to_string(eport) + ": " + ec.message());
      co_return make_error_code(node_errc::epmd_unreachable);
    }
    epmd_server_ = r.in_process;
  }
  epmd::node_info ni;
  ni.port = port_;
  ni.node_type = opts_.hidden ? epmd::node_type_hidden : epmd::node_type_normal;
  ni.name = nn_.name;
  epmd::client_options co;
  co.port = eport;
  auto reg = co_await epmd::async_register_node(strand_, ni, co,
                                                asio::redirect_error(asio::use_awaitable, ec));
  if (ec == epmd::make_error_code(epmd::client_errc::name_taken)) {
    log(log_level::error,
        "the name " + nn_.name + " is already registered in epmd on port " + std::to_string(eport));
    co_return make_error_code(node_errc::name_registered);
  }
  if (ec) {
    log(log_level::error, "epmd on port " + std::to_string(eport) + ": " + ec.message());
    co_return make_error_code(ec == asio::error::connection_refused ? node_errc::epmd_unreachable
                                                                    : node_errc::epmd_failed);
  }
  std::uint32_t c = reg.creation();
  if (c == 0) c = 0xE10000 | (ref_salt_ & 0xffff);
  creation_ = c;
  registration_ = std::move(reg);  // registered while this connection stays open
  co_return std::error_code();
}

asio::awaitable<void> node_impl::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    tcp::socket s(strand_);
    boost::system::error_code ec;
    co_await acceptor_->async_accept(s, asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    auto c = std::make_shared<net::connection<tcp::socket>>(
        strand_, settings_for(dist::handshake_role::acceptor, ""), weak_from_this(), std::move(s));
    c->start();
  }
}

std::string node_impl::cookie_for(const std::string& peer) const {
  std::lock_guard lk(cookie_m_);
  auto it = peer_cookies_.find(peer);
  return it != peer_cookies_.end() ? it->second : cookie_;
}

net::connection_settings node_impl::settings_for(dist::handshake_role role,
                                                 const std::string& peer) {
  net::connection_settings s;
  auto& h = s.handshake;
  h.role = role;
  h.this_node = str(name_);
  h.this_creation = creation_;
  h.this_flags = opts_.hidden ? dist::hidden_profile : dist::visible_profile;
  if (!opts_.fragments) h.this_flags &= ~dist::flag::fragments;
  h.required_flags = dist::mandatory_25;
  h.cookie = cookie_for(peer);
  h.cookie_for = [w = weak_from_this()](std::string_view p) {
    auto self = w.lock();
    return self ? self->cookie_for(std::string(p)) : std::string();
  };
  h.peer_node = peer;
  h.length_prefix = 2;
  h.setup_timeout = opts_.net_setuptime;
  h.crypto = dist::openssl_crypto();
  s.net_ticktime = opts_.net_ticktime;
  s.send_queue_limit = opts_.send_queue_limit;
  s.max_reassembly_memory = opts_.max_reassembly_memory;
  return s;
}

void node_impl::connect(atom peer, net::any_completion<std::error_code> h) {
  if (stopped_) return h(make_error_code(node_errc::closed));
  if (!may_dial()) return h(make_error_code(node_errc::not_started));
  add_connect_waiter(peer, std::move(h));
}

void node_impl::add_connect_waiter(atom peer, net::any_completion<std::error_code> h) {
  if (peer == name_) return h(std::error_code());
  std::unique_lock lk(peers_m_);
  auto [it, fresh] = peers_.try_emplace(peer);
  if (!fresh && it->second.up) {
    lk.unlock();
    return h(std::error_code());
  }
  it->second.waiters.push_back(std::move(h));
  if (fresh) start_dial_locked(peer, it->second);
}

void node_impl::start_dial_locked(atom peer, peer_entry& e) {
  e.dialing = true;
  asio::co_spawn(strand_, dial(peer), asio::detached);
}

asio::awaitable<void> node_impl::dial(atom peer) {
  auto self = shared_from_this();
  if (stopped_) {
    dial_failed(peer, make_error_code(node_errc::closed),
                "cannot connect to " + str(peer) + ": the node is stopped");
    co_return;
  }
  auto pn = parse_peer_name(str(peer), opts_.long_names);
  if (!pn) {
    dial_failed(peer, make_error_code(node_errc::bad_node_name),
                "cannot connect to " + str(peer) + ": " + pn.error().code.message());
    co_return;
  }
  boost::system::error_code ec;
  tcp::resolver res(strand_);
  auto eps =
      co_await res.async_resolve(pn->host, "", asio::redirect_error(asio::use_awaitable, ec));
  if (ec || eps.empty()) {
    dial_failed(peer, make_error_code(node_errc::connect_failed),
                "cannot resolve host " + pn->host + ": " + ec.message());
    co_return;
  }
  tcp::endpoint host_ep = eps.begin()->endpoint();
  std::uint16_t port = 0;
  if (opts_.epmd_less_port) {
    port = *opts_.epmd_less_port;
  } else {
    epmd::client_options co;
    co.host = host_ep.address().to_string();
    co.port = epmd_port_of(opts_);
    auto ni = co_await epmd::async_port_please(strand_, pn->name, co,
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec == epmd::make_error_code(epmd::client_errc::not_registered)) {
      dial_failed(peer, make_error_code(node_errc::no_such_node),
                  pn->name + " is not registered in epmd on " + pn->host);
      co_return;
    }
    if (ec) {
      dial_failed(peer, make_error_code(node_errc::epmd_failed),
                  "epmd on " + pn->host + " did not answer for " + pn->name + ": " + ec.message());
      co_return;
    }
    port = ni.port;
  }
  tcp::socket s(strand_);
  co_await s.async_connect(tcp::endpoint(host_ep.address(), port),
                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    dial_failed(peer, make_error_code(node_errc::connect_failed),
                "cannot connect to " + str(peer) + ": " + ec.message());
    co_return;
  }
  s.set_option(tcp::no_delay(true), ec);
  auto settings = settings_for(dist::handshake_role::initiator, str(peer));
  if (dynamic_ && !named_ && peer == naming_peer_) {
    // Ask for a name: 'N' with the host only and DFLAG_NAME_ME (creation 0 on the wire).
    settings.handshake.this_node = nn_.host;
    settings.handshake.this_flags |= dist::flag::name_me;
  }
  std::shared_ptr<net::connection_base> c = std::make_shared<net::connection<tcp::socket>>(
      strand_, std::move(settings), weak_from_this(), std::move(s));
  {
    std::unique_lock lk(peers_m_);
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.dialing || it->second.conn) co_return;  // superseded
    it->second.dialing = false;
    it->second.conn = c;
  }
  c->start();
}

void node_impl::dial_failed(atom peer, std::error_code ec, const std::string& detail) {
  log(log_level::warning, detail);
  std::vector<net::any_completion<std::error_code>> ws;
  std::vector<std::pair<outgoing, net::any_completion<std::error_code>>> q;
  {
    std::unique_lock lk(peers_m_);
    auto it = peers_.find(peer);
    if (it == peers_.end() || it->second.conn || !it->second.dialing) return;
    ws = std::move(it->second.waiters);
    q = std::move(it->second.queued);
    peers_.erase(it);
  }
  for (auto& w : ws) w(ec);
  for (auto& m : q)
    if (m.second) m.second(ec);
  connection_lost(peer);  // links and monitors towards an unreachable node: noconnection
}

dist::handshake_status node_impl::on_peer_name(net::connection_base& c,
                                               const dist::need_status_decision& d) {
  auto pa = atom::make(d.peer_node);
  if (!pa || stopped_) return dist::handshake_status::not_allowed;
  atom peer = *pa;
  if (peer == name_) return dist::handshake_status::not_allowed;
  std::unique_lock lk(peers_m_);
  auto [it, fresh] = peers_.try_emplace(peer);
  auto& e = it->second;
  if (fresh) {
    e.conn = c.shared_from_this();
    return dist::handshake_status::ok;
  }
  if (e.up) return dist::handshake_status::alive;
  if (!e.conn && !e.dialing) {  // our attempt got "nok": this is the connection we wait for
    e.conn = c.shared_from_this();
    return dist::handshake_status::ok;
  }
  if (e.conn && e.conn->role() == dist::handshake_role::acceptor)
    return dist::handshake_status::nok;  // already accepting from that node
  // Simultaneous connect: the node with the greater name keeps its own attempt.
  if (name_ > peer) return dist::handshake_status::nok;
  if (e.conn) e.conn->close(make_error_code(node_errc::disconnected), "simultaneous connect");
  e.conn = c.shared_from_this();
  e.dialing = false;
  return dist::handshake_status::ok_simultaneous;
}

bool node_impl::on_alive(net::connection_base&) { return true; }

void node_impl::on_up(net::connection_base& c) {
  auto pa = atom::make(c.peer_name());
  if (!pa) return c.close(make_error_code(node_errc::bad_node_name), "bad peer name");
  atom peer = *pa;
  if (dynamic_ && !named_ && peer == naming_peer_ && c.role() == dist::handshake_role::initiator) {
    // The naming connection: take our name and creation before anything else on it runs
    // (its messages come after this, on the same strand).
    // The handshake checked the named: status (a valid name on our host); creation 0 is
    // refused here.
    auto a = atom::make(c.this_node());
    if (!a || c.this_creation() == 0 || c.this_node() == nn_.host) {
      naming_error_ = make_error_code(node_errc::handshake_failed);
      return c.close(naming_error_, "no usable name in " + str(peer) + "'s named: status");
    }
    name_ = *a;
    creation_ = c.this_creation();
    system_pid_ = pid(name_, 1, 0, creation_);
    next_pid_ = 2;
    naming_conn_ = &c;
    named_.store(true, std::memory_order_release);
    log(log_level::info,
        "named " + str(name_) + " (creation " + std::to_string(creation_) + ") by " + str(peer));
  }
  std::vector<net::any_completion<std::error_code>> ws;
  std::vector<std::pair<outgoing, net::any_completion<std::error_code>>> q;
  std::shared_ptr<net::connection_base> old;
  node_type t = (c.flags() & dist::flag::published) ? node_type::visible : node_type::hidden;
  {
    std::unique_lock lk(peers_m_);
    auto& e = peers_[peer];
    if (e.conn.get() != &c) {
      if (e.up) old = e.conn;  // replaced after "alive"
      e.conn = c.shared_from_this();
    }
    e.up = true;
    e.dialing = false;
    e.type = t;
    ever_connected_.insert(peer);
    ws = std::move(e.waiters);
    q = std::move(e.queued);
    // Queued messages go out first, in order, before anyone else can send on it.
    for (auto& m : q) {
      auto ec = send_on(c, m.first, net::send_wait::never);
      if (m.second) m.second(ec);
    }
  }
  if (old) old->close(make_error_code(node_errc::disconnected), "replaced by a new connection");
  log(log_level::info, "nodeup " + str(peer));
  for (auto& w : ws) w(std::error_code());
  node_event(peer, true, t, atom());
}

void node_impl::on_down(net::connection_base& c, std::error_code why, const std::string& detail) {
  std::string pn = c.peer_name();
  auto pa = atom::make(pn);
  if (dynamic_ && !named_ && pa && *pa == naming_peer_ && !naming_error_)
    naming_error_ = why ? why : make_error_code(node_errc::handshake_failed);
  const bool lost_name = naming_conn_ == &c;
  if (lost_name) naming_conn_ = nullptr;
  bool was_up = false;
  node_type t = node_type::hidden;
  std::vector<net::any_completion<std::error_code>> ws;
  std::vector<std::pair<outgoing, net::any_completion<std::error_code>>> q;
  bool erased = false;
  if (pa && !pn.empty()) {
    std::unique_lock lk(peers_m_);
    auto it = peers_.find(*pa);
    if (it != peers_.end() && it->second.conn.get() == &c && !it->second.up &&
        c.role() == dist::handshake_role::initiator && why == dist::errc::status_nok) {
      // The peer keeps its own attempt (simultaneous connect, it has the greater name): its
      // connection to us is on its way. Wait for it, up to net_setuptime.
      it->second.conn.reset();
      it->second.dialing = false;
      auto t = std::make_shared<asio::steady_timer>(strand_, opts_.net_setuptime);
      t->async_wait([self = shared_from_this(), t, peer = *pa](boost::system::error_code) {
        std::vector<net::any_completion<std::error_code>> ws;
        {
          std::unique_lock lk(self->peers_m_);
          auto e = self->peers_.find(peer);
          if (e == self->peers_.end() || e->second.conn || e->second.up) return;
          ws = std::move(e->second.waiters);
          self->peers_.erase(e);
        }
        for (auto& w : ws) w(make_error_code(node_errc::handshake_failed));
        self->connection_lost(peer);
      });
      return;
    }
    if (it != peers_.end() && it->second.conn.get() == &c) {
      was_up = it->second.up;
      t = it->second.type;
      ws = std::move(it->second.waiters);
      q = std::move(it->second.queued);
      peers_.erase(it);
      erased = true;
    }
  }
  std::string who = pn.empty() ? std::string("an unnamed peer") : pn;
  if (was_up) {
    log(log_level::warning, "connection to " + who + " closed: " + why.message() +
                                (detail.empty() ? "" : " (" + detail + ")"));
  } else {
    log(log_level::warning,
        "connection attempt " +
            std::string(c.role() == dist::handshake_role::initiator ? "to " : "from ") + who +
            " failed: " + why.message() + (detail.empty() ? "" : " (" + detail + ")"));
  }
  auto ec = why ? why : make_error_code(node_errc::connection_closed);
  for (auto& w : ws) w(was_up ? ec : make_error_code(node_errc::handshake_failed));
  for (auto& m : q)
    if (m.second) m.second(ec);
  // Every link and monitor across the connection fires with noconnection, before nodedown.
  if (erased) connection_lost(*pa);
  if (was_up && pa) {
    atom reason("connection_closed");
    if (why == node_errc::tick_timeout)
      reason = atom("net_tick_timeout");
    else if (why == node_errc::disconnected)
      reason = atom("disconnect");
    node_event(*pa, false, t, reason);
  }
  if (lost_name) {
    log(log_level::error, "the connection to " + pn +
                              ", which gave this node its name, is down: the node stops (a "
                              "dynamic name lives as long as that connection)");
    stop();
  }
}

bool node_impl::disconnect(atom peer) {
  std::shared_ptr<net::connection_base> c;
  {
    std::shared_lock lk(peers_m_);
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.conn) return false;
    c = it->second.conn;
  }
  c->close(make_error_code(node_errc::disconnected), "disconnect_node");
  return true;
}

void node_impl::stop() {
  if (stopped_.exchange(true)) return;
  std::vector<std::shared_ptr<net::connection_base>> cs;
  {
    std::unique_lock lk(peers_m_);
    for (auto& [k, e] : peers_)
      if (e.conn) cs.push_back(e.conn);
  }
  for (auto& c : cs) c->close(make_error_code(node_errc::disconnected), "node stopped");
  asio::post(strand_, [self = shared_from_this()] {
    boost::system::error_code ec;
    if (self->acceptor_) self->acceptor_->close(ec);
    self->registration_.close();
    self->epmd_server_.reset();
  });
}

void node_impl::node_event(atom peer, bool up, node_type t, atom reason) {
  std::vector<std::shared_ptr<mailbox_queue>> qs;
  {
    std::lock_guard lk(mon_m_);
    for (auto it = node_monitors_.begin(); it != node_monitors_.end();) {
      if (auto q = it->lock()) {
        qs.push_back(std::move(q));
        ++it;
      } else {
        it = node_monitors_.erase(it);
      }
    }
  }
  if (qs.empty()) return;
  term type_t(tuple{atom("node_type"), atom(t == node_type::visible ? "visible" : "hidden")});
  term msg = up ? term(tuple{atom("nodeup"), peer, list{type_t}})
                : term(tuple{atom("nodedown"), peer,
                             list{type_t, term(tuple{atom("nodedown_reason"), reason})}});
  for (auto& q : qs) q->push(msg);
}

void node_impl::monitor_nodes(const std::shared_ptr<mailbox_queue>& q, bool on) {
  if (!q) return;
  std::lock_guard lk(mon_m_);
  for (auto it = node_monitors_.begin(); it != node_monitors_.end();) {
    auto p = it->lock();
    if (!p || p == q)
      it = node_monitors_.erase(it);
    else
      ++it;
  }
  if (on) node_monitors_.push_back(q);
}

void node_impl::ping(std::string peer, net::any_completion<std::error_code, bool> h) {
  auto pa = atom::make(peer);
  if (!pa) return h(make_error_code(node_errc::bad_node_name), false);
  auto self = shared_from_this();
  auto shared_h = std::make_shared<net::any_completion<std::error_code, bool>>(std::move(h));
  connect(*pa, net::any_completion<std::error_code>(
                   [self, peer = *pa, shared_h](std::error_code ec) {
                     if (ec) return (*shared_h)(std::error_code(), false);
                     auto mb = std::make_shared<mailbox>(self->new_mailbox());
                     reference ref = self->make_ref();
                     term req(tuple{atom("$gen_call"), term(tuple{mb->self(), ref}),
                                    term(tuple{atom("is_auth"), self->name_})});
                     mb->send(atom("net_kernel"), peer, req);
                     auto timer = std::make_shared<asio::steady_timer>(self->strand_);
                     timer->expires_after(self->opts_.net_setuptime * 2);
                     timer->async_wait([mb](boost::system::error_code e) {
                       if (!e) mb->close();
                     });
                     mb->async_receive([mb, timer, ref, shared_h](std::error_code e, term t) {
                       timer->cancel();
                       bool pong = false;
                       if (!e) {
                         auto* tp = t.get_if<tuple>();
                         pong = tp && tp->size() == 2 && (*tp)[0] == term(ref) &&
                                (*tp)[1].is_atom(atom("yes"));
                       }
                       (*shared_h)(std::error_code(), pong);
                     });
                   },
                   strand_));
}

std::vector<atom> node_impl::nodes(node_filter f) const {
  std::vector<atom> out;
  std::shared_lock lk(peers_m_);
  for (auto& [k, e] : peers_) {
    if (!e.up) continue;
    if (f == node_filter::connected ||
        (f == node_filter::visible) == (e.type == node_type::visible))
      out.push_back(k);
  }
  return out;
}

namespace {
connection_info info_of(atom peer, const net::connection_base& c, node_type t) {
  connection_info i;
  i.node = peer;
  i.type = t;
  i.flags = c.flags();
  i.creation = c.peer_creation();
  auto s = c.stats();
  i.bytes_in = s.bytes_in;
  i.bytes_out = s.bytes_out;
  i.messages_in = s.messages_in;
  i.messages_out = s.messages_out;
  i.queue_bytes = s.queue_bytes;
  i.queue_packets = s.queue_packets;
  return i;
}
}  // namespace

std::vector<connection_info> node_impl::connections() const {
  std::vector<connection_info> out;
  std::shared_lock lk(peers_m_);
  for (auto& [k, e] : peers_)
    if (e.up && e.conn) out.push_back(info_of(k, *e.conn, e.type));
  return out;
}

std::optional<connection_info> node_impl::connection(atom peer) const {
  std::shared_lock lk(peers_m_);
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.up || !it->second.conn) return std::nullopt;
  return info_of(peer, *it->second.conn, it->second.type);
}

void node_impl::test_pause_ticks(atom peer, bool paused) {
  std::shared_lock lk(peers_m_);
  auto it = peers_.find(peer);
  if (it != peers_.end() && it->second.conn) it->second.conn->pause_ticks(paused);
}

void node_impl::set_cookie(atom peer, std::string c) {
  std::lock_guard lk(cookie_m_);
  peer_cookies_[str(peer)] = std::move(c);
}
void node_impl::set_cookie(std::string c) {
  std::lock_guard lk(cookie_m_);
  cookie_ = std::move(c);
}

}  // namespace detail
}  // namespace erlnode
