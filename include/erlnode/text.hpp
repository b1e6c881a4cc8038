// Erlang text syntax: print (~w), parse, format with placeholders, and pattern matching.
#pragma once

#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace erlnode {

// Prints `t` exactly as io_lib:format("~w", [T]) does in OTP 25 for atoms, numbers, lists,
// tuples, maps (up to 32 keys; larger maps print in their kept order), binaries and bitstrings.
// Pids, ports, refs and funs print as: <node.id.serial>, #Port<node.id>, #Ref<node.w1.w2...>
// (most significant word first, as erl), #Fun<module.index.uniq>, fun m:f/a.
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
}  // namespace text

// Reads one term in Erlang syntax (what erl_parse:parse_term/1 accepts for literals; a
// trailing '.' is allowed). Errors carry the character offset.
result<term> parse(std::string_view text);

// Builds a term from Erlang syntax with placeholders, in the spirit of ei_format:
//   ~a atom (atom, or text), ~i / ~l integer, ~u unsigned, ~f / ~d float, ~s string (text
//   becomes a charlist), ~b binary (text becomes a binary), ~w any term.
//   format("{~a, ~i, ~s}", {atom{"ok"}, 42, "text"})
result<term> format(std::string_view fmt, std::initializer_list<term> args);

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
// e.g. "{ok, Value}", "[H | T]", "#{key := V}", "{A, A}" (repeated variables must be equal).
class pattern {
 public:
  static result<pattern> parse(std::string_view text);
  // Matches and binds; on failure returns nullopt.
  std::optional<bindings> match(const term& t) const;
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
