// Spawning: process functions, SPAWN_REQUEST from other nodes, spawn_request to other nodes.
#include "node/node_impl.hpp"

#include <map>

namespace erlnode {

// Placeholder bodies (the spawning owner replaces them).

erlang_exception::erlang_exception(exception_class c, term reason, term stacktrace)
    : cls_(c), reason_(std::move(reason)), stack_(std::move(stacktrace)) {
  static const char* names[] = {"error", "exit", "throw"};
  what_ = std::string(names[static_cast<int>(c)]) + ": erlang exception";
}
void raise_error(term reason) { throw erlang_exception(exception_class::error, std::move(reason)); }
void raise_exit(term reason) { throw erlang_exception(exception_class::exit, std::move(reason)); }
void raise_throw(term value) { throw erlang_exception(exception_class::throw_, std::move(value)); }

namespace detail {

struct spawn_state {
  std::mutex m;
  std::map<std::pair<atom, atom>, process_function> functions;
};

std::shared_ptr<spawn_state> node_impl::make_spawn_state() {
  return std::make_shared<spawn_state>();
}

void node_impl::handle_spawn_request(net::connection_base& c, const term& control,
                                     const term& args) {
  (void)args;
  auto& t = *control.get_if<tuple>();
  (void)c.send(tuple{31, t[1], t[2], 0, atom("notsup")}, nullptr);
}

void node_impl::handle_spawn_reply(net::connection_base& c, const term& control) {
  (void)c;
  (void)control;
}

}  // namespace detail

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
  (void)f;
  (void)args;
  return create_mailbox().self();
}

result<reference> mailbox::spawn_request(atom node, atom module, atom function, const list& args,
                                         const spawn_options& opts) {
  (void)node;
  (void)module;
  (void)function;
  (void)args;
  (void)opts;
  return error(node_errc::not_connected);
}

}  // namespace erlnode
