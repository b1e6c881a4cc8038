// The Erlang term model: an immutable, reference-counted value type.
//
// A term is 16 bytes: a kind tag and either an immediate (small integer, float, atom) or a
// pointer to a shared, immutable heap object. Copying is a reference-count increment; the
// handle types (tuple, list, map, ...) mutate copy-on-write, so terms behave as values.
#pragma once

#include <erlnode/atom.hpp>

#include <boost/multiprecision/cpp_int.hpp>

#include <array>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace erlnode {

using big_int = boost::multiprecision::cpp_int;

// Kinds, in Erlang term order (number < atom < reference < fun < port < pid < tuple < map
// < nil < list < bitstring). Numbers have two kinds, funs two (local and export).
enum class kind : std::uint8_t {
  small_int,  // fits in int64
  big_int,    // anything larger (always normalised: never fits in int64)
  float_,
  atom,
  reference,
  fun,         // local fun (NEW_FUN_EXT), kept exactly
  export_fun,  // fun M:F/A
  port,
  pid,
  tuple,
  map,
  nil,
  list,       // non-empty, proper or improper
  bitstring,  // binaries are bitstrings whose bit size is a multiple of 8
  local,      // LOCAL_EXT (OTP 26+), kept as opaque bytes
};
std::string_view kind_name(kind k) noexcept;

class term;
class tuple;
class list;
class map;
class binary;
class pid;
class port;
class reference;
class fun;
class export_fun;
class big_integer;
class local_term;

