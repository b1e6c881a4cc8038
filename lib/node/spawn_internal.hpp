// spawn.cpp internals that tests use (not installed).
#pragma once

#include <erlnode/mailbox.hpp>

namespace erlnode::detail {

class node_impl;

// Test hook: the SPAWN_REPLY to `id` from `peer` goes to `requester` (a local pid) as if
// mailbox::spawn_request had sent the request, so that hand-made SPAWN_REQUESTs can be sent
// with node_impl::route and their replies read as {spawn_reply, Id, ok|error, PidOrReason}
// ({spawn_reply, Id, ok|error, PidOrReason, Token} for a SPAWN_REPLY_TT).
void expect_spawn_reply(node_impl& n, const pid& requester, const reference& id, atom peer);

}  // namespace erlnode::detail
