#include <erlnode/dist/flags.hpp>

#include <cstdio>
#include <utility>

namespace erlnode::dist {
namespace {
constexpr std::pair<dflags, std::string_view> names[] = {
    {flag::published, "PUBLISHED"},
    {flag::atom_cache, "ATOM_CACHE"},
    {flag::extended_references, "EXTENDED_REFERENCES"},
    {flag::dist_monitor, "DIST_MONITOR"},
    {flag::fun_tags, "FUN_TAGS"},
    {flag::dist_monitor_name, "DIST_MONITOR_NAME"},
    {flag::hidden_atom_cache, "HIDDEN_ATOM_CACHE"},
    {flag::new_fun_tags, "NEW_FUN_TAGS"},
    {flag::extended_pids_ports, "EXTENDED_PIDS_PORTS"},
    {flag::export_ptr_tag, "EXPORT_PTR_TAG"},
    {flag::bit_binaries, "BIT_BINARIES"},
    {flag::new_floats, "NEW_FLOATS"},
    {flag::unicode_io, "UNICODE_IO"},
    {flag::dist_hdr_atom_cache, "DIST_HDR_ATOM_CACHE"},
    {flag::small_atom_tags, "SMALL_ATOM_TAGS"},
    {flag::ets_compressed, "ETS_COMPRESSED"},
    {flag::utf8_atoms, "UTF8_ATOMS"},
    {flag::map_tag, "MAP_TAG"},
    {flag::big_creation, "BIG_CREATION"},
    {flag::send_sender, "SEND_SENDER"},
    {flag::big_seqtrace_labels, "BIG_SEQTRACE_LABELS"},
    {flag::pending_connect, "PENDING_CONNECT"},
    {flag::exit_payload, "EXIT_PAYLOAD"},
    {flag::fragments, "FRAGMENTS"},
    {flag::handshake_23, "HANDSHAKE_23"},
    {flag::unlink_id, "UNLINK_ID"},
    {flag::mandatory_25_digest, "MANDATORY_25_DIGEST"},
    {flag::spawn, "SPAWN"},
    {flag::name_me, "NAME_ME"},
    {flag::v4_nc, "V4_NC"},
    {flag::alias, "ALIAS"},
};
}  // namespace

std::string flag_name(dflags bit) {
  for (const auto& [v, n] : names)
    if (v == bit) return std::string(n);
  char buf[40];
  std::snprintf(buf, sizeof buf, "UNKNOWN<%llX>", static_cast<unsigned long long>(bit));
  return buf;
}

std::vector<std::string> flag_names(dflags flags) {
  std::vector<std::string> out;
  for (int i = 0; i < 64; ++i) {
    dflags bit = dflags{1} << i;
    if (flags & bit) out.push_back(flag_name(bit));
  }
  return out;
}

std::string describe_missing_flags(dflags peer, dflags required) {
  std::string s;
  for (const auto& n : flag_names(missing_flags(peer, required))) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

}  // namespace erlnode::dist
