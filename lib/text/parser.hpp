// The one parser behind parse(), format() and pattern::parse() (internal).
#pragma once

#include <erlnode/text.hpp>

#include <cstdint>
#include <span>
#include <string_view>

namespace erlnode::text::detail {

struct parse_mode {
  bool patterns = false;      // variables, `_` and `#{K := V}` allowed
  bool placeholders = false;  // ~a, ~i, ... take the next of `args`
  std::span<const term> args = {};
};

result<term> parse_text(std::string_view text, const parse_mode& mode);

// Pattern variables live in the pattern term as local_term values with a marker no ETF
// decoder produces (a LOCAL_EXT payload always starts with tag 121).
constexpr std::uint8_t var_marker = 0xFF;
term make_variable(std::string_view name);  // "_" makes the wildcard
// The variable's name ("_" for the wildcard), or an empty view if `t` is no variable.
std::string_view variable_name(const term& t) noexcept;

}  // namespace erlnode::text::detail
