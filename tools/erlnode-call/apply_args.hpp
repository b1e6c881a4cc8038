// The Args of -a 'Mod Fun Args'. erl_call reads them with erl_interface's ei_format grammar,
// which is not Erlang syntax: strings and quoted atoms are raw bytes (no escapes; each byte
// one Latin-1 character), elements may be separated by blanks, integers are clipped to 64
// bits, and some odd spacings drop elements ("[1 ,2]" is [1]). Scripts written for erl_call
// depend on what it sends, so erlnode-call reads Args the same way first; only text that
// erl_call rejects (binaries, maps, $c, escapes it cannot express...) is then read as Erlang
// syntax by erlnode's text parser, where erl_call would have failed.
#pragma once

#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <optional>
#include <string_view>

namespace erlnode::call_tool {

// The term erl_call would send for `text`, or nullopt where erl_call refuses it.
std::optional<term> read_erl_call_args(std::string_view text);

// erl_call's reading, else Erlang syntax (text::parse); the error is the parser's.
result<term> read_apply_args(std::string_view text);

}  // namespace erlnode::call_tool
