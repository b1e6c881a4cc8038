// libFuzzer target: distribution packet framing (u32 length | data, length 0 a tick).
//
// Invariants: no crash or over-read; the packets and the error (code and stream offset) are
// the same whether the stream arrives whole, one byte at a time, or cut at points taken from
// the input; a failed parser stays failed; buffered() never exceeds the limit plus the header;
// re-framing the packets gives back the consumed stream.
#include <erlnode/dist/framing.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace erlnode;
using namespace erlnode::dist;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "dist_framing_fuzz: invariant broken: %s\n", what);
  std::abort();
}

constexpr std::size_t limit = 4096;  // small, so that the fuzzer reaches it

struct outcome {
  std::vector<std::vector<std::uint8_t>> packets;
  int code = 0;
  std::size_t offset = 0;
  bool operator==(const outcome&) const = default;
};

outcome run(std::span<const std::uint8_t> in, const std::vector<std::size_t>& cuts) {
  packet_parser p(limit);
  outcome o;
  std::size_t from = 0;
  for (std::size_t to : cuts) {
    auto r = p.feed(in.subspan(from, to - from), o.packets);
    if (p.buffered() > limit + 4) fail("buffered beyond the packet limit");
    if (!r) {
      if (!p.failed()) fail("an error but not failed()");
      o.code = r.error().code.value();
      o.offset = r.error().offset;
      if (p.feed(in.subspan(0, 0), o.packets) || p.feed(in.subspan(to), o.packets))
        fail("a failed parser accepted more bytes");
      return o;
    }
    from = to;
  }
  return o;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;
  std::span<const std::uint8_t> in(data, size);
  outcome whole = run(in, {size});

  std::vector<std::size_t> each;
  if (size <= 4096)
    for (std::size_t i = 1; i <= size; ++i) each.push_back(i);
  std::vector<std::size_t> picked;
  for (std::size_t at = 0, i = 0; at < size; i += 5) {
    at = std::min(size, at + 1 + (size ? data[i % size] : 0) % 97);
    picked.push_back(at);
  }
  for (const auto* cuts : {&each, &picked}) {
    if (cuts->empty()) continue;
    if (!(run(in, *cuts) == whole)) fail("split input frames differently");
  }

  if (whole.code == 0) {
    std::vector<std::uint8_t> again;
    for (const auto& pk : whole.packets)
      if (!append_packet(again, pk)) fail("a received packet does not re-frame");
    if (again.size() > size || !std::equal(again.begin(), again.end(), data))
      fail("re-framed packets differ from the stream");
  }
  return 0;
}
