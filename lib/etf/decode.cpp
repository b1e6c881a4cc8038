// Iterative ETF decoder: an explicit frame stack, every length checked against the input.
#include <erlnode/etf.hpp>

#include "etf/atom_intern.hpp"
#include "etf/small_stack.hpp"
#include "etf/wire.hpp"
#include "term/objects.hpp"

#include <zlib.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <memory>
#include <new>

namespace erlnode::etf {

namespace {

namespace od = erlnode::detail;
using entry = od::atom_entry;

inline atom to_atom(const entry* e) noexcept { return std::bit_cast<atom>(e); }

enum frame_kind : std::uint8_t { fk_tuple, fk_list, fk_map, fk_fun };

// One container being filled. Slots are filled in order: `remaining` slots from `dst`, then
// `next_count` slots from `next` (a list's tail, a fun's free variables).
struct frame {
  term* home;  // the slot holding this container
  term* dst;
  term* next;
  std::pair<term, term>* pairs;  // map frames: slot i is pairs[i / 2].first or .second
  od::heap_object* obj;
  std::size_t at;  // offset of the container's tag (fun: of its Size field)
  std::uint32_t remaining;
  std::uint32_t next_count;
  std::uint32_t index;
  frame_kind k;
};

using frame_stack = detail::small_stack<frame, 24>;

class decoder {
 public:
  decoder(const std::uint8_t* data, std::size_t size, std::size_t pos, const decode_options& o,
          const std::shared_ptr<const void>* owner) noexcept
      : d_(data), n_(size), pos_(pos), o_(o), owner_(owner), atoms_(detail::tl_atom_cache) {}

  bool run(term& root);
  std::size_t pos() const noexcept { return pos_; }
  error err() const { return error(err_, err_off_); }
  errc code() const noexcept { return err_; }

