// Iterative ETF encoder producing the bytes term_to_binary/1,2 of OTP 25 produces.
#include <erlnode/etf.hpp>

#include "etf/small_stack.hpp"
#include "etf/wire.hpp"
#include "term/objects.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <iterator>

namespace erlnode::etf {

namespace {

namespace od = erlnode::detail;

// Copies n bytes; short copies (atom texts, small binaries) without a call to memcpy.
[[gnu::always_inline]] inline void copy_small(std::uint8_t* d, const std::uint8_t* s,
                                              std::size_t n) noexcept {
  if (n >= 8 && n <= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    std::memcpy(d, s, n);
  }
}

// Appends to a vector. Bytes past pos() up to size() are zeroed slack made in small chunks,
// so small fields are written with one bounds check; large payloads are appended without
// zero-filling first (term_to_binary of big binaries is a memcpy, and so is this).
class buffer_sink {
 public:
  static constexpr bool counting = false;
  static constexpr bool presize = true;  // size the output once before large payloads
  explicit buffer_sink(std::vector<std::uint8_t>& v)
      : v_(v), base_(v.data()), pos_(v.size()), lim_(v.size()) {}
  std::size_t pos() const noexcept { return pos_; }
  [[gnu::always_inline]] std::uint8_t* take(std::size_t n) {
    if (lim_ - pos_ < n) [[unlikely]]
      make_room(n);
    std::uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }
  [[gnu::always_inline]] void u8(std::uint8_t b) { *take(1) = b; }
  [[gnu::always_inline]] void bytes(const void* p, std::size_t n) {
    if (n < 4096) [[likely]] {
      copy_small(take(n), static_cast<const std::uint8_t*>(p), n);
      return;
    }
    append_large(p, n);
  }
  // A binary's payload (`bin` is the binary term).
  void payload(const term&, const std::uint8_t* p, std::size_t n) { bytes(p, n); }
  void patch32(std::size_t at, std::uint32_t v) { detail::put32(base_ + at, v); }
  void done() { v_.resize(pos_); }
  // Called once the output is known to be large: reserve it all at once.
  void reserve_total(std::size_t total) {
    slack_ = 256;  // the rest is mostly large payloads, appended without zero-filling
    if (total > v_.capacity()) {
      v_.resize(pos_);
      v_.reserve(total);
      sync();
    }
  }

 private:
  void sync() noexcept {
    base_ = v_.data();
    lim_ = v_.size();
  }
  [[gnu::noinline]] void make_room(std::size_t n) {
    v_.resize(pos_);
    reserve_for(n);
    // Zero-filled slack in chunks of a few KB, within the reserved capacity.
    v_.resize(std::min(v_.capacity(), pos_ + std::max(n, slack_)));
    sync();
  }
  [[gnu::noinline]] void append_large(const void* p, std::size_t n) {
    v_.resize(pos_);  // drop the slack, then copy without zero-filling
    reserve_for(n);
    auto* b = static_cast<const std::uint8_t*>(p);
    v_.insert(v_.end(), b, b + n);
    pos_ += n;
    sync();
  }
  void reserve_for(std::size_t n) {
    if (v_.capacity() - pos_ < n) v_.reserve(std::max(v_.capacity() * 2, pos_ + n + 256));
  }

  std::vector<std::uint8_t>& v_;
  std::uint8_t* base_;
  std::size_t pos_;
  std::size_t lim_;
  std::size_t slack_ = 4096;
};

// Only counts. Writes land in a per-thread scratch area large enough for any one field
// (STRING_EXT is the largest: 3 + 65535 bytes).
class count_sink {
 public:
  static constexpr bool counting = true;
  static constexpr bool presize = false;
  std::size_t pos() const noexcept { return pos_; }
  std::uint8_t* take(std::size_t n) {
    pos_ += n;
    return scratch_;
  }
  void u8(std::uint8_t) { ++pos_; }
  void bytes(const void*, std::size_t n) { pos_ += n; }
  void payload(const term&, const std::uint8_t*, std::size_t n) { pos_ += n; }
  void patch32(std::size_t, std::uint32_t) {}
  void done() {}
  void reserve_total(std::size_t) {}

