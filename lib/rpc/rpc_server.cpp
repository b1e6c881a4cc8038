// The serving side of rpc: handler registry, erpc:execute_call/execute_cast processes and the
// rex process (rpc.erl's gen_server forms and the C-node form).
#include "rpc/rpc_service.hpp"

#include <erlnode/node.hpp>

#include "node/node_impl.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace erlnode {

namespace asio = boost::asio;

namespace {
const atom a_erpc("erpc");
const atom a_execute_call("execute_call");
const atom a_execute_cast("execute_cast");
const atom a_block_call("block_call");
const atom a_features_request("features_request");
const atom a_features_reply("features_reply");
const atom a_sbcast("sbcast");
const atom a_send("send");
const atom a_nonexisting_name("nonexisting_name");
const atom a_exception("exception");
const atom a_nocatch("nocatch");
const atom a_erlang("erlang");
const atom a_apply("apply");

const tuple* tuple_of(const term& t, std::size_t n) {
  auto* p = t.get_if<tuple>();
  return p && p->size() == n ? p : nullptr;
}
}  // namespace

namespace detail {

rpc_service::rpc_service(std::shared_ptr<node_impl> n) : node_(n), ex_(n->executor()) {}

void rpc_service::define(atom m, atom f, unsigned arity, rpc_handler h) {
  std::lock_guard lk(m_);
  handlers_[{m, f, arity}] = std::make_shared<const handler>(std::move(h));
}

void rpc_service::define(atom m, atom f, unsigned arity, rpc_async_handler h) {
  std::lock_guard lk(m_);
  handlers_[{m, f, arity}] = std::make_shared<const handler>(std::move(h));
}

bool rpc_service::undefine(atom m, atom f, unsigned arity) {
  std::lock_guard lk(m_);
  return handlers_.erase({m, f, arity}) > 0;
}

std::shared_ptr<const rpc_service::handler> rpc_service::find(atom m, atom f,
                                                              unsigned arity) const {
  std::lock_guard lk(m_);
  auto it = handlers_.find({m, f, arity});
  if (it == handlers_.end()) return nullptr;
  return it->second;
}

rpc_stats rpc_service::stats() const {
  return {calls_.load(), casts_.load(), running_.load(), failed_.load()};
}

asio::awaitable<rpc_outcome> rpc_service::invoke(rpc_context ctx, atom m, atom f, list args) {
  auto h = find(m, f, static_cast<unsigned>(args.size()));
  if (!h) {
    ++failed_;
    co_return undef_outcome(m, f, args);
  }
  ++running_;
  rpc_outcome o;
  try {
    if (auto* s = std::get_if<rpc_handler>(&*h))
      o.value = (*s)(ctx, args);
    else
      o.value = co_await std::get<rpc_async_handler>(*h)(ctx, args);
  } catch (...) {
    o = outcome_of_current_exception(m, f, args);
  }
  --running_;
  if (o.k == rpc_outcome::kind::error || o.k == rpc_outcome::kind::exit) ++failed_;
  co_return o;
}

namespace {
// M, F and a proper argument list, or the error apply(M, F, A) raises on a BEAM.
struct mfa {
  atom m, f;
  list a;
};
std::optional<mfa> parse_mfa(const term& m, const term& f, const term& a) {
  auto* ma = m.get_if<atom>();
  auto* fa = f.get_if<atom>();
  auto* al = a.get_if<list>();
  if (!ma || !fa || !al || !al->is_proper()) return std::nullopt;
  return mfa{*ma, *fa, *al};
}
rpc_outcome apply_badarg(const term& m, const term& f, const term& a) {
  return {rpc_outcome::kind::error, atoms::badarg,
          list{term(tuple{a_erlang, a_apply, term(list{m, f, a}), term(list{})})}};
}
// The process exit of a call to an arity we do not have (spawn of erpc:execute_call/N).
term undef_exit(atom f, const list& args) {
  return tuple{atoms::undef, term(list{term(tuple{a_erpc, f, term(args), term(list{})})})};
}
}  // namespace

// The caller of a spawned erpc process: the SPAWN_REQUEST's sender (the node remembers it
// while the process runs); its node is also the result reference's node.
static rpc_context spawned_context(const std::shared_ptr<detail::node_impl>& n, const mailbox& self,
                                   const term& ref) {
  pid gl = self.group_leader();
  atom caller_node = gl.node();
  if (auto* r = ref.get_if<reference>()) caller_node = r->node();
  pid caller = gl;
  if (n) {
    if (auto from = n->spawn_requester(self.self())) {
      caller = *from;
      caller_node = from->node();
    }
  }
  return rpc_context{caller_node, caller, gl};
}

asio::awaitable<void> rpc_service::execute_call(mailbox& self, list args) {
  ++calls_;
  if (args.size() != 4 || !args.is_proper()) {
    self.exit(undef_exit(a_execute_call, args));
    co_return;
  }
  const term& ref = args[0];
  rpc_outcome o;
  if (auto x = parse_mfa(args[1], args[2], args[3])) {
    rpc_context ctx = spawned_context(node_.lock(), self, ref);
    o = co_await invoke(std::move(ctx), x->m, x->f, x->a);
  } else {
    o = apply_badarg(args[1], args[2], args[3]);
  }
  self.exit(erpc_exit_reason(ref, o));
}

asio::awaitable<void> rpc_service::execute_cast(mailbox& self, list args) {
  ++casts_;
  if (args.size() != 3 || !args.is_proper()) {
    self.exit(undef_exit(a_execute_cast, args));
    co_return;
  }
  rpc_outcome o;
  auto x = parse_mfa(args[0], args[1], args[2]);
  if (x) {
    rpc_context ctx = spawned_context(node_.lock(), self, term());
    o = co_await invoke(std::move(ctx), x->m, x->f, x->a);
  } else {
    o = apply_badarg(args[0], args[1], args[2]);
  }
  if (o.k == rpc_outcome::kind::returned) co_return;
  // Nobody waits for a cast: the failure is logged, and the process exits with the reason
  // erpc:execute_cast/3 would give (error {exception, {Reason, Stack}}).
  term reason;
  switch (o.k) {
    case rpc_outcome::kind::thrown:
      reason = tuple{term(tuple{a_nocatch, o.value}), term(list{})};
      break;
    case rpc_outcome::kind::exit:
      reason = o.value;
      break;
    default:
      reason = tuple{term(tuple{a_exception, term(tuple{o.value, o.stack})}),
                     term(list{term(tuple{a_erpc, a_execute_cast, 3, term(list{})})})};
  }
  if (auto n = node_.lock())
    n->log(log_level::warning, "rpc cast " + to_string(args[0]) + ":" + to_string(args[1]) + "/" +
                                   std::to_string(x ? x->a.size() : 0) +
                                   " failed: " + to_string(reason));
  self.exit(reason);
}

// --- rex --------------------------------------------------------------------------------------

void rpc_service::start_rex() {
  if (rex_started_.exchange(true)) return;
  auto n = node_.lock();
  if (!n) return;
  // Mailboxes made before the node has started would not carry its creation: rex starts once
  // the node has.
  n->when_started([self = shared_from_this()] {
    asio::co_spawn(
        self->ex_,
        [self]() -> asio::awaitable<void> {
          auto n = self->node_.lock();
          if (!n) co_return;
          mailbox mb = n->new_mailbox();
          if (!mb.register_name(atoms::rex)) {
            n->log(log_level::warning, "rpc: the name rex is taken; rex forms are not served");
            co_return;
          }
          n.reset();
          co_await self->rex_loop(std::move(mb));
        },
        asio::detached);
  });
}

asio::awaitable<void> rpc_service::run_cast(std::shared_ptr<rpc_service> self, pid me, atom m,
                                            atom f, list args) {
  // (GCC 12 destroys a braced temporary inside a co_await expression twice: named locals.)
  rpc_context ctx{me.node(), me, me};
  (void)co_await self->invoke(std::move(ctx), m, f, std::move(args));
}

asio::awaitable<void> rpc_service::rex_loop(mailbox mb) {
  auto rex = std::make_shared<mailbox>(std::move(mb));
  auto self = shared_from_this();
  for (;;) {
    auto [ec, msg] = co_await rex->async_receive(asio::use_awaitable);
    if (ec) co_return;
    auto* t = msg.get_if<tuple>();
    if (!t) continue;
    if (t->size() == 3 && (*t)[0].is_atom(atoms::gen_call)) {
      auto* req = tuple_of((*t)[2], 5);
      if (!req) continue;  // rex ignores other calls (the caller times out)
      if ((*req)[0].is_atom(atoms::call))
        asio::co_spawn(ex_, rex_call(rex, (*t)[1], (*t)[2], false), asio::detached);
      else if ((*req)[0].is_atom(a_block_call))
        co_await rex_call(rex, (*t)[1], (*t)[2], false);  // blocks rex, as on a BEAM
      continue;
    }
    if (t->size() == 2 && (*t)[0].is_atom(atoms::gen_cast)) {
      auto* req = tuple_of((*t)[1], 5);
      if (!req || !(*req)[0].is_atom(atoms::cast)) continue;
      auto x = parse_mfa((*req)[1], (*req)[2], (*req)[3]);
      if (!x) continue;
      ++casts_;
      asio::co_spawn(ex_, run_cast(self, rex->self(), x->m, x->f, x->a), asio::detached);
      continue;
    }
    if (t->size() != 2 || !(*t)[0].is_pid()) continue;
    const pid& from = (*t)[0].as<pid>();
    const term& req = (*t)[1];
    if (req.is_atom(a_features_request)) {
      rex->send(from, tuple{a_features_reply, rex->self().node(), term(list{a_erpc})});
    } else if (auto* r = tuple_of(req, 5); r && (*r)[0].is_atom(atoms::call)) {
      asio::co_spawn(ex_, rex_call(rex, (*t)[0], req, true), asio::detached);
    } else if (auto* r3 = tuple_of(req, 3); r3 && (*r3)[1].is_atom()) {
      atom name = (*r3)[1].as<atom>();
      bool sb = (*r3)[0].is_atom(a_sbcast), sd = (*r3)[0].is_atom(a_send);
      if (!sb && !sd) continue;
      auto n = node_.lock();
      bool exists = n && n->find_name(name) != nullptr;
      n.reset();
      if (exists) rex->send(name, sb ? (*r3)[2] : term(tuple{from, (*r3)[2]}));
      if (!exists)
        rex->send(from,
                  tuple{atoms::rex, rex->self().node(), term(tuple{a_nonexisting_name, name})});
      else if (sb)
        rex->send(from, tuple{atoms::rex, rex->self().node(), rex->self().node()});
    }
  }
}

asio::awaitable<void> rpc_service::rex_call(std::shared_ptr<mailbox> rex, term from, term req,
                                            bool cnode) {
  auto self = shared_from_this();
  ++calls_;
  const tuple& r = req.as<tuple>();
  // The caller: the C-node form names its pid, the gen_server form {Pid, Tag}.
  const pid* caller = nullptr;
  if (cnode)
    caller = from.get_if<pid>();
  else if (auto* ft = tuple_of(from, 2))
    caller = (*ft)[0].get_if<pid>();
  if (!caller) co_return;
  pid gl = *caller;
  if (auto* g = r[4].get_if<pid>()) gl = *g;
  rpc_outcome o;
  if (auto x = parse_mfa(r[1], r[2], r[3])) {
    rpc_context ctx{caller->node(), *caller, gl};
    o = co_await invoke(std::move(ctx), x->m, x->f, x->a);
  } else {
    o = apply_badarg(r[1], r[2], r[3]);
  }
  term reply = rex_reply(o);
  if (cnode) {
    rex->send(*caller, tuple{atoms::rex, reply});
    co_return;
  }
  // gen_server reply: {Tag, Reply}, to the alias for [alias|Ref] and [[alias|Ref]|_] tags.
  const term& tag = (*tuple_of(from, 2))[1];
  term msg(tuple{tag, reply});
  const term* t = &tag;
  if (auto* l = t->get_if<list>(); l && !l->empty() && !(*l)[0].is_atom(atoms::alias)) t = &(*l)[0];
  if (auto* l = t->get_if<list>(); l && l->size() == 1 && (*l)[0].is_atom(atoms::alias)) {
    if (auto* ar = l->tail().get_if<reference>()) {
      rex->send(*ar, msg);
      co_return;
    }
  }
  rex->send(*caller, msg);
}

}  // namespace detail

