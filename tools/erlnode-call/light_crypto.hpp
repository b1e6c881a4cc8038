// The handshake's crypto without OpenSSL: MD5 (RFC 1321) for the cookie digest and the
// kernel's getrandom(2) for the challenge. A process that lives for one call spends more
// time loading libcrypto and its configuration than on the call itself, and erl_call
// (statically linked ei) pays neither; so erlnode-call carries these two small pieces.
#pragma once

#include <erlnode/dist/handshake.hpp>

#include <cstdint>
#include <string_view>

namespace erlnode::call_tool {

// MD5 of `data`.
dist::md5_digest md5(std::string_view data);
// MD5(cookie ++ decimal challenge), as dist::cookie_digest.
dist::md5_digest cookie_digest(std::string_view cookie, std::uint32_t challenge);
// A u32 from getrandom(2); throws std::runtime_error if the kernel gives none.
std::uint32_t random_challenge();
// Both, for handshake_config::crypto.
dist::handshake_crypto light_crypto();

}  // namespace erlnode::call_tool
