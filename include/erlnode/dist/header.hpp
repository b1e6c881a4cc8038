// Distribution headers (erl_ext_dist "Distribution Header"): pass-through (112), the normal
// header 131,68 with the per-connection atom cache, and fragments 131,69 / 131,70 with
// reassembly. Works on packet payloads (after the u32 framing); no term decoding here
// (dist/message.hpp decodes the control and message terms).
#pragma once

#include <erlnode/atom.hpp>
#include <erlnode/dist/error.hpp>
#include <erlnode/result.hpp>

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace erlnode::dist {

inline constexpr std::uint8_t pass_through_tag = 112;
inline constexpr std::uint8_t header_normal = 68;          // 'D'
inline constexpr std::uint8_t header_fragment_start = 69;  // 'E'
inline constexpr std::uint8_t header_fragment_cont = 70;   // 'F'

inline constexpr std::size_t atom_cache_size = 2048;  // 8 segments x 256 entries
inline constexpr std::size_t max_header_refs = 255;   // refs per header (u8 count)

// One entry of a header's atom cache ref table.
struct header_ref {
  atom value;
  std::uint16_t slot = 0;  // segment * 256 + internal index, < 2048
  bool is_new = false;     // the header carries the text and (re)defines the slot
};

// The receiving side's cache: what the peer has defined, slot by slot.
class atom_cache_receiver {
 public:
  const atom* get(std::size_t slot) const noexcept {
    return slot < atom_cache_size && set_[slot] ? &slots_[slot] : nullptr;
  }
  void put(std::size_t slot, atom a) noexcept {
    slots_[slot] = a;
    set_[slot] = true;
  }

 private:
  std::vector<atom> slots_ = std::vector<atom>(atom_cache_size);
  std::bitset<atom_cache_size> set_;
};

// The sending side's cache: which atom we last defined in each slot. An atom goes to the
// slot its hash picks, replacing what was there (the receiver learns it from the header).
class atom_cache_sender {
 public:
  // The ref for `a` as the next header would carry it, and records it as defined.
  header_ref reference(atom a) noexcept;
  void clear() noexcept { set_.reset(); }

 private:
  std::vector<atom> slots_ = std::vector<atom>(atom_cache_size);
  std::bitset<atom_cache_size> set_;
};

enum class header_kind { pass_through, normal, fragment_start, fragment_cont };

struct parsed_header {
  header_kind kind = header_kind::pass_through;
  std::uint64_t sequence_id = 0;  // fragments only
  std::uint64_t fragment_id = 0;  // fragments only: counts down to 1 (the last)
  // Atoms by ATOM_CACHE_REF index for the terms that follow (normal and fragment_start).
  std::vector<atom> atoms;
  // Where the terms (or, for fragment_cont, the next slice) begin in the packet.
  std::size_t payload_offset = 0;
};

// Parses the header at the start of `packet` (a packet's payload, not a tick), updating the
// receiver cache with new entries. `headers_negotiated`: DIST_HDR_ATOM_CACHE or FRAGMENTS
// was negotiated; then a packet must begin 131,68/69/70, otherwise with 112.
result<parsed_header> parse_header(std::span<const std::uint8_t> packet, atom_cache_receiver& cache,
                                   bool headers_negotiated);

// Appends the atom-cache part of a 'D' or 'E' header: count, flag nibbles, refs.
// At most max_header_refs refs (programmer error otherwise: returns bad_header, writes nothing).
result<void> append_header_refs(std::vector<std::uint8_t>& out, std::span<const header_ref> refs);

// A message whose header and fragments have all arrived.
struct assembled_message {
  std::vector<atom> atoms;          // ATOM_CACHE_REF table
  std::vector<std::uint8_t> bytes;  // owns the data
  std::size_t offset = 0;           // control term starts here
  bool version_bytes = false;       // pass-through: each term has its own 131
};

struct receiver_options {
  bool headers_negotiated = false;  // DIST_HDR_ATOM_CACHE or FRAGMENTS
  // Bound on bytes held for incomplete fragmented messages, all sequences together.
  std::size_t max_reassembly_bytes = std::size_t{64} << 20;
  // Bound on concurrently open sequences.
  std::size_t max_sequences = 4096;
};

// Turns packets into complete messages: parses headers, keeps the receive atom cache, and
// reassembles fragments with OTP's rules (a sequence's fragments in order, counting down to
// 1; a sequence id already open cannot start again; a continuation needs an open sequence).
class message_receiver {
 public:
  explicit message_receiver(receiver_options o = {}) : opts_(o) {}
  // A packet's payload (not a tick). Returns a message when one is complete. Any error is
  // fatal for the connection.
  result<std::optional<assembled_message>> on_packet(std::vector<std::uint8_t> packet);
  std::size_t open_sequences() const noexcept { return seqs_.size(); }
  std::size_t reassembly_bytes() const noexcept { return held_; }

 private:
  struct sequence {
    assembled_message msg;
    std::uint64_t next_id = 0;  // fragment id expected next
  };
  receiver_options opts_;
  atom_cache_receiver cache_;
  std::map<std::uint64_t, sequence> seqs_;
  std::size_t held_ = 0;
};

}  // namespace erlnode::dist
