// Spawning: running process functions, SPAWN_REQUEST from other nodes, spawn_request to other
// nodes (reference section 9) and the exceptions a process can end with.
#include <erlnode/process.hpp>
#include <erlnode/text.hpp>

#include "node/node_impl.hpp"
#include "node/spawn_internal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <unordered_map>

namespace erlnode {

namespace asio = boost::asio;

// ------------------------------------------------------------------------------------------
// exceptions

namespace {
const atom a_cpp_exception("cpp_exception");
const atom a_nocatch("nocatch");
const atom a_spawn_reply("spawn_reply");
const atom a_badopt("badopt");
const atom a_notsup("notsup");
}  // namespace

erlang_exception::erlang_exception(exception_class c, term reason, term stacktrace)
    : cls_(c), reason_(std::move(reason)), stack_(std::move(stacktrace)) {
  std::string r = to_string(reason_);
  if (r.size() > 200) r = r.substr(0, 200) + "...";
  what_ = std::string(class_atom(c).text()) + ": " + r;
}
void raise_error(term reason) { throw erlang_exception(exception_class::error, std::move(reason)); }
void raise_exit(term reason) { throw erlang_exception(exception_class::exit, std::move(reason)); }
void raise_throw(term value) { throw erlang_exception(exception_class::throw_, std::move(value)); }

atom class_atom(exception_class c) {
  switch (c) {
    case exception_class::error:
      return atoms::error;
    case exception_class::exit:
      return atoms::exit;
    case exception_class::throw_:
      break;
  }
  return atoms::throw_;
}

erlang_exception to_erlang_exception(const std::exception_ptr& e) {
  auto cpp = [](std::string_view what) {
    return erlang_exception(exception_class::error, tuple{a_cpp_exception, binary(what)});
  };
  if (!e) return cpp("no exception");
  try {
    std::rethrow_exception(e);
  } catch (const erlang_exception& x) {
    return x;
  } catch (const std::exception& x) {
    return cpp(x.what());
  } catch (...) {
    return cpp("unknown C++ exception");
  }
}

term exit_reason_of(const erlang_exception& e) {
  switch (e.cls()) {
    case exception_class::exit:
      return e.reason();
    case exception_class::error:
      return tuple{e.reason(), e.stacktrace()};
    case exception_class::throw_:
      break;
  }
  return tuple{term(tuple{a_nocatch, e.reason()}), e.stacktrace()};
}

process_function message_loop(message_handler on_message) {
  return [h = std::move(on_message)](mailbox& self, list) -> asio::awaitable<void> {
    for (;;) {
      auto [ec, msg] = co_await self.async_receive(asio::use_awaitable);
      if (ec) co_return;  // the mailbox died (exit signal, self.exit, close)
      h(self, msg);
      if (!self.alive()) co_return;
    }
  };
}

namespace detail {

// ------------------------------------------------------------------------------------------
// state

namespace {
using reply_mode = spawn_options::reply_mode;

// A spawn_request of ours waiting for its SPAWN_REPLY.
struct pending_request {
  std::weak_ptr<mailbox_queue> requester;
  pid from;
  atom node;
  reply_mode reply = reply_mode::yes;
  bool link = false, monitor = false;
  bool with_token = false;  // test hook: a SPAWN_REPLY_TT's token is added to the message
};

// The sender key routing.cpp uses for a pid, so that SPAWN_REPLY and the new process's later
// signals share one ordered stream on the connection.
std::uint64_t sender_key(const pid& p) noexcept {
  return ((std::uint64_t{p.serial()} << 32) | p.id()) + 1;
}

bool wants(reply_mode m, bool ok) {
  return m == reply_mode::yes || (ok ? m == reply_mode::success_only : m == reply_mode::error_only);
}
}  // namespace

struct spawn_state {
  std::mutex m;
  std::map<std::pair<atom, atom>, process_function> functions;
  std::unordered_map<term, pending_request> pending;  // by request id
  std::unordered_map<term, pid> requesters;           // running processes started by SPAWN_REQUEST
  // Node monitor (nodedown -> noconnection for pending requests); armed while requests wait.
  std::shared_ptr<mailbox_queue> watch;
};

std::shared_ptr<spawn_state> node_impl::make_spawn_state() {
  return std::make_shared<spawn_state>();
}

namespace {

// ------------------------------------------------------------------------------------------
// running a process

void log_crash(node_impl& n, const pid& p, const term& reason) {
  std::string r = to_string(reason);
  if (r.size() > 2000) r = r.substr(0, 2000) + "...";
  n.log(log_level::error, "Error in process " + to_string(term(p)) + " on node " + str(n.name()) +
                              " with exit value: " + r);
}

asio::awaitable<void> run_process(std::shared_ptr<node_impl> n, mailbox self, process_function f,
                                  list args) {
  const pid me = self.self();
  struct forget_requester {  // whatever way the process ends
    node_impl& n;
    term me;
    ~forget_requester() {
      std::lock_guard lk(n.spawn_->m);
      n.spawn_->requesters.erase(me);
    }
  } forget{*n, term(me)};
  std::optional<erlang_exception> failed;
  try {
    if (!f) raise_error(atoms::undef);
    co_await f(self, std::move(args));
  } catch (...) {
    failed = to_erlang_exception(std::current_exception());
  }
  if (!self) {
    // The body took its mailbox (a by-value body): that handle has ended the process.
    if (failed) log_crash(*n, me, exit_reason_of(*failed));
    co_return;
  }
  if (!failed) {
    self.exit(atoms::normal);  // no-op when it already exited
    co_return;
  }
  term reason = exit_reason_of(*failed);
  if (failed->cls() != exception_class::exit && self.alive()) log_crash(*n, me, reason);
  self.exit(reason);
}

void start_process(node_impl& n, mailbox mb, process_function f, list args) {
  auto self = n.shared_from_this();
  asio::co_spawn(n.executor(), run_process(self, std::move(mb), std::move(f), std::move(args)),
                 asio::detached);
}

// The function registered for M:F; for an unknown one, a body that fails like the BEAM does
// ({undef, [{M, F, Args, []}]}).
process_function lookup(spawn_state& s, atom m, atom f) {
  {
    std::lock_guard lk(s.m);
    auto it = s.functions.find({m, f});
    if (it != s.functions.end()) return it->second;
  }
  return [m, f](mailbox&, list args) -> asio::awaitable<void> {
    throw erlang_exception(exception_class::error, atoms::undef,
                           list{term(tuple{m, f, args, list{}})});
    co_return;
  };
}

// The seq_trace token of a SPAWN_REPLY_TT answering a request that carried `token`
// ({Flags, Label, Serial, From, LastCnt}): {Flags, Label, Serial, Sender, Serial - 1}, the
// sender being the new process or, for an error reply, the node's name (what OTP 25 answers
// to hand-made requests). A token of another shape goes back as it came.
term reply_token(const term& token, const term& sender) {
  auto* t = token.get_if<tuple>();
  if (!t || t->size() != 5) return token;
  term last = (*t)[4];
  if (auto s = (*t)[2].to_int64(); s && *s >= 1) last = *s - 1;
  return tuple{(*t)[0], (*t)[1], (*t)[2], sender, last};
}

// erlang:spawn_opt/5 options the BEAM accepts (anything else: badopt). link/monitor are
// reported through the out-parameters.
bool valid_spawn_option(const term& o, bool& link, bool& monitor) {
  auto non_neg = [](const term& v) { return v.is_integer() && compare(v, term(0)) >= 0; };
  if (o.is_atom(atoms::link)) return link = true;
  if (o.is_atom(atoms::monitor)) return monitor = true;
  auto* t = o.get_if<tuple>();
  if (!t || t->size() != 2 || !(*t)[0].is_atom()) return false;
  const std::string_view k = (*t)[0].get_if<atom>()->text();
  const term& v = (*t)[1];
  if (k == "monitor") {
    auto* l = v.get_if<list>();
    if (!l || !l->is_proper()) return false;
    return monitor = true;
  }
  if (k == "priority") {
    auto* a = v.get_if<atom>();
    return a && (a->text() == "low" || a->text() == "normal" || a->text() == "high" ||
                 a->text() == "max");
  }
  if (k == "fullsweep_after" || k == "min_heap_size" || k == "min_bin_vheap_size")
    return non_neg(v);
  if (k == "max_heap_size") return non_neg(v) || v.is_map();
  if (k == "message_queue_data") return v.is_atom(atom("off_heap")) || v.is_atom(atom("on_heap"));
  if (k == "async_dist") return v.is_atom(atoms::true_) || v.is_atom(atoms::false_);
  return false;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// incoming SPAWN_REQUEST

void node_impl::handle_spawn_request(net::connection_base& c, const term& control,
                                     const term& args) {
  // The dist codec checked the shape: {29, Ref, PeerPid, Pid, {M, F, Arity}, ProperList}
  // (SPAWN_REQUEST_TT: the same plus a token).
  const tuple& t = *control.get_if<tuple>();
  const term& req_id = t[1];
  const pid from = *t[2].get_if<pid>();
  const pid* gl = t[3].get_if<pid>();
  const tuple& mfa = *t[4].get_if<tuple>();
  const atom m = *mfa[0].get_if<atom>();
  const atom f = *mfa[1].get_if<atom>();
  const list& opts = *t[5].get_if<list>();
  // SPAWN_REQUEST_TT: the reply is SPAWN_REPLY_TT, with the token.
  const term* token = t.size() == 7 ? &t[6] : nullptr;

  auto reply = [&](std::int64_t flags, const term& result, std::uint64_t sender) {
    if (token)
      (void)c.send(tuple{32, req_id, from, flags, result,
                         reply_token(*token, result.is_pid() ? result : term(name()))},
                   nullptr, sender);
    else
      (void)c.send(tuple{31, req_id, from, flags, result}, nullptr, sender);
  };
  auto reply_error = [&](atom why) { reply(0, why, 0); };
  bool link = false, monitor = false;
  for (const term& o : opts)
    if (!valid_spawn_option(o, link, monitor)) return reply_error(a_badopt);
  // The argument list: the BEAM spawns with whatever came (the count is not checked against
  // the arity, checked with OTP 25); one that is not a proper list makes the new process fail
  // as its apply would, with the same exit reason.
  const list* al = args.get_if<list>();
  process_function fn;
  list arg_list;
  if (al && al->is_proper()) {
    fn = lookup(*spawn_, m, f);
    arg_list = *al;
  } else {
    term stack =
        list{term(tuple{atom("erlang"), atom("apply"), list{m, f, args},
                        list{term(tuple{atom("error_info"),
                                        term(map{{atom("module"), atom("erl_erts_errors")}})})}}),
             term(tuple{atom("erts_internal"), atom("dist_spawn_init"), 1, list{}})};
    fn = [stack](mailbox&, list) -> asio::awaitable<void> {
      throw erlang_exception(exception_class::error, atoms::badarg, stack);
      co_return;
    };
  }

  mailbox mb = new_mailbox();
  const pid child = mb.self();
  if (gl) mb.set_group_leader(*gl);
  if (link) record_link(child, from);
  if (monitor) record_monitor(from, child, *req_id.get_if<reference>());
  {
    std::lock_guard lk(spawn_->m);
    spawn_->requesters.emplace(term(child), from);
  }
  // SPAWN_REPLY goes out before anything else from the new process (reference section 9).
  reply((link ? 1 : 0) | (monitor ? 2 : 0), child, sender_key(child));
  start_process(*this, std::move(mb), std::move(fn), std::move(arg_list));
}

// ------------------------------------------------------------------------------------------
// outgoing spawn_request and SPAWN_REPLY

namespace {

// Delivers the outcome of a request to its requester and sets up what the reply says.
void complete_request(node_impl& n, const term& req_id, pending_request p, const term& result,
                      std::uint32_t flags, const term* token = nullptr) {
  auto q = p.requester.lock();
  const pid* child = result.get_if<pid>();
  if (child && (!q || q->closed())) {
    // The requester died meanwhile: the new process must not keep a link or monitor to it.
    term why = q && q->exit_reason() ? *q->exit_reason() : term(atoms::noproc);
    if (flags & 1)
      n.route(outgoing{outgoing::kind::exit, p.from, term(*child), why}, child->node());
    if (flags & 2)
      n.route(outgoing{outgoing::kind::demonitor, p.from, term(*child), req_id}, child->node());
    return;
  }
  if (!q) return;
  if (child) {
    if (flags & 1) n.record_link(p.from, *child);
    if (flags & 2) n.record_monitor(p.from, *child, *req_id.get_if<reference>());
  }
  const bool ok = child != nullptr;
  if (!wants(p.reply, ok)) return;
  if (p.with_token && token)
    q->push(tuple{a_spawn_reply, req_id, ok ? atoms::ok : atoms::error, result, *token});
  else
    q->push(tuple{a_spawn_reply, req_id, ok ? atoms::ok : atoms::error, result});
}

// Called with s.m held: once no request waits, the node monitor goes (a waiting receive on it
// would keep the io_context busy).
void disarm_if_idle_locked(node_impl& n, spawn_state& s) {
  if (!s.pending.empty() || !s.watch) return;
  n.monitor_nodes(s.watch, false);
  s.watch->close();  // completes the waiting receive with `closed`
  s.watch.reset();
}

void watch_next(node_impl& n, const std::shared_ptr<mailbox_queue>& q);

// nodedown: the requests waiting on that node complete with noconnection.
void on_watch(const std::weak_ptr<node_impl>& wn, const std::weak_ptr<mailbox_queue>& wq,
              std::error_code ec, const term& msg) {
  auto n = wn.lock();
  auto q = wq.lock();
  if (!n || !q || ec) return;
  auto& s = *n->spawn_;
  std::vector<std::pair<term, pending_request>> failed;
  auto* t = msg.get_if<tuple>();
  {
    std::lock_guard lk(s.m);
    if (s.watch != q) return;
    if (t && t->size() >= 2 && (*t)[0].is_atom(atoms::nodedown) && (*t)[1].is_atom()) {
      const atom down = *(*t)[1].get_if<atom>();
      for (auto it = s.pending.begin(); it != s.pending.end();) {
        if (it->second.node == down) {
          failed.emplace_back(it->first, std::move(it->second));
          it = s.pending.erase(it);
        } else {
          ++it;
        }
      }
    }
    disarm_if_idle_locked(*n, s);
    if (s.watch) watch_next(*n, q);
  }
  for (auto& [id, p] : failed) complete_request(*n, id, std::move(p), atoms::noconnection, 0);
}

void watch_next(node_impl& n, const std::shared_ptr<mailbox_queue>& q) {
  // Weak references only: the queue owns this handler while it waits.
  q->async_pop(net::any_completion<std::error_code, term>(
      [wn = std::weak_ptr<node_impl>(n.shared_from_this()), wq = std::weak_ptr<mailbox_queue>(q)](
          std::error_code ec, const term& msg) { on_watch(wn, wq, ec, msg); },
      n.strand()));
}

// Called with s.m held, when a request is added.
void arm_watch_locked(node_impl& n, spawn_state& s) {
  if (s.watch) return;
  s.watch = std::make_shared<mailbox_queue>(pid(n.name(), 0, 0, n.creation()), n.executor());
  n.monitor_nodes(s.watch, true);
  watch_next(n, s.watch);
}

// Takes the pending request `id` out (nullopt when unknown or already completed).
std::optional<pending_request> take(node_impl& n, const term& id) {
  auto& s = *n.spawn_;
  std::lock_guard lk(s.m);
  auto it = s.pending.find(id);
  if (it == s.pending.end()) return std::nullopt;
  pending_request p = std::move(it->second);
  s.pending.erase(it);
  disarm_if_idle_locked(n, s);
  return p;
}

void fail_request(node_impl& n, const term& id, atom why) {
  if (auto p = take(n, id)) complete_request(n, id, std::move(*p), why, 0);
}

}  // namespace

void expect_spawn_reply(node_impl& n, const pid& requester, const reference& id, atom peer) {
  auto& s = *n.spawn_;
  std::lock_guard lk(s.m);
  s.pending.insert_or_assign(term(id), pending_request{n.find_local(requester), requester, peer,
                                                       reply_mode::yes, false, false, true});
  arm_watch_locked(n, s);
}

std::optional<pid> node_impl::spawn_requester(const pid& child) const {
  std::lock_guard lk(spawn_->m);
  auto it = spawn_->requesters.find(term(child));
  if (it == spawn_->requesters.end()) return std::nullopt;
  return it->second;
}

void node_impl::handle_spawn_reply(net::connection_base& c, const term& control) {
  // {31, ReqId, To, Flags, Result} (checked by the dist codec; _TT adds a token).
  const tuple& t = *control.get_if<tuple>();
  const term& req_id = t[1];
  auto flags = static_cast<std::uint32_t>(*t[3].to_int64());
  auto p = take(*this, req_id);
  if (!p || p->node.text() != c.peer_name() || !same(p->from, *t[2].get_if<pid>())) {
    log(log_level::debug, "SPAWN_REPLY for no request of ours: " + to_string(control));
    return;
  }
  complete_request(*this, req_id, std::move(*p), t[4], flags, t.size() == 6 ? &t[5] : nullptr);
}

}  // namespace detail

// ------------------------------------------------------------------------------------------
// public API

void node::define_process(atom module, atom function, process_function f) {
  auto& s = *impl_->spawn_;
  std::lock_guard lk(s.m);
  s.functions[{module, function}] = std::move(f);
}

bool node::undefine_process(atom module, atom function) {
  auto& s = *impl_->spawn_;
  std::lock_guard lk(s.m);
  return s.functions.erase({module, function}) > 0;
}

pid node::spawn(process_function f, list args) {
  impl_->require_named("spawn");
  mailbox mb = impl_->new_mailbox();
  pid p = mb.self();
  detail::start_process(*impl_, std::move(mb), std::move(f), std::move(args));
  return p;
}

pid spawn_link(node& n, const mailbox& parent, process_function f, list args) {
  auto impl = n.impl();
  mailbox mb = impl->new_mailbox();
  pid p = mb.self();
  mb.set_group_leader(parent.group_leader());
  impl->record_link(parent.self(), p);
  detail::start_process(*impl, std::move(mb), std::move(f), std::move(args));
  return p;
}

std::pair<pid, reference> spawn_monitor(node& n, const mailbox& watcher, process_function f,
                                        list args) {
  auto impl = n.impl();
  mailbox mb = impl->new_mailbox();
  pid p = mb.self();
  reference ref = impl->make_ref();
  mb.set_group_leader(watcher.group_leader());
  impl->record_monitor(watcher.self(), p, ref);
  detail::start_process(*impl, std::move(mb), std::move(f), std::move(args));
  return {p, ref};
}

result<reference> mailbox::spawn_request(atom node, atom module, atom function, const list& args,
                                         const spawn_options& opts) {
  using detail::node_impl;
  using detail::outgoing;
  if (!q_ || !node_) return error(node_errc::closed);
  if (!args.is_proper()) return error(std::make_error_code(std::errc::invalid_argument));  // badarg
  node_impl& n = *node_;
  reference req_id = n.make_ref();
  const pid gl = opts.group_leader ? *opts.group_leader : group_leader();

  if (node == n.name()) {
    // A local request: the same outcome a remote one has, without a connection.
    mailbox mb = n.new_mailbox();
    const pid child = mb.self();
    mb.set_group_leader(gl);
    if (opts.link) n.record_link(self(), child);
    if (opts.monitor) n.record_monitor(self(), child, req_id);
    if (opts.reply == spawn_options::reply_mode::yes ||
        opts.reply == spawn_options::reply_mode::success_only)
      q_->push(tuple{a_spawn_reply, req_id, atoms::ok, child});
    detail::start_process(n, std::move(mb), detail::lookup(*n.spawn_, module, function), args);
    return req_id;
  }

  {
    auto& s = *n.spawn_;
    std::lock_guard lk(s.m);
    s.pending.insert_or_assign(term(req_id), detail::pending_request{q_, self(), node, opts.reply,
                                                                     opts.link, opts.monitor});
    detail::arm_watch_locked(n, s);
  }
  list wire_opts;
  {
    std::vector<term> o;
    if (opts.link) o.emplace_back(atoms::link);
    if (opts.monitor) o.emplace_back(atoms::monitor);
    wire_opts = list(std::move(o));
  }
  term ctl(tuple{29, req_id, self(), gl,
                 term(tuple{module, function, static_cast<std::int64_t>(args.size())}), wire_opts});
  auto send = [wn = std::weak_ptr<node_impl>(node_), node, from = self(), ctl, a = term(args),
               id = term(req_id)]() {
    auto n = wn.lock();
    if (!n) return;
    auto c = n->connection(node);
    if (!c) return detail::fail_request(*n, id, atoms::noconnection);
    if (!(c->flags & dist::flag::spawn)) return detail::fail_request(*n, id, a_notsup);
    n->async_route(outgoing{outgoing::kind::control, from, ctl, a}, node,
                   net::any_completion<std::error_code>(
                       [wn, id](std::error_code ec) {
                         if (!ec) return;
                         if (auto n = wn.lock()) detail::fail_request(*n, id, atoms::noconnection);
                       },
                       n->strand()));
  };
  if (n.connection(node)) {
    send();
  } else if (!n.may_auto_connect(node)) {  // never, or once and connected before
    detail::fail_request(n, term(req_id), atoms::noconnection);
  } else {
    n.connect(node, net::any_completion<std::error_code>(
                        [wn = std::weak_ptr<node_impl>(node_), send,
                         id = term(req_id)](std::error_code ec) {
                          if (!ec) return send();
                          if (auto n = wn.lock()) detail::fail_request(*n, id, atoms::noconnection);
                        },
                        n.strand()));
  }
  return req_id;
}

}  // namespace erlnode
