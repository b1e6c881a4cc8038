// Error values for the codec and protocol layers: no exceptions there.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace erlnode {

// What went wrong, and where: `offset` is the byte (or character, for text) position in the
// input at which the problem was found.
struct error {
  std::error_code code;
  std::size_t offset = 0;

  error() = default;
  error(std::error_code c, std::size_t off = 0) : code(c), offset(off) {}
  template <class E>
  requires std::is_error_code_enum_v<E> error(E e, std::size_t off = 0)
      : code(make_error_code(e)), offset(off) {}

  // "<reason> at offset <n>"
  std::string message() const { return code.message() + " at offset " + std::to_string(offset); }
  friend bool operator==(const error& a, const error& b) {
    return a.code == b.code && a.offset == b.offset;
  }
};

// Thrown only by the throwing accessors (`result::value()` on an error).
class error_exception : public std::runtime_error {
 public:
  explicit error_exception(const error& e) : std::runtime_error(e.message()), err_(e) {}
  const error& get() const noexcept { return err_; }

 private:
  error err_;
};

// A value or an error (like boost::system::result, which Debian's Boost 1.74 lacks).
template <class T>
class [[nodiscard]] result {
 public:
  result(const T& v) : v_(std::in_place_index<0>, v) {}
  result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  result(const error& e) : v_(std::in_place_index<1>, e) {}
  template <class E>
  requires std::is_error_code_enum_v<E> result(E e)
      : v_(std::in_place_index<1>, erlnode::error(e)) {}
  template <class... A>
  explicit result(std::in_place_t, A&&... a) : v_(std::in_place_index<0>, std::forward<A>(a)...) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  bool has_error() const noexcept { return v_.index() == 1; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check();
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    check();
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    check();
    return std::move(*std::get_if<0>(&v_));
  }
  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }
  // The error; only meaningful when has_error().
  const struct error& error() const noexcept { return *std::get_if<1>(&v_); }

 private:
  void check() const {
    if (v_.index() != 0) throw error_exception(*std::get_if<1>(&v_));
  }
  std::variant<T, struct error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(const struct error& e) : e_(e), ok_(false) {}
  template <class E>
  requires std::is_error_code_enum_v<E> result(E e) : e_(e), ok_(false) {}
  bool has_value() const noexcept { return ok_; }
  bool has_error() const noexcept { return !ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) throw error_exception(e_);
  }
  const struct error& error() const noexcept { return e_; }

 private:
  struct error e_;
  bool ok_ = true;
};

}  // namespace erlnode
