// The rpc service between C++ nodes in one process (epmd-less, on loopback addresses): rex
// forms, erpc calls both ways, local calls, timeouts. Interop with erl is in
// interop-tests/rpc.
#include <erlnode/node.hpp>
#include <erlnode/rpc.hpp>
#include <erlnode/text.hpp>

#include "node/node_impl.hpp"
#include "rpc/rpc_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "test_support/test_node.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <thread>

using namespace erlnode;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
using testing::free_port;
struct test_node : testing::test_node {
  using testing::test_node::test_node;
  void start() { REQUIRE(!testing::test_node::start()); }
};

term erl(std::string_view s) { return erlnode::parse(s).value(); }
std::string str(const term& t) { return to_string(t); }

// Handlers of the module `t` used below.
void define_t(rpc_server& r) {
  r.define(atom("t"), atom("add"), 2, rpc_handler([](const rpc_context&, const list& a) -> term {
             return *a[0].to_int64() + *a[1].to_int64();
           }));
  r.define(atom("t"), atom("who"), 0, rpc_handler([](const rpc_context& c, const list&) -> term {
             return tuple{c.caller_node, c.caller};
           }));
  r.define(atom("t"), atom("raise"), 2, rpc_handler([](const rpc_context&, const list& a) -> term {
             auto c = a[0].as<atom>().text();
             if (c == "error") raise_error(a[1]);
             if (c == "exit") raise_exit(a[1]);
             if (c == "throw") raise_throw(a[1]);
             throw std::runtime_error("boom");
           }));
  r.define(atom("t"), atom("sleep"), 1,
           rpc_async_handler([](const rpc_context&, const list& a) -> asio::awaitable<term> {
             asio::steady_timer t(co_await asio::this_coro::executor,
                                  std::chrono::milliseconds(*a[0].to_int64()));
             co_await t.async_wait(asio::use_awaitable);
             co_return atoms::ok;
           }));
}

// Waits until `name` is registered on `n` (rex starts once the node has).
bool wait_rex(test_node& n) {
  for (int i = 0; i < 200; ++i) {
    auto mb = n->create_mailbox();
    auto ref = mb.monitor(atoms::rex, n->name());
    (void)ref;
    if (mb.send(atoms::rex, tuple{mb.self(), atom("features_request")}), true) {
      auto r = mb.receive(20ms);
      if (r) return true;
    }
  }
  return false;
}
}  // namespace

TEST_CASE("rex answers features_request, the C-node form and gen_server calls") {
  auto port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  define_t(b->rpc());  // before start: rex starts with the node
  a.start();
  b.start();
  REQUIRE(wait_rex(b));
  auto mb = a->create_mailbox();

  // {Pid, features_request} -> {features_reply, Node, [erpc]}
  mb.send(atoms::rex, b->name(), tuple{mb.self(), atom("features_request")});
  auto r = mb.receive(5s);
  REQUIRE(r);
  CHECK(*r == term(tuple{atom("features_reply"), b->name(), list{atom("erpc")}}));

  // C-node form: {Pid, {call, M, F, A, GL}} -> {rex, Result}
  mb.send(
      atoms::rex, b->name(),
      tuple{mb.self(), term(tuple{atoms::call, atom("t"), atom("add"), list{1, 2}, atom("user")})});
  r = mb.receive(5s);
  REQUIRE(r);
  CHECK(str(*r) == "{rex,3}");
  mb.send(atoms::rex, b->name(),
          tuple{mb.self(),
                term(tuple{atoms::call, atom("nomod"), atom("nofun"), list{1}, atom("user")})});
  r = mb.receive(5s);
  REQUIRE(r);
  CHECK(str(*r) == "{rex,{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}}");

  // gen_server call, plain-reference tag and {call ...}; block_call; exceptions of each class.
  auto gen_call = [&](term req) {
    reference tag = a->make_ref();
    mb.send(atoms::rex, b->name(), tuple{atoms::gen_call, term(tuple{mb.self(), tag}), req});
    auto x = mb.receive(5s);
    REQUIRE(x);
    auto& t = x->as<tuple>();
    CHECK(t[0] == term(tag));
    return str(t[1]);
  };
  CHECK(gen_call(tuple{atoms::call, atom("t"), atom("add"), list{40, 2}, atom("user")}) == "42");
  CHECK(gen_call(tuple{atom("block_call"), atom("t"), atom("add"), list{1, 1}, mb.self()}) == "2");
  CHECK(gen_call(tuple{atoms::call, atom("t"), atom("raise"), list{atom("throw"), atom("x")},
                       atom("user")}) == "x");
  CHECK(gen_call(tuple{atoms::call, atom("t"), atom("raise"), list{atom("exit"), atom("x")},
                       atom("user")}) == "{badrpc,{'EXIT',x}}");
  CHECK(gen_call(tuple{atoms::call, atom("t"), atom("raise"), list{atom("error"), atom("x")},
                       atom("user")}) == "{badrpc,{'EXIT',{x,[{t,raise,2,[]}]}}}");
  CHECK(gen_call(
            tuple{atoms::call, atom("t"), atom("raise"), list{atom("other"), 1}, atom("user")}) ==
        str(erl("{badrpc,{'EXIT',{{cpp_exception,<<\"std::runtime_error\">>,<<\"boom\">>},"
                "[{t,raise,2,[]}]}}}")));
  CHECK(gen_call(tuple{atoms::call, atom("t"), atom("sleep"), list{10}, atom("user")}) == "ok");
  // The caller is the pid of the gen_server From.
  CHECK(gen_call(tuple{atoms::call, atom("t"), atom("who"), list{}, atom("user")}) ==
        str(tuple{a->name(), mb.self()}));
  // [alias|Ref] tags are answered to the alias (echoed exactly).
  {
    reference al = mb.alias();
    term tag(list({atom("alias")}, term(al)));
    mb.send(atoms::rex, b->name(),
            tuple{atoms::gen_call, term(tuple{mb.self(), tag}),
                  term(tuple{atoms::call, atom("t"), atom("add"), list{2, 3}, atom("user")})});
    auto x = mb.receive(5s);
    if (x) CHECK(*x == term(tuple{tag, 5}));
    // Without aliases (signals not landed yet) the reply is dropped, not misdelivered.
  }
  auto st = b->rpc().stats();
  CHECK(st.calls >= 10);
  CHECK(st.running == 0);
}

