#include <erlnode/term.hpp>

#include "term/objects.hpp"
#include "term/utf8.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace erlnode {

namespace detail {

// The thread-locals of the pool use the initial-exec model: in code built as PIC the default
// makes each access a call (relaxed away when linked into an executable, but the registers it
// clobbers are still saved around it). These few bytes fit the static TLS that a dlopen'ed
// library may use.
// cached_bytes starts (and ends, at thread exit) past any limit, so that frees bypass the lists
// until the thread's reaper is registered (one test on the hot path instead of two).
constexpr std::size_t pool_closed = SIZE_MAX / 2;
[[gnu::tls_model("initial-exec")]] constinit thread_local pool::lists tl_pool{{}, pool_closed};

namespace {
// Per-thread free lists of small blocks, by 16-byte size class. Decoding allocates several
// small objects per term; glibc's own per-thread cache is too small for that pattern.
using pool::free_block;
constexpr std::size_t pool_granule = pool::granule;
constexpr std::size_t pool_classes = pool::classes;
// Bytes a thread keeps cached in all (freeing a large decoded term refills the lists for the
// next decode of the same size).
constexpr std::size_t pool_bytes_max = 8u << 20;

// The free lists (tl_pool) are plain data (no guard on each access); the lists' blocks are
// returned at thread exit by `pool_reaper`, registered when a thread first allocates past its
// lists. pool_state: 0: no reaper yet, 1: live, 2: thread exiting.
[[gnu::tls_model("initial-exec")]] constinit thread_local int pool_state = 0;
struct pool_reaper {
  std::vector<heap_object*> destroy_stack;  // reused by destroy()
  pool_reaper() noexcept {
    pool_state = 1;
    tl_pool.cached_bytes = 0;
  }
  ~pool_reaper() {
    pool_state = 2;
    // Frees from now on bypass the lists (and allocations find them empty).
    tl_pool.cached_bytes = pool_closed;
    for (auto*& h : tl_pool.head)
      while (h) ::operator delete(std::exchange(h, h->next));
  }
};
thread_local pool_reaper reaper;

std::size_t pool_class(std::size_t n) noexcept { return (n + pool_granule - 1) / pool_granule - 1; }

[[gnu::noinline]] void* pool_alloc_slow(std::size_t c) {
  if (pool_state == 0) (void)reaper;  // constructs (and registers) this thread's reaper
  return ::operator new((c + 1) * pool_granule);
}
}  // namespace

void* pool_alloc(std::size_t n) {
  std::size_t c = pool_class(n);
  if (c < pool_classes) [[likely]] {
    if (free_block* b = tl_pool.head[c]) [[likely]] {
      tl_pool.head[c] = b->next;
      tl_pool.cached_bytes -= (c + 1) * pool_granule;
      return b;
    }
    return pool_alloc_slow(c);
  }
  return ::operator new(n);
}

namespace {
[[gnu::always_inline]] inline void pool_free_inline(void* ptr, std::size_t n) noexcept {
  std::size_t c = pool_class(n);
  if (c < pool_classes) [[likely]] {
    std::size_t bytes = (c + 1) * pool_granule;
    // Blocks may come from another thread's pool; they simply join this thread's lists.
    if (tl_pool.cached_bytes + bytes <= pool_bytes_max) [[likely]] {
      auto* b = static_cast<free_block*>(ptr);
      b->next = tl_pool.head[c];
      tl_pool.head[c] = b;
      tl_pool.cached_bytes += bytes;
      return;
    }
  }
  ::operator delete(ptr);
}
}  // namespace

void pool_free(void* ptr, std::size_t n) noexcept { pool_free_inline(ptr, n); }

namespace {
void* alloc_with_terms(std::size_t head, std::size_t n) {
  if (n > (SIZE_MAX - head) / sizeof(term)) throw std::bad_alloc();
  return pool_alloc(head + n * sizeof(term));
}

void destroy_one(heap_object* h, std::vector<heap_object*>& stack, unsigned depth) noexcept;

// Containers nested up to this deep are destroyed by recursion (cheaper than the stack).
constexpr unsigned destroy_recursion_max = 8;

// Releases the objects of `n` terms. Children whose count reaches zero are destroyed at once
// (leaves, and containers down to destroy_recursion_max levels) or pushed on `stack`, so a
// million-deep term does not overflow the C++ stack. `Reset`: the terms are destructed later
// (vector members), so each released one is overwritten with []; raw element arrays are freed
// without that.
template <bool Reset>
[[gnu::always_inline]] inline void drop_terms(term* first, std::size_t n,
                                              std::vector<heap_object*>& stack,
                                              unsigned depth) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (heap_object* h = first[i].heap()) {
      // A count of 1 is ours alone (nobody else can copy it), so no atomic update is needed.
      if (h->refs.load(std::memory_order_acquire) == 1 ||
          h->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // The common leaves are freed here; containers wait on the stack.
        switch (h->k) {
          case kind::tuple:
          case kind::list:
          case kind::map:
          case kind::fun:
            if (depth < destroy_recursion_max)
              destroy_one(h, stack, depth + 1);
            else
              stack.push_back(h);
            break;
          case kind::bitstring:
            if (!static_cast<binary_obj*>(h)->owner) {
              pool_free_inline(h, sizeof(binary_obj) + static_cast<binary_obj*>(h)->size);
              break;
            }
            destroy_one(h, stack, depth);
            break;
          case kind::pid:
            static_assert(std::is_trivially_destructible_v<pid_obj>);
            pool_free_inline(h, sizeof(pid_obj));
            break;
          case kind::reference:
            static_assert(std::is_trivially_destructible_v<ref_obj>);
            pool_free_inline(h, sizeof(ref_obj));
            break;
          default:
            destroy_one(h, stack, depth);
        }
      }
      if constexpr (Reset) new (&first[i]) term();  // reference dropped: overwrite, no release
    }
  }
}

