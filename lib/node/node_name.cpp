#include <erlnode/node_name.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <cstring>

namespace erlnode {

namespace {
class name_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.node_name"; }
  std::string message(int ev) const override {
    switch (static_cast<name_errc>(ev)) {
      case name_errc::empty_name:
        return "node name has an empty name part";
      case name_errc::bad_character:
        return "node name part may only contain letters, digits, '_' and '-'";
      case name_errc::empty_host:
        return "node name has an empty host part";
      case name_errc::bad_host:
        return "node host part contains '@' or whitespace";
      case name_errc::no_domain:
        return "long node names need a fully qualified host name or an IP address";
      case name_errc::not_short:
        return "System NOT running to use fully qualified hostnames: the host name is illegal "
               "for a short-named node";
      case name_errc::not_long:
        return "System running to use fully qualified hostnames: the host name is illegal for "
               "a long-named node";
      case name_errc::too_long:
        return "node name longer than 255 characters";
    }
    return "unknown node name error";
  }
};

bool valid_name_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         c == '-';
}

bool is_ip_literal(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

result<node_name> split(std::string_view full, bool long_names) {
  if (full.size() > 255) return error(name_errc::too_long);
  auto at = full.find('@');
  node_name n;
  n.long_names = long_names;
  n.name = std::string(full.substr(0, at));
  if (n.name.empty()) return error(name_errc::empty_name);
  for (std::size_t i = 0; i < n.name.size(); ++i)
    if (!valid_name_char(n.name[i])) return error(name_errc::bad_character, i);
  if (at != std::string_view::npos) {
    n.host = std::string(full.substr(at + 1));
    if (n.host.empty()) return error(name_errc::empty_host, at + 1);
    for (std::size_t i = 0; i < n.host.size(); ++i) {
      char c = n.host[i];
      if (c == '@' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return error(name_errc::bad_host, at + 1 + i);
    }
  }
  return n;
}

// erl's rule for outgoing connections: short names may not dial a dotted host, long names
// may not dial an undotted one; IP literals are fine for both.
result<void> check_style(const node_name& n) {
  if (is_ip_literal(n.host)) return {};
  bool dotted = n.host.find('.') != std::string::npos;
  if (n.long_names && !dotted) return error(name_errc::not_long);
  if (!n.long_names && dotted) return error(name_errc::not_short);
  return {};
}
}  // namespace

const std::error_category& name_category() noexcept {
  static name_category_impl c;
  return c;
}

std::string short_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  std::string h = buf;
  return h.substr(0, h.find('.'));
}

std::string fully_qualified_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  std::string h = buf;
  if (h.find('.') != std::string::npos) return h;
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  if (getaddrinfo(h.c_str(), nullptr, &hints, &res) == 0 && res) {
    std::string canon = res->ai_canonname ? res->ai_canonname : "";
    freeaddrinfo(res);
    if (canon.find('.') != std::string::npos) return canon;
  }
  return {};
}

result<node_name> make_node_name(std::string_view full, bool long_names) {
  auto n = split(full, long_names);
  if (!n) return n;
  if (n->host.empty()) {
    if (long_names) {
      n->host = fully_qualified_hostname();
      if (n->host.empty()) return error(name_errc::no_domain);
    } else {
      n->host = short_hostname();
    }
  }
  if (long_names && !is_ip_literal(n->host) && n->host.find('.') == std::string::npos)
    return error(name_errc::no_domain);
  if (n->full().size() > 255) return error(name_errc::too_long);
  return n;
}

result<node_name> make_dynamic_host(std::string_view n, bool long_names) {
  node_name out;
  out.long_names = long_names;
  if (!n.empty()) {
    if (n.front() != '@') return error(name_errc::bad_character, 0);  // a name part: not ours
    std::string full(1, 'x');  // the host rules of a full name
    full.append(n);
    auto h = split(full, long_names);
    if (!h) return error(h.error().code, h.error().offset ? h.error().offset - 1 : 0);
    out.host = h->host;
    if (out.host.empty()) return error(name_errc::empty_host, n.size());
  } else if (long_names) {
    out.host = fully_qualified_hostname();
    if (out.host.empty()) return error(name_errc::no_domain);
  } else {
    out.host = short_hostname();
  }
  if (auto ok = check_style(out); !ok) return ok.error();
  // Room for the name the peer gives ("<13 characters>@host" from OTP) within an atom.
  if (out.host.size() > 200) return error(name_errc::too_long);
  return out;
}

result<node_name> parse_peer_name(std::string_view full, bool long_names) {
  auto n = split(full, long_names);
  if (!n) return n;
  if (n->host.empty()) return error(name_errc::empty_host, full.size());
  if (auto ok = check_style(*n); !ok) return ok.error();
  return n;
}

}  // namespace erlnode
