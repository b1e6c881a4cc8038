// The external term format (erl_ext_dist): decode to terms, encode, and a zero-copy reader.
//
// Sans-I/O and exception-free: every function returns result<> with an etf::errc and the byte
// offset where the problem was found. The decoder never trusts a length from the input.
#pragma once

#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace erlnode::etf {

inline constexpr std::uint8_t version_magic = 131;

// Tags of erl_ext_dist.
enum tag : std::uint8_t {
  new_float_ext = 70,
  bit_binary_ext = 77,
  compressed_ext = 80,
  atom_cache_ref = 82,
  new_pid_ext = 88,
  new_port_ext = 89,
  newer_reference_ext = 90,
  small_integer_ext = 97,
  integer_ext = 98,
  float_ext = 99,
  atom_ext = 100,
  reference_ext = 101,
  port_ext = 102,
  pid_ext = 103,
  small_tuple_ext = 104,
  large_tuple_ext = 105,
  nil_ext = 106,
  string_ext = 107,
  list_ext = 108,
  binary_ext = 109,
  small_big_ext = 110,
  large_big_ext = 111,
  new_fun_ext = 112,
  export_ext = 113,
  new_reference_ext = 114,
  small_atom_ext = 115,
  map_ext = 116,
  fun_ext = 117,
  atom_utf8_ext = 118,
  small_atom_utf8_ext = 119,
  v4_port_ext = 120,
  local_ext = 121,
};

enum class errc {
  truncated = 1,       // input ends inside a term
  bad_version,         // first byte is not 131
  bad_tag,             // unknown or unsupported tag
  too_deep,            // nesting deeper than max_depth
  too_large,           // a size beyond a configured limit or what the input can hold
  bad_atom,            // invalid UTF-8, or more than 255 characters
  atom_table_full,     // the process-wide atom limit was reached
  bad_atom_cache_ref,  // ATOM_CACHE_REF without a table, or index out of range
  bad_float,           // non-finite, or unparsable FLOAT_EXT text
  duplicate_map_key,   // a map with the same key twice (the BEAM refuses these too)
  bad_compressed,      // zlib stream invalid, or inflated size differs from the header
  trailing_data,       // bytes left after the term where none were allowed
  bad_value,           // a field out of range (bit count, reference length, ...)
  not_encodable,       // (encoder) a term that cannot be encoded, e.g. nesting too deep
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

struct decode_options {
  // Maximum nesting of tuples, lists, maps and funs. Decoding is iterative, so this bounds
  // memory and the recursion of later consumers (printing, comparing), not the C stack.
  std::size_t max_depth = 10'000;
  // Maximum size of the inflated payload of COMPRESSED_EXT.
  std::size_t max_inflated_size = 64u << 20;
  // Accept bytes after the term (decode() then ignores them).
  bool allow_trailing = false;
  // Atoms that ATOM_CACHE_REF indexes refer to (the distribution header's table for this
  // message). Empty: any ATOM_CACHE_REF is an error.
  std::span<const atom> atom_cache = {};
};

// One decoded term and the bytes it used.
struct decoded {
  term value;
  std::size_t consumed = 0;
};

// Decodes `bytes`, which start with the version byte 131. Binaries are copied.
// Notes on the mapping: reference words keep their wire order (least significant first, as
// NEWER_REFERENCE_EXT sends them); a LIST_EXT whose tail is again a list is flattened, as the
// term model keeps lists flat; BIT_BINARY_EXT with 8 bits in the last byte is a binary (as
// erl); LOCAL_EXT takes the rest of the input, kept opaque. Atoms are looked up in a small
// per-thread cache before the global table, so repeated atoms cost no locking.
result<term> decode(std::span<const std::uint8_t> bytes, const decode_options& opts = {});
// The same, but binaries of 64 bytes or more are zero-copy slices of `bytes`, which `owner`
// keeps alive (so decoding a 1 MB binary costs O(1)).
result<term> decode_shared(std::span<const std::uint8_t> bytes, std::shared_ptr<const void> owner,
                           const decode_options& opts = {});
// Decodes one term at the start of `bytes` (with 131 when `with_version`), allowing more
// bytes after it; reports how many were used. Used by the distribution layer.
result<decoded> decode_prefix(std::span<const std::uint8_t> bytes, bool with_version,
                              const decode_options& opts = {},
                              std::shared_ptr<const void> owner = nullptr);

struct encode_options {
  // 1: atoms as ATOM_EXT when Latin-1, as term_to_binary/1 in OTP 25 (its default);
  // 2: atoms as SMALL_ATOM_UTF8_EXT/ATOM_UTF8_EXT, as OTP 26+ and the distribution do.
  int minor_version = 1;
  bool version_byte = true;
  // zlib level 1..9 for COMPRESSED_EXT (as term_to_binary(T, [{compressed, L}])); 0 = off.
  int compressed = 0;
  std::size_t max_depth = 10'000;
  // Distribution atom cache: returns the index (0..254) for an ATOM_CACHE_REF, or -1 to
  // encode the atom in full.
  std::function<int(atom)> atom_ref = {};
};

// Encodes `t` exactly as term_to_binary/1 does (smallest integer tag, STRING_EXT for byte
// lists, NEW_FLOAT_EXT, maps in their kept order).
result<std::vector<std::uint8_t>> encode(const term& t, const encode_options& opts = {});
// Appends the encoding to `out`.
result<void> encode_to(const term& t, std::vector<std::uint8_t>& out,
                       const encode_options& opts = {});
// Bytes encode() would produce (without compression).
result<std::size_t> encoded_size(const term& t, const encode_options& opts = {});

// An encoding as a sequence of buffers, for scatter/gather output (writev, Asio buffer
// sequences): the payloads of binaries of at least `shared_binary_min` bytes are not copied
// but referenced where the binaries keep them, and this object holds a reference to each such
// binary so the bytes stay valid while it lives; everything else is in buffers it owns.
// Concatenated, the buffers are exactly the bytes encode() produces with the same options.
class iov_encoding {
 public:
  static constexpr std::size_t shared_binary_min = 1024;

