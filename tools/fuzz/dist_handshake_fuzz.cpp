// libFuzzer target: the distribution handshake state machine, both roles.
//
// Input: one options byte, then the bytes the peer sends. Options: bit 0 role (0 initiator,
// 1 acceptor), bits 1-3 the acceptor's status decision, bit 4 the initiator's answer to
// "alive", bit 5 a 4-byte length prefix (TLS distribution), bit 6 ask for a dynamic name.
// The digest is a stand-in (the challenge's bytes repeated) so the fuzzer can complete the
// exchange; MD5 itself is not under test here. The peer's bytes arrive in chunks cut at
// points taken from the input, each re-fed from where feed() stopped.
//
// Invariants: no crash or over-read; feed() never reports more bytes than it was given;
// done and failed are final (no more events, no more bytes taken); the output stays bounded.
#include <erlnode/dist/handshake.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace erlnode;
using namespace erlnode::dist;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "dist_handshake_fuzz: invariant broken: %s\n", what);
  std::abort();
}

md5_digest fake_digest(std::string_view, std::uint32_t challenge) {
  md5_digest d{};
  for (std::size_t i = 0; i < d.size(); ++i)
    d[i] = static_cast<std::uint8_t>(challenge >> (24 - 8 * (i % 4)));
  return d;
}

handshake_config config(std::uint8_t opt) {
  handshake_config c;
  c.crypto = {&fake_digest, [] { return std::uint32_t{0x12345678}; }};
  c.cookie = "capturecookie";
  c.length_prefix = (opt & 0x20) ? 4 : 2;
  if (opt & 1) {
    c.role = handshake_role::acceptor;
    c.this_node = "dist_capture@vm";
    c.this_creation = 0xC0FFEE;
  } else {
    c.role = handshake_role::initiator;
    c.this_node = (opt & 0x40) ? "vm" : "fake_pass@vm";
    c.this_creation = 0xC0FFEE;
    if (opt & 0x40) c.this_flags |= flag::name_me;
    c.peer_node = "dist_capture@vm";
  }
  return c;
}

// Answers pending decisions; returns false once the handshake is over.
bool drain(handshake& h, std::uint8_t opt, bool& over) {
  while (auto ev = h.poll()) {
    if (over) fail("an event after done or failed");
    if (auto* d = std::get_if<need_status_decision>(&*ev)) {
      constexpr handshake_status choices[] = {
          handshake_status::ok,    handshake_status::ok_simultaneous,
          handshake_status::nok,   handshake_status::not_allowed,
          handshake_status::alive, handshake_status::named,
          handshake_status::ok,    handshake_status::alive};
      auto s = d->dynamic_name ? handshake_status::named : choices[(opt >> 1) & 7];
      // decide_named() without a dynamic name request is refused: then answer ok.
      if (s != handshake_status::named || !h.decide_named("named_peer@vm", 7))
        (void)h.decide(s == handshake_status::named ? handshake_status::ok : s);
    } else if (std::get_if<need_alive_decision>(&*ev)) {
      (void)h.answer_alive((opt & 0x10) != 0);
    } else {
      over = true;
    }
  }
  if (h.output().size() > (1u << 20)) fail("output grows without bound");
  h.output().clear();
  return !over;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  std::span<const std::uint8_t> in(data + 1, size - 1);
  handshake h(config(opt));
  if (!h.start()) return 0;
  bool over = false;
  drain(h, opt, over);
  // Chunk ends picked from the input: 1..16 bytes further each time.
  std::size_t fed_to = 0, taken = 0, cut = 0;
  while (taken < in.size()) {
    cut = std::min(in.size(), std::max(cut, taken) + 1 + in[cut % in.size()] % 16);
    fed_to = cut;
    // Feed what is available until the machine stops taking bytes.
    while (taken < fed_to) {
      auto avail = in.subspan(taken, fed_to - taken);
      std::size_t used = h.feed(avail);
      if (used > avail.size()) fail("feed() used more bytes than it was given");
      if (over && used) fail("bytes taken after done or failed");
      taken += used;
      bool progressed = used > 0;
      drain(h, opt, over);
      if (!progressed) break;  // waits for more bytes (or is over)
    }
    if (over || h.is_done() || h.has_failed() || cut == in.size()) break;
  }
  if ((h.is_done() || h.has_failed()) && !over) {
    drain(h, opt, over);
    if (!over) fail("done or failed without an event");
  }
  return 0;
}
