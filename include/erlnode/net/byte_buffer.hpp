// A byte vector that does not zero-fill when it grows: read and reassembly buffers are
// written by the kernel or by memcpy right after they grow, so filling them first would write
// every byte twice (and a fresh multi-megabyte buffer would be touched page by page for it).
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace erlnode::net::detail {

template <class T>
struct default_init_allocator : std::allocator<T> {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = default_init_allocator<U>;
  };
  default_init_allocator() = default;
  template <class U>
  default_init_allocator(const default_init_allocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};

using byte_buffer = std::vector<std::uint8_t, default_init_allocator<std::uint8_t>>;

}  // namespace erlnode::net::detail