void destroy_one(heap_object* h, std::vector<heap_object*>& stack, unsigned depth) noexcept {
  switch (h->k) {
    case kind::tuple: {
      auto* o = static_cast<tuple_obj*>(h);
      drop_terms<false>(o->elems(), o->size, stack, depth);
      pool_free(o, sizeof(tuple_obj) + o->size * sizeof(term));
      return;
    }
    case kind::list: {
      auto* o = static_cast<list_obj*>(h);
      drop_terms<false>(o->elems(), o->size, stack, depth);
      drop_terms<true>(&o->tail, 1, stack, depth);
      pool_free(o, sizeof(list_obj) + o->size * sizeof(term));
      return;
    }
    case kind::map: {
      auto* o = static_cast<map_obj*>(h);
      for (auto& pr : o->pairs) {
        drop_terms<true>(&pr.first, 1, stack, depth);
        drop_terms<true>(&pr.second, 1, stack, depth);
      }
      delete o;
      return;
    }
    case kind::bitstring: {
      auto* o = static_cast<binary_obj*>(h);
      std::size_t bytes = sizeof(binary_obj) + (o->owner ? 0 : o->size);
      o->~binary_obj();
      pool_free(o, bytes);
      return;
    }
    case kind::pid:
      delete static_cast<pid_obj*>(h);
      return;
    case kind::port:
      delete static_cast<port_obj*>(h);
      return;
    case kind::reference:
      delete static_cast<ref_obj*>(h);
      return;
    case kind::fun: {
      auto* o = static_cast<fun_obj*>(h);
      drop_terms<true>(o->f.free_vars.data(), o->f.free_vars.size(), stack, depth);
      drop_terms<true>(o->f.extra.data(), o->f.extra.size(), stack, depth);
      delete o;
      return;
    }
    case kind::export_fun:
      delete static_cast<export_obj*>(h);
      return;
    case kind::big_int:
      delete static_cast<big_obj*>(h);
      return;
    case kind::local:
      delete static_cast<local_obj*>(h);
      return;
    default:
      return;
  }
}
}  // namespace

namespace {
void drain(heap_object* h, std::vector<heap_object*>& stack) noexcept {
  std::size_t base = stack.size();
  destroy_one(h, stack, 0);
  while (stack.size() > base) {
    heap_object* next = stack.back();
    stack.pop_back();
    destroy_one(next, stack, 0);
  }
}
[[gnu::tls_model("initial-exec")]] constinit thread_local bool destroying = false;
}  // namespace

void destroy(heap_object* h) noexcept {
  // One reused stack per thread; a nested destroy (a binary owner releasing another object)
  // gets its own.
  if (destroying || pool_state == 2) {
    std::vector<heap_object*> stack;
    drain(h, stack);
    return;
  }
  if (pool_state == 0) (void)reaper;
  auto& stack = reaper.destroy_stack;
  destroying = true;
  drain(h, stack);
  destroying = false;
  if (stack.capacity() > 4096) std::vector<heap_object*>().swap(stack);
}

tuple_obj* tuple_obj::make(std::size_t n) {
  void* mem = alloc_with_terms(sizeof(tuple_obj), n);
  auto* o = new (mem) tuple_obj(n);
  term* e = o->elems();
  for (std::size_t i = 0; i < n; ++i) new (e + i) term();
  return o;
}

tuple_obj* tuple_obj::make_uninit(std::size_t n) {
  return new (alloc_with_terms(sizeof(tuple_obj), n)) tuple_obj(n);
}

list_obj* list_obj::make_uninit(std::size_t n) {
  return new (alloc_with_terms(sizeof(list_obj), n)) list_obj(n);
}

list_obj* list_obj::make(std::size_t n) {
  void* mem = alloc_with_terms(sizeof(list_obj), n);
  auto* o = new (mem) list_obj(n);
  term* e = o->elems();
  for (std::size_t i = 0; i < n; ++i) new (e + i) term();
  return o;
}

binary_obj* binary_obj::make_inline(const std::uint8_t* p, std::size_t n, unsigned tail_bits) {
  void* mem = pool_alloc(sizeof(binary_obj) + n);
  auto* o = new (mem) binary_obj();
  auto* dst = reinterpret_cast<std::uint8_t*>(o + 1);
  if (n) std::memcpy(dst, p, n);
  o->data = dst;
  o->size = n;
  o->tail_bits = static_cast<std::uint8_t>(tail_bits);
  return o;
}

namespace {
std::size_t mix(std::size_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}
}  // namespace

void map_obj::build_index() {
  index.clear();
  if (pairs.size() <= map_obj::index_threshold) return;
  std::size_t cap = 16;
  while (cap < pairs.size() * 2) cap <<= 1;
  index.assign(cap, 0);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    std::size_t slot = mix(pairs[i].first.hash()) & (cap - 1);
    while (index[slot] != 0) slot = (slot + 1) & (cap - 1);
    index[slot] = static_cast<std::uint32_t>(i + 1);
  }
}

