// Interned Erlang atoms: one pointer, compared by identity, never freed.
#pragma once

#include <erlnode/result.hpp>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace erlnode {

enum class atom_errc {
  too_long = 1,  // more than 255 characters
  invalid_utf8,
  table_full,  // the process-wide atom limit (atom::set_limit) was reached
};
const std::error_category& atom_category() noexcept;
inline std::error_code make_error_code(atom_errc e) noexcept {
  return {static_cast<int>(e), atom_category()};
}

namespace detail {
struct atom_entry {
  std::size_t hash;
  std::uint32_t size;   // bytes of UTF-8
  std::uint16_t chars;  // code points (<= 255)
  bool latin1;          // every code point < 256: encodable as ATOM_EXT
  char text[1];         // `size` bytes follow, NUL-terminated
};
}  // namespace detail

class atom {
 public:
  // The empty atom ''.
  atom() noexcept;
  // Interns `utf8`. Throws error_exception if it is not valid UTF-8, longer than 255
  // characters, or the atom table is full; make() is the non-throwing form.
  explicit atom(std::string_view utf8);
  explicit atom(const char* utf8) : atom(std::string_view(utf8)) {}
  static result<atom> make(std::string_view utf8) noexcept;
  // Interns Latin-1 text (the deprecated ATOM_EXT/SMALL_ATOM_EXT encodings).
  static result<atom> make_latin1(std::string_view latin1) noexcept;

  std::string_view text() const noexcept { return {e_->text, e_->size}; }
  const char* c_str() const noexcept { return e_->text; }
  std::size_t size() const noexcept { return e_->size; }
  std::size_t length() const noexcept { return e_->chars; }
  bool is_latin1() const noexcept { return e_->latin1; }
  std::size_t hash() const noexcept { return e_->hash; }

  friend bool operator==(atom a, atom b) noexcept { return a.e_ == b.e_; }
  // Erlang order: by code points, which is byte order of the UTF-8 text.
  friend std::strong_ordering operator<=>(atom a, atom b) noexcept {
    if (a.e_ == b.e_) return std::strong_ordering::equal;
    return a.text().compare(b.text()) <=> 0;
  }

  // Bound on the number of distinct atoms (default 1,048,576, as the BEAM). Peers can send
  // arbitrary atoms; this keeps a hostile peer from growing the table without limit.
  static void set_limit(std::size_t n) noexcept;
  static std::size_t count() noexcept;

  const detail::atom_entry* entry() const noexcept { return e_; }

 private:
  explicit atom(const detail::atom_entry* e) noexcept : e_(e) {}
  const detail::atom_entry* e_;
};

// Frequently used atoms, interned once.
namespace atoms {
extern const atom ok, error, true_, false_, undefined, nil_, normal, noproc, noconnection, badarg,
    undef, exit, throw_, kill, killed, timeout, nodedown, badrpc, EXIT, DOWN, process, call, cast,
    yes, no, alias, monitor, link, rex, net_kernel, is_auth, gen_call, gen_cast, empty;
}

}  // namespace erlnode

template <>
struct std::is_error_code_enum<erlnode::atom_errc> : std::true_type {};

template <>
struct std::hash<erlnode::atom> {
  std::size_t operator()(erlnode::atom a) const noexcept { return a.hash(); }
};
