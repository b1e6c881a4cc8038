// The serving side of gen_server: one coroutine per server takes its mailbox's messages in
// order and runs the handlers ('$gen_call', '$gen_cast', system terminate, everything else).
#include <erlnode/gen_server.hpp>
#include <erlnode/node.hpp>
#include <erlnode/process.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>
#include <vector>

namespace erlnode::gen {

namespace {
const atom a_gen_call("$gen_call");
const atom a_gen_cast("$gen_cast");
const atom a_system("system");
const atom a_terminate("terminate");
const atom a_ok("ok");
const atom a_alias("alias");
const atom a_normal("normal");
const atom a_bad_call("bad_call");
const atom a_nocatch("nocatch");
const atom a_cpp_exception("cpp_exception");
const atom a_error("error");
const atom a_unknown_system_msg("unknown_system_msg");
// Wakes the loop for server::stop (the reason waits in server_state::stop_req).
const atom a_stop_wake("$erlnode_gen_stop");

// [alias|Ref] -> Ref
const reference* alias_of(const term& t) {
  auto* l = t.get_if<list>();
  if (!l || l->size() != 1 || !(*l)[0].is_atom(a_alias)) return nullptr;
  return l->tail().get_if<reference>();
}

// The exit reason a process gets from an exception, as the BEAM forms it.
term reason_of(const erlang_exception& e) {
  switch (e.cls()) {
    case exception_class::exit:
      return e.reason();
    case exception_class::error:
      return tuple{e.reason(), e.stacktrace()};
    case exception_class::throw_:
      return tuple{term(tuple{a_nocatch, e.reason()}), e.stacktrace()};
  }
  return e.reason();
}
term reason_of(const std::exception& e) {
  return tuple{term(tuple{a_cpp_exception, binary(std::string_view(e.what()))}), list{}};
}
}  // namespace

namespace detail {

struct server_state : std::enable_shared_from_this<server_state> {
  server_state(mailbox m, handlers hs) : mb(std::move(m)), h(std::move(hs)), ctx(&mb) {}

  mailbox mb;
  handlers h;
  context ctx;
  std::mutex m;
  std::optional<term> stop_req;     // server::stop's reason, until the loop takes it
  std::optional<term> exit_reason;  // set once the loop has ended
  std::vector<net::any_completion<term>> waiters;