 private:
  std::size_t pos_ = 0;
  static thread_local std::uint8_t scratch_[3 + 65536 + 1024];
};
thread_local std::uint8_t count_sink::scratch_[3 + 65536 + 1024];

struct eframe {
  const term* p;
  const term* end;
  const term* next;
  const term* next_end;
  const map::value_type* mp;
  const map::value_type* mend;
  std::size_t patch;  // fun: offset of its Size field, else npos
  bool value_next;    // map: the next slot is the value of *mp
};
constexpr std::size_t npos = static_cast<std::size_t>(-1);
using eframe_stack = detail::small_stack<eframe, 24>;

template <class T>
const T* obj(const term& t) noexcept {
  return static_cast<const T*>(t.heap());
}

template <class Sink>
class encoder {
 public:
  encoder(Sink& s, const encode_options& o)
      : s_(s), o_(o), has_ref_(static_cast<bool>(o.atom_ref)) {}

  bool run(const term& root) {
    root_ = &root;
    start_ = s_.pos();
    eframe_stack st;
    const term* cur = &root;
    for (;;) {
      if (!one(*cur, st)) return false;
      // Next slot: the innermost open container's next element, closing finished ones.
      for (;;) {
        if (st.empty()) return true;
        eframe& f = st.back();
        if (f.p != f.end) [[likely]] {
          // Immediates are written here, without a round trip through one().
          while (f.p != f.end) {
            const term& e = *f.p;
            if (e.type() == kind::small_int)
              write_int(*e.get_if<std::int64_t>());
            else if (e.type() == kind::atom)
              write_atom(*e.get_if<atom>());
            else if (e.type() == kind::nil)
              s_.u8(nil_ext);
            else
              break;
            ++f.p;
          }
          if (f.p != f.end) {
            cur = f.p++;
            break;
          }
          continue;
        }
        if (f.mp != f.mend) {
          if (f.value_next) {
            cur = &f.mp->second;
            ++f.mp;
          } else {
            cur = &f.mp->first;
          }
          f.value_next = !f.value_next;
          break;
        }
        if (f.next) {
          f.p = f.next;
          f.end = f.next_end;
          f.next = nullptr;
          continue;
        }
        if (f.patch != npos) s_.patch32(f.patch, static_cast<std::uint32_t>(s_.pos() - f.patch));
        st.pop_back();
      }
    }
  }

 private:
  bool push(eframe_stack& st, const eframe& f) {
    if (st.size() >= o_.max_depth) return false;
    st.push_back(f);
    return true;
  }

  [[gnu::noinline]] bool write_atom_ref(atom a) {
    int idx = o_.atom_ref(a);
    if (idx < 0 || idx >= 255) return false;
    std::uint8_t* p = s_.take(2);
    p[0] = atom_cache_ref;
    p[1] = static_cast<std::uint8_t>(idx);
    return true;
  }

  [[gnu::always_inline]] void write_atom(atom a) {
    if (has_ref_ && write_atom_ref(a)) return;
    std::size_t n = a.size();
    if (o_.minor_version < 2 && a.is_latin1()) {
      // ATOM_EXT carries Latin-1 bytes: fold two-byte UTF-8 sequences back to one byte.
      std::size_t chars = a.length();
      std::uint8_t* p = s_.take(3 + chars);
      p[0] = atom_ext;
      detail::put16(p + 1, static_cast<std::uint16_t>(chars));
      const auto* t = reinterpret_cast<const std::uint8_t*>(a.c_str());
      if (chars == n) {
        copy_small(p + 3, t, n);
      } else {
        std::uint8_t* o = p + 3;
        for (std::size_t i = 0; i < n; ++i) {
          if (t[i] < 0x80) {
            *o++ = t[i];
          } else {
            *o++ = static_cast<std::uint8_t>(((t[i] & 0x03) << 6) | (t[i + 1] & 0x3F));
            ++i;
          }
        }
      }
      return;
    }
    if (n <= 255) {
      std::uint8_t* p = s_.take(2 + n);
      p[0] = small_atom_utf8_ext;
      p[1] = static_cast<std::uint8_t>(n);
      copy_small(p + 2, reinterpret_cast<const std::uint8_t*>(a.c_str()), n);
    } else {
      std::uint8_t* p = s_.take(3 + n);
      p[0] = atom_utf8_ext;
      detail::put16(p + 1, static_cast<std::uint16_t>(n));
      copy_small(p + 3, reinterpret_cast<const std::uint8_t*>(a.c_str()), n);
    }
  }

