#include <erlnode/dist/error.hpp>
#include <erlnode/dist/node_name.hpp>

namespace erlnode::dist {
namespace {
bool alive_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == '-';
}
bool host_ok(std::string_view h) noexcept {
  if (h.empty() || h.size() > 255) return false;
  for (char c : h) {
    auto u = static_cast<unsigned char>(c);
    if (c == '@' || u <= ' ' || u == 0x7f) return false;
  }
  return true;
}
}  // namespace

std::optional<node_name_parts> split_node_name(std::string_view name) noexcept {
  auto at = name.find('@');
  if (at == std::string_view::npos || name.find('@', at + 1) != std::string_view::npos)
    return std::nullopt;
  return node_name_parts{name.substr(0, at), name.substr(at + 1)};
}

result<void> validate_peer_name(std::string_view name, bool dynamic) noexcept {
  if (dynamic) {
    if (name.empty() || name.find('@') != std::string_view::npos) return errc::bad_node_name;
    return {};
  }
  auto p = split_node_name(name);
  if (!p || p->alive.empty() || p->host.empty()) return errc::bad_node_name;
  return {};
}

result<void> validate_own_host(std::string_view host) noexcept {
  if (!host_ok(host)) return errc::bad_node_name;
  return {};
}

result<void> validate_own_name(std::string_view name) noexcept {
  auto p = split_node_name(name);
  if (!p || p->alive.empty() || name.size() > 255) return errc::bad_node_name;
  for (char c : p->alive)
    if (!alive_char(c)) return errc::bad_node_name;
  return validate_own_host(p->host);
}

}  // namespace erlnode::dist
