// The epmd wire protocol: requests, replies, encoders and incremental parsers.
//
// Sans-I/O and exception-free. Every request travels as `u16 length | request`; replies have no
// length prefix and some (NAMES, DUMP, KILL, STOP) end when epmd closes the connection, so their
// parsers take a finish() call at end of stream. Parsers never trust a length from the input:
// every size is checked against configured limits before anything is buffered.
#pragma once

#include <erlnode/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace erlnode::epmd {

inline constexpr std::uint16_t default_port = 4369;

// First byte of each message.
enum class tag : std::uint8_t {
  alive2_x_resp = 118,     // 'v'
  port2_resp = 119,        // 'w'
  alive2_req = 120,        // 'x'
  alive2_resp = 121,       // 'y' (epmd's answer to nodes announcing highest version < 6)
  port_please2_req = 122,  // 'z'
  dump_req = 100,          // 'd'
  kill_req = 107,          // 'k'
  names_req = 110,         // 'n'
  stop_req = 115,          // 's'
};

// Node types in ALIVE2_REQ / PORT2_RESP.
inline constexpr std::uint8_t node_type_normal = 77;      // 'M'
inline constexpr std::uint8_t node_type_hidden = 72;      // 'H'
inline constexpr std::uint8_t node_type_ei_hidden = 104;  // 'h', what ei sends
inline constexpr std::uint8_t protocol_tcp = 0;

enum class errc {
  truncated = 1,    // (finish) the stream ended inside a message
  bad_length,       // request length 0, or beyond the configured limit
  unknown_request,  // first byte of a request is not a known request tag
  bad_reply,        // first byte of a reply is not what that reply starts with
  bad_name,         // empty, too long, invalid UTF-8 or control characters
  bad_field,        // inner lengths disagree with the request length, or a value out of range
  trailing_data,    // bytes after a complete message where none may follow
  too_large,        // a reply longer than the configured limit
  not_encodable,    // (encoder) a name or extra field too long for its u16 length
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// What a node registers and what PORT2_RESP returns.
struct node_info {
  std::uint16_t port = 0;
  std::uint8_t node_type = node_type_normal;
  std::uint8_t protocol = protocol_tcp;
  std::uint16_t highest_version = 6;
  std::uint16_t lowest_version = 6;
  std::string name;  // the part before '@'
  std::string extra;
  friend bool operator==(const node_info&, const node_info&) = default;
};

// Requests (client to epmd).
struct alive2_request {
  node_info node;
  friend bool operator==(const alive2_request&, const alive2_request&) = default;
};
struct port_please2_request {
  std::string name;
  friend bool operator==(const port_please2_request&, const port_please2_request&) = default;
};
struct names_request {
  friend bool operator==(const names_request&, const names_request&) = default;
};
struct dump_request {
  friend bool operator==(const dump_request&, const dump_request&) = default;
};
struct kill_request {
  friend bool operator==(const kill_request&, const kill_request&) = default;
};
struct stop_request {
  std::string name;
  friend bool operator==(const stop_request&, const stop_request&) = default;
};
using request = std::variant<alive2_request, port_please2_request, names_request, dump_request,
                             kill_request, stop_request>;

// Replies (epmd to client).
struct alive2_reply {
  std::uint8_t result = 0;  // 0 = registered; anything else: refused (name taken)
  std::uint32_t creation = 0;
  bool extended = true;  // ALIVE2_X_RESP (u32 creation) rather than ALIVE2_RESP (u16)
  friend bool operator==(const alive2_reply&, const alive2_reply&) = default;
};
struct port2_reply {
  std::uint8_t result = 0;        // 0 = found
  std::optional<node_info> node;  // present when result == 0
  friend bool operator==(const port2_reply&, const port2_reply&) = default;
};
// NAMES and DUMP replies: epmd's port, then text up to the close.
struct text_reply {
  std::uint32_t epmd_port = 0;
  std::string text;
  friend bool operator==(const text_reply&, const text_reply&) = default;
};
// One line of a NAMES reply: "name <name> at port <port>\n".
struct name_entry {
  std::string name;
  std::uint16_t port = 0;
  friend bool operator==(const name_entry&, const name_entry&) = default;
};

// Longest node name accepted (in bytes): 255 characters of up to 4 UTF-8 bytes each.
inline constexpr std::size_t max_name_bytes = 1020;
// Checks a node name (the alive part): 1..max_name_bytes bytes of UTF-8, no control characters
// (they would forge lines in NAMES output).
bool valid_name(std::string_view name) noexcept;

// ---- Encoders ----
// Appends the framed request (u16 length included) to `out`. Fails with not_encodable or
// bad_name when a field does not fit.
result<void> encode(const request& r, std::vector<std::uint8_t>& out);
result<std::vector<std::uint8_t>> encode(const request& r);
// Server-side replies.
void encode(const alive2_reply& r, std::vector<std::uint8_t>& out);
void encode(const port2_reply& r, std::vector<std::uint8_t>& out);
// u32 port; the text lines are appended by the caller (see format_name_line / format_dump_*).
void encode_port_header(std::uint32_t epmd_port, std::vector<std::uint8_t>& out);
// "name <name> at port <port>\n"
std::string format_name_line(std::string_view name, std::uint16_t port);
// DUMP lines, as OTP's epmd writes them (each followed by a NUL byte on the wire).
std::string format_dump_active(std::string_view name, std::uint16_t port, int fd);
std::string format_dump_unused(std::string_view name, std::uint16_t port, int fd);
// Parses NAMES text into entries; lines that are not "name X at port N" are an error.
result<std::vector<name_entry>> parse_names(std::string_view text);

// KILL_REQ answer: "OK" (epmd exits) or "NO" (nodes are registered and checking is strict).
enum class kill_result { killed, refused };
// STOP_REQ answer: "STOPPED", "NOEXIST", or nothing at all when epmd refuses (strict checking).
enum class stop_result { stopped, no_such_node, refused };
inline constexpr std::string_view kill_ok = "OK", kill_no = "NO";
inline constexpr std::string_view stop_ok = "STOPPED", stop_noexist = "NOEXIST";
// Interpret the whole reply (everything up to the close).
result<kill_result> parse_kill_reply(std::string_view reply);
result<stop_result> parse_stop_reply(std::string_view reply);

// ---- Parsers ----
// What feed() says after consuming what it could.
enum class status { need_more, complete };

// Parses one framed request. feed() advances `in` past the bytes it consumed and stops at the end
// of the request, so the caller sees what follows it. Error offsets count from the request's
// first byte (the length prefix).
class request_parser {
 public:
  // Longest request accepted (the u16 length value). OTP's epmd reads at most 1024.
  explicit request_parser(std::size_t max_length = 1024) : max_length_(max_length) {}
  result<status> feed(std::span<const std::uint8_t>& in);
  // The parsed request; valid after feed() returned complete.
  const request& get() const noexcept { return req_; }
  request& get() noexcept { return req_; }
  // True once feed() returned complete (until the next feed).
  bool done() const noexcept { return want_ != 0 && got_ == want_; }
  // Bytes consumed so far in the current request.
  std::size_t offset() const noexcept { return got_; }
  void reset();

