// A stack that lives inline up to N entries and moves to the heap beyond (internal): the
// codec's explicit recursion stacks, so shallow terms cost no allocation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace erlnode::etf::detail {

template <class T, std::size_t N>
class small_stack {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  small_stack() = default;
  small_stack(const small_stack&) = delete;
  small_stack& operator=(const small_stack&) = delete;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  T& back() noexcept { return data_[size_ - 1]; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  void pop_back() noexcept { --size_; }
  [[gnu::always_inline]] void push_back(const T& v) {
    if (size_ == cap_) grow();
    data_[size_++] = v;
  }
  // Makes room for one more entry, so that the next push_back cannot throw.
  void reserve_one() {
    if (size_ == cap_) grow();
  }

 private:
  [[gnu::noinline]] void grow() {
    std::size_t cap = cap_ * 2;
    std::unique_ptr<T[]> bigger(new T[cap]);
    std::copy(data_, data_ + size_, bigger.get());
    heap_ = std::move(bigger);
    data_ = heap_.get();
    cap_ = cap;
  }

  T inline_[N];
  std::unique_ptr<T[]> heap_;
  T* data_ = inline_;
  std::size_t size_ = 0;
  std::size_t cap_ = N;
};

}  // namespace erlnode::etf::detail
