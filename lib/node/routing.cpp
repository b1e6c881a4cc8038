// Mailboxes, the pid and name registry, and message routing (local or over a connection).
#include "node/node_impl.hpp"

namespace erlnode {

// ------------------------------------------------------------------------------------------
// mailbox

mailbox& mailbox::operator=(mailbox&& o) noexcept {
  if (this != &o) {
    close();
    node_ = std::move(o.node_);
    q_ = std::move(o.q_);
  }
  return *this;
}

mailbox::~mailbox() { close(); }

void mailbox::close() {
  if (q_ && node_) node_->exit_proc(*q_, term(atoms::normal));
}

std::error_code mailbox::send(const pid& to, const term& msg) {
  if (node_->is_local(to)) {  // the hot local path: no outgoing record, one term copy
    if (auto q = node_->find_local(to)) q->push(msg);
    return {};  // a dead pid: dropped, as in Erlang
  }
  detail::outgoing o{detail::outgoing::kind::to_pid, self(), term(to), msg};
  return node_->route(std::move(o), to.node(), net::send_wait::blocking);
}

std::error_code mailbox::send(atom name, atom node, const term& msg) {
  detail::outgoing o{detail::outgoing::kind::to_name, self(), term(name), msg};
  return node_->route(std::move(o), node, net::send_wait::blocking);
}

std::error_code mailbox::send(atom name, const term& msg) { return send(name, node_->name(), msg); }

void mailbox::start_send(term to, atom node, term msg, net::any_completion<std::error_code> h) {
  if (auto* p = to.get_if<pid>()) {
    atom n = p->node();
    detail::outgoing o{detail::outgoing::kind::to_pid, self(), std::move(to), std::move(msg)};
    return node_->async_route(std::move(o), n, std::move(h));
  }
  detail::outgoing o{detail::outgoing::kind::to_name, self(), std::move(to), std::move(msg)};
  node_->async_route(std::move(o), node, std::move(h));
}

result<term> mailbox::receive(std::chrono::milliseconds timeout) { return q_->pop_for(timeout); }
result<term> mailbox::receive(const match_fn& match, std::chrono::milliseconds timeout) {
  return q_->pop_for(timeout, match);
}
result<term> mailbox::receive(const pattern& p, std::chrono::milliseconds timeout) {
  return q_->pop_for(timeout, [&p](const term& t) { return p.match(t).has_value(); });
}
std::optional<term> mailbox::try_receive(const match_fn& match) { return q_->try_pop(match); }

result<void> mailbox::register_name(atom name) { return node_->register_name(q_, name); }
void mailbox::unregister_name() { node_->unregister_name(*q_); }

namespace detail {

// ------------------------------------------------------------------------------------------
// registry

mailbox node_impl::new_mailbox() {
  // IDs fit the pre-V4_NC limits (15-bit id, 13-bit serial), so any peer accepts them.
  std::uint64_t n = next_pid_.fetch_add(1);
  pid p(name_, static_cast<std::uint32_t>(n & 0x7fff),
        static_cast<std::uint32_t>((n >> 15) & 0x1fff), creation_);
  auto q = std::make_shared<mailbox_queue>(p, ex_);
  {
    std::unique_lock lk(procs_m_);
    procs_[key(p)].q = q;
  }
  return mailbox(shared_from_this(), std::move(q));
}

result<void> node_impl::register_name(const std::shared_ptr<mailbox_queue>& q, atom name) {
  std::unique_lock lk(procs_m_);
  auto it = procs_.find(key(q->self()));
  if (it == procs_.end() || q->closed()) return error(node_errc::closed);
  if (names_.count(name)) return error(node_errc::name_taken);
  auto& x = it->second.extras();
  if (x.name) names_.erase(*x.name);
  x.name = name;
  names_[name] = key(q->self());
  return {};
}

void node_impl::unregister_name(const mailbox_queue& q) {
  std::unique_lock lk(procs_m_);
  auto it = procs_.find(key(q.self()));
  if (it == procs_.end() || !it->second.x || !it->second.x->name) return;
  names_.erase(*it->second.x->name);
  it->second.x->name.reset();
  if (it->second.x->empty()) it->second.x.reset();
}

void node_impl::close_mailbox(mailbox_queue& q) { exit_proc(q, term(atoms::normal)); }

std::shared_ptr<mailbox_queue> node_impl::find_local(const pid& p) const {
  if (!is_local(p)) return nullptr;
  std::shared_lock lk(procs_m_);
  auto it = procs_.find(key(p));
  return it == procs_.end() ? nullptr : it->second.q;
}

std::shared_ptr<mailbox_queue> node_impl::find_name(atom n) const {
  std::shared_lock lk(procs_m_);
  auto it = names_.find(n);
  if (it == names_.end()) return nullptr;
  auto p = procs_.find(it->second);
  return p == procs_.end() ? nullptr : p->second.q;
}

reference node_impl::make_ref() {
  std::uint64_t n = next_ref_.fetch_add(1);
  std::uint32_t w[3] = {static_cast<std::uint32_t>(n & 0x3ffff),
                        static_cast<std::uint32_t>(n >> 18), ref_salt_};
  return reference(name_, creation_, std::span<const std::uint32_t>(w, 3));
}

// ------------------------------------------------------------------------------------------
// routing

std::error_code node_impl::deliver_local(const outgoing& o) {
  std::shared_ptr<mailbox_queue> q;
  if (o.k == outgoing::kind::to_pid) {
    if (auto* p = o.to.get_if<pid>()) q = find_local(*p);
  } else if (o.k == outgoing::kind::to_name) {
    if (auto* a = o.to.get_if<atom>()) q = find_name(*a);
  } else if (o.k == outgoing::kind::to_alias) {
    if (auto* r = o.to.get_if<reference>(); r && o.msg) handle_alias_send(*r, *o.msg);
    return {};
  } else if (o.k == outgoing::kind::exit || o.k == outgoing::kind::exit2) {
    if (auto* p = o.to.get_if<pid>(); p && o.msg)
      handle_exit(o.from, *p, *o.msg, o.k == outgoing::kind::exit);
    return {};
  }
  if (q && o.msg) q->push(*o.msg);  // a dead pid or unknown name: dropped, as in Erlang
  return {};
}

namespace {
std::uint64_t sender_key(const pid& p) noexcept {
  return ((std::uint64_t{p.serial()} << 32) | p.id()) + 1;
}

// The control message for `o` as the flags negotiated with the peer want it (reference
// section 6), with its payload if any. False: nothing goes on the wire (a monitor the peer
// cannot take: the BEAM's rule for primitive nodes, it only fires on noconnection).
bool control_for(const outgoing& o, dist::dflags f, term& ctl, const term*& payload) {
  using k = outgoing::kind;
  const term* m = o.msg ? &*o.msg : nullptr;
  payload = nullptr;
  const bool pl = f & dist::flag::exit_payload;
  switch (o.k) {
    case k::to_pid:
      ctl = (f & dist::flag::send_sender) ? term(tuple{22, o.from, o.to})
                                          : term(tuple{2, atom(), o.to});
      payload = m;
      return true;
    case k::to_name:
      ctl = tuple{6, o.from, atom(), o.to};
      payload = m;
      return true;
    case k::to_alias:
      if (!(f & dist::flag::alias)) return false;  // the peer has no aliases: dropped
      ctl = tuple{33, o.from, o.to};
      payload = m;
      return true;
    case k::control:
      ctl = o.to;
      payload = m;
      return true;
    case k::link:
      ctl = tuple{1, o.from, o.to};
      return true;
    case k::unlink:
      ctl = (f & dist::flag::unlink_id) ? term(tuple{35, o.id, o.from, o.to})
                                        : term(tuple{4, o.from, o.to});
      return true;
    case k::exit:
    case k::exit2: {
      const int op = o.k == k::exit ? (pl ? 24 : 3) : (pl ? 26 : 8);
      if (pl) {
        ctl = tuple{op, o.from, o.to};
        payload = m;
      } else {
        ctl = tuple{op, o.from, o.to, *m};
      }
      return true;
    }
    case k::monitor:
    case k::demonitor:
      if (!(f & dist::flag::dist_monitor)) return false;
      if (o.to.is_atom() && !(f & dist::flag::dist_monitor_name)) return false;
      ctl = tuple{o.k == k::monitor ? 19 : 20, o.from, o.to, *m};
      return true;
    case k::monitor_exit: {
      auto& t = *o.to.get_if<tuple>();
      if (pl) {
        ctl = tuple{28, t[0], t[1], t[2]};
        payload = m;
      } else {
        ctl = tuple{21, t[0], t[1], t[2], *m};
      }
      return true;
    }
  }
  return false;
}
}  // namespace

std::error_code node_impl::send_on(net::connection_base& c, const outgoing& o, net::send_wait w) {
  term ctl;
  const term* payload = nullptr;
  if (!control_for(o, c.flags(), ctl, payload)) return {};
  return c.send(ctl, payload, sender_key(o.from), w);
}

bool node_impl::may_auto_connect_locked(atom node) const {
  return opts_.dist_auto_connect == auto_connect::always ||
         (opts_.dist_auto_connect == auto_connect::once && !ever_connected_.count(node));
}

bool node_impl::may_auto_connect(atom node) const {
  std::shared_lock lk(peers_m_);
  return may_auto_connect_locked(node);
}

std::error_code node_impl::route(outgoing o, atom node, net::send_wait wait) {
  if (node == name_) return deliver_local(o);
  std::shared_ptr<net::connection_base> c;
  {
    std::shared_lock lk(peers_m_);
    auto it = peers_.find(node);
    if (it != peers_.end() && it->second.up) c = it->second.conn;
  }
  if (c) return send_on(*c, o, wait);
  std::unique_lock lk(peers_m_);
  auto it = peers_.find(node);
  if (it != peers_.end()) {
    if (it->second.up) {
      c = it->second.conn;
      lk.unlock();
      return send_on(*c, o, wait);
    }
    it->second.queued.emplace_back(std::move(o), net::any_completion<std::error_code>());
    return {};
  }
  if (stopped_ || !may_dial()) return make_error_code(node_errc::not_started);
  if (!may_auto_connect_locked(node)) return make_error_code(node_errc::not_connected);
  auto& e = peers_[node];
  e.queued.emplace_back(std::move(o), net::any_completion<std::error_code>());
  start_dial_locked(node, e);
  return {};
}

void node_impl::async_route(outgoing o, atom node, net::any_completion<std::error_code> h) {
  if (node == name_) return h(deliver_local(o));
  std::shared_ptr<net::connection_base> c;
  {
    std::unique_lock lk(peers_m_);
    auto it = peers_.find(node);
    if (it != peers_.end() && it->second.up) {
      c = it->second.conn;
    } else if (it != peers_.end()) {
      it->second.queued.emplace_back(std::move(o), std::move(h));
      return;
    } else if (stopped_ || !may_dial()) {
      lk.unlock();
      return h(make_error_code(node_errc::not_started));
    } else if (!may_auto_connect_locked(node)) {
      lk.unlock();
      return h(make_error_code(node_errc::not_connected));
    } else {
      auto& e = peers_[node];
      e.queued.emplace_back(std::move(o), std::move(h));
      start_dial_locked(node, e);
      return;
    }
  }
  term ctl;
  const term* payload = nullptr;
  if (!control_for(o, c->flags(), ctl, payload)) return h(std::error_code());
  c->async_send(ctl, payload, sender_key(o.from), std::move(h));
}

}  // namespace detail
}  // namespace erlnode