TEST_CASE("calls on the own node, with and without timeout") {
  auto port = free_port();
  test_node a("127.0.0.1", port);
  define_t(a->rpc());
  a.start();
  auto& r = a->rpc();
  auto res = r.call(a->name(), atom("t"), atom("add"), list{1, 2});
  CHECK(res.ok());
  CHECK(res.value == term(3));
  res = r.call(a->name(), atom("t"), atom("add"), list{1, 2}, 1000ms);
  CHECK(res.value == term(3));
  res = r.call(a->name(), atom("nomod"), atom("f"), list{1});
  CHECK(res.st == rpc_result::status::exception);
  CHECK(str(res.to_rpc_term()) == "{badrpc,{'EXIT',{undef,[{nomod,f,[1],[]}]}}}");
  res = r.call(a->name(), atom("t"), atom("sleep"), list{300}, 50ms);
  CHECK(res.st == rpc_result::status::timeout);
  std::this_thread::sleep_for(400ms);
  CHECK(r.stats().running == 0);  // the handler finished on its own, nothing left
  // Callback form and coroutine form.
  std::promise<rpc_result> p;
  r.async_call(a->name(), atom("t"), atom("add"), list{5, 5}, infinity,
               [&p](rpc_result x) { p.set_value(std::move(x)); });
  CHECK(p.get_future().get().value == term(10));
  auto f = asio::co_spawn(
      a->get_executor(),
      [&]() -> asio::awaitable<term> {
        list args{7, 7};  // (GCC 12 rejects a braced list inside a co_await expression)
        auto x =
            co_await r.async_call(a->name(), atom("t"), atom("add"), args, 1s, asio::use_awaitable);
        co_return x.value;
      },
      asio::use_future);
  CHECK(f.get() == term(14));
  auto all = r.multicall({a->name(), a->name()}, atom("t"), atom("add"), list{1, 1}, 1s);
  REQUIRE(all.size() == 2);
  CHECK(all[0].value == term(2));
  CHECK(all[1].value == term(2));
  CHECK(r.multicall({}, atom("t"), atom("add"), list{1, 1}).empty());
}

TEST_CASE("calls between C++ nodes: erpc, and rex as for peers without SPAWN") {
  auto port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  define_t(b->rpc());
  a.start();
  b.start();
  REQUIRE(wait_rex(b));
  auto& r = a->rpc();
  auto svc = std::dynamic_pointer_cast<detail::rpc_service>(a->impl()->rpc_);
  REQUIRE(svc);
  for (bool rex : {false, true}) {
    INFO("through rex: " << rex);
    svc->force_rex = rex;
    auto res = r.call(b->name(), atom("t"), atom("add"), list{1, 2}, 5s);
    CHECK(res.ok());
    CHECK(res.value == term(3));
    // The caller's node reaches the handler either way.
    res = r.call(b->name(), atom("t"), atom("who"), list{}, 5s);
    REQUIRE(res.ok());
    CHECK(res.value.as<tuple>()[0] == term(a->name()));
    res = r.call(b->name(), atom("nomod"), atom("nofun"), list{1}, 5s);
    CHECK(str(res.to_rpc_term()) == "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}");
    CHECK(res.st == (rex ? rpc_result::status::badrpc : rpc_result::status::exception));
    res = r.call(b->name(), atom("t"), atom("raise"), list{atom("throw"), 7}, 5s);
    CHECK(str(res.to_rpc_term()) == "7");
    res = r.call(b->name(), atom("t"), atom("raise"), list{atom("exit"), 7}, 5s);
    CHECK(str(res.to_rpc_term()) == "{badrpc,{'EXIT',7}}");
    res = r.call(b->name(), atom("t"), atom("sleep"), list{500}, 50ms);
    CHECK(res.st == rpc_result::status::timeout);
    // Casts: the handler runs on b.
    auto before = b->rpc().stats().casts;
    CHECK(!r.cast(b->name(), atom("t"), atom("add"), list{1, 1}));
    for (int i = 0; i < 100 && b->rpc().stats().casts == before; ++i)
      std::this_thread::sleep_for(10ms);
    CHECK(b->rpc().stats().casts == before + 1);
  }
  svc->force_rex = false;
  // Multicall across both nodes and a node nobody runs.
  auto all = r.multicall({b->name(), a->name(), atom("n@127.0.0.3")}, atom("t"), atom("add"),
                         list{2, 2}, 2s);
  REQUIRE(all.size() == 3);
  CHECK(all[0].value == term(4));
  CHECK(all[1].st == rpc_result::status::exception);  // a has no module t
  CHECK(all[2].st == rpc_result::status::nodedown);
  std::this_thread::sleep_for(600ms);
  CHECK(b->rpc().stats().running == 0);
}