  // The buffers in order; valid until the object is changed or destroyed. A term with many
  // large binaries has many buffers (writev takes at most IOV_MAX per call).
  std::span<const std::span<const std::uint8_t>> buffers() const noexcept { return bufs_; }
  std::size_t size() const noexcept { return size_; }
  // All the bytes in one vector (one copy).
  std::vector<std::uint8_t> flatten() const;
  // Empties the encoding, keeping allocated capacity for the next one.
  void clear() noexcept;

 private:
  friend class iov_builder;
  std::vector<std::uint8_t> own_;                    // the bytes not taken from binaries
  std::vector<std::span<const std::uint8_t>> bufs_;  // own_ pieces and binary payloads
  std::vector<binary> keep_;                         // binaries whose bytes bufs_ points at
  std::size_t size_ = 0;
};

// Encodes `t` into `out`, replacing what it held; the bytes are those of encode(t, opts).
// With opts.compressed the whole output is one owned buffer (compression reads everything).
result<void> encode_iov(const term& t, iov_encoding& out, const encode_options& opts = {});

// ---------------------------------------------------------------------------------------
// Zero-copy reader: walks encoded bytes without allocating. Positioned at a term (no 131).
// COMPRESSED_EXT is not walked (decode() it); ATOM_CACHE_REF is skipped whatever its index;
// skip() checks everything decode() does except duplicate map keys. A failed read leaves the
// offset where it was.

struct pid_view {
  std::string_view node;  // atom text (UTF-8, or Latin-1 for the old atom tags)
  std::uint32_t id, serial, creation;
};

class reader {
 public:
  explicit reader(std::span<const std::uint8_t> bytes, std::size_t offset = 0) noexcept
      : b_(bytes), pos_(offset) {}
  // Skips the 131 version byte.
  result<void> read_version() noexcept;

  std::size_t offset() const noexcept { return pos_; }
  bool at_end() const noexcept { return pos_ >= b_.size(); }
  // The tag of the next term.
  result<std::uint8_t> peek_tag() const noexcept;

  result<std::int64_t> read_int() noexcept;  // small/integer/small big within int64
  result<double> read_float() noexcept;
  result<std::string_view> read_atom() noexcept;  // text of any atom tag (not cache refs)
  result<std::uint32_t> read_tuple_header() noexcept;
  // LIST_EXT: element count (a tail term follows the elements); NIL_EXT: 0.
  result<std::uint32_t> read_list_header() noexcept;
  result<std::string_view> read_string() noexcept;  // STRING_EXT bytes
  result<std::uint32_t> read_map_header() noexcept;
  result<std::span<const std::uint8_t>> read_binary() noexcept;
  result<pid_view> read_pid() noexcept;
  // Skips one whole term, iteratively (no recursion), with the same checks as decode.
  result<void> skip(std::size_t max_depth = 10'000) noexcept;

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_;
};

}  // namespace erlnode::etf

template <>
struct std::is_error_code_enum<erlnode::etf::errc> : std::true_type {};
