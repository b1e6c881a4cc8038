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

// Where the encoder writes next. A local of encoder::run, passed by reference only to
// inlined code, so it stays in registers: the byte stores, which may alias any memory, would
// otherwise force a reload (and store) of the write position for every field.
struct cursor {
  std::uint8_t* p;
  std::uint8_t* lim;
};

// Sinks: where the bytes go. The encoder writes fields between cursor.p and cursor.lim and
// calls the sink (out of line) only to make room, for large payloads, and at the end.

// Appends to a vector. Bytes from the cursor up to lim are zeroed slack made in small
// chunks, so small fields are written with one bounds check; large payloads are appended
// without zero-filling first (term_to_binary of big binaries is a memcpy, and so is this).
class buffer_sink {
 public:
  static constexpr bool presize = true;  // size the output once before large payloads
  static constexpr std::size_t inline_payload_max = 4095;
  explicit buffer_sink(std::vector<std::uint8_t>& v) : v_(v) {}

  cursor start() noexcept {
    base_ = v_.data();
    return {base_ + v_.size(), base_ + v_.size()};
  }
  std::size_t offset(cursor c) const noexcept { return static_cast<std::size_t>(c.p - base_); }
  [[gnu::noinline]] cursor grow(cursor c, std::size_t n) {
    std::size_t pos = offset(c);
    v_.resize(pos);
    reserve_for(pos, n);
    // Zero-filled slack in chunks of a few KB, within the reserved capacity.
    v_.resize(std::min(v_.capacity(), pos + std::max(n, slack_)));
    base_ = v_.data();
    return {base_ + pos, base_ + v_.size()};
  }
  // Appends bytes that were not copied inline (payloads, large fields).
  [[gnu::noinline]] cursor append(cursor c, const std::uint8_t* p, std::size_t n) {
    std::size_t pos = offset(c);
    v_.resize(pos);  // drop the slack, then copy without zero-filling
    reserve_for(pos, n);
    v_.insert(v_.end(), p, p + n);
    base_ = v_.data();
    return {base_ + v_.size(), base_ + v_.size()};
  }
  cursor payload(cursor c, const term&, const std::uint8_t* p, std::size_t n) {
    return append(c, p, n);
  }
  void patch32(std::size_t at, std::uint32_t v) noexcept { detail::put32(base_ + at, v); }
  // Called once the output is known to be large: reserve it all at once.
  [[gnu::noinline]] cursor reserve_total(cursor c, std::size_t total) {
    slack_ = 256;  // the rest is mostly large payloads, appended without zero-filling
    if (total <= v_.capacity()) return c;
    std::size_t pos = offset(c);
    v_.resize(pos);
    v_.reserve(total);
    base_ = v_.data();
    return {base_ + pos, base_ + pos};
  }
  void finish(cursor c) { v_.resize(offset(c)); }

 private:
  void reserve_for(std::size_t pos, std::size_t n) {
    if (v_.capacity() - pos < n) v_.reserve(std::max(v_.capacity() * 2, pos + n + 256));
  }

  std::vector<std::uint8_t>& v_;
  std::uint8_t* base_ = nullptr;
  std::size_t slack_ = 4096;
};

// The per-thread scratch area of count_sink, allocated on a thread's first count: a 66 KiB
// thread_local array would be zero-filled at the start of every thread of every program.
constexpr std::size_t count_scratch_size = 3 + 65536 + 1024;
constinit thread_local std::uint8_t* count_scratch = nullptr;
struct count_scratch_owner {
  ~count_scratch_owner() {
    delete[] count_scratch;
    count_scratch = nullptr;
  }
};
[[gnu::noinline]] std::uint8_t* make_count_scratch() {
  static thread_local count_scratch_owner owner;  // frees it when the thread ends
  (void)owner;
  count_scratch = new std::uint8_t[count_scratch_size];
  return count_scratch;
}

// Only counts: fields land in a per-thread scratch area, large enough for any one field
// (STRING_EXT is the largest: 3 + 65535 bytes), which is counted and reused when full.
class count_sink {
 public:
  static constexpr bool presize = false;
  static constexpr std::size_t inline_payload_max = 0;

