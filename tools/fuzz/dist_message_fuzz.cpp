// libFuzzer target: what a connection does with each received packet after framing: the
// distribution header and atom cache, fragment reassembly, decoding of the control and
// message terms, and the control-message checks.
//
// Input: one options byte (bit 0: headers negotiated, i.e. DIST_HDR_ATOM_CACHE/FRAGMENTS;
// bit 1: the hidden profile's flags, else only mandatory_25; bits 2-3: our node name),
// then packets as u32 length | payload (a truncated last one is cut to what is there; ticks
// are skipped). One receiver sees them all, so the atom cache and open fragment sequences
// carry over from packet to packet.
//
// Invariants: no crash or over-read; reassembly stays within its byte and sequence bounds;
// a decoded message's terms re-encode; decode_control either accepts or names the problem.
#include <erlnode/dist/control.hpp>
#include <erlnode/dist/header.hpp>
#include <erlnode/dist/message.hpp>
#include <erlnode/etf.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace erlnode;
using namespace erlnode::dist;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "dist_message_fuzz: invariant broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  receiver_options ro;
  ro.headers_negotiated = (data[0] & 1) != 0;
  ro.max_reassembly_bytes = 1u << 20;
  ro.max_sequences = 64;
  message_receiver rx(ro);
  // The recordings were made by erl dist_capture@vm sending to fake_pass@vm, fake_hdr@vm
  // and fake_old@vm (one per flag profile); bits 2-3 pick ours, so the pid checks can pass.
  static const atom ours[] = {atom("fake_pass@vm"), atom("fake_hdr@vm"), atom("fake_old@vm"),
                              atom("fake_pass@vm")};
  control_context ctx;
  ctx.this_node = ours[(data[0] >> 2) & 3];
  ctx.peer_node = atom("dist_capture@vm");
  ctx.negotiated = (data[0] & 2) ? hidden_profile : mandatory_25;
  etf::decode_options dopts;
  dopts.max_inflated_size = 1u << 20;

  std::size_t pos = 1;
  while (pos < size) {
    std::size_t len = 0;
    for (int i = 0; i < 4; ++i) len = len << 8 | (pos < size ? data[pos++] : 0);
    len = std::min(len, size - pos);
    std::vector<std::uint8_t> packet(data + pos, data + pos + len);
    pos += len;
    if (packet.empty()) continue;  // a tick
    auto m = rx.on_packet(std::move(packet));
    if (rx.reassembly_bytes() > ro.max_reassembly_bytes) fail("reassembly beyond its bound");
    if (rx.open_sequences() > ro.max_sequences) fail("more open sequences than allowed");
    if (!m) break;  // fatal for the connection
    if (!*m) continue;
    auto d = decode_message(std::move(**m), dopts);
    if (!d) continue;
    if (!etf::encode(d->control)) fail("a decoded control term does not encode");
    if (d->message && !etf::encode(*d->message)) fail("a decoded message term does not encode");
    std::string why;
    auto c = decode_control(d->control, d->message, ctx, &why);
    if (!c && why.empty()) fail("a refused control message without a reason");
    if (c) (void)op_name(op_of(*c));
  }
  return 0;
}
