#include <erlnode/dist/error.hpp>

#include <string>

namespace erlnode::dist {
namespace {
class category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.dist"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::truncated:
        return "message truncated";
      case errc::message_too_large:
        return "message larger than the configured limit";
      case errc::bad_handshake_message:
        return "malformed or unexpected handshake message";
      case errc::unsupported_version:
        return "handshake message is not version 6 ('N')";
      case errc::bad_node_name:
        return "invalid node name";
      case errc::peer_name_mismatch:
        return "peer's name differs from the node dialled";
      case errc::missing_mandatory_flags:
        return "peer lacks mandatory distribution flags";
      case errc::bad_status:
        return "unknown or unexpected handshake status";
      case errc::status_nok:
        return "peer answered nok (simultaneous connect)";
      case errc::status_not_allowed:
        return "peer answered not_allowed";
      case errc::status_alive_refused:
        return "alive connection kept (status false)";
      case errc::bad_digest:
        return "challenge digest mismatch (wrong cookie)";
      case errc::handshake_refused:
        return "connection refused by this node";
      case errc::bad_state:
        return "operation not allowed in this handshake state";
      case errc::invalid_config:
        return "invalid handshake configuration";
      case errc::bad_header:
        return "bad distribution header";
      case errc::bad_atom_cache_ref:
        return "reference to an empty atom cache slot";
      case errc::bad_fragment:
        return "bad fragment sequence";
      case errc::reassembly_limit:
        return "fragment reassembly memory limit exceeded";
      case errc::bad_term:
        return "bad external term in distribution message";
      case errc::invalid_control_message:
        return "invalid distribution control message";
      case errc::unknown_control_op:
        return "unknown distribution control operation";
      case errc::trailing_data:
        return "trailing data after distribution message";
    }
    return "unknown erlnode.dist error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

}  // namespace erlnode::dist