  void write_int(std::int64_t v) {
    if (v >= 0 && v <= 255) {
      std::uint8_t* p = s_.take(2);
      p[0] = small_integer_ext;
      p[1] = static_cast<std::uint8_t>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      std::uint8_t* p = s_.take(5);
      p[0] = integer_ext;
      detail::put32(p + 1, static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
    } else {
      std::uint64_t mag = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
      std::uint8_t n = static_cast<std::uint8_t>((64 - std::countl_zero(mag) + 7) / 8);
      std::uint8_t* p = s_.take(3 + n);
      p[0] = small_big_ext;
      p[1] = n;
      p[2] = v < 0 ? 1 : 0;
      for (std::uint8_t i = 0; i < n; ++i) p[3 + i] = static_cast<std::uint8_t>(mag >> (8 * i));
    }
  }

  void write_big(const big_int& v) {
    std::vector<std::uint8_t> digits;
    big_int mag = boost::multiprecision::abs(v);
    boost::multiprecision::export_bits(mag, std::back_inserter(digits), 8, false);
    std::size_t n = digits.size();
    if (n <= 255) {
      std::uint8_t* p = s_.take(3);
      p[0] = small_big_ext;
      p[1] = static_cast<std::uint8_t>(n);
      p[2] = v < 0 ? 1 : 0;
    } else {
      std::uint8_t* p = s_.take(6);
      p[0] = large_big_ext;
      detail::put32(p + 1, static_cast<std::uint32_t>(n));
      p[5] = v < 0 ? 1 : 0;
    }
    s_.bytes(digits.data(), n);
  }

  static bool is_byte_string(const od::list_obj* l) {
    if (l->size >= 65536 || !l->tail.is_nil()) return false;
    const term* e = const_cast<od::list_obj*>(l)->elems();
    for (std::size_t i = 0; i < l->size; ++i) {
      auto v = e[i].get_if<std::int64_t>();
      if (!v || static_cast<std::uint64_t>(*v) > 255) return false;
    }
    return true;
  }

  // Before the first large payload, size the whole output once so it is allocated once.
  void size_output() {
    if constexpr (Sink::presize) {
      if (sized_) return;
      sized_ = true;
      count_sink c;
      encoder<count_sink> e(c, o_);
      if (e.run(*root_)) s_.reserve_total(start_ + c.pos());
    }
  }

  bool one(const term& t, eframe_stack& st) {
    switch (t.type()) {
      case kind::small_int:
        write_int(*t.get_if<std::int64_t>());
        return true;
      case kind::atom:
        write_atom(*t.get_if<atom>());
        return true;
      case kind::nil:
        s_.u8(nil_ext);
        return true;
      case kind::float_: {
        std::uint8_t* p = s_.take(9);
        p[0] = new_float_ext;
        detail::put64(p + 1, std::bit_cast<std::uint64_t>(*t.get_if<double>()));
        return true;
      }
      case kind::big_int:
        write_big(obj<od::big_obj>(t)->v);
        return true;
      case kind::tuple: {
        auto* o = obj<od::tuple_obj>(t);
        std::size_t n = o->size;
        if (n <= 255) {
          std::uint8_t* p = s_.take(2);
          p[0] = small_tuple_ext;
          p[1] = static_cast<std::uint8_t>(n);
        } else {
          std::uint8_t* p = s_.take(5);
          p[0] = large_tuple_ext;
          detail::put32(p + 1, static_cast<std::uint32_t>(n));
        }
        if (n == 0) return true;
        const term* e = const_cast<od::tuple_obj*>(o)->elems();
        return push(st, {e, e + n, nullptr, nullptr, nullptr, nullptr, npos, false});
      }
      case kind::list: {
        auto* o = obj<od::list_obj>(t);
        std::size_t n = o->size;
        const term* e = const_cast<od::list_obj*>(o)->elems();
        if (is_byte_string(o)) {
          std::uint8_t* p = s_.take(3 + n);
          p[0] = string_ext;
          detail::put16(p + 1, static_cast<std::uint16_t>(n));
          for (std::size_t i = 0; i < n; ++i)
            p[3 + i] = static_cast<std::uint8_t>(*e[i].get_if<std::int64_t>());
          return true;
        }
        std::uint8_t* p = s_.take(5);
        p[0] = list_ext;
        detail::put32(p + 1, static_cast<std::uint32_t>(n));
        const term* tail = &o->tail;
        return push(st, {e, e + n, tail, tail + 1, nullptr, nullptr, npos, false});
      }
      case kind::map: {
        const auto& pairs = obj<od::map_obj>(t)->pairs;
        std::uint8_t* p = s_.take(5);
        p[0] = map_ext;
        detail::put32(p + 1, static_cast<std::uint32_t>(pairs.size()));
        if (pairs.empty()) return true;
        const map::value_type* b = pairs.data();
        return push(st, {nullptr, nullptr, nullptr, nullptr, b, b + pairs.size(), npos, false});
      }
      case kind::bitstring: {
        auto* o = obj<od::binary_obj>(t);
        std::size_t n = o->size;
        if (o->tail_bits == 0) {
          std::uint8_t* p = s_.take(5);
          p[0] = binary_ext;
          detail::put32(p + 1, static_cast<std::uint32_t>(n));
        } else {
          std::uint8_t* p = s_.take(6);
          p[0] = bit_binary_ext;
          detail::put32(p + 1, static_cast<std::uint32_t>(n));
          p[5] = o->tail_bits;
        }
        if (n >= 65536) size_output();
        s_.payload(t, o->data, n);
        return true;
      }
      case kind::pid: {
        auto* o = obj<od::pid_obj>(t);
        s_.u8(new_pid_ext);
        write_atom(o->node);
        std::uint8_t* p = s_.take(12);
        detail::put32(p, o->id);
        detail::put32(p + 4, o->serial);
        detail::put32(p + 8, o->creation);
        return true;
      }
      case kind::port: {
        auto* o = obj<od::port_obj>(t);
        bool v4 = o->id > 0xFFFFFFFFu;
        s_.u8(v4 ? v4_port_ext : new_port_ext);
        write_atom(o->node);
        if (v4) {
          std::uint8_t* p = s_.take(12);
          detail::put64(p, o->id);
          detail::put32(p + 8, o->creation);
        } else {
          std::uint8_t* p = s_.take(8);
          detail::put32(p, static_cast<std::uint32_t>(o->id));
          detail::put32(p + 4, o->creation);
        }
        return true;
      }
      case kind::reference: {
        auto* o = obj<od::ref_obj>(t);
        std::uint8_t* p = s_.take(3);
        p[0] = newer_reference_ext;
        detail::put16(p + 1, o->len);
        write_atom(o->node);
        p = s_.take(4 + 4 * std::size_t{o->len});
        detail::put32(p, o->creation);
        for (std::size_t i = 0; i < o->len; ++i) detail::put32(p + 4 + 4 * i, o->words[i]);
        return true;
      }
      case kind::fun: {
        const fun::fields& f = obj<od::fun_obj>(t)->f;
        std::size_t at = s_.pos() + 1;
        std::uint8_t* p = s_.take(30);
        p[0] = new_fun_ext;
        detail::put32(p + 1, 0);  // patched when the free variables are written
        p[5] = f.arity;
        std::memcpy(p + 6, f.uniq.data(), 16);
        detail::put32(p + 22, f.index);
        detail::put32(p + 26, static_cast<std::uint32_t>(f.free_vars.size()));
        write_atom(f.module);
        const term* fv = f.free_vars.data();
        return push(st, {f.extra.data(), f.extra.data() + f.extra.size(), fv,
                         fv + f.free_vars.size(), nullptr, nullptr, at, false});
      }
      case kind::export_fun: {
        auto* o = obj<od::export_obj>(t);
        s_.u8(export_ext);
        write_atom(o->module);
        write_atom(o->function);
        std::uint8_t* p = s_.take(2);
        p[0] = small_integer_ext;
        p[1] = o->arity;
        return true;
      }
      case kind::local: {
        const auto& b = obj<od::local_obj>(t)->bytes;
        s_.bytes(b.data(), b.size());
        return true;
      }
    }
    return false;
  }

  Sink& s_;
  const encode_options& o_;
  bool has_ref_;
  bool sized_ = false;
  const term* root_ = nullptr;
  std::size_t start_ = 0;
};

// term_to_binary(T, [compressed]) keeps the plain encoding only when compressing makes it
// longer.
void compress_body(std::vector<std::uint8_t>& out, std::size_t start, int level) {
  std::size_t body = start + 1;  // after the version byte
  std::size_t body_len = out.size() - body;
  uLongf zlen = compressBound(static_cast<uLong>(body_len));
  std::vector<std::uint8_t> z(zlen);
  if (compress2(z.data(), &zlen, out.data() + body, static_cast<uLong>(body_len), level) != Z_OK)
    return;
  if (zlen + 6 > body_len + 1) return;  // erl compresses on a tie (checked with erl)
  out.resize(body);
  out.push_back(compressed_ext);
  std::uint8_t len[4];
  detail::put32(len, static_cast<std::uint32_t>(body_len));
  out.insert(out.end(), len, len + 4);
  out.insert(out.end(), z.data(), z.data() + zlen);
}

}  // namespace

// The sink of encode_iov: small fields go to the encoding's own bytes (through a
// buffer_sink), large binary payloads become buffers of their own. Offsets the encoder sees
// (pos, patch32) are logical: they count the payloads too.
class iov_builder {
 public:
  static constexpr bool counting = false;
  static constexpr bool presize = false;  // large payloads are not copied: nothing to size