namespace detail {
// Small term objects come from per-thread free lists (any thread may free any block).
void* pool_alloc(std::size_t n);
void pool_free(void* p, std::size_t n) noexcept;

struct heap_object {
  mutable std::atomic<std::uint32_t> refs{1};
  kind k;
  explicit heap_object(kind kk) noexcept : k(kk) {}
  static void* operator new(std::size_t n) { return pool_alloc(n); }
  static void* operator new(std::size_t, void* p) noexcept { return p; }
  static void operator delete(void* p, std::size_t n) noexcept { pool_free(p, n); }
};
void destroy(heap_object* h) noexcept;
inline void retain(heap_object* h) noexcept {
  if (h) h->refs.fetch_add(1, std::memory_order_relaxed);
}
inline void release(heap_object* h) noexcept {
  if (!h) return;
  // A count of 1 is ours alone: skip the atomic read-modify-write.
  if (h->refs.load(std::memory_order_acquire) == 1 ||
      h->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    destroy(h);
}

// The one member of every handle type: a counted pointer to a heap object.
class handle {
 public:
  handle() noexcept = default;
  explicit handle(heap_object* p) noexcept : p_(p) {}  // adopts one reference
  handle(const handle& o) noexcept : p_(o.p_) { retain(p_); }
  handle(handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  handle& operator=(const handle& o) noexcept {
    retain(o.p_);
    release(p_);
    p_ = o.p_;
    return *this;
  }
  handle& operator=(handle&& o) noexcept {
    if (this != &o) {
      release(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~handle() { release(p_); }
  heap_object* get() const noexcept { return p_; }
  heap_object* release_ptr() noexcept { return std::exchange(p_, nullptr); }
  bool unique() const noexcept { return p_ && p_->refs.load(std::memory_order_acquire) == 1; }

 protected:
  heap_object* p_ = nullptr;
};

struct tuple_obj;
struct list_obj;
struct map_obj;
struct binary_obj;
struct pid_obj;
struct port_obj;
struct ref_obj;
struct fun_obj;
struct export_obj;
struct big_obj;
struct local_obj;
}  // namespace detail

// Thrown by term::as<T>() on a kind mismatch (a programmer error; get_if is the
// non-throwing form).
class bad_term_access : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// ---------------------------------------------------------------------------------------
// Handle types. Each is exactly one counted pointer (see detail::handle).

class tuple : public detail::handle {
 public:
  tuple();  // {}
  tuple(std::initializer_list<term> elems);
  explicit tuple(std::vector<term> elems);
  explicit tuple(std::span<const term> elems);
  // n elements, all [] (fill them with set() or elements_mut()).
  static tuple of_size(std::size_t n);

  std::size_t size() const noexcept;
  const term& operator[](std::size_t i) const noexcept;
  const term& at(std::size_t i) const;  // throws std::out_of_range
  std::span<const term> elements() const noexcept;
  const term* begin() const noexcept;
  const term* end() const noexcept;
  // Copy-on-write mutation.
  void set(std::size_t i, term v);
  std::span<term> elements_mut();

 private:
  friend class term;
  explicit tuple(detail::heap_object* p) noexcept : handle(p) {}
  detail::tuple_obj* obj() const noexcept;
};

// A list. A null handle is the empty list [] (so get_if<list>() also works on nil).
class list : public detail::handle {
 public:
  list() noexcept = default;  // []
  list(std::initializer_list<term> elems);
  explicit list(std::vector<term> elems);
  explicit list(std::span<const term> elems);
  // [E1, ..., En | Tail]. A non-list tail makes an improper list.
  list(std::vector<term> elems, term tail);
  static list of_size(std::size_t n, term tail);

  std::size_t size() const noexcept;  // elements before the tail
  bool empty() const noexcept { return p_ == nullptr; }
  const term& operator[](std::size_t i) const noexcept;
  std::span<const term> elements() const noexcept;
  const term* begin() const noexcept;
  const term* end() const noexcept;
  const term& tail() const noexcept;  // [] for a proper list
  bool is_proper() const noexcept;
  void set(std::size_t i, term v);
  std::span<term> elements_mut();

 private:
  friend class term;
  explicit list(detail::heap_object* p) noexcept : handle(p) {}
  detail::list_obj* obj() const noexcept;
};

// A map. Keeps its pairs in the order they were inserted or decoded (so a decoded map
// re-encodes byte-identically) and offers fast key lookup. Maps of up to 32 keys built in
// C++ (initializer list, vector of pairs, insert) are kept in map-key order, as the BEAM does.
class map : public detail::handle {
 public:
  using value_type = std::pair<term, term>;
  map();  // #{}
  map(std::initializer_list<value_type> pairs);
  explicit map(std::vector<value_type> pairs);  // later duplicates win
  // Takes pairs in the given order, as a decoder does; fails on a duplicate key.
  static std::optional<map> from_ordered(std::vector<value_type> pairs);

  std::size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  const term* find(const term& key) const noexcept;
  const term& at(const term& key) const;  // throws std::out_of_range
  bool contains(const term& key) const noexcept { return find(key) != nullptr; }
  std::span<const value_type> pairs() const noexcept;
  const value_type* begin() const noexcept;
  const value_type* end() const noexcept;
  // Copy-on-write mutation.
  void insert_or_assign(term key, term value);
  bool erase(const term& key);

 private:
  friend class term;
  explicit map(detail::heap_object* p) noexcept : handle(p) {}
  detail::map_obj* obj() const noexcept;
};

// A binary or bitstring: a zero-copy slice of shared, immutable bytes.
class binary : public detail::handle {
 public:
  binary();  // <<>>
  explicit binary(std::string_view bytes);
  explicit binary(std::span<const std::uint8_t> bytes);
  explicit binary(std::vector<std::uint8_t>&& bytes);  // takes the vector, no copy
  binary(const char* s) : binary(std::string_view(s)) {}
  // Shares `size` bytes at `data`, kept alive by `owner`.
  static binary shared(std::shared_ptr<const void> owner, const std::uint8_t* data,
                       std::size_t size, unsigned tail_bits = 0);
  // A bitstring: `bytes`, of which only the first `tail_bits` (1..7) bits of the last byte
  // count; tail_bits 0 means all of them.
  static binary bits(std::span<const std::uint8_t> bytes, unsigned tail_bits);

  const std::uint8_t* data() const noexcept;
  std::size_t size() const noexcept;    // bytes, counting a partial last byte
  unsigned tail_bits() const noexcept;  // 0 for a binary
  std::size_t bit_size() const noexcept;
  bool is_binary() const noexcept { return tail_bits() == 0; }
  std::span<const std::uint8_t> bytes() const noexcept { return {data(), size()}; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data()), size()}; }
  // Zero-copy sub-binary of whole bytes.
  binary slice(std::size_t offset, std::size_t length) const;

 private:
  friend class term;
  explicit binary(detail::heap_object* p) noexcept : handle(p) {}
  detail::binary_obj* obj() const noexcept;
};

class pid : public detail::handle {
 public:
  pid(atom node, std::uint32_t id, std::uint32_t serial, std::uint32_t creation);
  atom node() const noexcept;
  std::uint32_t id() const noexcept;
  std::uint32_t serial() const noexcept;
  std::uint32_t creation() const noexcept;

 private:
  friend class term;
  explicit pid(detail::heap_object* p) noexcept : handle(p) {}
  detail::pid_obj* obj() const noexcept;
};

class port : public detail::handle {
 public:
  port(atom node, std::uint64_t id, std::uint32_t creation);
  atom node() const noexcept;
  std::uint64_t id() const noexcept;
  std::uint32_t creation() const noexcept;

 private:
  friend class term;
  explicit port(detail::heap_object* p) noexcept : handle(p) {}
  detail::port_obj* obj() const noexcept;
};

class reference : public detail::handle {
 public:
  static constexpr std::size_t max_words = 5;
  // 1..5 words (throws std::invalid_argument otherwise).
  reference(atom node, std::uint32_t creation, std::span<const std::uint32_t> words);
  reference(atom node, std::uint32_t creation, std::initializer_list<std::uint32_t> words)
      : reference(node, creation, std::span<const std::uint32_t>(words.begin(), words.size())) {}
  atom node() const noexcept;
  std::uint32_t creation() const noexcept;
  std::span<const std::uint32_t> words() const noexcept;

 private:
  friend class term;
  explicit reference(detail::heap_object* p) noexcept : handle(p) {}
  detail::ref_obj* obj() const noexcept;
};

// A local fun (NEW_FUN_EXT), kept field for field so it re-encodes exactly.
class fun : public detail::handle {
 public:
  struct fields {
    atom module;
    std::uint8_t arity = 0;
    std::array<std::uint8_t, 16> uniq{};
    std::uint32_t index = 0;
    std::vector<term> free_vars;
    // old_index, old_uniq (integers) and pid, as in the encoding.
    std::vector<term> extra;  // exactly 3 terms: old_index, old_uniq, pid
  };
  explicit fun(fields f);
  const fields& get() const noexcept;
  atom module() const noexcept { return get().module; }
  std::uint8_t arity() const noexcept { return get().arity; }

 private:
  friend class term;
  explicit fun(detail::heap_object* p) noexcept : handle(p) {}
  detail::fun_obj* obj() const noexcept;
};

// fun Module:Function/Arity (EXPORT_EXT).
class export_fun : public detail::handle {
 public:
  export_fun(atom module, atom function, std::uint8_t arity);
  atom module() const noexcept;
  atom function() const noexcept;
  std::uint8_t arity() const noexcept;

 private:
  friend class term;
  explicit export_fun(detail::heap_object* p) noexcept : handle(p) {}
  detail::export_obj* obj() const noexcept;
};

// An integer outside int64. Always normalised: a value that fits in int64 is a small_int term.
class big_integer : public detail::handle {
 public:
  explicit big_integer(big_int v);
  const big_int& value() const noexcept;

 private:
  friend class term;
  explicit big_integer(detail::heap_object* p) noexcept : handle(p) {}
  detail::big_obj* obj() const noexcept;
};

// LOCAL_EXT (tag 121, OTP 26+): a node-local encoding we cannot interpret; kept as its
// bytes (from the tag on) so it can be passed back unchanged.
class local_term : public detail::handle {
 public:
  explicit local_term(std::vector<std::uint8_t> bytes);
  std::span<const std::uint8_t> bytes() const noexcept;

 private:
  friend class term;
  explicit local_term(detail::heap_object* p) noexcept : handle(p) {}
  detail::local_obj* obj() const noexcept;
};

// ---------------------------------------------------------------------------------------

class term {
 public:
  term() noexcept : k_(kind::nil) { u_.h = nullptr; }  // []
  term(const term& o) noexcept : k_(o.k_), u_(o.u_) {
    if (is_heap(k_)) detail::retain(u_.h);
  }
  term(term&& o) noexcept : k_(o.k_), u_(o.u_) {
    o.k_ = kind::nil;
    o.u_.h = nullptr;
  }
  term& operator=(const term& o) noexcept {
    term t(o);
    swap(t);
    return *this;
  }
  term& operator=(term&& o) noexcept {
    term t(std::move(o));
    swap(t);
    return *this;
  }
  ~term() {
    if (is_heap(k_)) detail::release(u_.h);
  }
  void swap(term& o) noexcept {
    std::swap(k_, o.k_);
    std::swap(u_, o.u_);
  }

  // Numbers.
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) term(I v) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (v > static_cast<std::uint64_t>(INT64_MAX)) {
        set_big(big_int(v));
        return;
      }
    }
    k_ = kind::small_int;
    u_.i = static_cast<std::int64_t>(v);
  }
  term(double v) noexcept : k_(kind::float_) { u_.f = v; }
  term(const big_int& v);  // normalised to small_int when it fits
  term(bool b) noexcept;   // the atoms true / false
  term(atom a) noexcept : k_(kind::atom) { u_.a = a.entry(); }
  // A string literal is a list of its code points, as in Erlang ("text" == [116,101,120,116]).
  // Invalid UTF-8 bytes are taken as Latin-1.
  term(const char* utf8) : term(std::string_view(utf8)) {}
  term(std::string_view utf8);
  term(const std::string& utf8) : term(std::string_view(utf8)) {}