 private:
  bool fail(errc e, std::size_t off) noexcept {
    err_ = e;
    err_off_ = off;
    return false;
  }
  bool need(std::size_t n) noexcept {
    if (n_ - pos_ < n) return fail(errc::truncated, pos_);
    return true;
  }
  bool value(term* slot, frame_stack& st);
  bool read_atom(const entry*& out);
  bool read_atom(atom& out) {
    const entry* e;
    if (!read_atom(e)) return false;
    out = to_atom(e);
    return true;
  }
  bool intern(const std::uint8_t* p, std::size_t len, bool latin1, const entry*& out) {
    if ((out = detail::cached_atom(atoms_, p, len, n_ - static_cast<std::size_t>(p - d_), latin1)))
        [[likely]]
      return true;
    return intern_slow(p, len, latin1, out);
  }
  [[gnu::noinline]] bool intern_slow(const std::uint8_t* p, std::size_t len, bool latin1,
                                     const entry*& out);
  bool read_big(term* slot, std::size_t hdr, std::size_t len, std::uint8_t sign);
  bool finish(frame& f, frame_stack& st);
  bool loop(frame_stack& st, term*& slot);
  template <bool Map>
  void fill_immediates(frame& f) noexcept;
  // Checked before a container is allocated, so that the push after it cannot fail.
  bool room(frame_stack& st, std::size_t at) {
    if (st.size() >= o_.max_depth) return fail(errc::too_deep, at);
    st.reserve_one();
    return true;
  }
  static void abandon(term* slot, frame_stack& st) noexcept;
  static void* alloc(std::size_t bytes) { return od::pool_alloc_inline(bytes); }
  // An object of `head` bytes followed by `n` terms (n is bounded by the input size).
  static void* alloc_terms(std::size_t head, std::size_t n) {
    return alloc(head + n * sizeof(term));
  }
  od::binary_obj* copy_binary(const std::uint8_t* p, std::size_t n);

  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_;
  const decode_options& o_;
  const std::shared_ptr<const void>* owner_;  // non-null: share large binaries
  const detail::atom_slot* atoms_;            // this thread's atom cache
  errc err_ = errc::truncated;
  std::size_t err_off_ = 0;
};

// Exact key equality, with the common immediate kinds compared inline.
inline bool same_key(const term& a, const term& b) noexcept {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case kind::atom:
      return *a.get_if<atom>() == *b.get_if<atom>();
    case kind::small_int:
      return *a.get_if<std::int64_t>() == *b.get_if<std::int64_t>();
    default:
      return a == b;
  }
}

// Slots are fresh [] terms, which own nothing, so values are constructed over them: with a
// prvalue, `new (slot) term(expr)` builds it in place (no temporary to destroy).
inline void put(term* slot, term&& v) noexcept { new (slot) term(std::move(v)); }

// Fills a run of small integers, floats, [] and cached atoms (lists of numbers, records, map
// keys) straight from the bytes, without a round trip through value(). Works on locals: the
// stores into terms would otherwise make the compiler reload the decoder's fields.
template <bool Map>
[[gnu::always_inline]] inline void decoder::fill_immediates(frame& f) noexcept {
  const std::uint8_t* const d = d_;
  const std::size_t n = n_;
  const detail::atom_slot* const atoms = atoms_;
  std::size_t pos = pos_;
  std::uint32_t rem = f.remaining;
  std::uint32_t idx = f.index;
  term* dst = f.dst;
  std::pair<term, term>* const pairs = f.pairs;
  while (rem && pos + 1 < n) {
    const std::uint8_t* p = d + pos;
    const std::size_t left = n - pos;
    term* slot;
    if constexpr (Map)
      slot = (idx & 1) ? &pairs[idx >> 1].second : &pairs[idx >> 1].first;
    else
      slot = dst;
    switch (p[0]) {
      case small_integer_ext:
        new (slot) term(std::int64_t{p[1]});
        pos += 2;
        break;
      case integer_ext:
        if (left < 5) goto out;
        new (slot) term(std::int64_t{static_cast<std::int32_t>(detail::get32(p + 1))});
        pos += 5;
        break;
      case new_float_ext: {
        if (left < 9) goto out;
        double v = std::bit_cast<double>(detail::get64(p + 1));
        if (!std::isfinite(v)) goto out;
        new (slot) term(v);
        pos += 9;
        break;
      }
      case nil_ext:
        new (slot) term();
        pos += 1;
        break;
      case atom_ext: {
        if (left < 3) goto out;
        std::size_t len = detail::get16(p + 1);
        if (len > left - 3) goto out;
        const entry* e = detail::cached_atom(atoms, p + 3, len, left - 3, true);
        if (!e) goto out;
        new (slot) term(to_atom(e));
        pos += 3 + len;
        break;
      }
      case small_atom_utf8_ext: {
        if (p[1] > left - 2) goto out;
        const entry* e = detail::cached_atom(atoms, p + 2, p[1], left - 2, false);
        if (!e) goto out;
        new (slot) term(to_atom(e));
        pos += 2 + std::size_t{p[1]};
        break;
      }
      default:
        goto out;
    }
    if constexpr (Map)
      ++idx;
    else
      ++dst;
    --rem;
  }
out:
  pos_ = pos;
  f.remaining = rem;
  f.index = idx;
  f.dst = dst;
}

// After a failure (or an exception) elements of tuples and lists not decoded yet are still
// raw memory: make them [] so that the partial term can be released.
void decoder::abandon(term* slot, frame_stack& st) noexcept {
  if (slot) new (slot) term();
  for (std::size_t i = 0; i < st.size(); ++i) {
    frame& f = st[i];
    if (f.k == fk_tuple || f.k == fk_list)
      for (std::uint32_t j = 0; j < f.remaining; ++j) new (f.dst + j) term();
  }
}

bool decoder::run(term& root) {
  frame_stack st;
  term* slot = &root;
  try {
    if (loop(st, slot)) return true;
  } catch (...) {
    abandon(slot, st);
    throw;
  }
  abandon(slot, st);
  return false;
}

// `slot` is the slot being decoded, null once it holds its value.
bool decoder::loop(frame_stack& st, term*& slot) {
  for (;;) {
    if (!value(slot, st)) return false;
    slot = nullptr;
    for (;;) {
      if (st.empty()) return true;
      frame& f = st.back();
      if (f.remaining) {
        if (f.k == fk_map)
          fill_immediates<true>(f);
        else
          fill_immediates<false>(f);
        if (!f.remaining) continue;
        --f.remaining;
        if (f.k == fk_map) {
          auto& pr = f.pairs[f.index >> 1];
          slot = (f.index & 1) ? &pr.second : &pr.first;
          ++f.index;
        } else {
          slot = f.dst++;
        }
        break;
      }
      if (f.next_count) {
        f.dst = f.next;
        f.remaining = f.next_count;
        f.next_count = 0;
        continue;
      }
      if (!finish(f, st)) return false;
      st.pop_back();
    }
  }
}

bool decoder::finish(frame& f, frame_stack& st) {
  switch (f.k) {
    case fk_tuple:
      return true;
    case fk_list: {
      auto* lo = static_cast<od::list_obj*>(f.obj);
      if (lo->tail.type() != kind::list) return true;
      // [a | [b | [c]]] sent as nested LIST_EXTs: the term model keeps lists flat. The
      // innermost lists finish first; only the head of such a chain flattens it, once.
      if (st.size() >= 2) {
        frame& parent = st[st.size() - 2];
        if (parent.k == fk_list && f.home == &static_cast<od::list_obj*>(parent.obj)->tail)
          return true;
      }
      std::size_t total = 0;
      for (const od::list_obj* l = lo;;) {
        total += l->size;
        if (l->tail.type() != kind::list) break;
        l = static_cast<const od::list_obj*>(l->tail.heap());
      }
      list flat = list::of_size(total, term());
      auto* fo = static_cast<od::list_obj*>(flat.get());
      term* out = fo->elems();
      for (od::list_obj* l = lo;;) {
        // Freshly decoded and owned only by this chain, so elements can be moved.
        for (std::size_t i = 0; i < l->size; ++i) *out++ = std::move(l->elems()[i]);
        if (l->tail.type() != kind::list) {
          fo->tail = std::move(l->tail);
          break;
        }
        l = static_cast<od::list_obj*>(l->tail.heap());
      }
      *f.home = term(std::move(flat));
      return true;
    }
    case fk_map: {
      auto* mo = static_cast<od::map_obj*>(f.obj);
      if (mo->pairs.size() > od::map_obj::index_threshold) mo->build_index();
      const auto& pairs = mo->pairs;
      if (mo->index.empty()) {
        for (std::size_t i = 1; i < pairs.size(); ++i)
          for (std::size_t j = 0; j < i; ++j)
            if (same_key(pairs[i].first, pairs[j].first))
              return fail(errc::duplicate_map_key, f.at);
        return true;
      }
      for (std::size_t i = 0; i < pairs.size(); ++i)
        if (mo->find_pos(pairs[i].first) != static_cast<std::ptrdiff_t>(i))
          return fail(errc::duplicate_map_key, f.at);
      return true;
    }
    case fk_fun: {
      auto* fo = static_cast<od::fun_obj*>(f.obj);
      const auto& x = fo->f.extra;
      if (!x[0].is_integer() || !x[1].is_integer() || !x[2].is_pid())
        return fail(errc::bad_value, f.at);
      if (pos_ - f.at != f.index) return fail(errc::bad_value, f.at);
      return true;
    }
  }
  return true;
}

bool decoder::intern_slow(const std::uint8_t* p, std::size_t len, bool latin1, const entry*& out) {
  std::string_view text(reinterpret_cast<const char*>(p), len);
  auto r = latin1 ? atom::make_latin1(text) : atom::make(text);
  if (!r) {
    bool full = r.error().code == atom_errc::table_full;
    return fail(full ? errc::atom_table_full : errc::bad_atom, pos_);
  }
  out = r->entry();
  detail::remember_atom(p, len, latin1, *r);
  return true;
}

inline bool decoder::read_atom(const entry*& out) {
  if (!need(1)) return false;
  const std::uint8_t* p = d_ + pos_;
  std::size_t len;
  switch (p[0]) {
    case small_atom_utf8_ext:
    case small_atom_ext:
      if (!need(2)) return false;
      len = p[1];
      if (!need(2 + len)) return false;
      if (!intern(p + 2, len, p[0] == small_atom_ext, out)) return false;
      pos_ += 2 + len;
      return true;
    case atom_utf8_ext:
    case atom_ext:
      if (!need(3)) return false;
      len = detail::get16(p + 1);
      if (len > (p[0] == atom_ext ? 255u : 255u * 4)) return fail(errc::bad_atom, pos_);
      if (!need(3 + len)) return false;
      if (!intern(p + 3, len, p[0] == atom_ext, out)) return false;
      pos_ += 3 + len;
      return true;
    case atom_cache_ref:
      if (!need(2)) return false;
      if (p[1] >= o_.atom_cache.size()) return fail(errc::bad_atom_cache_ref, pos_);
      out = o_.atom_cache[p[1]].entry();
      pos_ += 2;
      return true;
    default:
      return fail(errc::bad_tag, pos_);
  }
}

// A binary with its bytes inline (as binary_obj::make_inline), short ones copied without a
// call to memcpy: most binaries in records are a few bytes.
od::binary_obj* decoder::copy_binary(const std::uint8_t* p, std::size_t n) {
  if (n > SIZE_MAX - sizeof(od::binary_obj)) throw std::bad_alloc();
  auto* o = new (alloc(sizeof(od::binary_obj) + n)) od::binary_obj();
  auto* d = reinterpret_cast<std::uint8_t*>(o + 1);
  detail::copy_small(d, p, n);
  o->data = d;
  o->size = n;
  o->tail_bits = 0;
  return o;
}

bool decoder::read_big(term* slot, std::size_t hdr, std::size_t len, std::uint8_t sign) {
  if (sign > 1) return fail(errc::bad_value, pos_);
  if (!need(hdr + len)) return false;
  const std::uint8_t* digits = d_ + pos_ + hdr;
  std::size_t used = len;
  while (used && digits[used - 1] == 0) --used;
  if (used <= 8) {
    std::uint64_t mag = 0;
    for (std::size_t i = used; i-- > 0;) mag = (mag << 8) | digits[i];
    if (!sign && mag <= static_cast<std::uint64_t>(INT64_MAX)) {
      new (slot) term(static_cast<std::int64_t>(mag));
      pos_ += hdr + len;
      return true;
    }
    if (sign && mag <= static_cast<std::uint64_t>(INT64_MAX) + 1) {
      new (slot) term(static_cast<std::int64_t>(0 - mag));
      pos_ += hdr + len;
      return true;
    }
  }
  big_int v;
  boost::multiprecision::import_bits(v, digits, digits + used, 8, false);
  if (sign) v = -v;
  new (slot) term(big_integer(std::move(v)));
  pos_ += hdr + len;
  return true;
}

bool decoder::value(term* slot, frame_stack& st) {
again:
  if (pos_ >= n_) return fail(errc::truncated, pos_);
  const std::uint8_t* p = d_ + pos_;
  const std::size_t at = pos_;
  switch (p[0]) {
    case small_integer_ext:
      if (!need(2)) return false;
      new (slot) term(std::int64_t{p[1]});
      pos_ += 2;
      return true;
    case integer_ext:
      if (!need(5)) return false;
      new (slot) term(std::int64_t{static_cast<std::int32_t>(detail::get32(p + 1))});
      pos_ += 5;
      return true;
    case small_big_ext:
      if (!need(3)) return false;
      return read_big(slot, 3, p[1], p[2]);
    case large_big_ext:
      if (!need(6)) return false;
      return read_big(slot, 6, detail::get32(p + 1), p[5]);
    case new_float_ext: {
      if (!need(9)) return false;
      double v = std::bit_cast<double>(detail::get64(p + 1));
      if (!std::isfinite(v)) return fail(errc::bad_float, at);
      new (slot) term(v);
      pos_ += 9;
      return true;
    }
    case float_ext: {
      if (!need(32)) return false;
      const char* s = reinterpret_cast<const char*>(p + 1);
      std::size_t len = 0;
      while (len < 31 && s[len] != '\0') ++len;
      for (std::size_t i = len; i < 31; ++i)
        if (s[i] != '\0') return fail(errc::bad_float, at);
      double v = 0;
      auto [end, ec] = std::from_chars(s, s + len, v);
      if (ec != std::errc() || end != s + len || !std::isfinite(v))
        return fail(errc::bad_float, at);
      new (slot) term(v);
      pos_ += 32;
      return true;
    }
    case atom_ext:
    case small_atom_ext:
    case atom_utf8_ext:
    case small_atom_utf8_ext:
    case atom_cache_ref: {
      const entry* a;
      if (!read_atom(a)) return false;
      new (slot) term(to_atom(a));
      return true;
    }
    case small_tuple_ext:
    case large_tuple_ext: {
      std::size_t hdr = p[0] == small_tuple_ext ? 2 : 5;
      if (!need(hdr)) return false;
      std::uint32_t n = hdr == 2 ? p[1] : detail::get32(p + 1);
      pos_ += hdr;
      if (n > n_ - pos_) return fail(errc::truncated, pos_);
      if (n == 0) {
        new (slot) term(tuple());
        return true;
      }
      if (!room(st, at)) return false;
      auto* obj = new (alloc_terms(sizeof(od::tuple_obj), n)) od::tuple_obj(n);
      new (slot) term(term::adopt(kind::tuple, obj));
      st.push_back(frame{slot, obj->elems(), nullptr, nullptr, obj, at, n, 0, 0, fk_tuple});
      return true;
    }
    case nil_ext:
      new (slot) term();
      pos_ += 1;
      return true;
    case string_ext: {
      if (!need(3)) return false;
      std::size_t len = detail::get16(p + 1);
      if (!need(3 + len)) return false;
      pos_ += 3 + len;
      if (len == 0) {
        new (slot) term();
        return true;
      }
      auto* lo = new (alloc_terms(sizeof(od::list_obj), len)) od::list_obj(len);
      term* e = lo->elems();
      for (std::size_t i = 0; i < len; ++i) new (e + i) term(std::int64_t{p[3 + i]});
      new (slot) term(term::adopt(kind::list, lo));
      return true;
    }
    case list_ext: {
      if (!need(5)) return false;
      std::uint32_t n = detail::get32(p + 1);
      pos_ += 5;
      if (n == 0) goto again;  // [ | Tail] is Tail
      if (std::size_t{n} + 1 > n_ - pos_) return fail(errc::truncated, pos_);
      if (!room(st, at)) return false;
      auto* lo = new (alloc_terms(sizeof(od::list_obj), n)) od::list_obj(n);
      new (slot) term(term::adopt(kind::list, lo));
      st.push_back(frame{slot, lo->elems(), &lo->tail, nullptr, lo, at, n, 1, 0, fk_list});
      return true;
    }
    case binary_ext: {
      if (!need(5)) return false;
      std::size_t len = detail::get32(p + 1);
      if (!need(5 + len)) return false;
      const std::uint8_t* data = p + 5;
      if (owner_ && len >= 64)
        new (slot) term(binary::shared(*owner_, data, len));
      else
        new (slot) term(term::adopt(kind::bitstring, copy_binary(data, len)));
      pos_ += 5 + len;
      return true;
    }
    case bit_binary_ext: {
      if (!need(6)) return false;
      std::size_t len = detail::get32(p + 1);
      unsigned bits = p[5];
      if (len == 0 ? bits != 0 : (bits < 1 || bits > 8)) return fail(errc::bad_value, at + 5);
      if (!need(6 + len)) return false;
      const std::uint8_t* data = p + 6;
      unsigned tail = bits == 8 ? 0 : bits;
      bool clean = tail == 0 || (data[len - 1] & (0xFFu >> tail)) == 0;
      if (owner_ && len >= 64 && clean)
        new (slot) term(binary::shared(*owner_, data, len, tail));
      else if (tail == 0)
        new (slot) term(binary(std::span(data, len)));
      else
        new (slot) term(binary::bits(std::span(data, len), tail));
      pos_ += 6 + len;
      return true;
    }
    case map_ext: {
      if (!need(5)) return false;
      std::uint32_t n = detail::get32(p + 1);
      pos_ += 5;
      if (std::size_t{n} * 2 > n_ - pos_) return fail(errc::truncated, pos_);
      if (n == 0) {
        new (slot) term(map());
        return true;
      }
      if (!room(st, at)) return false;
      std::unique_ptr<od::map_obj> made(new (alloc(sizeof(od::map_obj))) od::map_obj());
      made->pairs.resize(n);
      auto* mo = made.release();
      new (slot) term(term::adopt(kind::map, mo));
      st.push_back(frame{slot, nullptr, nullptr, mo->pairs.data(), mo, at, 2 * n, 0, 0, fk_map});
      return true;
    }
    case new_pid_ext:
    case pid_ext: {
      bool is_new = p[0] == new_pid_ext;
      pos_ += 1;
      const entry* node;
      if (!read_atom(node)) return false;
      if (!need(is_new ? 12 : 9)) return false;
      const std::uint8_t* q = d_ + pos_;
      std::uint32_t creation = is_new ? detail::get32(q + 8) : q[8];
      new (slot) term(term::adopt(
          kind::pid, new (alloc(sizeof(od::pid_obj))) od::pid_obj(to_atom(node), detail::get32(q),
                                                                  detail::get32(q + 4), creation)));
      pos_ += is_new ? 12 : 9;
      return true;
    }
    case new_port_ext:
    case v4_port_ext:
    case port_ext: {
      std::uint8_t t = p[0];
      pos_ += 1;
      const entry* node;
      if (!read_atom(node)) return false;
      std::size_t len = t == v4_port_ext ? 12 : t == new_port_ext ? 8 : 5;
      if (!need(len)) return false;
      const std::uint8_t* q = d_ + pos_;
      std::uint64_t id = t == v4_port_ext ? detail::get64(q) : detail::get32(q);
      std::uint32_t creation = t == v4_port_ext    ? detail::get32(q + 8)
                               : t == new_port_ext ? detail::get32(q + 4)
                                                   : q[4];
      new (slot) term(port(to_atom(node), id, creation));
      pos_ += len;
      return true;
    }
    case newer_reference_ext:
    case new_reference_ext: {
      if (!need(3)) return false;
      std::size_t words = detail::get16(p + 1);
      if (words == 0 || words > reference::max_words) return fail(errc::bad_value, at + 1);
      bool newer = p[0] == newer_reference_ext;
      pos_ += 3;
      const entry* node;
      if (!read_atom(node)) return false;
      std::size_t cl = newer ? 4 : 1;
      if (!need(cl + 4 * words)) return false;
      const std::uint8_t* q = d_ + pos_;
      std::uint32_t creation = newer ? detail::get32(q) : q[0];
      std::uint32_t w[reference::max_words];
      for (std::size_t i = 0; i < words; ++i) w[i] = detail::get32(q + cl + 4 * i);
      new (slot) term(term::adopt(kind::reference, new (alloc(sizeof(od::ref_obj))) od::ref_obj(
                                                       to_atom(node), creation, w, words)));
      pos_ += cl + 4 * words;
      return true;
    }
    case reference_ext: {
      pos_ += 1;
      const entry* node;
      if (!read_atom(node)) return false;
      if (!need(5)) return false;
      const std::uint8_t* q = d_ + pos_;
      std::uint32_t w = detail::get32(q);
      new (slot) term(reference(to_atom(node), q[4], std::span<const std::uint32_t>(&w, 1)));
      pos_ += 5;
      return true;
    }
    case new_fun_ext: {
      // Size(4) Arity(1) Uniq(16) Index(4) NumFree(4) Module OldIndex OldUniq Pid FreeVars
      if (!need(30)) return false;
      std::uint32_t size = detail::get32(p + 1);
      if (size < 29) return fail(errc::bad_value, at + 1);
      if (!need(1 + std::size_t{size})) return false;
      fun::fields f;
      f.arity = p[5];
      std::memcpy(f.uniq.data(), p + 6, 16);
      f.index = detail::get32(p + 22);
      std::uint32_t num_free = detail::get32(p + 26);
      pos_ += 30;
      if (!read_atom(f.module)) return false;
      // OldIndex, OldUniq and Pid take at least 2 + 2 + 6 bytes, each free variable one.
      if (std::size_t{num_free} + 10 > n_ - pos_) return fail(errc::truncated, pos_);
      if (!room(st, at + 1)) return false;
      f.extra.resize(3);
      f.free_vars.resize(num_free);
      term ft{fun(std::move(f))};
      auto* fo = static_cast<od::fun_obj*>(ft.heap());
      put(slot, std::move(ft));
      frame fr{
          slot,  fo->f.extra.data(), fo->f.free_vars.data(), nullptr, fo, at + 1, 3, num_free, size,
          fk_fun};
      st.push_back(fr);
      return true;
    }
    case export_ext: {
      pos_ += 1;
      const entry *m, *fn;
      if (!read_atom(m) || !read_atom(fn)) return false;
      if (!need(2)) return false;
      if (d_[pos_] != small_integer_ext) return fail(errc::bad_value, pos_);
      new (slot) term(export_fun(to_atom(m), to_atom(fn), d_[pos_ + 1]));
      pos_ += 2;
      return true;
    }
    case local_ext: {
      // The rest of the input is a node-local encoding we keep as it is.
      new (slot) term(local_term(std::vector<std::uint8_t>(p, d_ + n_)));
      pos_ = n_;
      return true;
    }
    default:
      return fail(errc::bad_tag, at);
  }
}

// Inflates COMPRESSED_EXT at `pos` (the tag); on success `out` holds the payload and `pos`
// is past the zlib stream.
bool inflate_payload(std::span<const std::uint8_t> in, std::size_t& pos, std::size_t limit,
                     std::vector<std::uint8_t>& out, error& err) {
  std::size_t at = pos;
  if (in.size() - pos < 5) {
    err = error(errc::truncated, pos);
    return false;
  }
  std::size_t usize = detail::get32(in.data() + pos + 1);
  if (usize > limit) {
    err = error(errc::too_large, at);
    return false;
  }
  pos += 5;
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) {
    err = error(errc::bad_compressed, at);
    return false;
  }
  // Grow the output with what the input has produced so far, not with the size claim.
  out.resize(std::min<std::size_t>(usize, 4096 + (in.size() - pos) * 4));
  zs.next_in = const_cast<Bytef*>(in.data() + pos);
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size() - pos, UINT32_MAX));
  int rc = Z_OK;
  for (;;) {
    if (zs.total_out == out.size() && out.size() < usize)
      out.resize(std::min(usize, out.size() * 2 + 4096));
    std::uint8_t spare;
    if (zs.total_out < out.size()) {
      zs.next_out = out.data() + zs.total_out;
      zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    } else {
      zs.next_out = &spare;  // full: anything more is a size mismatch
      zs.avail_out = 1;
    }
    std::size_t before = zs.total_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (zs.total_out > usize) {
      rc = Z_DATA_ERROR;
      break;
    }
    if (rc == Z_STREAM_END || rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR) break;
    if (zs.avail_in == 0 && (rc == Z_BUF_ERROR || zs.total_out == before || zs.avail_out != 0)) {
      rc = Z_BUF_ERROR;  // input used up before the stream end
      break;
    }
  }
  std::size_t used = zs.total_in;
  std::size_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc == Z_BUF_ERROR) {
    err = error(errc::truncated, in.size());
    return false;
  }
  if (rc != Z_STREAM_END || produced != usize) {
    err = error(errc::bad_compressed, at);
    return false;
  }
  out.resize(usize);
  pos += used;
  return true;
}

