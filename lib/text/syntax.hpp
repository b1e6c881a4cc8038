// Character classes and reserved words of Erlang's scanner (OTP 25), shared by the printer
// and the parser (internal).
#pragma once

#include <array>
#include <string_view>

namespace erlnode::text::detail {

// Lower-case letters that may start an unquoted atom: a-z and Latin-1 ß-ÿ except ÷.
constexpr bool is_atom_start(char32_t c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7);
}
// Characters that may start a variable: A-Z, _ and Latin-1 À-Þ except ×.
constexpr bool is_var_start(char32_t c) noexcept {
  return (c >= 'A' && c <= 'Z') || c == '_' || (c >= 0xC0 && c <= 0xDE && c != 0xD7);
}
// Characters that may follow in an unquoted atom or a variable name.
constexpr bool is_name_char(char32_t c) noexcept {
  return is_atom_start(c) || is_var_start(c) || (c >= '0' && c <= '9') || c == '@';
}

// erl_scan:f_reserved_word/1 of OTP 25 (the `maybe` feature is off by default there, so
// `maybe` and `else` are plain atoms).
inline bool is_reserved_word(std::string_view s) noexcept {
  static constexpr std::array<std::string_view, 27> words = {
      "after", "begin", "case", "try", "cond",    "catch", "andalso", "orelse", "end",
      "fun",   "if",    "let",  "of",  "receive", "when",  "bnot",    "not",    "div",
      "rem",   "band",  "and",  "bor", "bxor",    "bsl",   "bsr",     "or",     "xor"};
  for (auto w : words)
    if (w == s) return true;
  return false;
}

}  // namespace erlnode::text::detail