  term(tuple v) noexcept : term(kind::tuple, v.release_ptr()) {}
  term(list v) noexcept {
    auto* p = v.release_ptr();
    k_ = p ? kind::list : kind::nil;
    u_.h = p;
  }
  term(map v) noexcept : term(kind::map, v.release_ptr()) {}
  term(binary v) noexcept : term(kind::bitstring, v.release_ptr()) {}
  term(pid v) noexcept : term(kind::pid, v.release_ptr()) {}
  term(port v) noexcept : term(kind::port, v.release_ptr()) {}
  term(reference v) noexcept : term(kind::reference, v.release_ptr()) {}
  term(fun v) noexcept : term(kind::fun, v.release_ptr()) {}
  term(export_fun v) noexcept : term(kind::export_fun, v.release_ptr()) {}
  term(big_integer v) noexcept : term(kind::big_int, v.release_ptr()) {}
  term(local_term v) noexcept : term(kind::local, v.release_ptr()) {}

  kind type() const noexcept { return k_; }
  bool is_integer() const noexcept { return k_ == kind::small_int || k_ == kind::big_int; }
  bool is_float() const noexcept { return k_ == kind::float_; }
  bool is_number() const noexcept { return k_ <= kind::float_; }
  bool is_atom() const noexcept { return k_ == kind::atom; }
  bool is_atom(atom a) const noexcept { return k_ == kind::atom && u_.a == a.entry(); }
  bool is_nil() const noexcept { return k_ == kind::nil; }
  bool is_list() const noexcept { return k_ == kind::nil || k_ == kind::list; }
  bool is_tuple() const noexcept { return k_ == kind::tuple; }
  bool is_tuple(std::size_t arity) const noexcept;
  bool is_map() const noexcept { return k_ == kind::map; }
  bool is_bitstring() const noexcept { return k_ == kind::bitstring; }
  bool is_binary() const noexcept;
  bool is_pid() const noexcept { return k_ == kind::pid; }
  bool is_port() const noexcept { return k_ == kind::port; }
  bool is_reference() const noexcept { return k_ == kind::reference; }
  bool is_fun() const noexcept { return k_ == kind::fun || k_ == kind::export_fun; }

