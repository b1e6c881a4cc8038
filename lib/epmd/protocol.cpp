// The epmd wire protocol: encoders and incremental parsers.
#include <erlnode/epmd/protocol.hpp>

#include "term/utf8.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace erlnode::epmd {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.epmd"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::truncated:
        return "epmd message truncated";
      case errc::bad_length:
        return "epmd request length out of range";
      case errc::unknown_request:
        return "unknown epmd request";
      case errc::bad_reply:
        return "unexpected epmd reply";
      case errc::bad_name:
        return "invalid node name";
      case errc::bad_field:
        return "epmd message fields disagree with its length";
      case errc::trailing_data:
        return "bytes after the epmd message";
      case errc::too_large:
        return "epmd reply too large";
      case errc::not_encodable:
        return "epmd request field too long to encode";
    }
    return "unknown epmd error";
  }
};

std::uint16_t get16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t get32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
void put_bytes(std::vector<std::uint8_t>& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

// node_info fields from `port` on, as in ALIVE2_REQ after the tag and PORT2_RESP after the
// result. `base` is the offset of p[0] within the message, for errors.
result<node_info> decode_node(const std::uint8_t* p, std::size_t n, std::size_t base, bool exact) {
  if (n < 10) return error(errc::bad_field, base + n);
  node_info ni;
  ni.port = get16(p);
  ni.node_type = p[2];
  ni.protocol = p[3];
  ni.highest_version = get16(p + 4);
  ni.lowest_version = get16(p + 6);
  std::size_t nlen = get16(p + 8);
  std::size_t pos = 10;
  if (nlen > n - pos) return error(errc::bad_field, base + 8);
  ni.name.assign(reinterpret_cast<const char*>(p + pos), nlen);
  if (!valid_name(ni.name)) return error(errc::bad_name, base + pos);
  pos += nlen;
  // OTP's epmd treats a missing extra field as empty.
  if (pos == n) return ni;
  if (n - pos < 2) return error(errc::bad_field, base + pos);
  std::size_t elen = get16(p + pos);
  pos += 2;
  if (elen > n - pos) return error(errc::bad_field, base + pos - 2);
  ni.extra.assign(reinterpret_cast<const char*>(p + pos), elen);
  pos += elen;
  if (exact && pos != n) return error(errc::trailing_data, base + pos);
  return ni;
}

void encode_node(const node_info& ni, std::vector<std::uint8_t>& out) {
  put16(out, ni.port);
  out.push_back(ni.node_type);
  out.push_back(ni.protocol);
  put16(out, ni.highest_version);
  put16(out, ni.lowest_version);
  put16(out, static_cast<std::uint16_t>(ni.name.size()));
  put_bytes(out, ni.name);
  put16(out, static_cast<std::uint16_t>(ni.extra.size()));
  put_bytes(out, ni.extra);
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

bool valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_name_bytes) return false;
  std::size_t i = 0;
  while (i < name.size()) {
    char32_t cp = 0;
    std::size_t n = detail::utf8_decode(name.data() + i, name.size() - i, cp);
    if (n == 0 || cp < 0x20 || cp == 0x7f) return false;
    i += n;
  }
  return true;
}

// ---- Encoders ----

result<void> encode(const request& r, std::vector<std::uint8_t>& out) {
  std::size_t start = out.size();
  out.push_back(0);
  out.push_back(0);
  auto fail = [&](errc e) {
    out.resize(start);
    return result<void>(e);
  };
  if (auto* a = std::get_if<alive2_request>(&r)) {
    if (!valid_name(a->node.name)) return fail(errc::bad_name);
    if (a->node.extra.size() > 0xffff) return fail(errc::not_encodable);
    out.push_back(static_cast<std::uint8_t>(tag::alive2_req));
    encode_node(a->node, out);
  } else if (auto* p = std::get_if<port_please2_request>(&r)) {
    if (!valid_name(p->name)) return fail(errc::bad_name);
    out.push_back(static_cast<std::uint8_t>(tag::port_please2_req));
    put_bytes(out, p->name);
  } else if (std::holds_alternative<names_request>(r)) {
    out.push_back(static_cast<std::uint8_t>(tag::names_req));
  } else if (std::holds_alternative<dump_request>(r)) {
    out.push_back(static_cast<std::uint8_t>(tag::dump_req));
  } else if (std::holds_alternative<kill_request>(r)) {
    out.push_back(static_cast<std::uint8_t>(tag::kill_req));
  } else {
    auto& s = std::get<stop_request>(r);
    if (!valid_name(s.name)) return fail(errc::bad_name);
    out.push_back(static_cast<std::uint8_t>(tag::stop_req));
    put_bytes(out, s.name);
  }
  std::size_t len = out.size() - start - 2;
  if (len > 0xffff) return fail(errc::not_encodable);
  out[start] = static_cast<std::uint8_t>(len >> 8);
  out[start + 1] = static_cast<std::uint8_t>(len);
  return {};
}

