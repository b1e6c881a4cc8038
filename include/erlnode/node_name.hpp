// Node names: validation by the BEAM's rules, short vs long names, and the host part.
#pragma once

#include <erlnode/result.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace erlnode {

enum class name_errc {
  empty_name = 1,  // nothing before '@'
  bad_character,   // the name part has a character outside [0-9A-Za-z_-]
  empty_host,      // "x@"
  bad_host,        // '@' or whitespace in the host part
  no_domain,       // long names asked for, but the host has no domain and is no IP
  not_short,       // short names, but the host is fully qualified (erl: "System NOT running
                   // to use fully qualified hostnames")
  not_long,        // long names, but the host is short (erl: "System running to use fully
                   // qualified hostnames")
  too_long,        // more than 255 characters (atoms cannot be longer)
};
const std::error_category& name_category() noexcept;
inline std::error_code make_error_code(name_errc e) noexcept {
  return {static_cast<int>(e), name_category()};
}

struct node_name {
  std::string name;  // before '@' ("alive" in epmd terms)
  std::string host;  // after '@'
  bool long_names = false;
  std::string full() const { return name + "@" + host; }
};

// Builds our own node name like `erl -sname N` / `erl -name N`: N may be "x" (the host is
// added: the short hostname, or the fully qualified one for long names) or "x@host".
result<node_name> make_node_name(std::string_view n, bool long_names);

// The host of a node that gets its name from a peer (node_options::named_by, DFLAG_NAME_ME):
// `n` is "" (this machine: the short hostname, or the fully qualified one for long names) or
// "@host". The result has an empty `name`. Short/long rules as for a peer's host (erl checks
// the name the peer gives back the same way).
result<node_name> make_dynamic_host(std::string_view n, bool long_names);

// Splits and validates a peer's "name@host" for an outgoing connection from a node using
// short or long names, refusing the mixes erl refuses (an IP literal is allowed with both).
result<node_name> parse_peer_name(std::string_view full, bool long_names);

// This machine's host name up to the first dot, and its fully qualified name ("" if none).
std::string short_hostname();
std::string fully_qualified_hostname();

}  // namespace erlnode

template <>
struct std::is_error_code_enum<erlnode::name_errc> : std::true_type {};