  static result<void> encode(const term& t, iov_encoding& out, const encode_options& opts) {
    out.clear();
    if (opts.compressed > 0 && opts.version_byte) {
      // Compression reads the whole encoding: one owned buffer.
      if (auto r = encode_to(t, out.own_, opts); !r) return r;
      out.size_ = out.own_.size();
      out.bufs_.emplace_back(out.own_.data(), out.own_.size());
      return {};
    }
    iov_builder b(out);
    if (opts.version_byte) b.u8(version_magic);
    encoder<iov_builder> e(b, opts);
    if (!e.run(t)) {
      out.clear();
      return error(errc::not_encodable, 0);
    }
    b.done();
    return {};
  }

  std::size_t pos() const noexcept { return sink_.pos() + ext_; }
  [[gnu::always_inline]] std::uint8_t* take(std::size_t n) { return sink_.take(n); }
  [[gnu::always_inline]] void u8(std::uint8_t b) { sink_.u8(b); }
  [[gnu::always_inline]] void bytes(const void* p, std::size_t n) { sink_.bytes(p, n); }
  void payload(const term& bin, const std::uint8_t* p, std::size_t n) {
    if (n < iov_encoding::shared_binary_min) {
      sink_.bytes(p, n);
      return;
    }
    std::size_t logical = pos();
    out_.keep_.push_back(*bin.get_if<binary>());
    ext_ += n;
    cuts_.push_back({sink_.pos(), logical, ext_, p, n});
  }
  void patch32(std::size_t at, std::uint32_t v) {
    // `at` is never inside a payload: the payloads before it are those starting before it.
    auto it = std::upper_bound(cuts_.begin(), cuts_.end(), at,
                               [](std::size_t a, const cut& c) { return a < c.logical; });
    sink_.patch32(at - (it == cuts_.begin() ? 0 : std::prev(it)->ext_after), v);
  }
  void reserve_total(std::size_t) {}
  void done() {
    sink_.done();
    const std::uint8_t* own = out_.own_.data();
    std::size_t at = 0;
    out_.bufs_.reserve(2 * cuts_.size() + 1);
    for (const cut& c : cuts_) {
      if (c.own > at) out_.bufs_.emplace_back(own + at, c.own - at);
      out_.bufs_.emplace_back(c.data, c.size);
      at = c.own;
    }
    if (out_.own_.size() > at) out_.bufs_.emplace_back(own + at, out_.own_.size() - at);
    out_.size_ = out_.own_.size() + ext_;
  }