  // Typed access without throwing: a pointer to the value, or nullptr on a kind mismatch.
  // T is one of: std::int64_t, double, atom, big_integer, tuple, list (also for []), map,
  // binary (any bitstring), pid, port, reference, fun, export_fun, local_term.
  template <class T>
  const T* get_if() const noexcept;
  // The same, throwing bad_term_access on a mismatch.
  template <class T>
  const T& as() const {
    if (auto* p = get_if<T>()) return *p;
    throw_bad_access(typeid(T).name());
  }
  // Integer value when it fits in int64.
  std::optional<std::int64_t> to_int64() const noexcept {
    if (k_ == kind::small_int) return u_.i;
    return std::nullopt;
  }
  // Any integer as a big_int.
  std::optional<big_int> to_big_int() const;
  // The UTF-8 text of a list of Unicode code points (an Erlang string), else nullopt.
  std::optional<std::string> to_utf8_string() const;

  // Calls f with the value as one of: std::int64_t, const big_integer&, double, atom,
  // const reference&, const fun&, const export_fun&, const port&, const pid&, const tuple&,
  // const map&, const list& (also for []), const binary&, const local_term&.
  template <class F>
  decltype(auto) visit(F&& f) const;

  // Exact equality (Erlang =:=: 1 and 1.0 differ). Maps compare regardless of pair order.
  friend bool operator==(const term& a, const term& b) noexcept;
  // A total order: Erlang term order, with an integer placed before an equal float
  // (the order the BEAM sorts map keys in). compare() gives pure Erlang order (1 == 1.0).
  friend std::strong_ordering operator<=>(const term& a, const term& b) noexcept;
  std::size_t hash() const noexcept;