result<decoded> decode_impl(std::span<const std::uint8_t> bytes, bool with_version,
                            const decode_options& opts, const std::shared_ptr<const void>* owner) {
  std::size_t pos = 0;
  if (with_version) {
    if (bytes.empty()) return error(errc::truncated, 0);
    if (bytes[0] != version_magic) return error(errc::bad_version, 0);
    pos = 1;
  }
  decoded out;
  if (pos < bytes.size() && bytes[pos] == compressed_ext) {
    std::size_t at = pos;
    auto buf = std::make_shared<std::vector<std::uint8_t>>();
    error err;
    if (!inflate_payload(bytes, pos, opts.max_inflated_size, *buf, err)) return err;
    std::shared_ptr<const void> inner_owner;
    if (owner) inner_owner = buf;
    decoder d(buf->data(), buf->size(), 0, opts, owner ? &inner_owner : nullptr);
    if (!d.run(out.value)) {
      errc c = d.code() == errc::truncated ? errc::bad_compressed : d.code();
      return error(c, at);
    }
    if (d.pos() != buf->size()) return error(errc::bad_compressed, at);
    out.consumed = pos;
    return out;
  }
  decoder d(bytes.data(), bytes.size(), pos, opts, owner);
  if (!d.run(out.value)) return d.err();
  out.consumed = d.pos();
  return out;
}

result<term> finish_whole(result<decoded> r, std::size_t size, const decode_options& opts) {
  if (!r) return r.error();
  if (!opts.allow_trailing && r->consumed != size) return error(errc::trailing_data, r->consumed);
  return std::move(r->value);
}

}  // namespace

result<term> decode(std::span<const std::uint8_t> bytes, const decode_options& opts) {
  return finish_whole(decode_impl(bytes, true, opts, nullptr), bytes.size(), opts);
}

result<term> decode_shared(std::span<const std::uint8_t> bytes, std::shared_ptr<const void> owner,
                           const decode_options& opts) {
  return finish_whole(decode_impl(bytes, true, opts, owner ? &owner : nullptr), bytes.size(), opts);
}

result<decoded> decode_prefix(std::span<const std::uint8_t> bytes, bool with_version,
                              const decode_options& opts, std::shared_ptr<const void> owner) {
  return decode_impl(bytes, with_version, opts, owner ? &owner : nullptr);
}

}  // namespace erlnode::etf