 private:
  result<status> decode();
  std::size_t max_length_;
  std::size_t got_ = 0;
  std::size_t want_ = 0;  // total length including prefix, once known
  std::uint8_t hdr_[2] = {};
  std::vector<std::uint8_t> body_;
  request req_;
};

// ALIVE2_X_RESP (6 bytes) or ALIVE2_RESP (4 bytes).
class alive2_reply_parser {
 public:
  result<status> feed(std::span<const std::uint8_t>& in);
  const alive2_reply& get() const noexcept { return reply_; }

 private:
  std::uint8_t buf_[6] = {};
  std::size_t got_ = 0;
  alive2_reply reply_;
};

// PORT2_RESP: 2 bytes on failure, else the node's fields.
class port2_reply_parser {
 public:
  result<status> feed(std::span<const std::uint8_t>& in);
  const port2_reply& get() const noexcept { return reply_; }

 private:
  result<status> step();
  std::vector<std::uint8_t> buf_;
  std::size_t want_ = 2;
  bool done_ = false;
  port2_reply reply_;
};

// NAMES / DUMP: u32 port then text until close. feed() never completes; finish() at end of
// stream does.
class text_reply_parser {
 public:
  explicit text_reply_parser(std::size_t max_text = 1 << 20) : max_text_(max_text) {}
  result<status> feed(std::span<const std::uint8_t>& in);
  result<void> finish();
  const text_reply& get() const noexcept { return reply_; }

 private:
  std::size_t max_text_;
  std::size_t got_ = 0;
  std::uint8_t port_[4] = {};
  text_reply reply_;
};

}  // namespace erlnode::epmd

template <>
struct std::is_error_code_enum<erlnode::epmd::errc> : std::true_type {};
