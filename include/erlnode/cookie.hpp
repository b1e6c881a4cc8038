// Magic cookies: the default ~/.erlang.cookie, read and created the way erl does.
#pragma once

#include <erlnode/result.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace erlnode {

enum class cookie_errc {
  no_home = 1,      // neither $HOME nor $XDG_CONFIG_HOME/$HOME for the cookie file
  not_regular,      // the cookie path is not a regular file
  bad_permissions,  // group or others can access the file (erl refuses it too)
  bad_characters,   // characters outside ' '..'~' before the trailing newline/space
  too_short,        // empty cookie
  read_failed,
  create_failed,
};
const std::error_category& cookie_category() noexcept;
inline std::error_code make_error_code(cookie_errc e) noexcept {
  return {static_cast<int>(e), cookie_category()};
}

// Reads a cookie file with erl's checks (owner-only mode, printable characters, trailing
// newlines/spaces ignored).
result<std::string> read_cookie_file(const std::string& path);
// Writes a new random cookie (20 letters A-Z, from a cryptographic RNG) with mode 0400.
result<void> create_cookie_file(const std::string& path);
// erl's default: $HOME/.erlang.cookie, else $XDG_CONFIG_HOME/erlang/.erlang.cookie (or
// ~/.config/erlang/.erlang.cookie); created in $HOME when neither exists.
result<std::string> default_cookie();

}  // namespace erlnode

template <>
struct std::is_error_code_enum<erlnode::cookie_errc> : std::true_type {};