 private:
  explicit iov_builder(iov_encoding& out) : out_(out), sink_(out.own_) {}

  struct cut {
    std::size_t own;        // own bytes before the payload
    std::size_t logical;    // encoding offset of the payload
    std::size_t ext_after;  // payload bytes up to and including this one
    const std::uint8_t* data;
    std::size_t size;
  };
  iov_encoding& out_;
  buffer_sink sink_;
  std::vector<cut> cuts_;
  std::size_t ext_ = 0;
};

std::vector<std::uint8_t> iov_encoding::flatten() const {
  std::vector<std::uint8_t> v;
  v.reserve(size_);
  for (auto b : bufs_) v.insert(v.end(), b.begin(), b.end());
  return v;
}

void iov_encoding::clear() noexcept {
  own_.clear();
  bufs_.clear();
  keep_.clear();
  size_ = 0;
}

result<void> encode_iov(const term& t, iov_encoding& out, const encode_options& opts) {
  return iov_builder::encode(t, out, opts);
}

result<void> encode_to(const term& t, std::vector<std::uint8_t>& out, const encode_options& opts) {
  std::size_t start = out.size();
  buffer_sink s(out);
  if (opts.version_byte) s.u8(version_magic);
  encoder<buffer_sink> e(s, opts);
  if (!e.run(t)) {
    out.resize(start);
    return error(errc::not_encodable, 0);
  }
  s.done();
  if (opts.compressed > 0 && opts.version_byte)
    compress_body(out, start, std::min(opts.compressed, 9));
  return {};
}

result<std::vector<std::uint8_t>> encode(const term& t, const encode_options& opts) {
  std::vector<std::uint8_t> out;
  out.reserve(64);
  auto r = encode_to(t, out, opts);
  if (!r) return r.error();
  return out;
}

result<std::size_t> encoded_size(const term& t, const encode_options& opts) {
  count_sink s;
  if (opts.version_byte) s.u8(version_magic);
  encoder<count_sink> e(s, opts);
  if (!e.run(t)) return error(errc::not_encodable, 0);
  return s.pos();
}

}  // namespace erlnode::etf
