// The shapes of rpc results on the wire, both ways (not installed). Pure term functions, so
// they are tested without a node.
#pragma once

#include <erlnode/rpc.hpp>

namespace erlnode::detail {

// What running M:F(Args) gave, classified as erpc:execute_call/4 does.
struct rpc_outcome {
  enum class kind { returned, thrown, exit, error };
  kind k = kind::returned;
  term value;  // the return value, thrown term or exit/error reason
  term stack;  // class error only
};

// error undef with the stack a BEAM gives for an unknown M:F/A: [{M, F, Args, []}].
rpc_outcome undef_outcome(atom m, atom f, const list& args);
// Classifies the exception being handled (call it inside a catch block): erlang_exception
// keeps its class and reason (an error with an empty stack gets [{M, F, Arity, []}]),
// bad_term_access becomes error badarg, anything else error {cpp_exception, Type, What}.
rpc_outcome outcome_of_current_exception(atom m, atom f, const list& args);

// erpc:execute_call/4's exit reason: {Ref, return, V} | {Ref, throw, T} | {Ref, exit, R} |
// {Ref, error, R, Stack}.
term erpc_exit_reason(const term& ref, const rpc_outcome& o);
// What rex answers (rpc.erl execute_call/3): V | T | {badrpc, {'EXIT', R}} |
// {badrpc, {'EXIT', {R, Stack}}}.
term rex_reply(const rpc_outcome& o);

// The caller's view of a DOWN reason from an erpc:execute_call process started with result
// reference `res` (erpc.erl result/4).
rpc_result result_of_erpc_down(const term& res, const term& reason);
// The caller's view of a {spawn_reply, ReqId, error, Reason}.
rpc_result result_of_spawn_error(const term& reason);
// The caller's view of a rex reply (rpc-style: a value or {badrpc, Reason}).
rpc_result result_of_rex_reply(const term& reply);
// The caller's view of a monitor DOWN of rex itself (before its reply).
rpc_result result_of_rex_down(const term& reason);
rpc_result timeout_result();
rpc_result nodedown_result();

}  // namespace erlnode::detail