result<std::vector<std::uint8_t>> encode(const request& r) {
  std::vector<std::uint8_t> out;
  if (auto e = encode(r, out); !e) return e.error();
  return out;
}

void encode(const alive2_reply& r, std::vector<std::uint8_t>& out) {
  if (r.extended) {
    out.push_back(static_cast<std::uint8_t>(tag::alive2_x_resp));
    out.push_back(r.result);
    put32(out, r.creation);
  } else {
    out.push_back(static_cast<std::uint8_t>(tag::alive2_resp));
    out.push_back(r.result);
    put16(out, static_cast<std::uint16_t>(r.creation));
  }
}

void encode(const port2_reply& r, std::vector<std::uint8_t>& out) {
  out.push_back(static_cast<std::uint8_t>(tag::port2_resp));
  if (r.result != 0 || !r.node) {
    out.push_back(r.result != 0 ? r.result : 1);
    return;
  }
  out.push_back(0);
  encode_node(*r.node, out);
}

void encode_port_header(std::uint32_t epmd_port, std::vector<std::uint8_t>& out) {
  put32(out, epmd_port);
}

std::string format_name_line(std::string_view name, std::uint16_t port) {
  std::string s = "name ";
  s.append(name);
  s += " at port ";
  s += std::to_string(port);
  s += '\n';
  return s;
}

std::string format_dump_active(std::string_view name, std::uint16_t port, int fd) {
  std::string s = "active name     <";
  s.append(name);
  s += "> at port " + std::to_string(port) + ", fd = " + std::to_string(fd) + "\n";
  return s;
}

std::string format_dump_unused(std::string_view name, std::uint16_t port, int fd) {
  std::string s = "old/unused name <";
  s.append(name);
  s += ">, port = " + std::to_string(port) + ", fd = " + std::to_string(fd) + " \n";
  return s;
}

result<std::vector<name_entry>> parse_names(std::string_view text) {
  std::vector<name_entry> out;
  std::size_t pos = 0;
  constexpr std::string_view pre = "name ", mid = " at port ";
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return error(errc::truncated, text.size());
    std::string_view line = text.substr(pos, nl - pos);
    auto at = line.rfind(mid);
    if (!line.starts_with(pre) || at == std::string_view::npos || at < pre.size())
      return error(errc::bad_reply, pos);
    name_entry e;
    e.name = std::string(line.substr(pre.size(), at - pre.size()));
    auto num = line.substr(at + mid.size());
    unsigned v = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || end != num.data() + num.size() || num.empty() || v > 0xffff)
      return error(errc::bad_field, pos + at + mid.size());
    e.port = static_cast<std::uint16_t>(v);
    out.push_back(std::move(e));
    pos = nl + 1;
  }
  return out;
}

result<kill_result> parse_kill_reply(std::string_view reply) {
  if (reply == kill_ok) return kill_result::killed;
  if (reply == kill_no) return kill_result::refused;
  return error(errc::bad_reply, 0);
}

result<stop_result> parse_stop_reply(std::string_view reply) {
  // OTP's epmd may append "STOPPED" after "NOEXIST"; the first word is the answer.
  if (reply.starts_with(stop_ok)) return stop_result::stopped;
  if (reply.starts_with(stop_noexist)) return stop_result::no_such_node;
  if (reply.empty() || reply == kill_no) return stop_result::refused;
  return error(errc::bad_reply, 0);
}

// ---- request_parser ----

void request_parser::reset() {
  got_ = 0;
  want_ = 0;
  body_.clear();
}

