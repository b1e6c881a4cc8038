// Built against the installed package by the consumer test. It also compiles the README's
// API tour, so the tour stays true.
#include <erlnode/etf.hpp>
#include <erlnode/gen_server.hpp>
#include <erlnode/node.hpp>
#include <erlnode/rpc.hpp>
#include <erlnode/term.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <iostream>

using namespace erlnode;

// README: API tour, terms.
[[maybe_unused]] static bool tour_terms() {
  term t = tuple{atom{"ok"}, 42, "text"};  // "text" is a charlist, as in Erlang
  term b = binary("bytes");                // binaries share and slice without copying
  term m = map{{atom{"a"}, 1}, {atom{"b"}, 2.5}};
  if (auto* tup = t.get_if<tuple>()) {
    auto n = (*tup)[1].to_int64();
    (void)n;
  }
  const tuple& tup = t.as<tuple>();  // throws bad_term_access on a mismatch
  big_int huge = big_int(1) << 200;
  term h = huge;                                      // any integer size
  bool less = compare(term(1), term(atom{"a"})) < 0;  // full Erlang term order

  std::string s = to_string(t);  // exactly io_lib:format("~w", [T])
  result<term> p = parse("{ok, [1,2|x], #{k => <<\"v\">>}, $a, 16#ff}");
  result<term> f = format("{~a, ~i, ~s}", {atom{"ok"}, 42, "text"});
  if (auto bs = match(t, "{ok, N, _}")) {
    const term& n = (*bs)["N"];
    (void)n;
  }

  result<std::vector<std::uint8_t>> bytes = etf::encode(t);  // same bytes as term_to_binary/1
  result<term> back = etf::decode(*bytes);                   // errors: etf::errc + offset
  etf::reader r(*bytes, 1);
  auto walked = r.skip();  // zero-copy walk
  (void)b, (void)m, (void)tup, (void)h, (void)s;
  return less && p && f && back && walked;
}

// README: API tour, a node.
[[maybe_unused]] static void tour_node() {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "cpp", .cookie = "secret"});  // cpp@<short host>
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        using boost::asio::use_awaitable;
        if (auto ec = co_await n.async_start(use_awaitable)) co_return;  // listen, register in epmd
        auto mb = n.create_mailbox(atom{"server"}).value();  // a pid, registered as 'server'
        for (;;) {
          auto [ec, msg] = co_await mb.async_receive(use_awaitable);
          if (ec) co_return;
          if (auto* t = msg.get_if<tuple>(); t && t->size() == 2 && (*t)[0].is_pid())
            mb.send((*t)[0].as<pid>(), term(tuple{atom{"reply"}, (*t)[1]}));
        }
      },
      boost::asio::detached);
  io.run();
}

// README: API tour, processes, gen_server and rpc.
[[maybe_unused]] static void tour_processes(node& n, const pid& some_pid) {
  using namespace std::chrono_literals;
  using boost::asio::use_awaitable;
  // erl: spawn_link('cpp@host', demo, worker, [7])
  n.define_process(atom{"demo"}, atom{"worker"},
                   [](mailbox& self, list args) -> boost::asio::awaitable<void> {
                     self.trap_exit(true);  // exit signals arrive as {'EXIT', From, Reason}
                     auto job = pattern::parse("{job, _}").value();
                     auto [ec, msg] = co_await self.async_receive(job, 5s, use_awaitable);
                     if (ec) raise_exit(atom{"no_job"});  // the reason links and monitors see
                     (void)args;
                   });
  mailbox mb = n.create_mailbox();
  reference ref = mb.monitor(atom{"logger"}, atom{"erl@host"});
  mb.link(some_pid);
  auto down = mb.receive(  // selective: other messages stay queued, in order
      [&](const term& m) { return match(m, "{'DOWN', _, process, _, _}").has_value(); }, 1s);

  // gen_server both ways: serve {kv, 'cpp@host'}, call Erlang's servers.
  auto kv =
      gen::server::start(
          n, atom{"kv"},
          {.call = [](gen::context&, const term& req, const gen::from&) -> std::optional<term> {
            return term(tuple{atom{"ok"}, req});
          }})
          .value();
  gen::call_result r = gen::call(mb, gen::server_ref(atom{"code_server"}, atom{"erl@host"}),
                                 term(tuple{atom{"is_loaded"}, atom{"lists"}}), 5s);

  // rpc both ways. erl: rpc:call('cpp@host', math, add, [1, 2]) gives 3.
  n.rpc().define(atom{"math"}, atom{"add"}, 2, [](const rpc_context&, const list& a) -> term {
    return *a[0].to_int64() + *a[1].to_int64();
  });
  rpc_result res = n.rpc().call(atom{"erl@host"}, atom{"erlang"}, atom{"system_time"}, list{}, 5s);
  if (res.ok()) std::cout << to_string(res.value) << "\n";
  (void)ref, (void)down, (void)r;
}

int main() {
  term t = tuple{atom{"ok"}, 42, "text"};
  auto bytes = etf::encode(t);
  if (!bytes) return 1;
  auto back = etf::decode(*bytes);
  if (!back || *back != t) return 1;
  if (!tour_terms()) return 1;
  std::cout << to_string(*back) << "\n";
}
