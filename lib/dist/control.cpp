#include <erlnode/dist/control.hpp>

#include <type_traits>

namespace erlnode::dist {

std::string_view op_name(op o) noexcept {
  switch (o) {
    case op::link:
      return "LINK";
    case op::send:
      return "SEND";
    case op::exit:
      return "EXIT";
    case op::unlink:
      return "UNLINK";
    case op::node_link:
      return "NODE_LINK";
    case op::reg_send:
      return "REG_SEND";
    case op::group_leader:
      return "GROUP_LEADER";
    case op::exit2:
      return "EXIT2";
    case op::send_tt:
      return "SEND_TT";
    case op::exit_tt:
      return "EXIT_TT";
    case op::reg_send_tt:
      return "REG_SEND_TT";
    case op::exit2_tt:
      return "EXIT2_TT";
    case op::monitor_p:
      return "MONITOR_P";
    case op::demonitor_p:
      return "DEMONITOR_P";
    case op::monitor_p_exit:
      return "MONITOR_P_EXIT";
    case op::send_sender:
      return "SEND_SENDER";
    case op::send_sender_tt:
      return "SEND_SENDER_TT";
    case op::payload_exit:
      return "PAYLOAD_EXIT";
    case op::payload_exit_tt:
      return "PAYLOAD_EXIT_TT";
    case op::payload_exit2:
      return "PAYLOAD_EXIT2";
    case op::payload_exit2_tt:
      return "PAYLOAD_EXIT2_TT";
    case op::payload_monitor_p_exit:
      return "PAYLOAD_MONITOR_P_EXIT";
    case op::spawn_request:
      return "SPAWN_REQUEST";
    case op::spawn_request_tt:
      return "SPAWN_REQUEST_TT";
    case op::spawn_reply:
      return "SPAWN_REPLY";
    case op::spawn_reply_tt:
      return "SPAWN_REPLY_TT";
    case op::alias_send:
      return "ALIAS_SEND";
    case op::alias_send_tt:
      return "ALIAS_SEND_TT";
    case op::unlink_id:
      return "UNLINK_ID";
    case op::unlink_id_ack:
      return "UNLINK_ID_ACK";
  }
  return "UNKNOWN";
}

bool op_has_payload(op o) noexcept {
  switch (o) {
    case op::send:
    case op::reg_send:
    case op::send_tt:
    case op::reg_send_tt:
    case op::send_sender:
    case op::send_sender_tt:
    case op::payload_exit:
    case op::payload_exit_tt:
    case op::payload_exit2:
    case op::payload_exit2_tt:
    case op::payload_monitor_p_exit:
    case op::spawn_request:
    case op::spawn_request_tt:
    case op::alias_send:
    case op::alias_send_tt:
      return true;
    default:
      return false;
  }
}

namespace {
template <class T>
struct op_for;
#define ERLNODE_OP(T, O)               \
  template <>                          \
  struct op_for<ctl::T> {              \
    static constexpr op value = op::O; \
  };
ERLNODE_OP(link, link)
ERLNODE_OP(send, send)
ERLNODE_OP(exit, exit)
ERLNODE_OP(unlink, unlink)
ERLNODE_OP(node_link, node_link)
ERLNODE_OP(reg_send, reg_send)
ERLNODE_OP(group_leader, group_leader)
ERLNODE_OP(exit2, exit2)
ERLNODE_OP(send_tt, send_tt)
ERLNODE_OP(exit_tt, exit_tt)
ERLNODE_OP(reg_send_tt, reg_send_tt)
ERLNODE_OP(exit2_tt, exit2_tt)
ERLNODE_OP(monitor_p, monitor_p)
ERLNODE_OP(demonitor_p, demonitor_p)
ERLNODE_OP(monitor_p_exit, monitor_p_exit)
ERLNODE_OP(send_sender, send_sender)
ERLNODE_OP(send_sender_tt, send_sender_tt)
ERLNODE_OP(payload_exit, payload_exit)
ERLNODE_OP(payload_exit_tt, payload_exit_tt)
ERLNODE_OP(payload_exit2, payload_exit2)
ERLNODE_OP(payload_exit2_tt, payload_exit2_tt)
ERLNODE_OP(payload_monitor_p_exit, payload_monitor_p_exit)
ERLNODE_OP(spawn_request, spawn_request)
ERLNODE_OP(spawn_request_tt, spawn_request_tt)
ERLNODE_OP(spawn_reply, spawn_reply)
ERLNODE_OP(spawn_reply_tt, spawn_reply_tt)
ERLNODE_OP(alias_send, alias_send)
ERLNODE_OP(alias_send_tt, alias_send_tt)
ERLNODE_OP(unlink_id, unlink_id)
ERLNODE_OP(unlink_id_ack, unlink_id_ack)
#undef ERLNODE_OP

// Field access with the reason recorded on the first failure.
class fields {
 public:
  fields(const tuple& t, const control_context& ctx, op o) : t_(t), ctx_(ctx), op_(o) {}