  // Internal: the heap object of a boxed term.
  detail::heap_object* heap() const noexcept { return is_heap(k_) ? u_.h : nullptr; }
  // Internal (the codec): the term of a heap object, adopting one reference to it.
  static term adopt(kind k, detail::heap_object* h) noexcept { return term(k, h); }
  static constexpr bool is_heap(kind k) noexcept {
    // One bit test (kinds are below 16): every kind but these four is boxed.
    constexpr unsigned immediate =
        1u << static_cast<unsigned>(kind::small_int) | 1u << static_cast<unsigned>(kind::float_) |
        1u << static_cast<unsigned>(kind::atom) | 1u << static_cast<unsigned>(kind::nil);
    static_assert(static_cast<unsigned>(kind::local) < 16);
    return ((1u << static_cast<unsigned>(k)) & immediate) == 0;
  }

 private:
  term(kind k, detail::heap_object* h) noexcept : k_(k) { u_.h = h; }
  void set_big(const big_int& v);
  [[noreturn]] static void throw_bad_access(const char* want);

  kind k_;
  union {
    std::int64_t i;
    double f;
    const detail::atom_entry* a;
    detail::heap_object* h;
  } u_;
};

static_assert(sizeof(term) == 16);
static_assert(sizeof(tuple) == sizeof(void*) && std::is_standard_layout_v<tuple>);

