// libFuzzer target: the ETF decoder, the zero-copy reader, and the encode/decode round trip.
//
// Invariants checked on every input:
//  - decode never crashes or over-reads (ASan), whatever the bytes;
//  - whatever decodes re-encodes (minor_version 1 and 2), and the encoding decodes to an
//    equal term; the printer accepts it;
//  - decode_shared and decode_prefix agree with decode;
//  - reader::skip accepts every uncompressed input that decode accepts and stops at its end.
#include <erlnode/etf.hpp>
#include <erlnode/text.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>

using namespace erlnode;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "etf_decode_fuzz: invariant broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  etf::decode_options opts;
  opts.max_inflated_size = 1u << 20;  // keep the fuzzer's memory bounded
  auto t = etf::decode(in, opts);

  auto owner = std::make_shared<std::vector<std::uint8_t>>(in.begin(), in.end());
  auto ts = etf::decode_shared(*owner, owner, opts);
  if (t.has_value() != ts.has_value()) fail("decode and decode_shared disagree");
  if (t.has_value() && !(*t == *ts)) fail("decode_shared decoded a different term");

  auto p = etf::decode_prefix(in, true, opts);
  if (t.has_value()) {
    if (!p.has_value()) fail("decode_prefix rejects what decode accepts");
    if (p->consumed != size) fail("decode_prefix consumed != size");
    if (!(p->value == *t)) fail("decode_prefix decoded a different term");
  }

  etf::reader r(in);
  if (r.read_version().has_value()) {
    bool compressed = size > 1 && data[1] == etf::compressed_ext;
    auto s = r.skip();
    if (t.has_value() && !compressed) {
      if (!s.has_value()) fail("reader::skip rejects what decode accepts");
      if (r.offset() != size) fail("reader::skip stopped before the end");
    }
    // Typed reads of the first term must not crash either.
    etf::reader r2(in, 1);
    (void)r2.peek_tag();
    (void)etf::reader(in, 1).read_int();
    (void)etf::reader(in, 1).read_float();
    (void)etf::reader(in, 1).read_atom();
    (void)etf::reader(in, 1).read_tuple_header();
    (void)etf::reader(in, 1).read_list_header();
    (void)etf::reader(in, 1).read_string();
    (void)etf::reader(in, 1).read_map_header();
    (void)etf::reader(in, 1).read_binary();
    (void)etf::reader(in, 1).read_pid();
  }

  if (!t.has_value()) return 0;
  (void)to_string(*t);
  for (int minor : {1, 2}) {
    etf::encode_options eo;
    eo.minor_version = minor;
    auto e = etf::encode(*t, eo);
    if (!e.has_value()) fail("a decoded term does not encode");
    auto n = etf::encoded_size(*t, eo);
    if (!n.has_value() || *n != e->size()) fail("encoded_size differs from encode");
    auto back = etf::decode(*e);
    if (!back.has_value()) fail("our own encoding does not decode");
    if (!(*back == *t)) fail("encode/decode round trip changed the term");
  }
  return 0;
}
