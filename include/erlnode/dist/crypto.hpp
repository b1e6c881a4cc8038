// OpenSSL implementations of the handshake's injected crypto (part of erlnode::erlnode, not
// of the codec): the MD5 cookie digest and a random challenge.
#pragma once

#include <erlnode/dist/handshake.hpp>

#include <cstdint>
#include <string_view>

namespace erlnode::dist {

// MD5(cookie ++ decimal ASCII of challenge), as dist_util:gen_digest/2.
md5_digest cookie_digest(std::string_view cookie, std::uint32_t challenge);
// A u32 from RAND_bytes. Throws std::runtime_error if the generator fails (it does not on a
// seeded system; a predictable challenge must never be used instead).
std::uint32_t random_challenge();
// Both, ready for handshake_config::crypto.
handshake_crypto openssl_crypto();

}  // namespace erlnode::dist