std::ptrdiff_t map_obj::find_pos(const term& key) const noexcept {
  if (index.empty()) {
    for (std::size_t i = 0; i < pairs.size(); ++i)
      if (pairs[i].first == key) return static_cast<std::ptrdiff_t>(i);
    return -1;
  }
  std::size_t cap = index.size();
  std::size_t slot = mix(key.hash()) & (cap - 1);
  while (std::uint32_t v = index[slot]) {
    if (pairs[v - 1].first == key) return static_cast<std::ptrdiff_t>(v - 1);
    slot = (slot + 1) & (cap - 1);
  }
  return -1;
}

const term* map_obj::find(const term& key) const noexcept {
  auto pos = find_pos(key);
  return pos < 0 ? nullptr : &pairs[static_cast<std::size_t>(pos)].second;
}

}  // namespace detail

using namespace detail;

std::string_view kind_name(kind k) noexcept {
  switch (k) {
    case kind::small_int:
    case kind::big_int:
      return "integer";
    case kind::float_:
      return "float";
    case kind::atom:
      return "atom";
    case kind::reference:
      return "reference";
    case kind::fun:
    case kind::export_fun:
      return "fun";
    case kind::port:
      return "port";
    case kind::pid:
      return "pid";
    case kind::tuple:
      return "tuple";
    case kind::map:
      return "map";
    case kind::nil:
    case kind::list:
      return "list";
    case kind::bitstring:
      return "bitstring";
    case kind::local:
      return "local";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
// tuple

tuple::tuple() : handle(tuple_obj::make(0)) {}
tuple::tuple(std::initializer_list<term> elems) : tuple(std::span(elems.begin(), elems.size())) {}
tuple::tuple(std::span<const term> elems) : handle(tuple_obj::make(elems.size())) {
  std::copy(elems.begin(), elems.end(), obj()->elems());
}
tuple::tuple(std::vector<term> elems) : handle(tuple_obj::make(elems.size())) {
  std::move(elems.begin(), elems.end(), obj()->elems());
}
tuple tuple::of_size(std::size_t n) { return tuple(static_cast<heap_object*>(tuple_obj::make(n))); }
tuple_obj* tuple::obj() const noexcept { return static_cast<tuple_obj*>(p_); }
std::size_t tuple::size() const noexcept { return obj()->size; }
const term& tuple::operator[](std::size_t i) const noexcept { return obj()->elems()[i]; }
const term& tuple::at(std::size_t i) const {
  if (i >= size()) throw std::out_of_range("tuple index out of range");
  return (*this)[i];
}
std::span<const term> tuple::elements() const noexcept { return {obj()->elems(), size()}; }
const term* tuple::begin() const noexcept { return obj()->elems(); }
const term* tuple::end() const noexcept { return obj()->elems() + size(); }
std::span<term> tuple::elements_mut() {
  if (!unique()) *this = tuple(elements());
  return {obj()->elems(), size()};
}
void tuple::set(std::size_t i, term v) {
  if (i >= size()) throw std::out_of_range("tuple index out of range");
  elements_mut()[i] = std::move(v);
}

// ---------------------------------------------------------------------------------------
// list

list::list(std::initializer_list<term> elems) : list(std::span(elems.begin(), elems.size())) {}
list::list(std::span<const term> elems) {
  if (elems.empty()) return;
  auto* o = list_obj::make(elems.size());
  std::copy(elems.begin(), elems.end(), o->elems());
  p_ = o;
}
list::list(std::vector<term> elems) : list(std::move(elems), term()) {}
list::list(std::vector<term> elems, term tail) {
  if (elems.empty()) {
    // [ | T] is just T; only a list tail can be represented here.
    if (auto* l = tail.get_if<list>())
      *this = *l;
    else
      throw std::invalid_argument("list: an improper list needs at least one element");
    return;
  }
  auto* o = list_obj::make(elems.size());
  std::move(elems.begin(), elems.end(), o->elems());
  p_ = o;
  // Flatten a list tail so [a | [b]] is [a, b].
  if (auto* l = tail.get_if<list>(); l && !l->empty()) {
    std::vector<term> all(begin(), end());
    all.insert(all.end(), l->begin(), l->end());
    term t2 = l->tail();
    *this = list(std::move(all), std::move(t2));
    return;
  }
  o->tail = std::move(tail);
}
list list::of_size(std::size_t n, term tail) {
  if (n == 0) return list();
  auto* o = list_obj::make(n);
  o->tail = std::move(tail);
  return list(static_cast<heap_object*>(o));
}
list_obj* list::obj() const noexcept { return static_cast<list_obj*>(p_); }
std::size_t list::size() const noexcept { return p_ ? obj()->size : 0; }
const term& list::operator[](std::size_t i) const noexcept { return obj()->elems()[i]; }
std::span<const term> list::elements() const noexcept {
  if (!p_) return {};
  return {obj()->elems(), obj()->size};
}
const term* list::begin() const noexcept { return p_ ? obj()->elems() : nullptr; }
const term* list::end() const noexcept { return p_ ? obj()->elems() + obj()->size : nullptr; }
const term& list::tail() const noexcept {
  static const term nil;
  return p_ ? obj()->tail : nil;
}
bool list::is_proper() const noexcept { return !p_ || obj()->tail.is_nil(); }
std::span<term> list::elements_mut() {
  if (!p_) return {};
  if (!unique()) {
    auto* o = list_obj::make(size());
    std::copy(begin(), end(), o->elems());
    o->tail = tail();
    *this = list(static_cast<heap_object*>(o));
  }
  return {obj()->elems(), obj()->size};
}
void list::set(std::size_t i, term v) {
  if (i >= size()) throw std::out_of_range("list index out of range");
  elements_mut()[i] = std::move(v);
}

// ---------------------------------------------------------------------------------------
// map

namespace {
map_obj* make_sorted_map(std::vector<map::value_type> pairs) {
  auto* o = new map_obj();
  // Later duplicates win: stable-sort by key, keep the last of each run.
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  o->pairs.reserve(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (i + 1 < pairs.size() && pairs[i + 1].first == pairs[i].first) continue;
    o->pairs.push_back(std::move(pairs[i]));
  }
  o->build_index();
  return o;
}
}  // namespace

map::map() : handle(new map_obj()) {}
map::map(std::initializer_list<value_type> pairs)
    : map(std::vector<value_type>(pairs.begin(), pairs.end())) {}
map::map(std::vector<value_type> pairs) : handle(make_sorted_map(std::move(pairs))) {}
std::optional<map> map::from_ordered(std::vector<value_type> pairs) {
  auto* o = new map_obj();
  map m(static_cast<heap_object*>(o));
  o->pairs.assign(std::make_move_iterator(pairs.begin()), std::make_move_iterator(pairs.end()));
  o->build_index();
  // Duplicate check: with an index, probe each key; small maps compare pairwise.
  for (std::size_t i = 0; i < o->pairs.size(); ++i) {
    if (o->find_pos(o->pairs[i].first) != static_cast<std::ptrdiff_t>(i)) return std::nullopt;
  }
  return m;
}
map_obj* map::obj() const noexcept { return static_cast<map_obj*>(p_); }
std::size_t map::size() const noexcept { return obj()->pairs.size(); }
const term* map::find(const term& key) const noexcept { return obj()->find(key); }
const term& map::at(const term& key) const {
  if (auto* v = find(key)) return *v;
  throw std::out_of_range("map key not found");
}
std::span<const map::value_type> map::pairs() const noexcept { return obj()->pairs; }
const map::value_type* map::begin() const noexcept { return obj()->pairs.data(); }
const map::value_type* map::end() const noexcept {
  return obj()->pairs.data() + obj()->pairs.size();
}
void map::insert_or_assign(term key, term value) {
  if (!unique()) {
    auto* o = new map_obj();
    o->pairs = obj()->pairs;
    o->index = obj()->index;
    *this = map(static_cast<heap_object*>(o));
  }
  auto* o = obj();
  auto pos = o->find_pos(key);
  if (pos >= 0) {
    o->pairs[static_cast<std::size_t>(pos)].second = std::move(value);
    return;
  }
  if (o->pairs.size() < 32) {
    // Small maps stay in key order, as the BEAM's flatmaps.
    bool sorted = std::is_sorted(o->pairs.begin(), o->pairs.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
    if (sorted) {
      auto it = std::lower_bound(o->pairs.begin(), o->pairs.end(), key,
                                 [](const auto& p, const term& k) { return p.first < k; });
      o->pairs.insert(it, {std::move(key), std::move(value)});
      o->build_index();
      return;
    }
  }
  o->pairs.emplace_back(std::move(key), std::move(value));
  o->build_index();
}
bool map::erase(const term& key) {
  if (obj()->find_pos(key) < 0) return false;
  if (!unique()) {
    auto* o = new map_obj();
    o->pairs = obj()->pairs;
    *this = map(static_cast<heap_object*>(o));
  }
  auto* o = obj();
  o->pairs.erase(o->pairs.begin() + o->find_pos(key));
  o->build_index();
  return true;
}

// ---------------------------------------------------------------------------------------
// binary

namespace {
constexpr std::size_t inline_binary_max = 64;  // as the BEAM's heap binaries
}

binary::binary() : handle(binary_obj::make_inline(nullptr, 0, 0)) {}
binary::binary(std::string_view bytes)
    : binary(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())) {}
binary::binary(std::span<const std::uint8_t> bytes)
    : handle(binary_obj::make_inline(bytes.data(), bytes.size(), 0)) {}
binary::binary(std::vector<std::uint8_t>&& bytes) {
  if (bytes.size() <= inline_binary_max) {
    p_ = binary_obj::make_inline(bytes.data(), bytes.size(), 0);
    return;
  }
  auto owner = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  const std::uint8_t* d = owner->data();
  std::size_t n = owner->size();
  *this = shared(std::move(owner), d, n, 0);
}
binary binary::shared(std::shared_ptr<const void> owner, const std::uint8_t* data, std::size_t size,
                      unsigned tail_bits) {
  if (tail_bits > 7 || (tail_bits && size == 0))
    throw std::invalid_argument("binary: bad tail_bits");
  void* mem = pool_alloc(sizeof(binary_obj));
  auto* o = new (mem) binary_obj();
  o->owner = std::move(owner);
  o->data = data;
  o->size = size;
  o->tail_bits = static_cast<std::uint8_t>(tail_bits);
  return binary(static_cast<heap_object*>(o));
}
binary binary::bits(std::span<const std::uint8_t> bytes, unsigned tail_bits) {
  if (tail_bits > 7 || (tail_bits && bytes.empty()))
    throw std::invalid_argument("binary: bad tail_bits");
  auto* o = binary_obj::make_inline(bytes.data(), bytes.size(), tail_bits);
  if (tail_bits) {
    // Keep the unused low bits zero so equal bitstrings have equal bytes.
    auto* d = const_cast<std::uint8_t*>(o->data);
    d[bytes.size() - 1] &= static_cast<std::uint8_t>(0xFF << (8 - tail_bits));
  }
  return binary(static_cast<heap_object*>(o));
}
binary_obj* binary::obj() const noexcept { return static_cast<binary_obj*>(p_); }
const std::uint8_t* binary::data() const noexcept { return obj()->data; }
std::size_t binary::size() const noexcept { return obj()->size; }
unsigned binary::tail_bits() const noexcept { return obj()->tail_bits; }
std::size_t binary::bit_size() const noexcept {
  auto* o = obj();
  return o->tail_bits ? (o->size - 1) * 8 + o->tail_bits : o->size * 8;
}
binary binary::slice(std::size_t offset, std::size_t length) const {
  if (offset > size() || length > size() - offset || (tail_bits() && offset + length == size()))
    throw std::out_of_range("binary slice out of range");
  const std::uint8_t* d = data() + offset;
  if (length <= inline_binary_max) return binary(std::span(d, length));
  auto* o = obj();
  if (o->owner) return shared(o->owner, d, length, 0);
  // Inline storage: keep this object alive through an aliasing owner.
  retain(p_);
  std::shared_ptr<const void> keep(static_cast<const void*>(p_), [](const void* p) {
    release(const_cast<heap_object*>(static_cast<const heap_object*>(p)));
  });
  return shared(std::move(keep), d, length, 0);
}

// ---------------------------------------------------------------------------------------
// identifiers and funs

pid::pid(atom node, std::uint32_t id, std::uint32_t serial, std::uint32_t creation) {
  p_ = new pid_obj(node, id, serial, creation);
}
pid_obj* pid::obj() const noexcept { return static_cast<pid_obj*>(p_); }
atom pid::node() const noexcept { return obj()->node; }
std::uint32_t pid::id() const noexcept { return obj()->id; }
std::uint32_t pid::serial() const noexcept { return obj()->serial; }
std::uint32_t pid::creation() const noexcept { return obj()->creation; }

port::port(atom node, std::uint64_t id, std::uint32_t creation) {
  auto* o = new port_obj();
  o->node = node;
  o->id = id;
  o->creation = creation;
  p_ = o;
}
port_obj* port::obj() const noexcept { return static_cast<port_obj*>(p_); }
atom port::node() const noexcept { return obj()->node; }
std::uint64_t port::id() const noexcept { return obj()->id; }
std::uint32_t port::creation() const noexcept { return obj()->creation; }

reference::reference(atom node, std::uint32_t creation, std::span<const std::uint32_t> words) {
  if (words.empty() || words.size() > max_words)
    throw std::invalid_argument("reference: 1..5 words");
  p_ = new ref_obj(node, creation, words.data(), words.size());
}
ref_obj* reference::obj() const noexcept { return static_cast<ref_obj*>(p_); }
atom reference::node() const noexcept { return obj()->node; }
std::uint32_t reference::creation() const noexcept { return obj()->creation; }
std::span<const std::uint32_t> reference::words() const noexcept {
  return {obj()->words, obj()->len};
}

fun::fun(fields f) {
  if (f.extra.size() != 3) throw std::invalid_argument("fun: extra must hold 3 terms");
  auto* o = new fun_obj();
  o->f = std::move(f);
  p_ = o;
}
fun_obj* fun::obj() const noexcept { return static_cast<fun_obj*>(p_); }
const fun::fields& fun::get() const noexcept { return obj()->f; }

export_fun::export_fun(atom module, atom function, std::uint8_t arity) {
  auto* o = new export_obj();
  o->module = module;
  o->function = function;
  o->arity = arity;
  p_ = o;
}
export_obj* export_fun::obj() const noexcept { return static_cast<export_obj*>(p_); }
atom export_fun::module() const noexcept { return obj()->module; }
atom export_fun::function() const noexcept { return obj()->function; }
std::uint8_t export_fun::arity() const noexcept { return obj()->arity; }

big_integer::big_integer(big_int v) {
  auto* o = new big_obj();
  o->v = std::move(v);
  p_ = o;
}
big_obj* big_integer::obj() const noexcept { return static_cast<big_obj*>(p_); }
const big_int& big_integer::value() const noexcept { return obj()->v; }

local_term::local_term(std::vector<std::uint8_t> bytes) {
  auto* o = new local_obj();
  o->bytes = std::move(bytes);
  p_ = o;
}
local_obj* local_term::obj() const noexcept { return static_cast<local_obj*>(p_); }
std::span<const std::uint8_t> local_term::bytes() const noexcept { return obj()->bytes; }

// ---------------------------------------------------------------------------------------
// term

namespace {
const big_int& int64_min_big() {
  static const big_int v = big_int(INT64_MIN);
  return v;
}
const big_int& int64_max_big() {
  static const big_int v = big_int(INT64_MAX);
  return v;
}
}  // namespace

term::term(const big_int& v) { set_big(v); }
void term::set_big(const big_int& v) {
  if (v >= int64_min_big() && v <= int64_max_big()) {
    k_ = kind::small_int;
    u_.i = static_cast<std::int64_t>(v);
    return;
  }
  k_ = kind::big_int;
  u_.h = big_integer(v).release_ptr();
}

term::term(bool b) noexcept : k_(kind::atom) { u_.a = (b ? atoms::true_ : atoms::false_).entry(); }

term::term(std::string_view utf8) : k_(kind::nil) {
  u_.h = nullptr;
  if (utf8.empty()) return;
  std::vector<term> cps;
  cps.reserve(utf8.size());
  std::size_t i = 0;
  while (i < utf8.size()) {
    char32_t cp;
    std::size_t n = utf8_decode(utf8.data() + i, utf8.size() - i, cp);
    if (n == 0) {
      cp = static_cast<unsigned char>(utf8[i]);
      n = 1;
    }
    cps.emplace_back(static_cast<std::int64_t>(cp));
    i += n;
  }
  *this = term(list(std::move(cps)));
}

bool term::is_tuple(std::size_t arity) const noexcept {
  return k_ == kind::tuple && static_cast<tuple_obj*>(u_.h)->size == arity;
}
bool term::is_binary() const noexcept {
  return k_ == kind::bitstring && static_cast<binary_obj*>(u_.h)->tail_bits == 0;
}

std::optional<big_int> term::to_big_int() const {
  if (k_ == kind::small_int) return big_int(u_.i);
  if (k_ == kind::big_int) return static_cast<big_obj*>(u_.h)->v;
  return std::nullopt;
}

std::optional<std::string> term::to_utf8_string() const {
  auto* l = get_if<list>();
  if (!l || !l->is_proper()) return std::nullopt;
  std::string out;
  out.reserve(l->size());
  char buf[4];
  for (const term& e : *l) {
    auto v = e.to_int64();
    if (!v || !is_unicode_scalar(*v)) return std::nullopt;
    out.append(buf, utf8_encode(static_cast<char32_t>(*v), buf));
  }
  return out;
}

void term::throw_bad_access(const char* want) {
  throw bad_term_access(std::string("term is not of the requested type ") + want);
}

// ---------------------------------------------------------------------------------------
// Comparison. Rank = position in Erlang term order.

namespace {

int rank(kind k) noexcept {
  switch (k) {
    case kind::small_int:
    case kind::big_int:
    case kind::float_:
      return 0;
    case kind::atom:
      return 1;
    case kind::reference:
      return 2;
    case kind::fun:
    case kind::export_fun:
    case kind::local:
      return 3;
    case kind::port:
      return 4;
    case kind::pid:
      return 5;
    case kind::tuple:
      return 6;
    case kind::map:
      return 7;
    case kind::nil:
      return 8;
    case kind::list:
      return 9;
    case kind::bitstring:
      return 10;
  }
  return 11;
}

template <class T>
int cmp3(const T& a, const T& b) noexcept {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// Integer (small or big) against a finite double, exactly.
int cmp_int_float(const term& i, double f) {
  if (auto v = i.to_int64()) {
    // Doubles in (-2^63, 2^63) truncate to int64 exactly.
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double t = std::trunc(f);
    auto ti = static_cast<std::int64_t>(t);
    if (*v != ti) return cmp3(*v, ti);
    return cmp3(0.0, f - t);
  }
  const big_int& b = i.get_if<big_integer>()->value();
  double t = std::trunc(f);
  big_int bt(t);  // exact: |t| is an integer-valued double
  if (b != bt) return b < bt ? -1 : 1;
  return cmp3(0.0, f - t);
}

int cmp_numbers(const term& a, const term& b, bool exact) {
  bool af = a.is_float(), bf = b.is_float();
  if (af && bf) return cmp3(*a.get_if<double>(), *b.get_if<double>());
  if (!af && !bf) {
    auto x = a.to_int64(), y = b.to_int64();
    if (x && y) return cmp3(*x, *y);
    if (x) return b.get_if<big_integer>()->value() > 0 ? -1 : 1;
    if (y) return a.get_if<big_integer>()->value() > 0 ? 1 : -1;
    const auto& p = a.get_if<big_integer>()->value();
    const auto& q = b.get_if<big_integer>()->value();
    return p < q ? -1 : (q < p ? 1 : 0);
  }
  if (exact) return af ? 1 : -1;  // map-key order: every integer before every float
  if (af) return -cmp_int_float(b, *a.get_if<double>());
  return cmp_int_float(a, *b.get_if<double>());
}

int cmp_impl(const term& a, const term& b, bool exact);

int cmp_seq(std::span<const term> x, std::span<const term> y, bool exact) {
  std::size_t n = std::min(x.size(), y.size());
  for (std::size_t i = 0; i < n; ++i)
    if (int c = cmp_impl(x[i], y[i], exact)) return c;
  return 0;
}

int cmp_node_ids(atom na, atom nb) noexcept { return na == nb ? 0 : ((na <=> nb) < 0 ? -1 : 1); }

std::vector<const map::value_type*> sorted_pairs(const map& m) {
  std::vector<const map::value_type*> v;
  v.reserve(m.size());
  for (const auto& p : m) v.push_back(&p);
  std::sort(v.begin(), v.end(), [](auto* x, auto* y) { return x->first < y->first; });
  return v;
}

int cmp_maps(const map& x, const map& y, bool exact) {
  if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
  auto sx = sorted_pairs(x), sy = sorted_pairs(y);
  // Keys in map-key order first, then values in key order.
  for (std::size_t i = 0; i < sx.size(); ++i)
    if (int c = cmp_impl(sx[i]->first, sy[i]->first, true)) return c;
  for (std::size_t i = 0; i < sx.size(); ++i)
    if (int c = cmp_impl(sx[i]->second, sy[i]->second, exact)) return c;
  return 0;
}

int cmp_impl(const term& a, const term& b, bool exact) {
  kind ka = a.type(), kb = b.type();
  int ra = rank(ka), rb = rank(kb);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (a.heap() && a.heap() == b.heap()) return 0;
  switch (ra) {
    case 0:
      return cmp_numbers(a, b, exact);
    case 1: {
      atom x = *a.get_if<atom>(), y = *b.get_if<atom>();
      return x == y ? 0 : ((x <=> y) < 0 ? -1 : 1);
    }
    case 2: {
      const auto& x = *a.get_if<reference>();
      const auto& y = *b.get_if<reference>();
      if (int c = cmp_node_ids(x.node(), y.node())) return c;
      // Most significant word last in the encoding.
      auto wx = x.words(), wy = y.words();
      if (wx.size() != wy.size()) return wx.size() < wy.size() ? -1 : 1;
      for (std::size_t i = wx.size(); i-- > 0;)
        if (wx[i] != wy[i]) return wx[i] < wy[i] ? -1 : 1;
      return cmp3(x.creation(), y.creation());
    }
    case 3: {
      if (ka != kb) return ka < kb ? -1 : 1;
      if (ka == kind::export_fun) {
        const auto& x = *a.get_if<export_fun>();
        const auto& y = *b.get_if<export_fun>();
        if (int c = cmp_node_ids(x.module(), y.module())) return c;
        if (int c = cmp_node_ids(x.function(), y.function())) return c;
        return cmp3(x.arity(), y.arity());
      }
      if (ka == kind::local) {
        auto x = a.get_if<local_term>()->bytes(), y = b.get_if<local_term>()->bytes();
        return std::lexicographical_compare_three_way(x.begin(), x.end(), y.begin(), y.end()) < 0
                   ? -1
                   : (std::equal(x.begin(), x.end(), y.begin(), y.end()) ? 0 : 1);
      }
      const auto& x = a.get_if<fun>()->get();
      const auto& y = b.get_if<fun>()->get();
      if (int c = cmp_node_ids(x.module, y.module)) return c;
      if (int c = cmp3(x.index, y.index)) return c;
      if (int c = cmp3(x.uniq, y.uniq)) return c;
      if (int c = cmp3(x.free_vars.size(), y.free_vars.size())) return c;
      if (int c = cmp_seq(x.free_vars, y.free_vars, exact)) return c;
      if (int c = cmp_seq(x.extra, y.extra, exact)) return c;
      return cmp3(x.arity, y.arity);
    }
    case 4: {
      const auto& x = *a.get_if<port>();
      const auto& y = *b.get_if<port>();
      if (int c = cmp_node_ids(x.node(), y.node())) return c;
      if (int c = cmp3(x.id(), y.id())) return c;
      return cmp3(x.creation(), y.creation());
    }
    case 5: {
      const auto& x = *a.get_if<pid>();
      const auto& y = *b.get_if<pid>();
      if (int c = cmp_node_ids(x.node(), y.node())) return c;
      if (int c = cmp3(x.serial(), y.serial())) return c;
      if (int c = cmp3(x.id(), y.id())) return c;
      return cmp3(x.creation(), y.creation());
    }
    case 6: {
      const auto& x = *a.get_if<tuple>();
      const auto& y = *b.get_if<tuple>();
      if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
      return cmp_seq(x.elements(), y.elements(), exact);
    }
    case 7:
      return cmp_maps(*a.get_if<map>(), *b.get_if<map>(), exact);
    case 8:
      return 0;
    case 9: {
      // Element by element; a list that runs out first is smaller; then the tails.
      const auto& x = *a.get_if<list>();
      const auto& y = *b.get_if<list>();
      if (int c = cmp_seq(x.elements(), y.elements(), exact)) return c;
      if (x.size() == y.size()) return cmp_impl(x.tail(), y.tail(), exact);
      // One list has more elements: compare the shorter one's tail with the rest.
      if (x.size() < y.size()) {
        std::vector<term> rest(y.begin() + x.size(), y.end());
        return cmp_impl(x.tail(), term(list(std::move(rest), y.tail())), exact);
      }
      std::vector<term> rest(x.begin() + y.size(), x.end());
      return cmp_impl(term(list(std::move(rest), x.tail())), y.tail(), exact);
    }
    case 10: {
      const auto& x = *a.get_if<binary>();
      const auto& y = *b.get_if<binary>();
      // Bit by bit; a prefix is smaller.
      std::size_t bx = x.bit_size(), by = y.bit_size();
      std::size_t nbits = std::min(bx, by);
      std::size_t full = nbits / 8;
      if (int c = full ? std::memcmp(x.data(), y.data(), full) : 0) return c < 0 ? -1 : 1;
      if (unsigned rem = nbits % 8) {
        auto mask = static_cast<std::uint8_t>(0xFF << (8 - rem));
        std::uint8_t p = x.data()[full] & mask, q = y.data()[full] & mask;
        if (p != q) return p < q ? -1 : 1;
      }
      return cmp3(bx, by);
    }
  }
  return 0;
}

}  // namespace

std::strong_ordering operator<=>(const term& a, const term& b) noexcept {
  int c = cmp_impl(a, b, true);
  return c < 0 ? std::strong_ordering::less
               : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
}

std::weak_ordering compare(const term& a, const term& b) noexcept {
  int c = cmp_impl(a, b, false);
  return c < 0 ? std::weak_ordering::less
               : (c > 0 ? std::weak_ordering::greater : std::weak_ordering::equivalent);
}

bool operator==(const term& a, const term& b) noexcept {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case kind::small_int:
      return *a.get_if<std::int64_t>() == *b.get_if<std::int64_t>();
    case kind::float_:
      return *a.get_if<double>() == *b.get_if<double>();
    case kind::atom:
      return *a.get_if<atom>() == *b.get_if<atom>();
    case kind::nil:
      return true;
    case kind::tuple: {
      const auto& x = *a.get_if<tuple>();
      const auto& y = *b.get_if<tuple>();
      if (x.get() == y.get()) return true;
      return std::equal(x.begin(), x.end(), y.begin(), y.end());
    }
    case kind::list: {
      const auto& x = *a.get_if<list>();
      const auto& y = *b.get_if<list>();
      if (x.get() == y.get()) return true;
      return std::equal(x.begin(), x.end(), y.begin(), y.end()) && x.tail() == y.tail();
    }
    case kind::map: {
      const auto& x = *a.get_if<map>();
      const auto& y = *b.get_if<map>();
      if (x.get() == y.get()) return true;
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x) {
        const term* w = y.find(k);
        if (!w || !(*w == v)) return false;
      }
      return true;
    }
    case kind::bitstring: {
      const auto& x = *a.get_if<binary>();
      const auto& y = *b.get_if<binary>();
      if (x.bit_size() != y.bit_size()) return false;
      return cmp_impl(a, b, true) == 0;
    }
    default:
      return cmp_impl(a, b, true) == 0;
  }
}

// ---------------------------------------------------------------------------------------
// Hashing: consistent with ==; maps hash order-independently. Depth is bounded, which keeps
// hashing O(size) and stack-safe; deeper parts simply do not contribute.

namespace {
std::size_t hcomb(std::size_t h, std::size_t v) noexcept {
  return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}
std::size_t hash_bytes(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h);
}

std::size_t hash_impl(const term& t, int depth) noexcept {
  std::size_t h = static_cast<std::size_t>(t.type()) * 0x100000001b3ull;
  if (depth > 64) return h;
  switch (t.type()) {
    case kind::small_int:
      return hcomb(h, std::hash<std::int64_t>{}(*t.get_if<std::int64_t>()));
    case kind::big_int: {
      const auto& be = t.get_if<big_integer>()->value().backend();
      h = hcomb(h, be.sign() ? 1 : 0);
      for (std::size_t i = 0; i < be.size(); ++i)
        h = hcomb(h, static_cast<std::size_t>(be.limbs()[i]));
      return h;
    }
    case kind::float_: {
      double d = *t.get_if<double>();
      if (d == 0.0) d = 0.0;  // -0.0 == 0.0
      return hcomb(h, std::hash<double>{}(d));
    }
    case kind::atom:
      return hcomb(h, t.get_if<atom>()->hash());
    case kind::nil:
      return h;
    case kind::tuple:
      for (const term& e : *t.get_if<tuple>()) h = hcomb(h, hash_impl(e, depth + 1));
      return h;
    case kind::list: {
      const auto& l = *t.get_if<list>();
      for (const term& e : l) h = hcomb(h, hash_impl(e, depth + 1));
      return hcomb(h, hash_impl(l.tail(), depth + 1));
    }
    case kind::map: {
      std::size_t acc = 0;
      for (const auto& [k, v] : *t.get_if<map>())
        acc += hcomb(hash_impl(k, depth + 1), hash_impl(v, depth + 1));
      return hcomb(h, acc);
    }
    case kind::bitstring: {
      const auto& b = *t.get_if<binary>();
      return hcomb(hcomb(h, hash_bytes(b.data(), b.size())), b.tail_bits());
    }
    case kind::pid: {
      const auto& p = *t.get_if<pid>();
      return hcomb(hcomb(hcomb(hcomb(h, p.node().hash()), p.id()), p.serial()), p.creation());
    }
    case kind::port: {
      const auto& p = *t.get_if<port>();
      return hcomb(hcomb(hcomb(h, p.node().hash()), p.id()), p.creation());
    }
    case kind::reference: {
      const auto& r = *t.get_if<reference>();
      h = hcomb(hcomb(h, r.node().hash()), r.creation());
      for (auto w : r.words()) h = hcomb(h, w);
      return h;
    }
    case kind::export_fun: {
      const auto& f = *t.get_if<export_fun>();
      return hcomb(hcomb(hcomb(h, f.module().hash()), f.function().hash()), f.arity());
    }
    case kind::fun: {
      const auto& f = t.get_if<fun>()->get();
      h = hcomb(hcomb(hcomb(h, f.module.hash()), f.index), hash_bytes(f.uniq.data(), 16));
      for (const term& e : f.free_vars) h = hcomb(h, hash_impl(e, depth + 1));
      return h;
    }
    case kind::local: {
      auto b = t.get_if<local_term>()->bytes();
      return hcomb(h, hash_bytes(b.data(), b.size()));
    }
  }
  return h;
}
}  // namespace

std::size_t term::hash() const noexcept { return hash_impl(*this, 0); }

}  // namespace erlnode
