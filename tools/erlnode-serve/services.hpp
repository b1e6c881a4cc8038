// The registered processes of erlnode-serve:
//   echo: {Pid, Msg} sends Msg back to Pid; gen_server:call(echo, Req) replies Req.
//   sink: counts every message; {sink_report, Pid} sends {sink_count, N} to Pid and resets
//         the count (the report itself is not counted).
#pragma once

#include "serve_stats.hpp"

#include <erlnode/mailbox.hpp>
#include <erlnode/node.hpp>
#include <erlnode/result.hpp>

#include <memory>

namespace erlnode::serve {

// Registers `echo` and `sink` on a started node and serves them until the node stops (their
// pending receives hold the mailboxes too).
struct services {
  std::shared_ptr<mailbox> echo, sink;
};
result<services> start_services(node& n, serve_stats& stats);

// Answers {'$gen_call', {Pid, Tag}, Request} with {Tag, Reply} as gen_server:reply does: to
// the alias when Tag is [alias|Ref] (or [[alias|Ref]|_] from multi_call), else to Pid.
// False when `msg` is not a gen_server call.
bool reply_gen_call(mailbox& via, const term& msg, const term& reply);
// The Request of a gen_server call, or nullptr.
const term* gen_call_request(const term& msg);

}  // namespace erlnode::serve
