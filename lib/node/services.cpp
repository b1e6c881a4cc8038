// What the node does with each control message, and the node's built-in processes:
// net_kernel (ping), rex (features), global_name_server (visible mode), pg discovery.
#include <erlnode/dist/control.hpp>
#include <erlnode/text.hpp>

#include "node/node_impl.hpp"

namespace erlnode::detail {

namespace {
const atom a_global("global_name_server");
const atom a_gen_call("$gen_call");
const atom a_gen_cast("$gen_cast");

const pid* as_pid(const term& t) { return t.get_if<pid>(); }
const reference* as_ref(const term& t) { return t.get_if<reference>(); }

}  // namespace

void node_impl::invalid(net::connection_base& c, const term& control, const std::string& why) {
  std::string text = to_string(control);
  if (text.size() > 400) text = text.substr(0, 400) + "...";
  log(log_level::error, "invalid distribution message from " + c.peer_name() + ": " + text + " (" +
                            why + "); closing the connection");
  c.close(make_error_code(node_errc::invalid_message), "invalid distribution message " + text);
}

void node_impl::reply_call(net::connection_base& c, const term& from, const term& reply) {
  auto* f = from.get_if<tuple>();
  if (!f || f->size() != 2) return;
  const term& tag = (*f)[1];
  term msg(tuple{tag, reply});
  // [alias|Ref] (OTP 24+): reply to the alias when ALIAS is negotiated, else to the pid.
  if (auto* l = tag.get_if<list>(); l && !l->empty() && (c.flags() & dist::flag::alias)) {
    if ((*l)[0].is_atom(atom("alias")) && as_ref(l->tail())) {
      (void)c.send(tuple{33, system_pid_, l->tail()}, &msg);
      return;
    }
  }
  if (auto* p = as_pid((*f)[0])) {
    if (c.flags() & dist::flag::send_sender)
      (void)c.send(tuple{22, system_pid_, *p}, &msg);
    else
      (void)c.send(tuple{2, atom(), *p}, &msg);
  }
}

void node_impl::handle_reg_send(net::connection_base& c, const pid& from, atom to,
                                const term& msg) {
  if (auto q = find_name(to)) {
    q->push(msg);
    return;
  }
  auto* t = msg.get_if<tuple>();
  if (to == atoms::net_kernel) {
    if (t && t->size() == 3 && (*t)[0].is_atom(a_gen_call)) {
      auto* req = (*t)[2].get_if<tuple>();
      if (req && req->size() == 2 && (*req)[0].is_atom(atoms::is_auth))
        reply_call(c, (*t)[1], atoms::yes);
    }
    return;
  }
  if (to == atoms::rex) {
    if (t && t->size() == 2 && (*t)[1].is_atom(atom("features_request"))) {
      if (auto* p = as_pid((*t)[0])) {
        term reply(tuple{atom("features_reply"), name_, list{atom("erpc")}});
        route(outgoing{outgoing::kind::to_pid, system_pid_, *p, reply}, p->node());
      }
    } else if (t && t->size() == 3 && (*t)[0].is_atom(a_gen_call)) {
      reply_call(c, (*t)[1], tuple{atoms::badrpc, atom("notsup")});
    }
    return;
  }
  if (to == a_global) {
    if (!opts_.hidden) handle_global(c, from, msg);
    return;
  }
  if (to == atom("pg") && t && (t->size() == 2 || t->size() == 3) &&
      (*t)[0].is_atom(atom("discover"))) {
    // pg crashes on anything it does not expect, so answer exactly its protocol: we are a
    // scope with no groups.
    if (auto* peer_scope = as_pid((*t)[1])) {
      term sync(tuple{a_gen_cast, term(tuple{atom("sync"), system_pid_, list{}})});
      route(outgoing{outgoing::kind::to_pid, system_pid_, *peer_scope, sync}, peer_scope->node());
      route(outgoing{outgoing::kind::to_pid, system_pid_, *peer_scope,
                     term(tuple{atom("discover"), system_pid_})},
            peer_scope->node());
    }
    return;
  }
  // Unknown names: dropped, as the BEAM does.
}

void node_impl::handle_global(net::connection_base& c, const pid& from, const term& msg) {
  (void)from;
  auto* t = msg.get_if<tuple>();
  if (!t || t->size() < 1) return;
  auto peer = atom::make(c.peer_name());
  if (!peer) return;
  auto cast = [&](term req) {
    route(outgoing{outgoing::kind::to_name, system_pid_, a_global,
                   term(tuple{a_gen_cast, std::move(req)})},
          *peer);
  };
  const std::string& pk = c.peer_name();
  if ((*t)[0].is_atom(a_gen_cast) && t->size() == 2) {
    auto* r = (*t)[1].get_if<tuple>();
    if (!r || r->size() < 1 || !(*r)[0].is_atom()) return;
    std::string_view op = (*r)[0].get_if<atom>()->text();
    if (op == "init_connect" && r->size() == 4) {
      auto* vt = (*r)[1].get_if<tuple>();
      if (!vt || vt->size() != 2) return;
      global_tags_[pk] = (*vt)[1];
      term my_tag = make_ref();
      cast(tuple{atom("init_connect"), term(tuple{8, my_tag}), name_,
                 term(tuple{atom("locker"), atom("no_longer_a_pid"), list{}, system_pid_})});
    } else if (op == "lock_set" && r->size() == 5) {
      auto it = global_tags_.find(pk);
      if (it != global_tags_.end())
        cast(tuple{atom("lock_set"), system_pid_, atoms::true_, list{}, it->second});
    } else if (op == "exchange" && r->size() == 5) {
      auto it = global_tags_.find(pk);
      if (it != global_tags_.end())
        cast(tuple{atom("exchange"), name_, list{}, list{}, it->second});
    } else if (op == "resolved" && r->size() == 7) {
      auto it = global_tags_.find(pk);
      if (it != global_tags_.end())
        cast(tuple{atom("resolved"), name_, list{}, list{}, list{}, list{}, it->second});
    } else if (op == "remove_connection" && r->size() == 2) {
      if (auto* n = (*r)[1].get_if<atom>()) disconnect(*n);
    }
    return;
  }
  if ((*t)[0].is_atom(a_gen_call) && t->size() == 3) {
    auto* r = (*t)[2].get_if<tuple>();
    term reply = atoms::true_;
    if (r && r->size() >= 1 && (*r)[0].is_atom()) {
      std::string_view op = (*r)[0].get_if<atom>()->text();
      if (op == "register" || op == "register_name" || op == "register_name_external")
        reply = atoms::yes;
      else if (op == "unregister" || op == "unregister_name")
        reply = atoms::ok;
    }
    reply_call(c, (*t)[1], reply);
    return;
  }
  if ((*t)[0].is_atom(atom("remove_connection")) && t->size() == 2) {
    if (auto* n = (*t)[1].get_if<atom>()) disconnect(*n);
  }
  // init_connect_ack, lost_connection, in_sync ...: nothing to do.
}

// MONITOR_P from a remote watcher: remember it (the target's exit sends MONITOR_P_EXIT), or
// answer noproc at once.
void node_impl::handle_monitor(net::connection_base& c, const pid& from, const term& target,
                               const reference& ref) {
  if (auto* p = as_pid(target)) {
    if (same(*p, system_pid_)) return;  // the node's own process never dies
    if (is_local(*p)) {
      std::unique_lock lk(procs_m_);
      auto it = procs_.find(key(*p));
      if (it != procs_.end()) {
        it->second.extras().monitors.push_back({ref, from, std::nullopt});
        index_peer_locked(from.node(), it->first);
        return;
      }
    }
  } else if (auto* a = target.get_if<atom>()) {
    if (*a == atoms::net_kernel || *a == atoms::rex || (!opts_.hidden && *a == a_global) ||
        *a == atom("pg"))
      return;  // built-in, alive as long as the node
    std::unique_lock lk(procs_m_);
    auto n = names_.find(*a);
    if (n != names_.end()) {
      auto it = procs_.find(n->second);
      if (it != procs_.end()) {
        it->second.extras().monitors.push_back({ref, from, *a});
        index_peer_locked(from.node(), it->first);
        return;
      }
    }
  }
  (void)send_on(c,
                outgoing{outgoing::kind::monitor_exit, system_pid_, term(tuple{target, from, ref}),
                         term(atoms::noproc)},
                net::send_wait::never);
}

void node_impl::handle_demonitor(const pid& from, const term& target, const reference& ref) {
  std::unique_lock lk(procs_m_);
  std::uint64_t k = 0;
  if (auto* p = as_pid(target)) {
    if (!is_local(*p)) return;
    k = key(*p);
  } else if (auto* a = target.get_if<atom>()) {
    auto n = names_.find(*a);
    if (n == names_.end()) return;
    k = n->second;
  }
  auto it = procs_.find(k);
  if (it == procs_.end() || !it->second.x) return;
  std::erase_if(it->second.x->monitors,
                [&](const monitor_entry& m) { return same(m.ref, ref) && same(m.watcher, from); });
}

// LINK from a remote process: create an active link unless link state exists already (even
// inactive: our UNLINK_ID is on its way); a dead target answers EXIT noproc.
void node_impl::handle_link(net::connection_base& c, const pid& from, const pid& to) {
  if (is_local(to)) {
    std::unique_lock lk(procs_m_);
    auto it = procs_.find(key(to));
    if (it != procs_.end()) {
      auto& ls = it->second.extras().links;
      if (std::none_of(ls.begin(), ls.end(),
                       [&](const link_entry& x) { return same(x.other, from); })) {
        ls.push_back({from, 0});
        index_peer_locked(from.node(), it->first);
      }
      return;
    }
  }
  (void)send_on(c, outgoing{outgoing::kind::exit, to, from, term(atoms::noproc)},
                net::send_wait::never);
}

// UNLINK_ID_ACK / old UNLINK / UNLINK_ID: link state changes of `to` about `from`.
void node_impl::handle_unlink(const pid& from, const pid& to, std::uint64_t id, bool ack) {
  std::unique_lock lk(procs_m_);
  if (!is_local(to)) return;
  auto it = procs_.find(key(to));
  if (it == procs_.end() || !it->second.x) return;
  std::erase_if(it->second.x->links, [&](const link_entry& l) {
    if (!same(l.other, from)) return false;
    return ack ? (l.unlink_id != 0 && l.unlink_id == id) : l.unlink_id == 0;
  });
}

void node_impl::on_message(net::connection_base& c, term control, std::optional<term> payload) {
  // The dist layer's codec checks arity, field types and whose pids they are, as dist.c does.
  std::string why;
  if (auto v = dist::decode_control(control, payload, {name_, c.peer_atom(), c.flags()}, &why); !v)
    return invalid(c, control, why.empty() ? v.error().code.message() : why);
  auto* t = control.get_if<tuple>();
  if (!t || t->size() < 1 || !(*t)[0].to_int64()) return invalid(c, control, "not a control tuple");
  const auto op = *(*t)[0].to_int64();
  const std::size_t n = t->size();
  auto el = [&](std::size_t i) -> const term& { return (*t)[i]; };
  auto need = [&](std::size_t arity, bool with_payload) {
    if (n != arity) {
      invalid(c, control, "arity " + std::to_string(n) + " for op " + std::to_string(op));
      return false;
    }
    if (with_payload != payload.has_value()) {
      invalid(c, control, with_payload ? "message missing" : "unexpected message");
      return false;
    }
    return true;
  };
  // A pid of the peer node where the protocol requires it (dist.c checks the same).
  auto peer_pid = [&](const term& x) -> const pid* {
    auto* p = as_pid(x);
    if (!p || p->node().text() != c.peer_name()) {
      invalid(c, control, "sender is not a pid of " + c.peer_name());
      return nullptr;
    }
    return p;
  };
  auto local_pid = [&](const term& x) -> const pid* {
    auto* p = as_pid(x);
    if (!p) invalid(c, control, "target is not a pid");
    return p;
  };
  auto deliver_to = [&](const pid& to, const term& m) {
    if (auto q = find_local(to)) q->push(m);
  };

  switch (op) {
    case 2:     // SEND {2, Unused, To}
    case 22:    // SEND_SENDER {22, From, To}
    case 12:    // SEND_TT {12, Unused, To, Token}
    case 23: {  // SEND_SENDER_TT
      if (!need((op == 2 || op == 22) ? 3 : 4, true)) return;
      if (auto* to = local_pid(el(2))) deliver_to(*to, *payload);
      return;
    }
    case 6:     // REG_SEND {6, From, Unused, ToName}
    case 16: {  // REG_SEND_TT
      if (!need(op == 6 ? 4 : 5, true)) return;
      auto* from = as_pid(el(1));
      auto* to = el(3).get_if<atom>();
      if (!from || !to) return invalid(c, control, "REG_SEND needs a pid and a name");
      return handle_reg_send(c, *from, *to, *payload);
    }
    case 33:    // ALIAS_SEND {33, From, Alias}
    case 34: {  // ALIAS_SEND_TT
      if (!need(op == 33 ? 3 : 4, true)) return;
      if (!as_pid(el(1)) || !as_ref(el(2))) return invalid(c, control, "ALIAS_SEND fields");
      return handle_alias_send(*as_ref(el(2)), *payload);
    }
    case 19:    // MONITOR_P {19, From, To, Ref}
    case 20: {  // DEMONITOR_P
      if (!need(4, false)) return;
      auto* from = peer_pid(el(1));
      if (!from) return;
      auto* ref = as_ref(el(3));
      if (!ref || !(el(2).is_pid() || el(2).is_atom()))
        return invalid(c, control, "monitor target or reference");
      if (op == 19) return handle_monitor(c, *from, el(2), *ref);
      return handle_demonitor(*from, el(2), *ref);
    }
    case 21:    // MONITOR_P_EXIT {21, From, To, Ref, Reason}
    case 28: {  // PAYLOAD_MONITOR_P_EXIT {28, From, To, Ref} + Reason
      if (!need(op == 21 ? 5 : 4, op == 28)) return;
      auto* to = local_pid(el(2));
      if (!to) return;
      const term& reason = op == 21 ? el(4) : *payload;
      if (auto* ref = as_ref(el(3))) handle_monitor_exit(el(1), *to, *ref, reason);
      return;
    }
    case 1: {  // LINK {1, From, To}
      if (!need(3, false)) return;
      auto* from = peer_pid(el(1));
      auto* to = from ? local_pid(el(2)) : nullptr;
      if (to) handle_link(c, *from, *to);
      return;
    }
    case 4: {  // UNLINK (old protocol)
      if (c.flags() & dist::flag::unlink_id)
        return invalid(c, control, "UNLINK after UNLINK_ID was negotiated");
      if (!need(3, false)) return;
      auto* from = peer_pid(el(1));
      auto* to = from ? local_pid(el(2)) : nullptr;
      if (to) handle_unlink(*from, *to, 0, false);
      return;
    }
    case 35: {  // UNLINK_ID {35, Id, From, To}: acknowledge first, always
      if (!need(4, false)) return;
      auto* from = peer_pid(el(2));
      auto* to = from ? local_pid(el(3)) : nullptr;
      if (!to || !el(1).is_integer()) return;
      (void)send_on(c, outgoing{outgoing::kind::control, *to, term(tuple{36, el(1), *to, *from})},
                    net::send_wait::never);
      handle_unlink(*from, *to, 0, false);
      return;
    }
    case 36: {  // UNLINK_ID_ACK {36, Id, From, To}
      if (!need(4, false)) return;
      auto* from = peer_pid(el(2));
      auto* to = from ? local_pid(el(3)) : nullptr;
      auto id = el(1).to_int64();
      if (to && id) handle_unlink(*from, *to, static_cast<std::uint64_t>(*id), true);
      return;
    }
    case 3:     // EXIT {3, From, To, Reason}
    case 8:     // EXIT2
    case 13:    // EXIT_TT {13, From, To, Token, Reason}
    case 18:    // EXIT2_TT
    case 24:    // PAYLOAD_EXIT {24, From, To} + Reason
    case 26:    // PAYLOAD_EXIT2
    case 25:    // PAYLOAD_EXIT_TT {25, From, To, Token} + Reason
    case 27: {  // PAYLOAD_EXIT2_TT
      bool pl = op >= 24;
      std::size_t ar = (op == 3 || op == 8)     ? 4
                       : (op == 13 || op == 18) ? 5
                       : (op == 24 || op == 26) ? 3
                                                : 4;
      if (!need(ar, pl)) return;
      auto* from = peer_pid(el(1));
      auto* to = from ? local_pid(el(2)) : nullptr;
      if (!to) return;
      const term& reason = pl ? *payload : el(n - 1);
      const bool link = op == 3 || op == 13 || op == 24 || op == 25;
      return handle_exit(*from, *to, reason, link);
    }
    case 7: {  // GROUP_LEADER {7, Leader, Pid}
      if (!need(3, false)) return;
      auto* gl = as_pid(el(1));
      auto* to = gl ? local_pid(el(2)) : nullptr;
      if (!gl) return invalid(c, control, "group leader is not a pid");
      if (to) set_group_leader(*to, *gl);
      return;
    }
    case 29:    // SPAWN_REQUEST {29, ReqId, From, GL, {M,F,A}, Opts} + Args
    case 30: {  // SPAWN_REQUEST_TT
      if (!need(op == 29 ? 6 : 7, true)) return;
      if (!peer_pid(el(2))) return;
      return handle_spawn_request(c, control, *payload);
    }
    case 31:    // SPAWN_REPLY {31, ReqId, To, Flags, Result}
    case 32: {  // SPAWN_REPLY_TT
      if (!need(op == 31 ? 5 : 6, false)) return;
      return handle_spawn_reply(c, control);
    }
    default:
      return invalid(c, control, "unknown operation " + std::to_string(op));
  }
}

}  // namespace erlnode::detail