namespace {
// Process functions are plain functions returning the coroutine, so that nothing the
// coroutine uses lives in the (copyable, maybe temporary) std::function object.
asio::awaitable<void> run_execute_call(std::weak_ptr<detail::rpc_service> w, mailbox& self,
                                       list args) {
  if (auto s = w.lock()) co_await s->execute_call(self, std::move(args));
}
asio::awaitable<void> run_execute_cast(std::weak_ptr<detail::rpc_service> w, mailbox& self,
                                       list args) {
  if (auto s = w.lock()) co_await s->execute_cast(self, std::move(args));
}
}  // namespace

rpc_server& node::rpc() {
  std::shared_ptr<detail::rpc_service> svc;
  {
    std::lock_guard lk(impl_->services_m_);
    if (impl_->rpc_) return *impl_->rpc_;
    svc = std::make_shared<detail::rpc_service>(impl_);
    impl_->rpc_ = svc;
  }
  std::weak_ptr<detail::rpc_service> w = svc;
  define_process(a_erpc, a_execute_call, [w](mailbox& self, list args) {
    return run_execute_call(w, self, std::move(args));
  });
  define_process(a_erpc, a_execute_cast, [w](mailbox& self, list args) {
    return run_execute_cast(w, self, std::move(args));
  });
  svc->start_rex();
  return *svc;
}

}  // namespace erlnode
