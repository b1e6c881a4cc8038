// Zero-copy reader: views into the input, no term objects, no allocation (skip() keeps its
// container stack inline up to 64 levels).
#include <erlnode/etf.hpp>

#include "etf/wire.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <vector>

namespace erlnode::etf {

namespace {

inline std::string_view p_text(const std::uint8_t* p, std::size_t n) noexcept {
  return {reinterpret_cast<const char*>(p), n};
}

struct cursor {
  std::span<const std::uint8_t> b;
  std::size_t& pos;

  std::size_t left() const noexcept { return pos < b.size() ? b.size() - pos : 0; }
  const std::uint8_t* at() const noexcept { return b.data() + pos; }
};

// Checks the atom at p (with `left` bytes available); sets its header and text length.
// Returns 0 or the error. Cheap on purpose: skip() calls it for every atom.
inline errc check_atom(const std::uint8_t* p, std::size_t left, std::size_t& hdr, std::size_t& len,
                       bool allow_cache_ref) noexcept {
  if (left < 1) return errc::truncated;
  bool latin1;
  switch (p[0]) {
    case small_atom_utf8_ext:
    case small_atom_ext:
      if (left < 2) return errc::truncated;
      hdr = 2;
      len = p[1];
      latin1 = p[0] == small_atom_ext;
      break;
    case atom_utf8_ext:
    case atom_ext:
      if (left < 3) return errc::truncated;
      hdr = 3;
      len = detail::get16(p + 1);
      latin1 = p[0] == atom_ext;
      if (len > (latin1 ? 255u : 255u * 4)) return errc::bad_atom;
      break;
    case atom_cache_ref:
      if (!allow_cache_ref) return errc::bad_atom_cache_ref;
      if (left < 2) return errc::truncated;
      hdr = 2;
      len = 0;
      return errc{};
    default:
      return errc::bad_tag;
  }
  if (left - hdr < len) return errc::truncated;
  if (!latin1 && !detail::is_ascii(p + hdr, len)) {
    std::size_t chars;
    if (!detail::utf8_atom_chars(p + hdr, len, chars) || chars > 255) return errc::bad_atom;
  }
  return errc{};
}

// The same, on the cursor: advances it and returns the text.
bool atom_view(cursor c, std::string_view& text, error& err, bool allow_cache_ref) {
  std::size_t hdr = 0, len = 0;
  errc e = check_atom(c.at(), c.left(), hdr, len, allow_cache_ref);
  if (e != errc{}) {
    err = error(e, c.pos);
    return false;
  }
  text = p_text(c.at() + hdr, len);
  c.pos += hdr + len;
  return true;
}

bool parse_old_float(const std::uint8_t* p, double& v) {
  const char* s = reinterpret_cast<const char*>(p);
  std::size_t len = 0;
  while (len < 31 && s[len] != '\0') ++len;
  for (std::size_t i = len; i < 31; ++i)
    if (s[i] != '\0') return false;
  auto [end, ec] = std::from_chars(s, s + len, v);
  return ec == std::errc() && end == s + len && std::isfinite(v);
}

}  // namespace

result<void> reader::read_version() noexcept {
  if (pos_ >= b_.size()) return error(errc::truncated, pos_);
  if (b_[pos_] != version_magic) return error(errc::bad_version, pos_);
  ++pos_;
  return {};
}

result<std::uint8_t> reader::peek_tag() const noexcept {
  if (pos_ >= b_.size()) return error(errc::truncated, pos_);
  return b_[pos_];
}

result<std::int64_t> reader::read_int() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  switch (p[0]) {
    case small_integer_ext:
      if (c.left() < 2) return error(errc::truncated, pos_);
      pos_ += 2;
      return std::int64_t{p[1]};
    case integer_ext:
      if (c.left() < 5) return error(errc::truncated, pos_);
      pos_ += 5;
      return std::int64_t{static_cast<std::int32_t>(detail::get32(p + 1))};
    case small_big_ext:
    case large_big_ext: {
      std::size_t hdr = p[0] == small_big_ext ? 3 : 6;
      if (c.left() < hdr) return error(errc::truncated, pos_);
      std::size_t n = hdr == 3 ? p[1] : detail::get32(p + 1);
      std::uint8_t sign = p[hdr - 1];
      if (sign > 1) return error(errc::bad_value, pos_);
      if (c.left() < hdr + n) return error(errc::truncated, pos_);
      const std::uint8_t* d = p + hdr;
      std::size_t used = n;
      while (used && d[used - 1] == 0) --used;
      if (used > 8) return error(errc::bad_value, pos_);
      std::uint64_t mag = 0;
      for (std::size_t i = used; i-- > 0;) mag = (mag << 8) | d[i];
      std::int64_t v;
      if (!sign && mag <= static_cast<std::uint64_t>(INT64_MAX))
        v = static_cast<std::int64_t>(mag);
      else if (sign && mag <= static_cast<std::uint64_t>(INT64_MAX) + 1)
        v = static_cast<std::int64_t>(0 - mag);
      else
        return error(errc::bad_value, pos_);
      pos_ += hdr + n;
      return v;
    }
    default:
      return error(errc::bad_tag, pos_);
  }
}

