// Erlang text syntax: print (~w), parse, format with placeholders, and pattern matching.
#pragma once

#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace erlnode {

// Prints `t` exactly as io_lib:format("~w", [T]) does in OTP 25 (as UTF-8) for atoms, numbers,
// lists (strings too print as lists of integers), tuples, maps (up to 32 keys, in key order;
// larger maps in the reverse of their kept order: OTP 25's ~w prints such a map in the
// reverse of its term_to_binary pair order, so a map decoded from erl's bytes prints as erl
// prints it; the BEAM's hash order itself cannot be reproduced),
// binaries and bitstrings (<<1,2:3>>). Floats use the shortest digits that read back
// exactly (float_to_list(F, [short])). Never recurses: any depth prints.
// erl prints pids, ports and refs with a node-table index we do not have, so these print with
// the node's name (as an atom, quoted when needed) and without the creation:
//   <node@host.85.0>   #Port<node@host.5>   #Ref<node@host.3.2.1> (last word first, as erl)
// Funs print as erl does: fun m:f/1 and #Fun<module.index.old_uniq>. A LOCAL_EXT term (which
// OTP 25 cannot print) prints as #Local<N> with N its byte count; NaN and infinities (no
// Erlang value is one) print as nan, inf and -inf.
std::string to_string(const term& t);
void to_string(const term& t, std::string& out);

namespace text {
enum class errc {
  unexpected_end = 1,
  unexpected_char,
  bad_atom,
  bad_number,
  bad_escape,
  bad_binary,
  too_deep,
  trailing_input,
  bad_placeholder,   // format(): unknown ~x, or argument of the wrong type
  missing_argument,  // format(): more placeholders than arguments
  extra_argument,    // format(): more arguments than placeholders
  unbound_variable,  // a variable where a value was required
};
const std::error_category& category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// Containers nested deeper than this are refused with errc::too_deep by parse(), format()
// and pattern::parse() (they read without recursion; the limit bounds hostile input).
inline constexpr std::size_t max_parse_depth = 10'000;
}  // namespace text

// Reads one term in Erlang syntax: what erl_parse:parse_term/1 accepts for literals, and
// everything to_string() prints. A trailing '.' and % comments are allowed.
//  - atoms, quoted or not, and strings with every Erlang escape (\n, \x41, \x{101}, \101,
//    \^A, ...); adjacent strings concatenate ("a" "b"); $c characters;
//  - integers of any size, Base#Digits (2..36), digit separators (1_000), floats (1.0e-10),
//    unary - and +;
//  - lists, improper lists [a|b], tuples, maps #{K => V} (a repeated key: the last wins;
//    up to 32 keys kept in key order, more in the reverse of the text order, so erl's ~w
//    text of a large map re-encodes to erl's term_to_binary bytes);
//  - binaries: segments of integers, characters, strings or floats, with :Size and
//    /integer, float, utf8, utf16, utf32, big, little, signed, unsigned, unit:N; a segment
//    holds at most 65536 bits, a binary at most 65536 bits plus 64 per byte of text;
//  - fun M:F/A, and pids, ports and refs in to_string()'s form (creation 0).
// Integers are limited to 100,000 digits. Errors carry the byte offset in `text` (UTF-8).
result<term> parse(std::string_view text);

// Builds a term from Erlang syntax with placeholders, in the spirit of ei_format:
//   ~a atom (atom, or text), ~i / ~l integer, ~u unsigned, ~f / ~d float, ~s string (text
//   becomes a charlist), ~b binary (text becomes a binary), ~w any term.
//   format("{~a, ~i, ~s}", {atom{"ok"}, 42, "text"})
// A placeholder stands where a value may; a wrong argument type is errc::bad_placeholder.
result<term> format(std::string_view fmt, std::initializer_list<term> args);
result<term> format(std::string_view fmt, std::span<const term> args);

// Variables bound by a successful match.
class bindings {
 public:
  const term* find(std::string_view name) const noexcept;
  const term& operator[](std::string_view name) const;  // throws std::out_of_range
  std::size_t size() const noexcept { return vars_.size(); }
  void bind(std::string name, term value) {
    vars_.insert_or_assign(std::move(name), std::move(value));
  }

 private:
  std::map<std::string, term, std::less<>> vars_;
};

// A compiled pattern in Erlang syntax with variables (Capitalised or _) and `_` wildcards,
// e.g. "{ok, Value}", "[H | T]", "#{key := V}", "{A, A}" (repeated variables must be equal,
// =:=). Map patterns use := and match any map holding at least those keys; map keys must be
// literals. Literals match by =:= (1 does not match 1.0).
class pattern {
 public:
  static result<pattern> parse(std::string_view text);
  // Matches and binds; on failure returns nullopt.
  std::optional<bindings> match(const term& t) const;
  // The pattern as a term; its variables are opaque local_term values.
  const term& source() const noexcept { return pat_; }

 private:
  explicit pattern(term pat) : pat_(std::move(pat)) {}
  term pat_;  // variables are encoded internally
};

// One-shot form: parses the pattern (throws error_exception if it is malformed) and matches.
std::optional<bindings> match(const term& t, std::string_view pattern_text);

}  // namespace erlnode

template <>
struct std::is_error_code_enum<erlnode::text::errc> : std::true_type {};
