// The text erl_call prints for a result term: erl_interface's ei_print_term form, which is
// not ~p or ~w. Scripts parse this text, so erlnode-call reproduces it byte for byte:
//   integers in decimal (beyond 64 bits: 16#HEX), floats as printf("%f"), atoms quoted
//   only when needed (C-locale rule, Latin-1 bytes), lists of bytes as "strings" with
//   C escapes, other lists and tuples with ", " between elements, binaries as
//   #Bin<1,2,3> (the first 30 bytes, then ",..."), pids as <node.id.serial>, refs as
//   #Ref<w0.w1.w2>, ports as #Port<id.creation>, maps as #{K => V}, funs as
//   fun m:f/a or #Fun{mod.index.uniq}.
// No newline follows the term, as with erl_call.
#pragma once

#include <erlnode/term.hpp>

#include <string>

namespace erlnode::call_tool {

// Appends the text of `t` to `out`. Returns false where ei_print_term gives up (an atom
// that is not Latin-1, a term kind ei cannot decode); `out` then holds what erl_call
// would have printed before stopping.
bool print_result(const term& t, std::string& out);

}  // namespace erlnode::call_tool
