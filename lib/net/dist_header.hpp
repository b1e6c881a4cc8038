// Distribution headers (131,68 and fragments 131,69/70) for the connection: the per-direction
// atom caches and fragment reassembly (reference 5.2, 5.3).
#pragma once

#include <erlnode/atom.hpp>
#include <erlnode/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace erlnode::net::detail {

inline constexpr std::size_t atom_cache_size = 2048;  // 8 segments of 256
inline std::size_t atom_cache_slot(atom a) noexcept { return a.hash() % atom_cache_size; }

// Per-message atom table built while encoding: ATOM_CACHE_REF i stands for atoms[i].
class message_atoms {
 public:
  // The ref index for `a`, or -1 to encode it in full (table full, or its cache slot is taken
  // by another atom of this message).
  int ref(atom a);
  std::vector<atom> take() { return std::move(atoms_); }

 private:
  std::vector<atom> atoms_;
};

// Our output cache: writes the atom-cache part of a header for a message's atoms.
class out_atom_cache {
 public:
  void write(std::span<const atom> atoms, std::vector<std::uint8_t>& out);

 private:
  std::array<const void*, atom_cache_size> slots_{};
};

// The peer's cache as we learn it from its headers.
class in_atom_cache {
 public:
  // Parses the atom-cache part at the start of `p` (after 131,68, or after the sequence fields
  // of 131,69); fills `atoms` (the message's table); returns the bytes used.
  result<std::size_t> read(std::span<const std::uint8_t> p, std::vector<atom>& atoms);

 private:
  std::vector<atom> slots_ = std::vector<atom>(atom_cache_size);
  std::array<bool, atom_cache_size> set_{};
};

// Reassembles fragmented messages. Sequences from different senders may interleave; the
// fragments of one sequence must come in order (count, count-1, ..., 1).
class reassembler {
 public:
  explicit reassembler(std::size_t max_bytes) : max_(max_bytes) {}
  struct complete {
    std::vector<atom> atoms;
    std::shared_ptr<std::vector<std::uint8_t>> data;  // control term then message
  };
  result<std::optional<complete>> start(std::uint64_t seq, std::uint64_t count,
                                        std::vector<atom> atoms,
                                        std::span<const std::uint8_t> chunk);
  result<std::optional<complete>> next(std::uint64_t seq, std::uint64_t id,
                                       std::span<const std::uint8_t> chunk);
  std::size_t in_flight_bytes() const noexcept { return bytes_; }
  std::size_t in_flight_sequences() const noexcept { return seqs_.size(); }

 private:
  struct partial {
    std::vector<atom> atoms;
    std::shared_ptr<std::vector<std::uint8_t>> data;
    std::uint64_t next_id = 0;
  };
  std::size_t max_;
  std::size_t bytes_ = 0;
  std::unordered_map<std::uint64_t, partial> seqs_;
};

}  // namespace erlnode::net::detail
