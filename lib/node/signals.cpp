// Links, exit signals, monitors and aliases of local processes, local and remote.
#include "node/node_impl.hpp"

namespace erlnode {

// Placeholder bodies of the signal API (the signals owner replaces them).

std::error_code mailbox::link(const pid& other) {
  (void)other;
  return make_error_code(std::errc::function_not_supported);
}
std::error_code mailbox::unlink(const pid& other) {
  (void)other;
  return make_error_code(std::errc::function_not_supported);
}
void mailbox::trap_exit(bool on) { q_->set_trap_exit(on); }
bool mailbox::trapping_exits() const { return q_->trap_exit(); }
std::error_code mailbox::exit(const pid& to, const term& reason) {
  (void)to;
  (void)reason;
  return make_error_code(std::errc::function_not_supported);
}
void mailbox::exit(const term& reason) {
  (void)reason;
  close();
}
std::optional<term> mailbox::exit_reason() const { return q_->exit_reason(); }
bool mailbox::alive() const { return q_ && !q_->closed(); }
reference mailbox::monitor(const pid& target) {
  (void)target;
  return node_->make_ref();
}
reference mailbox::monitor(atom name, atom node) {
  (void)name;
  (void)node;
  return node_->make_ref();
}
bool mailbox::demonitor(const reference& ref, bool flush) {
  (void)ref;
  (void)flush;
  return false;
}
std::error_code mailbox::monitor_node(atom node, bool on) {
  (void)node;
  (void)on;
  return make_error_code(std::errc::function_not_supported);
}
reference mailbox::alias() { return node_->make_ref(); }
bool mailbox::unalias(const reference& alias) {
  (void)alias;
  return false;
}
std::error_code mailbox::send(const reference& alias, const term& msg) {
  detail::outgoing o{detail::outgoing::kind::to_alias, self(), term(alias), msg};
  return node_->route(std::move(o), alias.node(), net::send_wait::blocking);
}
pid mailbox::group_leader() const { return self(); }
void mailbox::set_group_leader(const pid& gl) { (void)gl; }

namespace detail {

void node_impl::record_link(const pid& a, const pid& b) {
  (void)a;
  (void)b;
}
void node_impl::record_monitor(const pid& watcher, const pid& target, const reference& ref) {
  (void)watcher;
  (void)target;
  (void)ref;
}

}  // namespace detail
}  // namespace erlnode