  bool ok() const noexcept { return why_.empty(); }
  const std::string& why() const noexcept { return why_; }
  void fail(std::size_t i, std::string_view what) {
    if (!why_.empty()) return;
    why_ =
        std::string(op_name(op_)) + ": element " + std::to_string(i + 1) + " " + std::string(what);
  }

  pid any_pid(std::size_t i) {
    if (auto* p = t_[i].get_if<pid>()) return *p;
    fail(i, "is not a pid");
    return dummy_pid();
  }
  // A pid of the connection's peer (the sender of links, exits, monitors, spawn requests).
  pid peer_pid(std::size_t i) {
    pid p = any_pid(i);
    if (ok() && ctx_.peer_node != atom() && p.node() != ctx_.peer_node)
      fail(i, "is not a pid of the peer node " + std::string(ctx_.peer_node.text()));
    return p;
  }
  // A pid of this node (the target of links, exits, sends).
  pid local_pid(std::size_t i) {
    pid p = any_pid(i);
    if (ok() && ctx_.this_node != atom() && p.node() != ctx_.this_node)
      fail(i, "is not a pid of this node");
    return p;
  }
  atom an_atom(std::size_t i) {
    if (auto* a = t_[i].get_if<atom>()) return *a;
    fail(i, "is not an atom");
    return atom();
  }
  reference a_ref(std::size_t i) {
    if (auto* r = t_[i].get_if<reference>()) return *r;
    fail(i, "is not a reference");
    return dummy_ref();
  }
  // A local pid or a registered name.
  term local_proc(std::size_t i) {
    if (t_[i].is_atom()) return t_[i];
    if (t_[i].is_pid()) return term(local_pid(i));
    fail(i, "is neither a pid nor an atom");
    return term();
  }
  term any_proc(std::size_t i) {
    if (t_[i].is_atom() || t_[i].is_pid()) return t_[i];
    fail(i, "is neither a pid nor an atom");
    return term();
  }
  term proper_list(std::size_t i) {
    auto* l = t_[i].get_if<list>();
    if (!l || !l->is_proper()) fail(i, "is not a proper list");
    return t_[i];
  }
  std::uint64_t unlink_id(std::size_t i) {
    auto v = t_[i].to_big_int();
    if (!v || *v < 1 || *v > big_int(UINT64_MAX)) {
      fail(i, "is not an integer in 1..2^64-1");
      return 0;
    }
    return static_cast<std::uint64_t>(*v);
  }
  const term& any(std::size_t i) const { return t_[i]; }

