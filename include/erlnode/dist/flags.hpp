// Distribution capability flags (DFLAG_*), the mandatory sets per OTP release, and the
// profile erlnode advertises. Values are bit masks of the 64-bit 'N' handshake field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace erlnode::dist {

using dflags = std::uint64_t;

namespace flag {
inline constexpr dflags published = 0x1;
inline constexpr dflags atom_cache = 0x2;  // obsolete
inline constexpr dflags extended_references = 0x4;
inline constexpr dflags dist_monitor = 0x8;
inline constexpr dflags fun_tags = 0x10;
inline constexpr dflags dist_monitor_name = 0x20;
inline constexpr dflags hidden_atom_cache = 0x40;  // obsolete
inline constexpr dflags new_fun_tags = 0x80;
inline constexpr dflags extended_pids_ports = 0x100;
inline constexpr dflags export_ptr_tag = 0x200;
inline constexpr dflags bit_binaries = 0x400;
inline constexpr dflags new_floats = 0x800;
inline constexpr dflags unicode_io = 0x1000;
inline constexpr dflags dist_hdr_atom_cache = 0x2000;
inline constexpr dflags small_atom_tags = 0x4000;
inline constexpr dflags ets_compressed = 0x8000;  // internal to the BEAM, never on the wire
inline constexpr dflags utf8_atoms = 0x10000;
inline constexpr dflags map_tag = 0x20000;
inline constexpr dflags big_creation = 0x40000;
inline constexpr dflags send_sender = 0x80000;
inline constexpr dflags big_seqtrace_labels = 0x100000;
inline constexpr dflags pending_connect = 0x200000;  // internal to the BEAM
inline constexpr dflags exit_payload = 0x400000;
inline constexpr dflags fragments = 0x800000;
inline constexpr dflags handshake_23 = 0x1000000;
inline constexpr dflags unlink_id = 0x2000000;
// Stands for every flag of mandatory_25; the receiver expands it (bit 26, whatever the
// OTP docs say about bit 36).
inline constexpr dflags mandatory_25_digest = 0x4000000;
inline constexpr dflags spawn = dflags{1} << 32;
inline constexpr dflags name_me = dflags{1} << 33;
inline constexpr dflags v4_nc = dflags{1} << 34;
inline constexpr dflags alias = dflags{1} << 35;
}  // namespace flag

// Flags an OTP 25 node refuses to connect without.
inline constexpr dflags mandatory_25 =
    flag::extended_references | flag::fun_tags | flag::extended_pids_ports | flag::new_fun_tags |
    flag::export_ptr_tag | flag::bit_binaries | flag::new_floats | flag::utf8_atoms |
    flag::map_tag | flag::big_creation | flag::handshake_23;
// OTP 26 and 27 add V4_NC and UNLINK_ID.
inline constexpr dflags mandatory_26 = mandatory_25 | flag::v4_nc | flag::unlink_id;

// What erlnode advertises (reference section 16): everything mandatory for 25..27 (each bit
// and the digest bit), plus the optional features the protocol layer implements, including
// FRAGMENTS and DIST_HDR_ATOM_CACHE. Hidden: PUBLISHED clear.
inline constexpr dflags hidden_profile =
    mandatory_26 | flag::mandatory_25_digest | flag::dist_monitor | flag::dist_monitor_name |
    flag::send_sender | flag::exit_payload | flag::spawn | flag::alias | flag::unicode_io |
    flag::small_atom_tags | flag::big_seqtrace_labels | flag::fragments | flag::dist_hdr_atom_cache;
// Visible: only for a node that speaks `global` (reference section 10).
inline constexpr dflags visible_profile = hidden_profile | flag::published;

// Peer flags as OTP reads them: MANDATORY_25_DIGEST expanded to the flags it stands for.
constexpr dflags expand_mandatory_digest(dflags f) noexcept {
  return (f & flag::mandatory_25_digest) ? (f | mandatory_25) : f;
}
// Flags both sides use after the handshake: ours and the (expanded) peer's.
constexpr dflags negotiate(dflags ours, dflags theirs) noexcept {
  return ours & expand_mandatory_digest(theirs);
}
// Bits of `required` missing from `peer` (after expanding the digest bit).
constexpr dflags missing_flags(dflags peer, dflags required) noexcept {
  return required & ~expand_mandatory_digest(peer);
}

// The OTP name of one flag bit without the DFLAG_ prefix ("BIG_CREATION"), or
// "UNKNOWN<hex>" for a bit without a name.
std::string flag_name(dflags bit);
// Names of every set bit, lowest first.
std::vector<std::string> flag_names(dflags flags);
// "BIG_CREATION, HANDSHAKE_23": the mandatory flags `peer` lacks; empty when none.
std::string describe_missing_flags(dflags peer, dflags required);

}  // namespace erlnode::dist
