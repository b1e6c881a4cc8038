// The rpc service: handler registry and the erpc / rex protocols that reach it.
#include <erlnode/node.hpp>
#include <erlnode/rpc.hpp>

#include "node/node_impl.hpp"

#include <map>
#include <tuple>

namespace erlnode {

namespace {
// Placeholder (the rpc owner replaces it): keeps the handlers, serves nothing yet.
class registry final : public rpc_server {
 public:
  void define(atom m, atom f, unsigned arity, rpc_handler h) override {
    std::lock_guard lk(m_);
    sync_[{m, f, arity}] = std::move(h);
  }
  void define(atom m, atom f, unsigned arity, rpc_async_handler h) override {
    std::lock_guard lk(m_);
    async_[{m, f, arity}] = std::move(h);
  }
  bool undefine(atom m, atom f, unsigned arity) override {
    std::lock_guard lk(m_);
    return sync_.erase({m, f, arity}) + async_.erase({m, f, arity}) > 0;
  }

 private:
  std::mutex m_;
  std::map<std::tuple<atom, atom, unsigned>, rpc_handler> sync_;
  std::map<std::tuple<atom, atom, unsigned>, rpc_async_handler> async_;
};
}  // namespace

rpc_server& node::rpc() {
  std::lock_guard lk(impl_->services_m_);
  if (!impl_->rpc_) impl_->rpc_ = std::make_shared<registry>();
  return *impl_->rpc_;
}

}  // namespace erlnode
