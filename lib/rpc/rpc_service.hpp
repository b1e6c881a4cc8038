// The rpc service of one node (not installed): handler registry, the erpc process functions,
// the rex process, and calls from C++ into other nodes.
#pragma once

#include <erlnode/mailbox.hpp>
#include <erlnode/rpc.hpp>

#include "rpc/rpc_outcome.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <variant>

namespace erlnode::detail {

class node_impl;

class rpc_service final : public rpc_server, public std::enable_shared_from_this<rpc_service> {
 public:
  explicit rpc_service(std::shared_ptr<node_impl> n);

  void define(atom m, atom f, unsigned arity, rpc_handler h) override;
  void define(atom m, atom f, unsigned arity, rpc_async_handler h) override;
  bool undefine(atom m, atom f, unsigned arity) override;
  rpc_stats stats() const override;
  std::error_code cast(atom node, atom m, atom f, list args) override;
  executor_type get_executor() const override { return ex_; }

  // Test hook: calls and casts from C++ go through the peer's rex even when it has SPAWN.
  std::atomic<bool> force_rex{false};

  // Starts rex once the node has started (at once if it has).
  void start_rex();

  // Runs M:F(Args) for `ctx`: the handler's outcome, undef when there is none.
  boost::asio::awaitable<rpc_outcome> invoke(rpc_context ctx, atom m, atom f, list args);

  // The bodies of erpc:execute_call/4 and erpc:execute_cast/3 processes.
  boost::asio::awaitable<void> execute_call(mailbox& self, list args);
  boost::asio::awaitable<void> execute_cast(mailbox& self, list args);

 protected:
  void start_call(atom node, atom m, atom f, list args, std::chrono::milliseconds timeout,
                  net::any_completion<rpc_result> h) override;
  void start_multicall(std::vector<atom> nodes, atom m, atom f, list args,
                       std::chrono::milliseconds timeout,
                       net::any_completion<std::vector<rpc_result>> h) override;

 private:
  using handler = std::variant<rpc_handler, rpc_async_handler>;
  using key = std::tuple<atom, atom, unsigned>;

  boost::asio::awaitable<void> rex_loop(mailbox mb);
  boost::asio::awaitable<void> rex_call(std::shared_ptr<mailbox> rex, term from, term req,
                                        bool cnode);
  boost::asio::awaitable<rpc_result> run_call(atom node, atom m, atom f, list args,
                                              std::chrono::milliseconds timeout);
  boost::asio::awaitable<rpc_result> run_local(atom m, atom f, list args,
                                               std::chrono::milliseconds timeout);
  struct outcome_slot {
    std::mutex mu;
    std::optional<rpc_outcome> o;
  };
  static boost::asio::awaitable<void> run_to_slot(std::shared_ptr<rpc_service> self,
                                                  rpc_context ctx, atom m, atom f, list args,
                                                  std::shared_ptr<outcome_slot> out, pid to);
  static boost::asio::awaitable<void> local_cast(std::shared_ptr<rpc_service> self, mailbox mb,
                                                 list args);
  static boost::asio::awaitable<void> run_cast(std::shared_ptr<rpc_service> self, pid me, atom m,
                                               atom f, list args);
  std::shared_ptr<const handler> find(atom m, atom f, unsigned arity) const;

  std::weak_ptr<node_impl> node_;
  boost::asio::any_io_executor ex_;
  mutable std::mutex m_;
  std::map<key, std::shared_ptr<const handler>> handlers_;  // shared: no copy per call
  std::atomic<bool> rex_started_{false};
  std::atomic<std::uint64_t> calls_{0}, casts_{0}, running_{0}, failed_{0};
};

}  // namespace erlnode::detail
