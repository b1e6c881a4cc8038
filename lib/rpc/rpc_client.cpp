// The calling side of rpc: erpc (SPAWN_REQUEST of erpc:execute_call/4, as erpc:call/5 does)
// with rex's gen_server call for peers without SPAWN, casts and multicalls.
#include "rpc/rpc_service.hpp"

#include <erlnode/dist/flags.hpp>

#include "node/node_impl.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

namespace erlnode {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {
const atom a_erpc("erpc");
const atom a_execute_call("execute_call");
const atom a_execute_cast("execute_cast");
const atom a_spawn_reply("spawn_reply");
const atom a_notsup("notsup");
const atom a_io_request("io_request");
const atom a_io_reply("io_reply");
const atom a_put_chars("put_chars");
const atom a_enotsup("enotsup");
const atom a_user("user");

using clock = std::chrono::steady_clock;

// Time left until `deadline` (nullopt: infinity), as a receive timeout.
milliseconds left(const std::optional<clock::time_point>& deadline) {
  if (!deadline) return infinity;
  auto d = std::chrono::ceil<milliseconds>(*deadline - clock::now());
  return d.count() > 0 ? d : milliseconds(0);
}

std::optional<clock::time_point> deadline_of(milliseconds timeout) {
  if (timeout == infinity) return std::nullopt;
  return clock::now() + timeout;
}

bool is_io_request(const term& m) {
  auto* t = m.get_if<tuple>();
  return t && t->size() == 4 && (*t)[0].is_atom(a_io_request) && (*t)[1].is_pid();
}

// The remote function may write to its group leader (our mailbox): output is accepted and
// dropped, input requests fail, so the function never waits for an answer.
void answer_io(mailbox& mb, const term& m) {
  auto& t = m.as<tuple>();
  const term& req = t[3];
  bool put = false;
  if (auto* r = req.get_if<tuple>(); r && r->size() >= 1 && (*r)[0].is_atom(a_put_chars))
    put = true;
  else if (auto* r2 = req.get_if<tuple>();
           r2 && r2->size() == 2 && (*r2)[0].is_atom(atom("requests")))
    put = true;
  term reply = put ? term(atoms::ok) : term(tuple{atoms::error, a_enotsup});
  mb.send(t[1].as<pid>(), tuple{a_io_reply, t[2], reply});
}

rpc_result result_of_send_error(std::error_code) { return detail::nodedown_result(); }
}  // namespace

rpc_result rpc_server::call(atom node, atom module, atom function, list args,
                            milliseconds timeout) {
  return async_call(node, module, function, std::move(args), timeout, asio::use_future).get();
}

std::vector<rpc_result> rpc_server::multicall(std::vector<atom> nodes, atom module, atom function,
                                              list args, milliseconds timeout) {
  return async_multicall(std::move(nodes), module, function, std::move(args), timeout,
                         asio::use_future)
      .get();
}

namespace detail {

asio::awaitable<void> rpc_service::run_to_slot(std::shared_ptr<rpc_service> self, rpc_context ctx,
                                               atom m, atom f, list args,
                                               std::shared_ptr<outcome_slot> out, pid to) {
  rpc_outcome o = co_await self->invoke(ctx, m, f, std::move(args));
  {
    std::lock_guard lk(out->mu);
    out->o = std::move(o);
  }
  if (auto n = self->node_.lock())
    if (auto q = n->find_local(to)) q->push(atoms::ok);
}

asio::awaitable<void> rpc_service::local_cast(std::shared_ptr<rpc_service> self, mailbox mb,
                                              list args) {
  co_await self->execute_cast(mb, std::move(args));
}

asio::awaitable<rpc_result> rpc_service::run_local(atom m, atom f, list args,
                                                   milliseconds timeout) {
  auto n = node_.lock();
  if (!n) co_return nodedown_result();
  mailbox caller = n->new_mailbox();
  rpc_context ctx{n->name(), caller.self(), caller.self()};
  n.reset();
  auto to_result = [](const rpc_outcome& o) -> rpc_result {
    switch (o.k) {
      case rpc_outcome::kind::returned:
        return rpc_result::from_value(o.value);
      case rpc_outcome::kind::thrown:
        return {rpc_result::status::exception, o.value, exception_class::throw_, {}};
      case rpc_outcome::kind::exit:
        return {rpc_result::status::exception, o.value, exception_class::exit, {}};
      case rpc_outcome::kind::error:
        break;
    }
    return {rpc_result::status::exception, o.value, exception_class::error, o.stack};
  };
  if (timeout == infinity) co_return to_result(co_await invoke(ctx, m, f, std::move(args)));
  // With a timeout the handler runs on its own (erpc spawns a process for it too) and wakes
  // `caller`, which dies at the timeout: a late answer finds no one.
  auto out = std::make_shared<outcome_slot>();
  asio::co_spawn(ex_,
                 run_to_slot(shared_from_this(), ctx, m, f, std::move(args), out, caller.self()),
                 asio::detached);
  auto [ec, msg] = co_await caller.async_receive(timeout, asio::use_awaitable);
  std::lock_guard lk(out->mu);
  if (ec || !out->o) co_return timeout_result();
  co_return to_result(*out->o);
}

asio::awaitable<rpc_result> rpc_service::run_call(atom node, atom m, atom f, list args,
                                                  milliseconds timeout) {
  auto n = node_.lock();
  if (!n) co_return nodedown_result();
  if (node == n->name()) {
    n.reset();
    co_return co_await run_local(m, f, std::move(args), timeout);
  }
  const auto deadline = deadline_of(timeout);
  mailbox mb = n->new_mailbox();
  // erpc unless the peer is connected and lacks SPAWN (then rex, as OTP 23 callers did).
  bool use_rex = force_rex.load();
  if (auto ci = n->connection(node); ci && !(ci->flags & dist::flag::spawn)) use_rex = true;
  n.reset();

  if (!use_rex) {
    term res;
    if (auto nn = node_.lock()) res = nn->make_ref();
    spawn_options so;
    so.monitor = true;
    so.reply = spawn_options::reply_mode::error_only;
    auto req = mb.spawn_request(node, a_erpc, a_execute_call, list{res, m, f, term(args)}, so);
    if (!req) co_return result_of_send_error(req.error().code);
    const term rid(*req);
    auto match = [rid](const term& x) {
      if (is_io_request(x)) return true;
      auto* t = x.get_if<tuple>();
      if (!t) return false;
      if (t->size() == 4 && (*t)[0].is_atom(a_spawn_reply)) return (*t)[1] == rid;
      return t->size() == 5 && (*t)[0].is_atom(atoms::DOWN) && (*t)[1] == rid;
    };
    for (;;) {
      auto [ec, msg] = co_await mb.async_receive(match, left(deadline), asio::use_awaitable);
      if (ec == node_errc::timeout) {
        // erpc's call_abandon: drop the monitor; our mailbox dies with this frame, so a
        // late spawn_reply or DOWN finds no one.
        mb.demonitor(*req, true);
        co_return timeout_result();
      }
      if (ec) co_return nodedown_result();
      if (is_io_request(msg)) {
        answer_io(mb, msg);
        continue;
      }
      auto& t = msg.as<tuple>();
      if (t[0].is_atom(a_spawn_reply)) {
        if (t[3].is_atom(a_notsup)) {
          use_rex = true;  // connected meanwhile, without SPAWN
          break;
        }
        co_return result_of_spawn_error(t[3]);
      }
      co_return result_of_erpc_down(res, t[4]);
    }
  }

  // rex: {'$gen_call', {Self, Mref}, {call, M, F, A, user}}, the reply {Mref, Result}.
  reference mref = mb.monitor(atoms::rex, node);
  term tag(mref);
  auto ec = mb.send(atoms::rex, node,
                    tuple{atoms::gen_call, term(tuple{mb.self(), tag}),
                          term(tuple{atoms::call, m, f, term(args), a_user})});
  if (ec) {
    mb.demonitor(mref, true);
    co_return result_of_send_error(ec);
  }
  auto match = [tag](const term& x) {
    if (is_io_request(x)) return true;
    auto* t = x.get_if<tuple>();
    if (!t) return false;
    if (t->size() == 2) return (*t)[0] == tag;
    return t->size() == 5 && (*t)[0].is_atom(atoms::DOWN) && (*t)[1] == tag;
  };
  for (;;) {
    auto [rec, msg] = co_await mb.async_receive(match, left(deadline), asio::use_awaitable);
    if (rec == node_errc::timeout) {
      mb.demonitor(mref, true);
      co_return timeout_result();
    }
    if (rec) co_return nodedown_result();
    if (is_io_request(msg)) {
      answer_io(mb, msg);
      continue;
    }
    auto& t = msg.as<tuple>();
    if (t.size() == 2) {
      mb.demonitor(mref, true);
      co_return result_of_rex_reply(t[1]);
    }
    co_return result_of_rex_down(t[4]);
  }
}

void rpc_service::start_call(atom node, atom m, atom f, list args, milliseconds timeout,
                             net::any_completion<rpc_result> h) {
  asio::co_spawn(
      ex_, run_call(node, m, f, std::move(args), timeout),
      [h = std::move(h), self = shared_from_this()](std::exception_ptr e, rpc_result r) mutable {
        if (e) {
          std::string what = "unknown";
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            what = x.what();
          } catch (...) {
          }
          r = {rpc_result::status::badrpc,
               tuple{atoms::EXIT, term(binary(std::string_view(what)))},
               {},
               {}};
        }
        h(std::move(r));
      });
}

void rpc_service::start_multicall(std::vector<atom> nodes, atom m, atom f, list args,
                                  milliseconds timeout,
                                  net::any_completion<std::vector<rpc_result>> h) {
  struct state {
    std::mutex mu;
    std::vector<rpc_result> results;
    std::size_t left = 0;
    net::any_completion<std::vector<rpc_result>> h;
  };
  auto st = std::make_shared<state>();
  st->results.resize(nodes.size());
  st->left = nodes.size();
  st->h = std::move(h);
  if (nodes.empty()) return st->h(std::vector<rpc_result>{});
  // One deadline for all: each call gets what is left of `timeout` when it starts (at once).
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    start_call(nodes[i], m, f, args, timeout,
               net::any_completion<rpc_result>(
                   [st, i](rpc_result r) {
                     std::unique_lock lk(st->mu);
                     st->results[i] = std::move(r);
                     if (--st->left == 0) {
                       auto res = std::move(st->results);
                       lk.unlock();
                       st->h(std::move(res));
                     }
                   },
                   ex_));
  }
}

std::error_code rpc_service::cast(atom node, atom m, atom f, list args) {
  auto n = node_.lock();
  if (!n) return make_error_code(node_errc::closed);
  if (node == n->name()) {
    mailbox mb = n->new_mailbox();
    list a{m, f, term(args)};
    asio::co_spawn(ex_, local_cast(shared_from_this(), std::move(mb), std::move(a)),
                   asio::detached);
    return {};
  }
  mailbox mb = n->new_mailbox();
  bool use_rex = force_rex.load();
  if (auto ci = n->connection(node); ci && !(ci->flags & dist::flag::spawn)) use_rex = true;
  n.reset();
  if (use_rex)
    return mb.send(atoms::rex, node,
                   tuple{atoms::gen_cast, term(tuple{atoms::cast, m, f, term(args), a_user})});
  spawn_options so;
  so.reply = spawn_options::reply_mode::no;
  auto req = mb.spawn_request(node, a_erpc, a_execute_cast, list{m, f, term(args)}, so);
  return req ? std::error_code() : req.error().code;
}

}  // namespace detail
}  // namespace erlnode
