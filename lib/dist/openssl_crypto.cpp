#include <erlnode/dist/crypto.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace erlnode::dist {

md5_digest cookie_digest(std::string_view cookie, std::uint32_t challenge) {
  std::string text = std::to_string(challenge);
  md5_digest out{};
  unsigned int len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), cookie.data(), cookie.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), text.data(), text.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size())
    throw std::runtime_error("MD5 digest failed (OpenSSL)");
  return out;
}

std::uint32_t random_challenge() {
  unsigned char b[4];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         b[3];
}

handshake_crypto openssl_crypto() { return {&cookie_digest, &random_challenge}; }

}  // namespace erlnode::dist
