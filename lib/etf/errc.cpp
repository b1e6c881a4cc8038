#include <erlnode/etf.hpp>

#include "etf/atom_intern.hpp"
#include "etf/wire.hpp"
#include "term/utf8.hpp"

namespace erlnode::etf {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.etf"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::truncated:
        return "input ends inside a term";
      case errc::bad_version:
        return "not an external term (first byte is not 131)";
      case errc::bad_tag:
        return "unknown or unsupported tag";
      case errc::too_deep:
        return "term nested deeper than the limit";
      case errc::too_large:
        return "size beyond the limit or what the input can hold";
      case errc::bad_atom:
        return "invalid atom (bad UTF-8 or more than 255 characters)";
      case errc::atom_table_full:
        return "atom table is full";
      case errc::bad_atom_cache_ref:
        return "atom cache reference without a table entry";
      case errc::bad_float:
        return "invalid float (non-finite or unparsable)";
      case errc::duplicate_map_key:
        return "map has a duplicate key";
      case errc::bad_compressed:
        return "invalid compressed term";
      case errc::trailing_data:
        return "trailing bytes after the term";
      case errc::bad_value:
        return "field value out of range";
      case errc::not_encodable:
        return "term cannot be encoded";
    }
    return "unknown etf error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

namespace detail {
bool utf8_atom_chars(const std::uint8_t* p, std::size_t n, std::size_t& chars) noexcept {
  if (is_ascii(p, n)) {
    chars = n;
    return true;
  }
  std::size_t count = 0;
  std::size_t i = 0;
  const char* s = reinterpret_cast<const char*>(p);
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
    } else {
      char32_t cp;
      std::size_t k = erlnode::detail::utf8_decode(s + i, n - i, cp);
      if (k == 0) return false;
      i += k;
    }
    ++count;
  }
  chars = count;
  return true;
}
}  // namespace detail

}  // namespace erlnode::etf

namespace erlnode::etf::detail {
constinit thread_local atom_slot tl_atom_cache[1u << atom_cache_bits] = {};
}  // namespace erlnode::etf::detail