 private:
  static pid dummy_pid() { return pid(atom(), 0, 0, 0); }
  static reference dummy_ref() { return reference(atom(), 0, {0u}); }
  const tuple& t_;
  const control_context& ctx_;
  op op_;
  std::string why_;
};

std::size_t arity_of(op o) noexcept {
  switch (o) {
    case op::node_link:
      return 1;
    case op::link:
    case op::send:
    case op::unlink:
    case op::group_leader:
    case op::send_sender:
    case op::payload_exit:
    case op::payload_exit2:
    case op::alias_send:
      return 3;
    case op::exit:
    case op::reg_send:
    case op::exit2:
    case op::send_tt:
    case op::monitor_p:
    case op::demonitor_p:
    case op::send_sender_tt:
    case op::payload_exit_tt:
    case op::payload_exit2_tt:
    case op::payload_monitor_p_exit:
    case op::alias_send_tt:
    case op::unlink_id:
    case op::unlink_id_ack:
      return 4;
    case op::exit_tt:
    case op::reg_send_tt:
    case op::exit2_tt:
    case op::monitor_p_exit:
    case op::spawn_reply:
      return 5;
    case op::spawn_request:
    case op::spawn_reply_tt:
      return 6;
    case op::spawn_request_tt:
      return 7;
  }
  return 0;
}

bool known_op(std::int64_t v) noexcept {
  return (v >= 1 && v <= 8) || v == 12 || v == 13 || v == 16 || (v >= 18 && v <= 36);
}

control_message build(op o, fields& f, const std::optional<term>& msg) {
  const term payload = msg ? *msg : term();
  auto mfa = [&](std::size_t i, atom& m, atom& fn, std::uint8_t& ar) {
    auto* t = f.any(i).get_if<tuple>();
    if (!t || t->size() != 3 || !(*t)[0].is_atom() || !(*t)[1].is_atom() || !(*t)[2].to_int64() ||
        *(*t)[2].to_int64() < 0 || *(*t)[2].to_int64() > 255) {
      f.fail(i, "is not {Module, Function, Arity}");
      return;
    }
    m = *(*t)[0].get_if<atom>();
    fn = *(*t)[1].get_if<atom>();
    ar = static_cast<std::uint8_t>(*(*t)[2].to_int64());
  };
  auto spawn_flags = [&](std::size_t i) -> std::uint32_t {
    auto v = f.any(i).to_int64();
    if (!v || *v < 0 || *v >= (std::int64_t{1} << 27)) {
      f.fail(i, "is not a flags integer below 2^27");
      return 0;
    }
    return static_cast<std::uint32_t>(*v);
  };
  auto spawn_result = [&](std::size_t i) -> term {
    if (f.any(i).is_pid() || f.any(i).is_atom()) return f.any(i);
    f.fail(i, "is neither a pid nor an error atom");
    return term();
  };
  switch (o) {
    case op::link:
      return ctl::link{f.peer_pid(1), f.local_pid(2)};
    case op::send:
      f.an_atom(1);
      return ctl::send{f.local_pid(2), payload};
    case op::exit:
      return ctl::exit{f.peer_pid(1), f.local_pid(2), f.any(3)};
    case op::unlink:
      return ctl::unlink{f.peer_pid(1), f.local_pid(2)};
    case op::node_link:
      return ctl::node_link{};
    case op::reg_send:
      f.an_atom(2);
      return ctl::reg_send{f.any_pid(1), f.an_atom(3), payload};
    case op::group_leader:
      return ctl::group_leader{f.any_pid(1), f.local_pid(2)};
    case op::exit2:
      return ctl::exit2{f.any_pid(1), f.local_pid(2), f.any(3)};
    case op::send_tt:
      f.an_atom(1);
      return ctl::send_tt{f.local_pid(2), f.any(3), payload};
    case op::exit_tt:
      return ctl::exit_tt{f.peer_pid(1), f.local_pid(2), f.any(3), f.any(4)};
    case op::reg_send_tt:
      f.an_atom(2);
      return ctl::reg_send_tt{f.any_pid(1), f.an_atom(3), f.any(4), payload};
    case op::exit2_tt:
      return ctl::exit2_tt{f.any_pid(1), f.local_pid(2), f.any(3), f.any(4)};
    case op::monitor_p:
      return ctl::monitor_p{f.peer_pid(1), f.local_proc(2), f.a_ref(3)};
    case op::demonitor_p:
      return ctl::demonitor_p{f.peer_pid(1), f.local_proc(2), f.a_ref(3)};
    case op::monitor_p_exit:
      return ctl::monitor_p_exit{f.any_proc(1), f.local_pid(2), f.a_ref(3), f.any(4)};
    case op::send_sender:
      return ctl::send_sender{f.any_pid(1), f.local_pid(2), payload};
    case op::send_sender_tt:
      return ctl::send_sender_tt{f.any_pid(1), f.local_pid(2), f.any(3), payload};
    case op::payload_exit:
      return ctl::payload_exit{f.peer_pid(1), f.local_pid(2), payload};
    case op::payload_exit_tt:
      return ctl::payload_exit_tt{f.peer_pid(1), f.local_pid(2), f.any(3), payload};
    case op::payload_exit2:
      return ctl::payload_exit2{f.any_pid(1), f.local_pid(2), payload};
    case op::payload_exit2_tt:
      return ctl::payload_exit2_tt{f.any_pid(1), f.local_pid(2), f.any(3), payload};
    case op::payload_monitor_p_exit:
      return ctl::payload_monitor_p_exit{f.any_proc(1), f.local_pid(2), f.a_ref(3), payload};
    case op::spawn_request: {
      ctl::spawn_request r{f.a_ref(1), f.peer_pid(2),    f.any_pid(3), atom(), atom(),
                           0,          f.proper_list(5), payload};
      mfa(4, r.module, r.function, r.arity);
      return r;
    }
    case op::spawn_request_tt: {
      ctl::spawn_request_tt r{f.a_ref(1), f.peer_pid(2),    f.any_pid(3), atom(),  atom(),
                              0,          f.proper_list(5), payload,      f.any(6)};
      mfa(4, r.module, r.function, r.arity);
      return r;
    }
    case op::spawn_reply:
      return ctl::spawn_reply{f.a_ref(1), f.local_pid(2), spawn_flags(3), spawn_result(4)};
    case op::spawn_reply_tt:
      return ctl::spawn_reply_tt{f.a_ref(1), f.local_pid(2), spawn_flags(3), spawn_result(4),
                                 f.any(5)};
    case op::alias_send:
      return ctl::alias_send{f.any_pid(1), f.a_ref(2), payload};
    case op::alias_send_tt:
      return ctl::alias_send_tt{f.any_pid(1), f.a_ref(2), f.any(3), payload};
    case op::unlink_id:
      return ctl::unlink_id{f.unlink_id(1), f.peer_pid(2), f.local_pid(3)};
    case op::unlink_id_ack:
      return ctl::unlink_id_ack{f.unlink_id(1), f.peer_pid(2), f.local_pid(3)};
  }
  return ctl::node_link{};
}
}  // namespace

op op_of(const control_message& m) noexcept {
  return std::visit([](const auto& v) { return op_for<std::decay_t<decltype(v)>>::value; }, m);
}

result<control_message> decode_control(const term& control, const std::optional<term>& message,
                                       const control_context& ctx, std::string* why) {
  auto invalid = [&](std::string text, errc e = errc::invalid_control_message) {
    if (why) *why = std::move(text);
    return result<control_message>(error(e, 0));
  };
  auto* t = control.get_if<tuple>();
  if (!t || t->size() == 0) return invalid("control message is not a tuple with an op");
  auto v = (*t)[0].to_int64();
  if (!v) return invalid("control message op is not an integer");
  if (!known_op(*v))
    return invalid("unknown control op " + std::to_string(*v), errc::unknown_control_op);
  const op o = static_cast<op>(*v);
  const std::string name(op_name(o));
  if (t->size() != arity_of(o))
    return invalid(name + ": tuple of " + std::to_string(t->size()) + " elements, expected " +
                   std::to_string(arity_of(o)));
  if (op_has_payload(o) != message.has_value())
    return invalid(name + (message ? ": unexpected message term" : ": message term missing"));
  if (o == op::unlink && (ctx.negotiated & flag::unlink_id))
    return invalid("UNLINK: obsolete once UNLINK_ID is negotiated");
  fields f(*t, ctx, o);
  control_message m = build(o, f, message);
  if (!f.ok()) return invalid(f.why());
  return m;
}

control_terms encode_control(const control_message& m) {
  auto op_term = [&] { return term(static_cast<int>(op_of(m))); };
  const term empty{atom()};
  return std::visit(
      [&](const auto& v) -> control_terms {
        using T = std::decay_t<decltype(v)>;
        const term o = op_term();
        if constexpr (std::is_same_v<T, ctl::link> || std::is_same_v<T, ctl::unlink>)
          return {tuple{o, v.from, v.to}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::send>)
          return {tuple{o, empty, v.to}, v.message};
        else if constexpr (std::is_same_v<T, ctl::exit> || std::is_same_v<T, ctl::exit2>)
          return {tuple{o, v.from, v.to, v.reason}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::node_link>)
          return {tuple{o}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::reg_send>)
          return {tuple{o, v.from, empty, v.to_name}, v.message};
        else if constexpr (std::is_same_v<T, ctl::group_leader>)
          return {tuple{o, v.leader, v.target}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::send_tt>)
          return {tuple{o, empty, v.to, v.token}, v.message};
        else if constexpr (std::is_same_v<T, ctl::exit_tt> || std::is_same_v<T, ctl::exit2_tt>)
          return {tuple{o, v.from, v.to, v.token, v.reason}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::reg_send_tt>)
          return {tuple{o, v.from, empty, v.to_name, v.token}, v.message};
        else if constexpr (std::is_same_v<T, ctl::monitor_p> || std::is_same_v<T, ctl::demonitor_p>)
          return {tuple{o, v.from, v.target, v.ref}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::monitor_p_exit>)
          return {tuple{o, v.from, v.to, v.ref, v.reason}, std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::send_sender>)
          return {tuple{o, v.from, v.to}, v.message};
        else if constexpr (std::is_same_v<T, ctl::send_sender_tt>)
          return {tuple{o, v.from, v.to, v.token}, v.message};
        else if constexpr (std::is_same_v<T, ctl::payload_exit> ||
                           std::is_same_v<T, ctl::payload_exit2>)
          return {tuple{o, v.from, v.to}, v.reason};
        else if constexpr (std::is_same_v<T, ctl::payload_exit_tt> ||
                           std::is_same_v<T, ctl::payload_exit2_tt>)
          return {tuple{o, v.from, v.to, v.token}, v.reason};
        else if constexpr (std::is_same_v<T, ctl::payload_monitor_p_exit>)
          return {tuple{o, v.from, v.to, v.ref}, v.reason};
        else if constexpr (std::is_same_v<T, ctl::spawn_request>)
          return {tuple{o, v.req_id, v.from, v.group_leader,
                        tuple{v.module, v.function, static_cast<int>(v.arity)}, v.options},
                  v.args};
        else if constexpr (std::is_same_v<T, ctl::spawn_request_tt>)
          return {tuple{o, v.req_id, v.from, v.group_leader,
                        tuple{v.module, v.function, static_cast<int>(v.arity)}, v.options, v.token},
                  v.args};
        else if constexpr (std::is_same_v<T, ctl::spawn_reply>)
          return {tuple{o, v.req_id, v.to, static_cast<std::int64_t>(v.flags), v.result},
                  std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::spawn_reply_tt>)
          return {tuple{o, v.req_id, v.to, static_cast<std::int64_t>(v.flags), v.result, v.token},
                  std::nullopt};
        else if constexpr (std::is_same_v<T, ctl::alias_send>)
          return {tuple{o, v.from, v.alias}, v.message};
        else if constexpr (std::is_same_v<T, ctl::alias_send_tt>)
          return {tuple{o, v.from, v.alias, v.token}, v.message};
        else  // unlink_id, unlink_id_ack
          return {tuple{o, term(v.id), v.from, v.to}, std::nullopt};
      },
      m);
}

control_message make_send(const pid& from, const pid& to, term message, dflags negotiated,
                          std::optional<term> token) {
  if (negotiated & flag::send_sender) {
    if (token) return ctl::send_sender_tt{from, to, std::move(*token), std::move(message)};
    return ctl::send_sender{from, to, std::move(message)};
  }
  if (token) return ctl::send_tt{to, std::move(*token), std::move(message)};
  return ctl::send{to, std::move(message)};
}

control_message make_reg_send(const pid& from, atom to_name, term message,
                              std::optional<term> token) {
  if (token) return ctl::reg_send_tt{from, to_name, std::move(*token), std::move(message)};
  return ctl::reg_send{from, to_name, std::move(message)};
}

control_message make_exit(const pid& from, const pid& to, term reason, dflags negotiated,
                          std::optional<term> token) {
  if (negotiated & flag::exit_payload) {
    if (token) return ctl::payload_exit_tt{from, to, std::move(*token), std::move(reason)};
    return ctl::payload_exit{from, to, std::move(reason)};
  }
  if (token) return ctl::exit_tt{from, to, std::move(*token), std::move(reason)};
  return ctl::exit{from, to, std::move(reason)};
}

control_message make_exit2(const pid& from, const pid& to, term reason, dflags negotiated,
                           std::optional<term> token) {
  if (negotiated & flag::exit_payload) {
    if (token) return ctl::payload_exit2_tt{from, to, std::move(*token), std::move(reason)};
    return ctl::payload_exit2{from, to, std::move(reason)};
  }
  if (token) return ctl::exit2_tt{from, to, std::move(*token), std::move(reason)};
  return ctl::exit2{from, to, std::move(reason)};
}

control_message make_monitor_p_exit(term from, const pid& to, const reference& ref, term reason,
                                    dflags negotiated) {
  if (negotiated & flag::exit_payload)
    return ctl::payload_monitor_p_exit{std::move(from), to, ref, std::move(reason)};
  return ctl::monitor_p_exit{std::move(from), to, ref, std::move(reason)};
}

control_message make_unlink(const pid& from, const pid& to, std::uint64_t id, dflags negotiated) {
  if (negotiated & flag::unlink_id) return ctl::unlink_id{id, from, to};
  return ctl::unlink{from, to};
}

bool can_send(const control_message& m, dflags f) noexcept {
  auto has = [f](dflags x) { return (f & x) == x; };
  switch (op_of(m)) {
    case op::monitor_p:
    case op::demonitor_p: {
      const term& target = std::holds_alternative<ctl::monitor_p>(m)
                               ? std::get<ctl::monitor_p>(m).target
                               : std::get<ctl::demonitor_p>(m).target;
      return has(flag::dist_monitor) && (!target.is_atom() || has(flag::dist_monitor_name));
    }
    case op::monitor_p_exit:
      return has(flag::dist_monitor);
    case op::spawn_request:
    case op::spawn_request_tt:
    case op::spawn_reply:
    case op::spawn_reply_tt:
      return has(flag::spawn);
    case op::alias_send:
    case op::alias_send_tt:
      return has(flag::alias);
    case op::unlink_id:
    case op::unlink_id_ack:
      return has(flag::unlink_id);
    case op::unlink:
      return !has(flag::unlink_id);
    case op::payload_exit:
    case op::payload_exit_tt:
    case op::payload_exit2:
    case op::payload_exit2_tt:
      return has(flag::exit_payload);
    case op::payload_monitor_p_exit:
      return has(flag::exit_payload) && has(flag::dist_monitor);
    case op::send_sender:
    case op::send_sender_tt:
      return has(flag::send_sender);
    default:
      return true;
  }
}

}  // namespace erlnode::dist
