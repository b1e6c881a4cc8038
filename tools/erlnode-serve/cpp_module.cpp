// cpp:echo/1, add/2, sleep/1, sha256/1, raise/2, info/0 and the cpp:exit_after process.
#include "cpp_module.hpp"

#include <erlnode/process.hpp>
#include <erlnode/rpc.hpp>

#include <openssl/evp.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace erlnode::serve {

namespace asio = boost::asio;

namespace {

const atom a_cpp("cpp");
const atom a_badarith("badarith");
const atom a_timeout_value("timeout_value");

// Fails as an Erlang BIF does: error:Reason with [{cpp, F, Args, []}] as the stack.
[[noreturn]] void fail(atom function, const list& args, atom reason) {
  throw erlang_exception(exception_class::error, reason,
                         list{term(tuple{a_cpp, function, args, list{}})});
}

term add(const list& args) {
  const term &a = args[0], &b = args[1];
  if (!a.is_integer() || !b.is_integer()) fail(atom("add"), args, a_badarith);
  if (auto x = a.to_int64(), y = b.to_int64(); x && y) {
    std::int64_t r;
    if (!__builtin_add_overflow(*x, *y, &r)) return r;
  }
  return term(big_int(*a.to_big_int() + *b.to_big_int()));
}

// The largest timeout `receive ... after` takes (what timer:sleep/1 accepts, bar infinity).
constexpr std::int64_t max_sleep_ms = 0xFFFF'FFFF;

asio::awaitable<term> sleep(list args) {
  auto ms = args[0].to_int64();
  if (!ms || *ms < 0 || *ms > max_sleep_ms) fail(atom("sleep"), args, a_timeout_value);
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(*ms));
  co_await t.async_wait(asio::use_awaitable);
  co_return atoms::ok;
}

term sha256(const list& args) {
  auto* b = args[0].get_if<binary>();
  if (!b || !b->is_binary()) fail(atom("sha256"), args, atoms::badarg);
  std::vector<std::uint8_t> md(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  if (EVP_Digest(b->data(), b->size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest(sha256) failed");
  md.resize(len);
  return binary(std::move(md));
}

term raise(const list& args) {
  const term& cls = args[0];
  if (cls.is_atom(atoms::error)) throw erlang_exception(exception_class::error, args[1]);
  if (cls.is_atom(atoms::exit)) throw erlang_exception(exception_class::exit, args[1]);
  if (cls.is_atom(atoms::throw_)) throw erlang_exception(exception_class::throw_, args[1]);
  fail(atom("raise"), args, atoms::badarg);
}

term info(node& n, const serve_stats& s) {
  using namespace std::chrono;
  auto up = duration_cast<milliseconds>(steady_clock::now() - s.started).count();
  std::vector<term> peers;
  for (auto& p : n.nodes(node_filter::connected)) peers.emplace_back(p);
  std::uint64_t in = 0, out = 0;
  for (auto& c : n.connections()) {
    in += c.messages_in;
    out += c.messages_out;
  }
  return map{
      {atom("node"), n.name()},
      {atom("uptime_ms"), up},
      {atom("connected_nodes"), list(std::move(peers))},
      {atom("messages_in"), in},
      {atom("messages_out"), out},
      {atom("rpc_calls"), s.rpc_calls.load()},
      {atom("echo_messages"), s.echo_messages.load()},
      {atom("sink_messages"), s.sink_messages.load()},
  };
}

}  // namespace

void define_cpp_module(node& n, serve_stats& stats) {
  auto& rpc = n.rpc();
  auto sync = [&](const char* f, unsigned arity, auto body) {
    rpc.define(a_cpp, atom(f), arity,
               rpc_handler([&stats, body](const rpc_context&, const list& a) {
                 ++stats.rpc_calls;
                 return body(a);
               }));
  };
  sync("echo", 1, [](const list& a) { return a[0]; });
  sync("add", 2, add);
  sync("sha256", 1, sha256);
  sync("raise", 2, raise);
  sync("info", 0, [&n, &stats](const list&) { return info(n, stats); });
  rpc.define(
      a_cpp, atom("sleep"), 1,
      rpc_async_handler([&stats](const rpc_context&, const list& a) -> asio::awaitable<term> {
        ++stats.rpc_calls;
        return sleep(a);
      }));
}

namespace {

asio::awaitable<void> exit_after(list args) {
  auto ms = args.size() == 2 ? args[0].to_int64() : std::nullopt;
  if (!ms || *ms < 0 || *ms > max_sleep_ms) raise_error(atoms::badarg);
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(*ms));
  co_await t.async_wait(asio::use_awaitable);
  if (!args[1].is_atom(atoms::normal)) raise_exit(args[1]);  // else: returns, exits normal
}

}  // namespace

// The body of cpp:exit_after for either form of process_function (by-reference mailbox, or
// the older by-value form where the frame must own the mailbox).
template <class F = process_function>
F exit_after_process() {
  if constexpr (std::is_invocable_v<F, mailbox, list>)
    return [](mailbox self, list args) -> asio::awaitable<void> {
      co_await exit_after(std::move(args));
      (void)self;
    };
  else
    return
        [](mailbox&, list args) -> asio::awaitable<void> { co_await exit_after(std::move(args)); };
}

void define_cpp_processes(node& n) {
  n.define_process(a_cpp, atom("exit_after"), exit_after_process());
}

}  // namespace erlnode::serve