result<double> reader::read_float() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  if (p[0] == new_float_ext) {
    if (c.left() < 9) return error(errc::truncated, pos_);
    double v = std::bit_cast<double>(detail::get64(p + 1));
    if (!std::isfinite(v)) return error(errc::bad_float, pos_);
    pos_ += 9;
    return v;
  }
  if (p[0] == float_ext) {
    if (c.left() < 32) return error(errc::truncated, pos_);
    double v;
    if (!parse_old_float(p + 1, v)) return error(errc::bad_float, pos_);
    pos_ += 32;
    return v;
  }
  return error(errc::bad_tag, pos_);
}

result<std::string_view> reader::read_atom() noexcept {
  std::string_view text;
  error err;
  if (!atom_view(cursor{b_, pos_}, text, err, false)) return err;
  return text;
}

result<std::uint32_t> reader::read_tuple_header() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  std::size_t hdr;
  std::uint32_t n;
  if (p[0] == small_tuple_ext) {
    if (c.left() < 2) return error(errc::truncated, pos_);
    hdr = 2;
    n = p[1];
  } else if (p[0] == large_tuple_ext) {
    if (c.left() < 5) return error(errc::truncated, pos_);
    hdr = 5;
    n = detail::get32(p + 1);
  } else {
    return error(errc::bad_tag, pos_);
  }
  if (n > c.left() - hdr) return error(errc::truncated, pos_ + hdr);
  pos_ += hdr;
  return n;
}

result<std::uint32_t> reader::read_list_header() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  if (p[0] == nil_ext) {
    ++pos_;
    return std::uint32_t{0};
  }
  if (p[0] != list_ext) return error(errc::bad_tag, pos_);
  if (c.left() < 5) return error(errc::truncated, pos_);
  std::uint32_t n = detail::get32(p + 1);
  if (std::size_t{n} + 1 > c.left() - 5) return error(errc::truncated, pos_ + 5);
  pos_ += 5;
  return n;
}

result<std::string_view> reader::read_string() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  if (p[0] != string_ext) return error(errc::bad_tag, pos_);
  if (c.left() < 3) return error(errc::truncated, pos_);
  std::size_t n = detail::get16(p + 1);
  if (c.left() < 3 + n) return error(errc::truncated, pos_);
  pos_ += 3 + n;
  return std::string_view(reinterpret_cast<const char*>(p + 3), n);
}

result<std::uint32_t> reader::read_map_header() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  if (p[0] != map_ext) return error(errc::bad_tag, pos_);
  if (c.left() < 5) return error(errc::truncated, pos_);
  std::uint32_t n = detail::get32(p + 1);
  if (std::size_t{n} * 2 > c.left() - 5) return error(errc::truncated, pos_ + 5);
  pos_ += 5;
  return n;
}

result<std::span<const std::uint8_t>> reader::read_binary() noexcept {
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  const std::uint8_t* p = c.at();
  if (p[0] != binary_ext) return error(errc::bad_tag, pos_);
  if (c.left() < 5) return error(errc::truncated, pos_);
  std::size_t n = detail::get32(p + 1);
  if (c.left() < 5 + n) return error(errc::truncated, pos_);
  pos_ += 5 + n;
  return std::span<const std::uint8_t>(p + 5, n);
}

result<pid_view> reader::read_pid() noexcept {
  std::size_t start = pos_;
  cursor c{b_, pos_};
  if (c.left() < 1) return error(errc::truncated, pos_);
  std::uint8_t t = *c.at();
  if (t != new_pid_ext && t != pid_ext) return error(errc::bad_tag, pos_);
  ++pos_;
  pid_view v;
  error err;
  if (!atom_view(c, v.node, err, false)) {
    pos_ = start;
    return err;
  }
  std::size_t need = t == new_pid_ext ? 12 : 9;
  if (c.left() < need) {
    error e(errc::truncated, pos_);
    pos_ = start;
    return e;
  }
  const std::uint8_t* q = c.at();
  v.id = detail::get32(q);
  v.serial = detail::get32(q + 4);
  v.creation = t == new_pid_ext ? detail::get32(q + 8) : q[8];
  pos_ += need;
  return v;
}