// Erlang term order (== semantics: 1 compares equal to 1.0).
std::weak_ordering compare(const term& a, const term& b) noexcept;
// Erlang == (numbers by value).
inline bool equal_numeric(const term& a, const term& b) noexcept {
  return compare(a, b) == std::weak_ordering::equivalent;
}
// The order the BEAM keeps map keys in (integers before floats, then term order).
inline bool map_key_less(const term& a, const term& b) noexcept { return (a <=> b) < 0; }

// ---------------------------------------------------------------------------------------
// Inline implementation of typed access.

namespace detail {
template <class T>
inline constexpr bool is_handle_v =
    std::is_same_v<T, tuple> || std::is_same_v<T, list> || std::is_same_v<T, map> ||
    std::is_same_v<T, binary> || std::is_same_v<T, pid> || std::is_same_v<T, port> ||
    std::is_same_v<T, reference> || std::is_same_v<T, fun> || std::is_same_v<T, export_fun> ||
    std::is_same_v<T, big_integer> || std::is_same_v<T, local_term>;
template <class T>
constexpr kind kind_of() noexcept {
  if constexpr (std::is_same_v<T, tuple>)
    return kind::tuple;
  else if constexpr (std::is_same_v<T, list>)
    return kind::list;
  else if constexpr (std::is_same_v<T, map>)
    return kind::map;
  else if constexpr (std::is_same_v<T, binary>)
    return kind::bitstring;
  else if constexpr (std::is_same_v<T, pid>)
    return kind::pid;
  else if constexpr (std::is_same_v<T, port>)
    return kind::port;
  else if constexpr (std::is_same_v<T, reference>)
    return kind::reference;
  else if constexpr (std::is_same_v<T, fun>)
    return kind::fun;
  else if constexpr (std::is_same_v<T, export_fun>)
    return kind::export_fun;
  else if constexpr (std::is_same_v<T, big_integer>)
    return kind::big_int;
  else
    return kind::local;
}
}  // namespace detail

template <class T>
const T* term::get_if() const noexcept {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    return k_ == kind::small_int ? &u_.i : nullptr;
  } else if constexpr (std::is_same_v<T, double>) {
    return k_ == kind::float_ ? &u_.f : nullptr;
  } else if constexpr (std::is_same_v<T, atom>) {
    static_assert(sizeof(atom) == sizeof(void*));
    return k_ == kind::atom ? reinterpret_cast<const atom*>(&u_.a) : nullptr;
  } else if constexpr (std::is_same_v<T, list>) {
    // A handle is layout-compatible with its one pointer member; nil is a null handle.
    return (k_ == kind::list || k_ == kind::nil) ? reinterpret_cast<const list*>(&u_.h) : nullptr;
  } else {
    static_assert(detail::is_handle_v<T>, "term::get_if: unsupported type");
    return k_ == detail::kind_of<T>() ? reinterpret_cast<const T*>(&u_.h) : nullptr;
  }
}

template <class F>
decltype(auto) term::visit(F&& f) const {
  switch (k_) {
    case kind::small_int:
      return f(u_.i);
    case kind::big_int:
      return f(*get_if<big_integer>());
    case kind::float_:
      return f(u_.f);
    case kind::atom:
      return f(*get_if<atom>());
    case kind::reference:
      return f(*get_if<reference>());
    case kind::fun:
      return f(*get_if<fun>());
    case kind::export_fun:
      return f(*get_if<export_fun>());
    case kind::port:
      return f(*get_if<port>());
    case kind::pid:
      return f(*get_if<pid>());
    case kind::tuple:
      return f(*get_if<tuple>());
    case kind::map:
      return f(*get_if<map>());
    case kind::nil:
    case kind::list:
      return f(*get_if<list>());
    case kind::bitstring:
      return f(*get_if<binary>());
    case kind::local:
      return f(*get_if<local_term>());
  }
  return f(*get_if<local_term>());  // unreachable
}

}  // namespace erlnode

template <>
struct std::hash<erlnode::term> {
  std::size_t operator()(const erlnode::term& t) const noexcept { return t.hash(); }
};
