// Heap object layouts behind the term handles (internal to the library).
#pragma once

#include <erlnode/term.hpp>

#include <cstdint>
#include <new>
#include <vector>

namespace erlnode::detail {

// The per-thread block pool behind pool_alloc/pool_free (term.cpp): free lists of small
// blocks by 16-byte size class, exposed so that the decoder's allocations inline.
namespace pool {
inline constexpr std::size_t granule = 16;
inline constexpr std::size_t classes = 16;  // blocks up to 256 bytes
struct free_block {
  free_block* next;
};
struct lists {
  free_block* head[classes];
  std::size_t cached_bytes;
};
inline constexpr std::size_t class_of(std::size_t n) noexcept {
  return (n + granule - 1) / granule - 1;
}
}  // namespace pool
// This thread's lists (initial-exec: see term.cpp).
[[gnu::tls_model("initial-exec")]] extern constinit thread_local pool::lists tl_pool;

// pool_alloc with the free-list pop inline.
[[gnu::always_inline]] inline void* pool_alloc_inline(std::size_t n) {
  std::size_t c = pool::class_of(n);
  if (c < pool::classes) [[likely]] {
    if (pool::free_block* b = tl_pool.head[c]) [[likely]] {
      tl_pool.head[c] = b->next;
      tl_pool.cached_bytes -= (c + 1) * pool::granule;
      return b;
    }
  }
  return pool_alloc(n);
}

struct tuple_obj : heap_object {
  std::size_t size;
  explicit tuple_obj(std::size_t n) noexcept : heap_object(kind::tuple), size(n) {}
  term* elems() noexcept { return reinterpret_cast<term*>(this + 1); }
  static tuple_obj* make(std::size_t n);  // n elements, all []
  // n elements left unconstructed: the caller constructs every one before the object can be
  // released (the decoder, which fills them in order anyway).
  static tuple_obj* make_uninit(std::size_t n);
};
static_assert(sizeof(tuple_obj) % alignof(term) == 0);

struct list_obj : heap_object {
  std::size_t size;
  term tail;
  explicit list_obj(std::size_t n) noexcept : heap_object(kind::list), size(n) {}
  term* elems() noexcept { return reinterpret_cast<term*>(this + 1); }
  static list_obj* make(std::size_t n);         // n elements, all [], tail []
  static list_obj* make_uninit(std::size_t n);  // tail [], elements as tuple_obj::make_uninit
};
static_assert(sizeof(list_obj) % alignof(term) == 0);

// Allocates from the per-thread block pool (the pairs of small maps are small blocks).
template <class T>
struct pool_allocator {
  using value_type = T;
  pool_allocator() noexcept = default;
  template <class U>
  pool_allocator(const pool_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(pool_alloc(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { pool_free(p, n * sizeof(T)); }
  friend bool operator==(const pool_allocator&, const pool_allocator&) noexcept { return true; }
};

struct map_obj : heap_object {
  std::vector<std::pair<term, term>, pool_allocator<std::pair<term, term>>> pairs;
  // Open-addressing index (slot = pair index + 1, 0 = empty), built for larger maps.
  std::vector<std::uint32_t> index;
  // Maps of up to this many pairs have no index (a linear search is faster).
  static constexpr std::size_t index_threshold = 8;
  map_obj() : heap_object(kind::map) {}
  void build_index();
  const term* find(const term& key) const noexcept;
  std::ptrdiff_t find_pos(const term& key) const noexcept;
};

struct binary_obj : heap_object {
  std::shared_ptr<const void> owner;  // null when the bytes are inline after the object
  const std::uint8_t* data;
  std::size_t size;
  std::uint8_t tail_bits;
  binary_obj() : heap_object(kind::bitstring), data(nullptr), size(0), tail_bits(0) {}
  static binary_obj* make_inline(const std::uint8_t* p, std::size_t n, unsigned tail_bits);
};

struct pid_obj : heap_object {
  atom node;
  std::uint32_t id, serial, creation;
  pid_obj() : heap_object(kind::pid) {}
  pid_obj(atom n, std::uint32_t i, std::uint32_t s, std::uint32_t c) noexcept
      : heap_object(kind::pid), node(n), id(i), serial(s), creation(c) {}
};

struct port_obj : heap_object {
  atom node;
  std::uint64_t id;
  std::uint32_t creation;
  port_obj() : heap_object(kind::port) {}
};

struct ref_obj : heap_object {
  atom node;
  std::uint32_t creation;
  std::uint8_t len;
  std::uint32_t words[reference::max_words];
  ref_obj() : heap_object(kind::reference) {}
  // `len` words (1..max_words) at `w`.
  ref_obj(atom n, std::uint32_t c, const std::uint32_t* w, std::size_t len) noexcept
      : heap_object(kind::reference), node(n), creation(c), len(static_cast<std::uint8_t>(len)) {
    for (std::size_t i = 0; i < len; ++i) words[i] = w[i];
  }
};

struct fun_obj : heap_object {
  fun::fields f;
  fun_obj() : heap_object(kind::fun) {}
};

struct export_obj : heap_object {
  atom module, function;
  std::uint8_t arity;
  export_obj() : heap_object(kind::export_fun) {}
};

struct big_obj : heap_object {
  big_int v;
  big_obj() : heap_object(kind::big_int) {}
};

struct local_obj : heap_object {
  std::vector<std::uint8_t> bytes;
  local_obj() : heap_object(kind::local) {}
};

}  // namespace erlnode::detail