result<void> reader::skip(std::size_t max_depth) noexcept {
  // Open containers: children still to skip, and for funs where they must end.
  struct open {
    std::size_t end;  // fun: offset just past it; else 0
    std::uint64_t remaining;
  };
  constexpr std::size_t inline_depth = 64;
  open inline_stack[inline_depth];
  std::vector<open> spill;  // only for terms nested deeper than inline_depth
  std::size_t depth = 0;
  auto top = [&]() -> open& {
    return depth <= inline_depth ? inline_stack[depth - 1] : spill[depth - 1 - inline_depth];
  };
  // The position lives in a register until the end: walking binaries is one dependent load
  // per term (a length, then the next tag), and a round trip through memory would add to it.
  const std::uint8_t* const b = b_.data();
  const std::size_t size = b_.size();
  const std::size_t start = pos_;
  std::size_t pos = pos_;
  auto fail = [&](errc e, std::size_t off) -> result<void> {
    pos_ = start;
    return error(e, off);
  };
  if (pos > size) return fail(errc::truncated, pos);
  // Large binaries in a row (chunks of a file, blocks of a store) are usually all one size.
  // Each header is a load that depends on the one before and lies pages past it, where no
  // hardware prefetcher follows, so each cache miss is paid in turn (and headers 64 KiB
  // apart share cache sets: they miss even when the term was walked just before). Guessing
  // that the next binaries are as large as this one, their headers are prefetched a few
  // ahead; a wrong guess costs one useless prefetch (prefetches never fault; kept in bounds).
  constexpr std::size_t prefetch_min = 2048;
  constexpr std::size_t prefetch_ahead = 4;
  std::size_t run_stride = 0;
  auto prefetch_run = [&](std::size_t stride) {
    std::size_t ahead = pos + (prefetch_ahead - 1) * stride;
    if (ahead < size) __builtin_prefetch(b + ahead);
    if (stride != run_stride) [[unlikely]] {
      run_stride = stride;
      for (std::size_t k = 0; k + 1 < prefetch_ahead && pos + k * stride < size; ++k)
        __builtin_prefetch(b + pos + k * stride);
    }
  };
  errc atom_err = errc{};
  auto skip_atom = [&]() {
    std::size_t hdr = 0, len = 0;
    atom_err = check_atom(b + pos, size - pos, hdr, len, true);
    if (atom_err != errc{}) return false;
    pos += hdr + len;
    return true;
  };
  for (;;) {
    const std::size_t left = size - pos;
    if (left < 1) return fail(errc::truncated, pos);
    const std::uint8_t* p = b + pos;
    const std::size_t at = pos;
    std::uint64_t children = 0;
    std::size_t fun_end = 0;
    std::size_t n;
    switch (p[0]) {
      case small_integer_ext:
        if (left < 2) return fail(errc::truncated, at);
        pos += 2;
        break;
      case integer_ext:
        if (left < 5) return fail(errc::truncated, at);
        pos += 5;
        break;
      case small_big_ext:
      case large_big_ext: {
        std::size_t hdr = p[0] == small_big_ext ? 3 : 6;
        if (left < hdr) return fail(errc::truncated, at);
        n = hdr == 3 ? p[1] : detail::get32(p + 1);
        if (p[hdr - 1] > 1) return fail(errc::bad_value, at);
        if (left - hdr < n) return fail(errc::truncated, at);
        pos += hdr + n;
        break;
      }
      case new_float_ext:
        if (left < 9) return fail(errc::truncated, at);
        if (!std::isfinite(std::bit_cast<double>(detail::get64(p + 1))))
          return fail(errc::bad_float, at);
        pos += 9;
        break;
      case float_ext: {
        if (left < 32) return fail(errc::truncated, at);
        double v;
        if (!parse_old_float(p + 1, v)) return fail(errc::bad_float, at);
        pos += 32;
        break;
      }
      case atom_ext:
      case small_atom_ext:
      case atom_utf8_ext:
      case small_atom_utf8_ext:
      case atom_cache_ref:
        if (!skip_atom()) return fail(atom_err, pos);
        break;
      case small_tuple_ext:
        if (left < 2) return fail(errc::truncated, at);
        children = p[1];
        pos += 2;
        if (children > left - 2) return fail(errc::truncated, pos);
        break;
      case large_tuple_ext:
        if (left < 5) return fail(errc::truncated, at);
        children = detail::get32(p + 1);
        pos += 5;
        if (children > left - 5) return fail(errc::truncated, pos);
        break;
      case nil_ext:
        pos += 1;
        break;
      case string_ext:
        if (left < 3) return fail(errc::truncated, at);
        n = detail::get16(p + 1);
        if (left - 3 < n) return fail(errc::truncated, at);
        pos += 3 + n;
        break;
      case list_ext:
        if (left < 5) return fail(errc::truncated, at);
        children = detail::get32(p + 1);
        pos += 5;
        if (children == 0) continue;  // [ | Tail] is Tail
        ++children;                   // the tail
        if (children > left - 5) return fail(errc::truncated, pos);
        break;
      case binary_ext:
        if (left < 5) return fail(errc::truncated, at);
        n = detail::get32(p + 1);
        if (left - 5 < n) return fail(errc::truncated, at);
        pos += 5 + n;
        if (n >= prefetch_min) prefetch_run(5 + n);
        break;
      case bit_binary_ext: {
        if (left < 6) return fail(errc::truncated, at);
        n = detail::get32(p + 1);
        unsigned bits = p[5];
        if (n == 0 ? bits != 0 : (bits < 1 || bits > 8)) return fail(errc::bad_value, at + 5);
        if (left - 6 < n) return fail(errc::truncated, at);
        pos += 6 + n;
        break;
      }
      case map_ext:
        if (left < 5) return fail(errc::truncated, at);
        children = std::uint64_t{detail::get32(p + 1)} * 2;
        pos += 5;
        if (children > left - 5) return fail(errc::truncated, pos);
        break;
      case new_pid_ext:
      case pid_ext:
      case new_port_ext:
      case v4_port_ext:
      case port_ext:
      case reference_ext: {
        std::uint8_t t = p[0];
        ++pos;
        if (!skip_atom()) return fail(atom_err, pos);
        n = t == new_pid_ext    ? 12
            : t == pid_ext      ? 9
            : t == new_port_ext ? 8
            : t == v4_port_ext  ? 12
                                : 5;
        if (size - pos < n) return fail(errc::truncated, at);
        pos += n;
        break;
      }
      case newer_reference_ext:
      case new_reference_ext: {
        if (left < 3) return fail(errc::truncated, at);
        std::size_t words = detail::get16(p + 1);
        if (words == 0 || words > reference::max_words) return fail(errc::bad_value, at + 1);
        std::size_t cl = p[0] == newer_reference_ext ? 4 : 1;
        pos += 3;
        if (!skip_atom()) return fail(atom_err, pos);
        if (size - pos < cl + 4 * words) return fail(errc::truncated, at);
        pos += cl + 4 * words;
        break;
      }
      case new_fun_ext: {
        if (left < 30) return fail(errc::truncated, at);
        std::uint32_t fsize = detail::get32(p + 1);
        if (fsize < 29) return fail(errc::bad_value, at + 1);
        if (left < 1 + std::size_t{fsize}) return fail(errc::truncated, at);
        std::uint32_t num_free = detail::get32(p + 26);
        pos += 30;
        if (!skip_atom()) return fail(atom_err, pos);
        children = std::uint64_t{num_free} + 3;
        if (children > size - pos) return fail(errc::truncated, pos);
        fun_end = at + 1 + fsize;
        break;
      }
      case export_ext: {
        ++pos;
        for (int i = 0; i < 2; ++i) {
          std::size_t hdr = 0, len = 0;
          errc e = check_atom(b + pos, size - pos, hdr, len, true);
          if (e != errc{}) return fail(e, pos);
          pos += hdr + len;
        }
        if (size - pos < 2) return fail(errc::truncated, pos);
        if (b[pos] != small_integer_ext) return fail(errc::bad_value, pos);
        pos += 2;
        break;
      }
      case local_ext:
        pos = size;
        break;
      default:
        return fail(errc::bad_tag, at);
    }
    if (children) {
      if (depth >= max_depth) return fail(errc::too_deep, at);
      open o{fun_end, children};
      if (depth < inline_depth)
        inline_stack[depth] = o;
      else
        spill.push_back(o);
      ++depth;
      continue;
    }
    // One term done: close every container it completes.
    for (;;) {
      if (depth == 0) {
        pos_ = pos;
        return {};
      }
      open& o = top();
      if (--o.remaining) break;
      if (o.end && pos != o.end) return fail(errc::bad_value, o.end);
      if (depth > inline_depth) spill.pop_back();
      --depth;
    }
  }
}

}  // namespace erlnode::etf
