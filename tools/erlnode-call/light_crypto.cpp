#include "light_crypto.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace erlnode::call_tool {
namespace {

// K[i] = floor(|sin(i + 1)| * 2^32), as RFC 1321 defines the table.
const std::array<std::uint32_t, 64>& sine_table() {
  static const auto t = [] {
    std::array<std::uint32_t, 64> k{};
    for (std::size_t i = 0; i < k.size(); ++i)
      k[i] =
          static_cast<std::uint32_t>(std::floor(std::fabs(std::sin(double(i + 1))) * 4294967296.0));
    return k;
  }();
  return t;
}

constexpr std::uint8_t shifts[4][4] = {
    {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

std::uint32_t rotl(std::uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

}  // namespace

dist::md5_digest md5(std::string_view data) {
  const auto& k = sine_table();
  std::uint32_t h[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
  // The message, 0x80, zeros up to 56 mod 64, then the bit length (little-endian).
  std::vector<std::uint8_t> m(data.begin(), data.end());
  const std::uint64_t bits = std::uint64_t{data.size()} * 8;
  m.push_back(0x80);
  while (m.size() % 64 != 56) m.push_back(0);
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  for (std::size_t off = 0; off < m.size(); off += 64) {
    std::uint32_t w[16];
    for (int j = 0; j < 16; ++j) {
      const std::uint8_t* p = &m[off + 4 * std::size_t(j)];
      w[j] = std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
             std::uint32_t{p[3]} << 24;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (unsigned i = 0; i < 64; ++i) {
      std::uint32_t f;
      unsigned g;
      switch (i / 16) {
        case 0:
          f = (b & c) | (~b & d);
          g = i;
          break;
        case 1:
          f = (d & b) | (~d & c);
          g = (5 * i + 1) % 16;
          break;
        case 2:
          f = b ^ c ^ d;
          g = (3 * i + 5) % 16;
          break;
        default:
          f = c ^ (b | ~d);
          g = (7 * i) % 16;
          break;
      }
      f += a + k[i] + w[g];
      a = d;
      d = c;
      c = b;
      b += rotl(f, shifts[i / 16][i % 4]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
  }
  dist::md5_digest out{};
  for (int i = 0; i < 16; ++i) out[i] = static_cast<std::uint8_t>(h[i / 4] >> (8 * (i % 4)));
  return out;
}

dist::md5_digest cookie_digest(std::string_view cookie, std::uint32_t challenge) {
  std::string text(cookie);
  text += std::to_string(challenge);
  return md5(text);
}

std::uint32_t random_challenge() {
  std::uint8_t b[4];
  std::size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("getrandom failed");
    got += static_cast<std::size_t>(n);
  }
  return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3];
}

dist::handshake_crypto light_crypto() { return {&cookie_digest, &random_challenge}; }

}  // namespace erlnode::call_tool