  cursor start() noexcept { return {scratch_, scratch_ + count_scratch_size}; }
  std::size_t offset(cursor c) const noexcept {
    return counted_ + static_cast<std::size_t>(c.p - scratch_);
  }
  [[gnu::noinline]] cursor grow(cursor c, std::size_t) noexcept {
    counted_ = offset(c);
    return start();
  }
  cursor append(cursor c, const std::uint8_t*, std::size_t n) noexcept {
    counted_ = offset(c) + n;
    return start();
  }
  cursor payload(cursor c, const term&, const std::uint8_t* p, std::size_t n) noexcept {
    return append(c, p, n);
  }
  void patch32(std::size_t, std::uint32_t) noexcept {}
  cursor reserve_total(cursor c, std::size_t) noexcept { return c; }
  void finish(cursor c) noexcept { counted_ = offset(c); }
  std::size_t size() const noexcept { return counted_; }

 private:
  std::size_t counted_ = 0;
  std::uint8_t* scratch_ = count_scratch ? count_scratch : make_count_scratch();
};

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
      : s_(s), o_(o), has_ref_(static_cast<bool>(o.atom_ref)), latin1_(o.minor_version < 2) {}

  // Writes the encoding of `root` (after the version byte when `version`); false when it
  // cannot be encoded (too deep). The sink is finished either way.
  bool run(const term& root, bool version) {
    root_ = &root;
    cursor c = s_.start();
    if (version) *take(c, 1) = version_magic;
    start_ = s_.offset(c);
    bool ok = walk(c, root);
    s_.finish(c);
    return ok;
  }

 private:
  bool walk(cursor& c, const term& root) {
    eframe_stack st;
    const term* cur = &root;
    for (;;) {
      if (!one(c, *cur, st)) return false;
      // Next slot: the innermost open container's next element, closing finished ones.
      for (;;) {
        if (st.empty()) return true;
        eframe& f = st.back();
        if (f.p != f.end) [[likely]] {
          // Immediates are written here, without a round trip through one().
          const term* const end = f.end;
          const term* p = write_leaves(c, f.p, end);
          if (p != end) {
            cur = p;
            f.p = p + 1;
            break;
          }
          f.p = p;
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
        if (f.patch != npos)
          s_.patch32(f.patch, static_cast<std::uint32_t>(s_.offset(c) - f.patch));
        st.pop_back();
      }
    }
  }

  // Writes the elements from `p` on while they are immediates (or short binaries); returns
  // the first one it did not write.
  [[gnu::always_inline]] const term* write_leaves(cursor& c, const term* p, const term* end) {
    while (p != end) {
      const term& e = *p;
      if (e.type() == kind::small_int)
        write_int(c, *e.get_if<std::int64_t>());
      else if (e.type() == kind::atom)
        write_atom(c, *e.get_if<atom>());
      else if (e.type() == kind::nil)
        *take(c, 1) = nil_ext;
      else if (e.type() == kind::float_)
        write_float(c, *e.get_if<double>());
      else if (e.type() == kind::bitstring && write_small_binary(c, e))
        ;
      else
        break;
      ++p;
    }
    return p;
  }

  bool push(eframe_stack& st, const eframe& f) {
    if (st.size() >= o_.max_depth) return false;
    st.push_back(f);
    return true;
  }

  [[gnu::always_inline]] std::uint8_t* take(cursor& c, std::size_t n) {
    if (static_cast<std::size_t>(c.lim - c.p) < n) [[unlikely]]
      c = s_.grow(c, n);
    std::uint8_t* p = c.p;
    c.p += n;
    return p;
  }
  [[gnu::always_inline]] void bytes(cursor& c, const std::uint8_t* p, std::size_t n) {
    if (n < 4096) [[likely]] {
      detail::copy_small(take(c, n), p, n);
      return;
    }
    c = s_.append(c, p, n);
  }

  // The callback stays out of line (and never sees the cursor).
  [[gnu::noinline]] int atom_ref_index(atom a) const { return o_.atom_ref(a); }

  [[gnu::always_inline]] void write_atom(cursor& c, atom a) {
    if (has_ref_) [[unlikely]] {
      int idx = atom_ref_index(a);
      if (idx >= 0 && idx < 255) {
        std::uint8_t* p = take(c, 2);
        p[0] = atom_cache_ref;
        p[1] = static_cast<std::uint8_t>(idx);
        return;
      }
    }
    std::size_t n = a.size();
    if (latin1_ && a.is_latin1()) {
      // ATOM_EXT carries Latin-1 bytes: fold two-byte UTF-8 sequences back to one byte.
      std::size_t chars = a.length();
      std::uint8_t* p = take(c, 3 + chars);
      p[0] = atom_ext;
      detail::put16(p + 1, static_cast<std::uint16_t>(chars));
      const auto* t = reinterpret_cast<const std::uint8_t*>(a.c_str());
      if (chars == n) {
        detail::copy_small(p + 3, t, n);
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
      std::uint8_t* p = take(c, 2 + n);
      p[0] = small_atom_utf8_ext;
      p[1] = static_cast<std::uint8_t>(n);
      detail::copy_small(p + 2, reinterpret_cast<const std::uint8_t*>(a.c_str()), n);
    } else {
      std::uint8_t* p = take(c, 3 + n);
      p[0] = atom_utf8_ext;
      detail::put16(p + 1, static_cast<std::uint16_t>(n));
      detail::copy_small(p + 3, reinterpret_cast<const std::uint8_t*>(a.c_str()), n);
    }
  }

  [[gnu::always_inline]] void write_int(cursor& c, std::int64_t v) {
    if (v >= 0 && v <= 255) {
      std::uint8_t* p = take(c, 2);
      p[0] = small_integer_ext;
      p[1] = static_cast<std::uint8_t>(v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      std::uint8_t* p = take(c, 5);
      p[0] = integer_ext;
      detail::put32(p + 1, static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
    } else {
      std::uint64_t mag = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
      std::uint8_t n = static_cast<std::uint8_t>((64 - std::countl_zero(mag) + 7) / 8);
      std::uint8_t* p = take(c, 3 + n);
      p[0] = small_big_ext;
      p[1] = n;
      p[2] = v < 0 ? 1 : 0;
      for (std::uint8_t i = 0; i < n; ++i) p[3 + i] = static_cast<std::uint8_t>(mag >> (8 * i));
    }
  }

  [[gnu::always_inline]] void write_float(cursor& c, double v) {
    std::uint8_t* p = take(c, 9);
    p[0] = new_float_ext;
    detail::put64(p + 1, std::bit_cast<std::uint64_t>(v));
  }

  // A short binary (record fields, keys) in the inline fast path; false for anything else.
  [[gnu::always_inline]] bool write_small_binary(cursor& c, const term& t) {
    auto* o = obj<od::binary_obj>(t);
    std::size_t n = o->size;
    if (n > 16 || o->tail_bits != 0) return false;
    std::uint8_t* p = take(c, 5 + n);
    p[0] = binary_ext;
    detail::put32(p + 1, static_cast<std::uint32_t>(n));
    detail::copy_small(p + 5, o->data, n);
    return true;
  }

  // Out of line, with the cursor by value (so the inlined paths keep theirs in registers).
  [[gnu::noinline]] cursor write_big(cursor c, const big_int& v) {
    std::vector<std::uint8_t> digits;
    big_int mag = boost::multiprecision::abs(v);
    boost::multiprecision::export_bits(mag, std::back_inserter(digits), 8, false);
    std::size_t n = digits.size();
    if (n <= 255) {
      std::uint8_t* p = take(c, 3);
      p[0] = small_big_ext;
      p[1] = static_cast<std::uint8_t>(n);
      p[2] = v < 0 ? 1 : 0;
    } else {
      std::uint8_t* p = take(c, 6);
      p[0] = large_big_ext;
      detail::put32(p + 1, static_cast<std::uint32_t>(n));
      p[5] = v < 0 ? 1 : 0;
    }
    bytes(c, digits.data(), n);
    return c;
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
  [[gnu::noinline]] cursor size_output(cursor c) {
    if constexpr (Sink::presize) {
      if (sized_) return c;
      sized_ = true;
      count_sink cs;
      encoder<count_sink> e(cs, o_);
      if (e.run(*root_, false)) return s_.reserve_total(c, start_ + cs.size());
    }
    return c;
  }

  [[gnu::always_inline]] bool one(cursor& c, const term& t, eframe_stack& st) {
    switch (t.type()) {
      case kind::small_int:
        write_int(c, *t.get_if<std::int64_t>());
        return true;
      case kind::atom:
        write_atom(c, *t.get_if<atom>());
        return true;
      case kind::nil:
        *take(c, 1) = nil_ext;
        return true;
      case kind::float_:
        write_float(c, *t.get_if<double>());
        return true;
      case kind::big_int:
        c = write_big(c, obj<od::big_obj>(t)->v);
        return true;
      case kind::tuple: {
        auto* o = obj<od::tuple_obj>(t);
        std::size_t n = o->size;
        if (n <= 255) {
          std::uint8_t* p = take(c, 2);
          p[0] = small_tuple_ext;
          p[1] = static_cast<std::uint8_t>(n);
        } else {
          std::uint8_t* p = take(c, 5);
          p[0] = large_tuple_ext;
          detail::put32(p + 1, static_cast<std::uint32_t>(n));
        }
        if (n == 0) return true;
        // The depth is checked as if this tuple were pushed, even when its elements are all
        // written here (leaf tuples then need no frame).
        if (st.size() >= o_.max_depth) return false;
        const term* e = const_cast<od::tuple_obj*>(o)->elems();
        const term* rest = write_leaves(c, e, e + n);
        if (rest == e + n) return true;
        return push(st, {rest, e + n, nullptr, nullptr, nullptr, nullptr, npos, false});
      }
      case kind::list: {
        auto* o = obj<od::list_obj>(t);
        std::size_t n = o->size;
        const term* e = const_cast<od::list_obj*>(o)->elems();
        if (is_byte_string(o)) {
          std::uint8_t* p = take(c, 3 + n);
          p[0] = string_ext;
          detail::put16(p + 1, static_cast<std::uint16_t>(n));
          for (std::size_t i = 0; i < n; ++i)
            p[3 + i] = static_cast<std::uint8_t>(*e[i].get_if<std::int64_t>());
          return true;
        }
        std::uint8_t* p = take(c, 5);
        p[0] = list_ext;
        detail::put32(p + 1, static_cast<std::uint32_t>(n));
        if (st.size() >= o_.max_depth) return false;  // as for tuples
        const term* tail = &o->tail;
        const term* rest = write_leaves(c, e, e + n);
        if (rest != e + n)
          return push(st, {rest, e + n, tail, tail + 1, nullptr, nullptr, npos, false});
        if (write_leaves(c, tail, tail + 1) != tail) return true;
        return push(st, {tail, tail + 1, nullptr, nullptr, nullptr, nullptr, npos, false});
      }
      case kind::map: {
        const auto& pairs = obj<od::map_obj>(t)->pairs;
        std::uint8_t* p = take(c, 5);
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
          std::uint8_t* p = take(c, 5);
          p[0] = binary_ext;
          detail::put32(p + 1, static_cast<std::uint32_t>(n));
        } else {
          std::uint8_t* p = take(c, 6);
          p[0] = bit_binary_ext;
          detail::put32(p + 1, static_cast<std::uint32_t>(n));
          p[5] = o->tail_bits;
        }
        if (n <= Sink::inline_payload_max) {
          detail::copy_small(take(c, n), o->data, n);
          return true;
        }
        if (n >= 65536) c = size_output(c);
        c = s_.payload(c, t, o->data, n);
        return true;
      }
      case kind::pid: {
        auto* o = obj<od::pid_obj>(t);
        *take(c, 1) = new_pid_ext;
        write_atom(c, o->node);
        std::uint8_t* p = take(c, 12);
        detail::put32(p, o->id);
        detail::put32(p + 4, o->serial);
        detail::put32(p + 8, o->creation);
        return true;
      }
      case kind::port: {
        auto* o = obj<od::port_obj>(t);
        bool v4 = o->id > 0xFFFFFFFFu;
        *take(c, 1) = v4 ? v4_port_ext : new_port_ext;
        write_atom(c, o->node);
        if (v4) {
          std::uint8_t* p = take(c, 12);
          detail::put64(p, o->id);
          detail::put32(p + 8, o->creation);
        } else {
          std::uint8_t* p = take(c, 8);
          detail::put32(p, static_cast<std::uint32_t>(o->id));
          detail::put32(p + 4, o->creation);
        }
        return true;
      }
      case kind::reference: {
        auto* o = obj<od::ref_obj>(t);
        std::uint8_t* p = take(c, 3);
        p[0] = newer_reference_ext;
        detail::put16(p + 1, o->len);
        write_atom(c, o->node);
        p = take(c, 4 + 4 * std::size_t{o->len});
        detail::put32(p, o->creation);
        for (std::size_t i = 0; i < o->len; ++i) detail::put32(p + 4 + 4 * i, o->words[i]);
        return true;
      }
      case kind::fun: {
        const fun::fields& f = obj<od::fun_obj>(t)->f;
        std::size_t at = s_.offset(c) + 1;
        std::uint8_t* p = take(c, 30);
        p[0] = new_fun_ext;
        detail::put32(p + 1, 0);  // patched when the free variables are written
        p[5] = f.arity;
        std::memcpy(p + 6, f.uniq.data(), 16);
        detail::put32(p + 22, f.index);
        detail::put32(p + 26, static_cast<std::uint32_t>(f.free_vars.size()));
        write_atom(c, f.module);
        const term* fv = f.free_vars.data();
        return push(st, {f.extra.data(), f.extra.data() + f.extra.size(), fv,
                         fv + f.free_vars.size(), nullptr, nullptr, at, false});
      }
      case kind::export_fun: {
        auto* o = obj<od::export_obj>(t);
        *take(c, 1) = export_ext;
        write_atom(c, o->module);
        write_atom(c, o->function);
        std::uint8_t* p = take(c, 2);
        p[0] = small_integer_ext;
        p[1] = o->arity;
        return true;
      }
      case kind::local: {
        const auto& b = obj<od::local_obj>(t)->bytes;
        bytes(c, b.data(), b.size());
        return true;
      }
    }
    return false;
  }

  Sink& s_;
  const encode_options& o_;
  bool has_ref_;
  bool latin1_;
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
// (offset, patch32) are logical: they count the payloads too.
class iov_builder {
 public:
  static constexpr bool presize = false;  // large payloads are not copied: nothing to size
  static constexpr std::size_t inline_payload_max = iov_encoding::shared_binary_min - 1;

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
    encoder<iov_builder> e(b, opts);
    if (!e.run(t, opts.version_byte)) {
      out.clear();
      return error(errc::not_encodable, 0);
    }
    b.done();
    return {};
  }

  cursor start() noexcept { return sink_.start(); }
  std::size_t offset(cursor c) const noexcept { return sink_.offset(c) + ext_; }
  cursor grow(cursor c, std::size_t n) { return sink_.grow(c, n); }
  cursor append(cursor c, const std::uint8_t* p, std::size_t n) { return sink_.append(c, p, n); }
  // Only payloads of at least shared_binary_min bytes come here.
  [[gnu::noinline]] cursor payload(cursor c, const term& bin, const std::uint8_t* p,
                                   std::size_t n) {
    std::size_t logical = offset(c);
    out_.keep_.push_back(*bin.get_if<binary>());
    ext_ += n;
    cuts_.push_back({sink_.offset(c), logical, ext_, p, n});
    return c;
  }
  void patch32(std::size_t at, std::uint32_t v) noexcept {
    // `at` is never inside a payload: the payloads before it are those starting before it.
    auto it = std::upper_bound(cuts_.begin(), cuts_.end(), at,
                               [](std::size_t a, const cut& c) { return a < c.logical; });
    sink_.patch32(at - (it == cuts_.begin() ? 0 : std::prev(it)->ext_after), v);
  }
  cursor reserve_total(cursor c, std::size_t) noexcept { return c; }
  void finish(cursor c) { sink_.finish(c); }

 private:
  explicit iov_builder(iov_encoding& out) : out_(out), sink_(out.own_) {}

  void done() {
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
  encoder<buffer_sink> e(s, opts);
  if (!e.run(t, opts.version_byte)) {
    out.resize(start);
    return error(errc::not_encodable, 0);
  }
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
  encoder<count_sink> e(s, opts);
  if (!e.run(t, opts.version_byte)) return error(errc::not_encodable, 0);
  return s.size();
}

}  // namespace erlnode::etf
