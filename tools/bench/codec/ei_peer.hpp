// The ei (erl_interface) peer of the codec benchmark: what a C/C++ program using OTP's own
// library does with the same bytes.
//
//   decode: ei_get_type + ei_decode_* on every value, building an ei_node tree (atoms and
//           strings as std::string, binaries copied, pids/refs as ei's structs).
//   encode: ei_x_encode_* rebuilding the bytes from that tree into a fresh ei_x_buff
//           (encode_x), or two-pass ei_encode_*: size with a null buffer, then one allocation
//           (encode_sized, ei's fastest way).
//   walk:   ei_skip_term over the whole term.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace erlnode::bench::ei_peer {

struct pid_box;
struct ref_box;

struct node {
  int type = 0;  // the ERL_*_EXT tag ei_get_type reported
  long long integer = 0;
  double number = 0;
  std::string text;             // atom (UTF-8), string bytes, or an opaque term's bytes
  std::unique_ptr<char[]> bin;  // binary bytes
  long bin_size = 0;
  std::vector<node> kids;           // tuple/map elements, list elements followed by the tail
  std::shared_ptr<const void> ext;  // erlang_pid / erlang_ref (big structs, kept out of line)

  node() = default;
  node(node&&) noexcept = default;
  node& operator=(node&&) noexcept = default;
};

// Calls ei_init() once.
void init();
// Decodes bytes starting with 131; false on anything ei rejects.
bool decode(std::span<const std::uint8_t> bytes, node& out);
// Number of terms in the tree (every value, containers and list tails included).
std::size_t count(const node& n);
// ei_x_encode_*: returns the encoded size (with the version byte), or -1.
long encode_x(const node& n);
// Two-pass ei_encode_*: returns the encoded size, or -1.
long encode_sized(const node& n);
// ei_skip_term from just after the version byte; false on error.
bool walk(std::span<const std::uint8_t> bytes);

}  // namespace erlnode::bench::ei_peer