result<status> request_parser::feed(std::span<const std::uint8_t>& in) {
  if (want_ != 0 && got_ == want_) reset();  // the previous request was handed out
  while (got_ < 2) {
    if (in.empty()) return status::need_more;
    hdr_[got_++] = in[0];
    in = in.subspan(1);
  }
  if (want_ == 0) {
    std::size_t len = get16(hdr_);
    if (len == 0 || len > max_length_) return error(errc::bad_length, 0);
    want_ = len + 2;
    body_.reserve(len);
  }
  std::size_t take = std::min(in.size(), want_ - got_);
  if (got_ == 2 && take > 0) {
    // The tag is checked as soon as it arrives, so garbage fails before it is buffered.
    switch (static_cast<tag>(in[0])) {
      case tag::alive2_req:
      case tag::port_please2_req:
      case tag::names_req:
      case tag::dump_req:
      case tag::kill_req:
      case tag::stop_req:
        break;
      default:
        return error(errc::unknown_request, 2);
    }
  }
  body_.insert(body_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
  in = in.subspan(take);
  got_ += take;
  if (got_ < want_) return status::need_more;
  return decode();
}

result<status> request_parser::decode() {
  const std::uint8_t* p = body_.data();
  std::size_t n = body_.size();
  auto rest = [&] { return std::string(reinterpret_cast<const char*>(p + 1), n - 1); };
  switch (static_cast<tag>(p[0])) {
    case tag::alive2_req: {
      auto ni = decode_node(p + 1, n - 1, 3, true);
      if (!ni) return ni.error();
      req_ = alive2_request{std::move(*ni)};
      return status::complete;
    }
    case tag::port_please2_req:
    case tag::stop_req: {
      std::string name = rest();
      if (!valid_name(name)) return error(errc::bad_name, 3);
      if (p[0] == static_cast<std::uint8_t>(tag::stop_req))
        req_ = stop_request{std::move(name)};
      else
        req_ = port_please2_request{std::move(name)};
      return status::complete;
    }
    case tag::names_req:
    case tag::dump_req:
    case tag::kill_req:
      // OTP's epmd ignores bytes after these tags; so do we.
      if (p[0] == static_cast<std::uint8_t>(tag::names_req))
        req_ = names_request{};
      else if (p[0] == static_cast<std::uint8_t>(tag::dump_req))
        req_ = dump_request{};
      else
        req_ = kill_request{};
      return status::complete;
    default:
      return error(errc::unknown_request, 2);
  }
}

// ---- reply parsers ----

result<status> alive2_reply_parser::feed(std::span<const std::uint8_t>& in) {
  std::size_t want = 6;
  while (true) {
    if (got_ >= 1) {
      if (buf_[0] == static_cast<std::uint8_t>(tag::alive2_x_resp))
        want = 6;
      else if (buf_[0] == static_cast<std::uint8_t>(tag::alive2_resp))
        want = 4;
      else
        return error(errc::bad_reply, 0);
    }
    if (got_ == want) break;
    if (in.empty()) return status::need_more;
    buf_[got_++] = in[0];
    in = in.subspan(1);
  }
  reply_.extended = want == 6;
  reply_.result = buf_[1];
  reply_.creation = reply_.extended ? get32(buf_ + 2) : get16(buf_ + 2);
  return status::complete;
}

result<status> port2_reply_parser::feed(std::span<const std::uint8_t>& in) {
  if (done_) return status::complete;
  for (;;) {
    std::size_t take = std::min(in.size(), want_ - buf_.size());
    buf_.insert(buf_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
    in = in.subspan(take);
    if (buf_.size() < want_) return status::need_more;
    auto s = step();
    if (!s || *s == status::complete) return s;
  }
}

// Decides what the bytes buffered so far need next: grows want_ field by field.
result<status> port2_reply_parser::step() {
  const std::uint8_t* p = buf_.data();
  if (p[0] != static_cast<std::uint8_t>(tag::port2_resp)) return error(errc::bad_reply, 0);
  reply_.result = p[1];
  if (reply_.result != 0) {
    done_ = true;
    return status::complete;
  }
  // 2 + port(2) type(1) proto(1) hi(2) lo(2) nlen(2) = 12, then name, elen(2), extra.
  if (want_ == 2) {
    want_ = 12;
    return status::need_more;
  }
  if (want_ == 12) {
    if (get16(p + 10) > max_name_bytes) return error(errc::bad_name, 10);
    want_ = 12 + std::size_t{get16(p + 10)} + 2;
    return status::need_more;
  }
  std::size_t elen_at = 12 + std::size_t{get16(p + 10)};
  if (want_ == elen_at + 2) {
    std::size_t elen = get16(p + elen_at);
    if (elen > 0) {
      want_ += elen;
      return status::need_more;
    }
  }
  auto ni = decode_node(p + 2, buf_.size() - 2, 2, true);
  if (!ni) return ni.error();
  reply_.node = std::move(*ni);
  done_ = true;
  return status::complete;
}

result<status> text_reply_parser::feed(std::span<const std::uint8_t>& in) {
  while (got_ < 4 && !in.empty()) {
    port_[got_++] = in[0];
    in = in.subspan(1);
  }
  if (got_ == 4) reply_.epmd_port = get32(port_);
  if (in.empty()) return status::need_more;
  if (reply_.text.size() + in.size() > max_text_) return error(errc::too_large, 4 + max_text_);
  reply_.text.append(reinterpret_cast<const char*>(in.data()), in.size());
  in = {};
  return status::need_more;
}

result<void> text_reply_parser::finish() {
  if (got_ < 4) return error(errc::truncated, got_);
  return {};
}

}  // namespace erlnode::epmd