  static boost::asio::awaitable<void> run(std::shared_ptr<server_state> s);
  boost::asio::awaitable<void> dispatch(const term& msg);
  boost::asio::awaitable<void> handle_call(const term& request, from f);
  void stop_from_outside(term reason);
  void finish(term reason);
  void set_stop(term reason) { ctx.stop_ = std::move(reason); }
  const std::optional<term>& stop_reason() const { return ctx.stop_; }
  void bind(from& f) { f.server_ = weak_from_this(); }
};

boost::asio::awaitable<void> server_state::run(std::shared_ptr<server_state> s) {
  for (;;) {
    // void(std::error_code, term) comes back as a tuple from use_awaitable (no throw).
    auto [ec, msg] = co_await s->mb.async_receive(boost::asio::use_awaitable);
    if (ec) {  // killed by an exit signal, or closed: no terminate, as on the BEAM
      s->finish(s->mb.exit_reason().value_or(term(a_normal)));
      co_return;
    }
    std::optional<term> crash;
    try {
      co_await s->dispatch(msg);
    } catch (const erlang_exception& e) {
      crash = reason_of(e);
    } catch (const std::exception& e) {
      crash = reason_of(e);
    } catch (...) {
      crash = term(tuple{a_cpp_exception, list{}});
    }
    if (!crash && !s->stop_reason()) continue;
    term reason = crash ? *crash : *s->stop_reason();
    if (s->h.terminate) {
      try {
        s->h.terminate(s->ctx, reason);
      } catch (const erlang_exception& e) {
        reason = reason_of(e);
      } catch (const std::exception& e) {
        reason = reason_of(e);
      } catch (...) {
        reason = term(tuple{a_cpp_exception, list{}});
      }
    }
    s->mb.exit(reason);
    s->finish(reason);
    co_return;
  }
}

boost::asio::awaitable<void> server_state::dispatch(const term& msg) {
  auto* t = msg.get_if<tuple>();
  if (t && t->size() == 3 && (*t)[0].is_atom(a_gen_call)) {
    if (auto f = from::from_term((*t)[1])) {
      bind(*f);
      co_await handle_call((*t)[2], std::move(*f));
      co_return;
    }
  } else if (t && t->size() == 2 && (*t)[0].is_atom(a_gen_cast)) {
    if (h.async_cast)
      co_await h.async_cast(ctx, (*t)[1]);
    else if (h.cast)
      h.cast(ctx, (*t)[1]);
    co_return;
  } else if (t && t->size() == 3 && (*t)[0].is_atom(a_system)) {
    // sys messages: gen_server:stop sends {terminate, Reason}, wants ok, then waits for our DOWN.
    if (auto f = from::from_term((*t)[1])) {
      auto* req = (*t)[2].get_if<tuple>();
      if (req && req->size() == 2 && (*req)[0].is_atom(a_terminate)) {
        (void)reply(mb, *f, a_ok);  // sys replies ok, then terminates
        set_stop((*req)[1]);
      } else {
        (void)reply(mb, *f, tuple{a_error, term(tuple{a_unknown_system_msg, (*t)[2]})});
      }
      co_return;
    }
  } else if (t && t->size() == 1 && (*t)[0].is_atom(a_stop_wake)) {
    std::optional<term> r;
    {
      std::lock_guard lk(m);
      r = std::move(stop_req);
      stop_req.reset();
    }
    if (r) {
      set_stop(std::move(*r));
      co_return;
    }
  }
  if (h.async_info)
    co_await h.async_info(ctx, msg);
  else if (h.info)
    h.info(ctx, msg);
}

boost::asio::awaitable<void> server_state::handle_call(const term& request, from f) {
  std::optional<term> r;
  if (h.async_call)
    r = co_await h.async_call(ctx, request, f);
  else if (h.call)
    r = h.call(ctx, request, f);
  else {
    set_stop(tuple{a_bad_call, request});
    co_return;
  }
  if (r) (void)reply(mb, f, *r);
}

void server_state::stop_from_outside(term reason) {
  {
    std::lock_guard lk(m);
    if (exit_reason || stop_req) return;
    stop_req = std::move(reason);
  }
  (void)mb.send(mb.self(), tuple{a_stop_wake});
}

void server_state::finish(term reason) {
  std::vector<net::any_completion<term>> ws;
  {
    std::lock_guard lk(m);
    exit_reason = reason;
    ws.swap(waiters);
  }
  for (auto& w : ws) w(reason);
}

}  // namespace detail

// ------------------------------------------------------------------------------------------
// from, reply

std::optional<from> from::from_term(const term& t) {
  auto* tp = t.get_if<tuple>();
  if (!tp || tp->size() != 2) return std::nullopt;
  auto* p = (*tp)[0].get_if<pid>();
  if (!p) return std::nullopt;
  return from(*p, (*tp)[1]);
}

std::optional<reference> from::reply_alias() const {
  if (auto* r = alias_of(tag_)) return *r;
  // [[alias|Ref]|_]
  if (auto* l = tag_.get_if<list>(); l && !l->empty())
    if (auto* r = alias_of((*l)[0])) return *r;
  return std::nullopt;
}

std::error_code from::reply(const term& value) const {
  auto s = server_.lock();
  if (!s || !s->mb.alive()) return make_error_code(node_errc::closed);
  return gen::reply(s->mb, *this, value);
}

std::error_code reply(mailbox& via, const from& to, const term& value) {
  term msg(tuple{to.tag(), value});
  if (auto a = to.reply_alias()) return via.send(*a, msg);
  return via.send(to.caller(), msg);
}

// ------------------------------------------------------------------------------------------
// server

server& server::operator=(server&& o) noexcept {
  if (this != &o) {
    if (s_) s_->stop_from_outside(term(a_normal));
    s_ = std::move(o.s_);
  }
  return *this;
}

server::~server() {
  if (s_) s_->stop_from_outside(term(a_normal));
}

server server::start(mailbox mb, handlers h) {
  server srv;
  srv.s_ = std::make_shared<detail::server_state>(std::move(mb), std::move(h));
  auto ex = srv.s_->mb.get_executor();
  boost::asio::co_spawn(ex, detail::server_state::run(srv.s_), boost::asio::detached);
  return srv;
}

result<server> server::start(node& n, atom name, handlers h) {
  auto mb = n.create_mailbox(name);
  if (!mb) return mb.error();
  return start(std::move(*mb), std::move(h));
}

const pid& server::self() const noexcept { return s_->mb.self(); }

void server::stop(term reason) { s_->stop_from_outside(std::move(reason)); }

bool server::running() const {
  std::lock_guard lk(s_->m);
  return !s_->exit_reason;
}

std::optional<term> server::exit_reason() const {
  std::lock_guard lk(s_->m);
  return s_->exit_reason;
}

mailbox::executor_type server::get_executor() const { return s_->mb.get_executor(); }

void server::wait_impl(net::any_completion<term> h) {
  std::optional<term> done;
  {
    std::lock_guard lk(s_->m);
    if (s_->exit_reason)
      done = s_->exit_reason;
    else
      s_->waiters.push_back(std::move(h));
  }
  if (done) h(*done);
}

}  // namespace erlnode::gen
