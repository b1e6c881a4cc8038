// What the connection adds to the dist layer's headers (dist/header.hpp): the per-message atom
// table built while encoding, and reassembly into one shared buffer (so decoded binaries can
// point into it without a copy).
#pragma once

#include <erlnode/atom.hpp>
#include <erlnode/net/byte_buffer.hpp>
#include <erlnode/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace erlnode::net::detail {

// Per-message atom table built while encoding: ATOM_CACHE_REF i stands for atoms[i].
class message_atoms {
 public:
  // The ref index for `a`, or -1 to encode it in full (the table holds 255 atoms at most).
  int ref(atom a);
  std::vector<atom> take() { return std::move(atoms_); }
  const std::vector<atom>& list() const noexcept { return atoms_; }
  void clear() noexcept { atoms_.clear(); }  // keeps the capacity (per-thread scratch)

 private:
  std::vector<atom> atoms_;
};

using reassembly_buffer = byte_buffer;

// Reassembly buffers, reused once every term pointing into one is gone (the last holder may
// be on any thread). Fresh multi-megabyte buffers cost a page fault per 4 KiB on every
// message; a reused one costs nothing.
class buffer_pool : public std::enable_shared_from_this<buffer_pool> {
 public:
  std::shared_ptr<reassembly_buffer> get(std::size_t capacity);

 private:
  void put(reassembly_buffer* v) noexcept;
  std::mutex m_;
  std::vector<std::unique_ptr<reassembly_buffer>> free_;
};

// Reassembles fragmented messages. Sequences from different senders may interleave; the
// fragments of one sequence must come in order (count, count-1, ..., 1).
class reassembler {
 public:
  explicit reassembler(std::size_t max_bytes)
      : max_(max_bytes), pool_(std::make_shared<buffer_pool>()) {}
  struct complete {
    std::vector<atom> atoms;
    std::shared_ptr<reassembly_buffer> data;  // control term then message
  };
  result<std::optional<complete>> start(std::uint64_t seq, std::uint64_t count,
                                        std::vector<atom> atoms,
                                        std::span<const std::uint8_t> chunk);
  result<std::optional<complete>> next(std::uint64_t seq, std::uint64_t id,
                                       std::span<const std::uint8_t> chunk);
  // next() in two steps, so the caller can read the chunk straight into place: reserve_next
  // checks what next() checks and returns the `n` bytes to fill (nothing changes on an error);
  // commit_next, once they are filled, completes like next(). Nothing else may happen to the
  // reassembler in between.
  result<std::span<std::uint8_t>> reserve_next(std::uint64_t seq, std::uint64_t id, std::size_t n);
  std::optional<complete> commit_next(std::uint64_t seq);
  std::size_t in_flight_bytes() const noexcept { return bytes_; }
  std::size_t in_flight_sequences() const noexcept { return seqs_.size(); }

 private:
  struct partial {
    std::vector<atom> atoms;
    std::shared_ptr<reassembly_buffer> data;
    std::uint64_t next_id = 0;
  };
  result<std::optional<complete>> finish_next(
      std::unordered_map<std::uint64_t, partial>::iterator it, std::uint64_t id);
  std::size_t max_;
  std::shared_ptr<buffer_pool> pool_;
  std::size_t bytes_ = 0;
  std::unordered_map<std::uint64_t, partial> seqs_;
};

}  // namespace erlnode::net::detail
