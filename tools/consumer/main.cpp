// Built against the installed package by the consumer test. It also compiles the README's
// API tour, so the tour stays true.
#include <erlnode/etf.hpp>
#include <erlnode/node.hpp>
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

int main() {
  term t = tuple{atom{"ok"}, 42, "text"};
  auto bytes = etf::encode(t);
  if (!bytes) return 1;
  auto back = etf::decode(*bytes);
  if (!back || *back != t) return 1;
  if (!tour_terms()) return 1;
  std::cout << to_string(*back) << "\n";
}
