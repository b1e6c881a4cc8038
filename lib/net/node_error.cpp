// The node_errc category. Its own file, in the transport layer that first uses it, so that a
// client of net::connection alone (erlnode-call) does not pull in the whole node.
#include <erlnode/node_error.hpp>

#include <string>

namespace erlnode {

namespace {
class node_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.node"; }
  std::string message(int c) const override {
    switch (static_cast<node_errc>(c)) {
      case node_errc::closed:
        return "closed";
      case node_errc::timeout:
        return "timed out";
      case node_errc::not_started:
        return "node not started";
      case node_errc::already_started:
        return "node already started";
      case node_errc::name_registered:
        return "the node name is already registered in epmd";
      case node_errc::epmd_unreachable:
        return "epmd is not running (nothing answers on its port)";
      case node_errc::epmd_failed:
        return "epmd request failed";
      case node_errc::no_such_node:
        return "node not registered in epmd";
      case node_errc::bad_node_name:
        return "bad node name";
      case node_errc::name_taken:
        return "name already registered";
      case node_errc::not_connected:
        return "not connected";
      case node_errc::connect_failed:
        return "connect failed";
      case node_errc::handshake_failed:
        return "handshake failed";
      case node_errc::setup_timeout:
        return "net_setuptime passed";
      case node_errc::tick_timeout:
        return "net_tick_timeout";
      case node_errc::connection_closed:
        return "connection closed";
      case node_errc::disconnected:
        return "disconnected";
      case node_errc::invalid_message:
        return "invalid distribution message";
      case node_errc::bad_header:
        return "corrupted distribution header";
      case node_errc::bad_fragment:
        return "bad fragment";
      case node_errc::reassembly_limit:
        return "fragment reassembly memory limit";
      case node_errc::bad_term:
        return "corrupted external term";
      case node_errc::queue_full:
        return "send queue full";
      case node_errc::listen_failed:
        return "cannot listen";
    }
    return "unknown node error";
  }
};
}  // namespace

const std::error_category& node_category() noexcept {
  static const node_category_impl c;
  return c;
}

}  // namespace erlnode
