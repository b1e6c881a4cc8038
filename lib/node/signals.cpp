// Links, exit signals, monitors, aliases and group leaders of local processes, towards local
// and remote processes, with the BEAM's semantics (reference sections 6, 11, 12).
//
// Thread safety: every function may be called from any thread. The bookkeeping (the
// registry's per-process extras, the alias table, the per-peer index) is guarded by procs_m_.
// A signal is applied under that lock, and what it causes (queue closes, pushes of 'EXIT' and
// 'DOWN' messages, signals to other nodes) is collected in `effects` and carried out after the
// lock is released, so no queue callback or connection runs under it. Local exit signals
// cascade (a dying process kills its non-trapping links) iteratively, all under one lock hold,
// so a chain of deaths is atomic with respect to other signals.
#include "node/node_impl.hpp"

#include <boost/asio/post.hpp>

#include <deque>

namespace erlnode {

namespace {
const atom a_nodedown("nodedown");
}

// ------------------------------------------------------------------------------------------
// mailbox: the public signal API

std::error_code mailbox::link(const pid& other) { return node_->link(self(), other); }
std::error_code mailbox::unlink(const pid& other) { return node_->unlink(self(), other); }
void mailbox::trap_exit(bool on) { q_->set_trap_exit(on); }
bool mailbox::trapping_exits() const { return q_->trap_exit(); }
std::error_code mailbox::exit(const pid& to, const term& reason) {
  return node_->exit2(self(), to, reason);
}
void mailbox::exit(const term& reason) {
  if (q_ && node_) node_->exit_proc(*q_, reason);
}
std::optional<term> mailbox::exit_reason() const { return q_->exit_reason(); }
bool mailbox::alive() const { return q_ && !q_->closed(); }
reference mailbox::monitor(const pid& target) {
  return node_->monitor(self(), term(target), target.node());
}
reference mailbox::monitor(atom name, atom node) {
  return node_->monitor(self(), term(name), node);
}
bool mailbox::demonitor(const reference& ref, bool flush) {
  bool was = node_->demonitor(self(), ref);
  if (flush) {
    const term r(ref);
    (void)q_->try_pop([&r](const term& t) {
      auto* tp = t.get_if<tuple>();
      return tp && tp->size() == 5 && (*tp)[0].is_atom(atoms::DOWN) && (*tp)[1] == r;
    });
  }
  return was;
}
std::error_code mailbox::monitor_node(atom node, bool on) {
  return node_->monitor_node(self(), node, on);
}
reference mailbox::alias() { return node_->alias(self()); }
bool mailbox::unalias(const reference& alias) { return node_->unalias(self(), alias); }
std::error_code mailbox::send(const reference& alias, const term& msg) {
  detail::outgoing o{detail::outgoing::kind::to_alias, self(), term(alias), msg};
  return node_->route(std::move(o), alias.node(), net::send_wait::blocking);
}
pid mailbox::group_leader() const {
  auto gl = node_->group_leader(self());
  return gl ? *gl : self();
}
void mailbox::set_group_leader(const pid& gl) { node_->set_group_leader(self(), gl); }

namespace detail {

struct node_impl::effects {
  struct local_signal {
    pid from, to;
    term reason;
    bool link;
  };
  std::deque<local_signal> local;  // exit signals to local processes, not yet applied
  std::vector<std::pair<std::shared_ptr<mailbox_queue>, term>> closes;  // queue, exit reason
  std::vector<std::pair<std::shared_ptr<mailbox_queue>, term>> pushes;  // queue, message
  std::vector<std::pair<outgoing, atom>> sends;                         // over connections
};

namespace {
term down_msg(const reference& ref, const term& object, const term& reason) {
  return tuple{atoms::DOWN, ref, atoms::process, object, reason};
}
term exit_msg(const pid& from, const term& reason) { return tuple{atoms::EXIT, from, reason}; }
}  // namespace

void node_impl::index_peer_locked(atom node, std::uint64_t k) {
  auto it = procs_.find(k);
  if (it == procs_.end()) return;
  auto& ps = it->second.extras().peers;
  if (std::find(ps.begin(), ps.end(), node) != ps.end()) return;
  ps.push_back(node);
  by_peer_[node].insert(k);
}

// Runs the deferred effects (procs_m_ not held).
void node_impl::run(effects& fx) {
  for (auto& [q, r] : fx.closes) q->close(std::move(r));
  for (auto& [q, m] : fx.pushes) q->push(std::move(m));
  for (auto& [o, n] : fx.sends) (void)send_signal(std::move(o), n);
}

// Sends a signal only over a connection that is up or being set up: signals that belong to
// links or monitors never dial a node (their state died with the connection).
std::error_code node_impl::send_signal(outgoing o, atom node) {
  if (node == name_) return {};
  std::shared_ptr<net::connection_base> c;
  {
    std::unique_lock lk(peers_m_);
    auto it = peers_.find(node);
    if (it == peers_.end()) return make_error_code(node_errc::not_connected);
    if (!it->second.up) {
      it->second.queued.emplace_back(std::move(o), net::any_completion<std::error_code>());
      return {};
    }
    c = it->second.conn;
  }
  return send_on(*c, o, net::send_wait::never);
}

// The local process `k` dies with `reason`: its queue closes, its links and monitors are told.
void node_impl::kill_locked(std::uint64_t k, const term& reason, effects& fx) {
  auto it = procs_.find(k);
  if (it == procs_.end()) return;
  auto q = std::move(it->second.q);
  auto x = std::move(it->second.x);
  procs_.erase(it);
  fx.closes.emplace_back(q, reason);
  if (!x) return;
  const pid& self = q->self();
  if (x->name) {
    auto n = names_.find(*x->name);
    if (n != names_.end() && n->second == k) names_.erase(n);
  }
  for (auto& a : x->aliases) aliases_.erase(term(a));
  auto unindex = [&](atom node) {
    auto b = by_peer_.find(node);
    if (b == by_peer_.end()) return;
    b->second.erase(k);
    if (b->second.empty()) by_peer_.erase(b);
  };
  for (auto n : x->peers) unindex(n);
  for (auto& l : x->links) {
    if (l.unlink_id != 0) continue;  // inactive: no exit signal
    if (is_local(l.other)) {
      fx.local.push_back({self, l.other, reason, true});
    } else {
      fx.sends.emplace_back(outgoing{outgoing::kind::exit, self, l.other, reason}, l.other.node());
    }
  }
  for (auto& m : x->monitors) {
    term object = m.by_name ? term(tuple{*m.by_name, name_}) : term(self);
    if (is_local(m.watcher)) {
      auto w = procs_.find(key(m.watcher));
      if (w == procs_.end() || !w->second.x) continue;
      auto& ws = w->second.x->watching;
      auto e = std::find_if(ws.begin(), ws.end(),
                            [&](const watch_entry& we) { return same(we.ref, m.ref); });
      if (e == ws.end()) continue;
      object = e->object;
      ws.erase(e);
      fx.pushes.emplace_back(w->second.q, down_msg(m.ref, object, reason));
    } else {
      term target = m.by_name ? term(*m.by_name) : term(self);
      fx.sends.emplace_back(outgoing{outgoing::kind::monitor_exit, self,
                                     term(tuple{target, m.watcher, m.ref}), reason},
                            m.watcher.node());
    }
  }
  for (auto& w : x->watching) {
    if (w.local) {
      auto t = procs_.find(key(*w.local));
      if (t == procs_.end() || !t->second.x) continue;
      std::erase_if(t->second.x->monitors,
                    [&](const monitor_entry& m) { return same(m.ref, w.ref); });
    } else {
      fx.sends.emplace_back(outgoing{outgoing::kind::demonitor, self, w.target, term(w.ref)},
                            w.node);
    }
  }
}

// An exit signal from `from` reaches the local process `to`: a link exit (the link is
// consumed; inactive links ignore it) or an exit/2 signal.
void node_impl::exit_signal_locked(const pid& from, const pid& to, const term& reason, bool link,
                                   effects& fx) {
  if (!is_local(to)) return;
  const auto k = key(to);
  auto it = procs_.find(k);
  if (it == procs_.end()) return;
  auto& pe = it->second;
  const bool trap = pe.q->trap_exit();
  if (link) {
    if (!pe.x) return;
    auto& ls = pe.x->links;
    auto l = std::find_if(ls.begin(), ls.end(),
                          [&](const link_entry& e) { return same(e.other, from); });
    if (l == ls.end()) return;
    const bool active = l->unlink_id == 0;
    ls.erase(l);
    if (!active) return;
    // A link exit with reason kill is an ordinary reason (only exit/2's kill is untrappable).
    if (trap)
      fx.pushes.emplace_back(pe.q, exit_msg(from, reason));
    else if (!reason.is_atom(atoms::normal))
      kill_locked(k, reason, fx);
    return;
  }
  if (reason.is_atom(atoms::kill)) return kill_locked(k, term(atoms::killed), fx);
  if (trap) {
    fx.pushes.emplace_back(pe.q, exit_msg(from, reason));
  } else if (reason.is_atom(atoms::normal)) {
    if (same(from, to)) kill_locked(k, reason, fx);
  } else {
    kill_locked(k, reason, fx);
  }
}

// Applies local exit signals until none is left (a death can cause more).
void node_impl::drain_locked(effects& fx) {
  while (!fx.local.empty()) {
    auto sig = std::move(fx.local.front());
    fx.local.pop_front();
    exit_signal_locked(sig.from, sig.to, sig.reason, sig.link, fx);
  }
}

void node_impl::exit_proc(mailbox_queue& q, const term& reason) {
  effects fx;
  {
    std::unique_lock lk(procs_m_);
    auto it = procs_.find(key(q.self()));
    if (it != procs_.end() && it->second.q.get() == &q) {
      kill_locked(it->first, reason, fx);
      drain_locked(fx);
    }
  }
  if (fx.closes.empty()) q.close(reason);
  run(fx);
}

void node_impl::handle_exit(const pid& from, const pid& to, const term& reason, bool link) {
  effects fx;
  {
    std::unique_lock lk(procs_m_);
    fx.local.push_back({from, to, reason, link});
    drain_locked(fx);
  }
  run(fx);
}

std::error_code node_impl::link(const pid& self, const pid& other) {
  if (same(self, other)) return {};
  effects fx;
  const bool remote = !is_local(other) && other.node() != name_;
  {
    std::unique_lock lk(procs_m_);
    auto me = procs_.find(key(self));
    if (me == procs_.end()) return make_error_code(node_errc::closed);
    auto find = [](std::vector<link_entry>& ls, const pid& p) {
      return std::find_if(ls.begin(), ls.end(),
                          [&](const link_entry& e) { return same(e.other, p); });
    };
    if (!remote) {
      auto ot = is_local(other) ? procs_.find(key(other)) : procs_.end();
      if (ot == procs_.end()) {
        // erlang:link/1 to a dead local pid: {'EXIT', Pid, noproc} when trapping, else the
        // call fails with noproc (the caller does not die).
        if (!me->second.q->trap_exit()) return make_error_code(std::errc::no_such_process);
        fx.pushes.emplace_back(me->second.q, exit_msg(other, atoms::noproc));
      } else {
        auto& a = me->second.extras().links;
        if (find(a, other) == a.end()) a.push_back({other, 0});
        auto& b = ot->second.extras().links;
        if (find(b, self) == b.end()) b.push_back({self, 0});
      }
    } else {
      auto& ls = me->second.extras().links;
      auto l = find(ls, other);
      if (l != ls.end() && l->unlink_id == 0) return {};  // already linked: no LINK
      if (l != ls.end())
        l->unlink_id = 0;  // an unlink in flight: its ack will be ignored
      else
        ls.push_back({other, 0});
      index_peer_locked(other.node(), key(self));
    }
  }
  run(fx);
  if (remote) {
    if (auto ec = route(outgoing{outgoing::kind::link, self, other, std::nullopt}, other.node()))
      connection_lost(other.node());
  }
  return {};
}

std::error_code node_impl::unlink(const pid& self, const pid& other) {
  const bool remote = !is_local(other) && other.node() != name_;
  bool old_protocol = false;
  if (remote) {
    std::shared_lock lk(peers_m_);
    auto it = peers_.find(other.node());
    old_protocol =
        it != peers_.end() && it->second.up && !(it->second.conn->flags() & dist::flag::unlink_id);
  }
  effects fx;
  {
    std::unique_lock lk(procs_m_);
    auto me = procs_.find(key(self));
    if (me == procs_.end() || !me->second.x) return {};
    auto& ls = me->second.x->links;
    auto l = std::find_if(ls.begin(), ls.end(),
                          [&](const link_entry& e) { return same(e.other, other); });
    if (l == ls.end()) return {};
    if (!remote) {
      ls.erase(l);
      auto ot = procs_.find(key(other));
      if (ot != procs_.end() && ot->second.x)
        std::erase_if(ot->second.x->links,
                      [&](const link_entry& e) { return same(e.other, self); });
    } else if (l->unlink_id == 0) {
      outgoing o{outgoing::kind::unlink, self, other, std::nullopt};
      if (old_protocol) {
        ls.erase(l);
      } else {
        o.id = next_unlink_id_.fetch_add(1);
        l->unlink_id = o.id;
      }
      fx.sends.emplace_back(std::move(o), other.node());
    }
  }
  run(fx);
  return {};
}

std::error_code node_impl::exit2(const pid& from, const pid& to, const term& reason) {
  if (is_local(to) || to.node() == name_) {
    handle_exit(from, to, reason, false);
    return {};
  }
  return route(outgoing{outgoing::kind::exit2, from, to, reason}, to.node(),
               net::send_wait::blocking);
}

reference node_impl::monitor(const pid& self, const term& target, atom node) {
  reference ref = make_ref();
  effects fx;
  const auto* tp = target.get_if<pid>();
  const auto* tn = target.get_if<atom>();
  const term object = tp ? target : term(tuple{*tn, node});
  bool remote = node != name_;
  {
    std::unique_lock lk(procs_m_);
    auto me = procs_.find(key(self));
    if (me == procs_.end()) return ref;  // a dead watcher monitors nothing
    if (!remote) {
      std::unordered_map<std::uint64_t, proc_entry>::iterator t = procs_.end();
      if (tp && is_local(*tp)) {
        t = procs_.find(key(*tp));
      } else if (tn) {
        auto n = names_.find(*tn);
        if (n != names_.end()) t = procs_.find(n->second);
      }
      if (t == procs_.end()) {
        fx.pushes.emplace_back(me->second.q, down_msg(ref, object, atoms::noproc));
      } else {
        pid tpid = t->second.q->self();
        t->second.extras().monitors.push_back(
            {ref, self, tn ? std::optional<atom>(*tn) : std::nullopt});
        // `t` stays valid: extras() does not touch the map.
        me->second.extras().watching.push_back({ref, object, target, tpid, node});
      }
    } else {
      me->second.extras().watching.push_back({ref, object, target, std::nullopt, node});
      index_peer_locked(node, key(self));
    }
  }
  run(fx);
  if (remote) {
    if (route(outgoing{outgoing::kind::monitor, self, target, term(ref)}, node))
      connection_lost(node);
  }
  return ref;
}

bool node_impl::demonitor(const pid& self, const reference& ref) {
  effects fx;
  {
    std::unique_lock lk(procs_m_);
    auto me = procs_.find(key(self));
    if (me == procs_.end() || !me->second.x) return false;
    auto& ws = me->second.x->watching;
    auto w =
        std::find_if(ws.begin(), ws.end(), [&](const watch_entry& e) { return same(e.ref, ref); });
    if (w == ws.end()) return false;
    if (w->local) {
      auto t = procs_.find(key(*w->local));
      if (t != procs_.end() && t->second.x)
        std::erase_if(t->second.x->monitors,
                      [&](const monitor_entry& m) { return same(m.ref, ref); });
    } else {
      fx.sends.emplace_back(outgoing{outgoing::kind::demonitor, self, w->target, term(ref)},
                            w->node);
    }
    ws.erase(w);
  }
  run(fx);
  return true;
}

std::error_code node_impl::monitor_node(const pid& self, atom node, bool on) {
  if (node == name_) return {};
  {
    std::unique_lock lk(procs_m_);
    auto me = procs_.find(key(self));
    if (me == procs_.end()) return make_error_code(node_errc::closed);
    auto& ns = me->second.extras().node_monitors;
    if (!on) {
      auto n = std::find(ns.begin(), ns.end(), node);
      if (n != ns.end()) ns.erase(n);
      return {};
    }
    ns.push_back(node);
    index_peer_locked(node, key(self));
  }
  {
    std::shared_lock lk(peers_m_);
    auto it = peers_.find(node);
    if (it != peers_.end() && it->second.up) return {};
  }
  // Not connected: connect first; a failure gives {nodedown, Node} at once.
  connect(node, net::any_completion<std::error_code>(
                    [self = shared_from_this(), node](std::error_code ec) {
                      if (ec) self->connection_lost(node);
                    },
                    strand_));
  return {};
}

reference node_impl::alias(const pid& self) {
  reference ref = make_ref();
  std::unique_lock lk(procs_m_);
  auto me = procs_.find(key(self));
  if (me == procs_.end()) return ref;  // a dead process's alias is never active
  me->second.extras().aliases.push_back(ref);
  aliases_[term(ref)] = me->first;
  return ref;
}

bool node_impl::unalias(const pid& self, const reference& ref) {
  std::unique_lock lk(procs_m_);
  auto me = procs_.find(key(self));
  if (me == procs_.end() || !me->second.x) return false;
  auto& as = me->second.x->aliases;
  auto a = std::find_if(as.begin(), as.end(), [&](const reference& r) { return same(r, ref); });
  if (a == as.end()) return false;
  as.erase(a);
  aliases_.erase(term(ref));
  return true;
}

void node_impl::handle_alias_send(const reference& alias, const term& msg) {
  std::shared_ptr<mailbox_queue> q;
  {
    std::shared_lock lk(procs_m_);
    auto a = aliases_.find(term(alias));
    if (a == aliases_.end()) return;  // inactive alias: dropped
    auto p = procs_.find(a->second);
    if (p != procs_.end()) q = p->second.q;
  }
  if (q) q->push(msg);
}

std::optional<pid> node_impl::group_leader(const pid& self) const {
  std::shared_lock lk(procs_m_);
  auto me = procs_.find(key(self));
  if (me == procs_.end() || !me->second.x) return std::nullopt;
  return me->second.x->group_leader;
}

void node_impl::set_group_leader(const pid& self, const pid& gl) {
  std::unique_lock lk(procs_m_);
  auto me = procs_.find(key(self));
  if (me != procs_.end() && is_local(self)) me->second.extras().group_leader = gl;
}

void node_impl::handle_monitor_exit(const term& from, const pid& to, const reference& ref,
                                    const term& reason) {
  (void)from;
  std::shared_ptr<mailbox_queue> q;
  term object;
  {
    std::unique_lock lk(procs_m_);
    auto me = procs_.find(key(to));
    if (!is_local(to) || me == procs_.end() || !me->second.x) return;
    auto& ws = me->second.x->watching;
    auto w =
        std::find_if(ws.begin(), ws.end(), [&](const watch_entry& e) { return same(e.ref, ref); });
    if (w == ws.end()) return;  // demonitored meanwhile
    object = w->object;
    ws.erase(w);
    q = me->second.q;
  }
  q->push(down_msg(ref, object, reason));
}

void node_impl::connection_lost(atom peer) {
  effects fx;
  const term noconn(atoms::noconnection);
  {
    std::unique_lock lk(procs_m_);
    auto b = by_peer_.find(peer);
    if (b == by_peer_.end()) return;
    auto keys = std::move(b->second);
    by_peer_.erase(b);
    for (auto k : keys) {
      auto it = procs_.find(k);
      if (it == procs_.end() || !it->second.x) continue;
      auto& x = *it->second.x;
      const pid& self = it->second.q->self();
      std::erase(x.peers, peer);
      for (auto& l : x.links)
        if (l.other.node() == peer) fx.local.push_back({l.other, self, noconn, true});
      std::erase_if(x.watching, [&](const watch_entry& w) {
        if (w.local || w.node != peer) return false;
        fx.pushes.emplace_back(it->second.q, down_msg(w.ref, w.object, noconn));
        return true;
      });
      std::erase_if(x.monitors, [&](const monitor_entry& m) { return m.watcher.node() == peer; });
      std::erase_if(x.node_monitors, [&](atom n) {
        if (n != peer) return false;
        fx.pushes.emplace_back(it->second.q, term(tuple{a_nodedown, peer}));
        return true;
      });
    }
    drain_locked(fx);
  }
  run(fx);
}

node_impl::signal_stats node_impl::stats() const {
  signal_stats s;
  std::shared_lock lk(procs_m_);
  s.processes = procs_.size();
  s.names = names_.size();
  s.aliases = aliases_.size();
  for (auto& [n, ks] : by_peer_) s.peer_index += ks.size();
  for (auto& [k, pe] : procs_) {
    if (!pe.x) continue;
    ++s.extras;
    s.links += pe.x->links.size();
    s.monitors += pe.x->monitors.size();
    s.watching += pe.x->watching.size();
    s.node_monitors += pe.x->node_monitors.size();
  }
  return s;
}

void node_impl::record_link(const pid& a, const pid& b) {
  std::unique_lock lk(procs_m_);
  auto add = [&](const pid& self, const pid& other) {
    if (!is_local(self)) return;
    auto me = procs_.find(key(self));
    if (me == procs_.end()) return;
    auto& ls = me->second.extras().links;
    auto l = std::find_if(ls.begin(), ls.end(),
                          [&](const link_entry& e) { return same(e.other, other); });
    if (l == ls.end())
      ls.push_back({other, 0});
    else
      l->unlink_id = 0;
    if (!is_local(other)) index_peer_locked(other.node(), me->first);
  };
  add(a, b);
  add(b, a);
}

void node_impl::record_monitor(const pid& watcher, const pid& target, const reference& ref) {
  std::unique_lock lk(procs_m_);
  if (is_local(target)) {
    auto t = procs_.find(key(target));
    if (t != procs_.end()) {
      t->second.extras().monitors.push_back({ref, watcher, std::nullopt});
      if (!is_local(watcher)) index_peer_locked(watcher.node(), t->first);
    }
  }
  if (is_local(watcher)) {
    auto w = procs_.find(key(watcher));
    if (w != procs_.end()) {
      w->second.extras().watching.push_back(
          {ref, term(target), term(target),
           is_local(target) ? std::optional<pid>(target) : std::nullopt, target.node()});
      if (!is_local(target)) index_peer_locked(target.node(), w->first);
    }
  }
}

}  // namespace detail
}  // namespace erlnode
