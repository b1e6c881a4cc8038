// libFuzzer target: the Erlang text parser and the printer.
//
// Invariants checked on every input:
//  - parse never crashes or over-reads (ASan), whatever the text;
//  - what parses prints (~w), and the printed text parses back to an equal term;
//  - what parses encodes to ETF and decodes back to an equal term;
//  - pattern::parse never crashes.
#include <erlnode/etf.hpp>
#include <erlnode/text.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace erlnode;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "text_parse_fuzz: invariant broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)pattern::parse(in);
  auto t = parse(in);
  if (!t.has_value()) return 0;

  std::string printed = to_string(*t);
  auto again = parse(printed);
  if (!again.has_value()) {
    std::fprintf(stderr, "printed: %.300s\nerror: %s\n", printed.c_str(),
                 again.error().message().c_str());
    fail("printed text does not parse");
  }
  if (!(*again == *t)) {
    std::fprintf(stderr, "printed: %.300s\n", printed.c_str());
    fail("print/parse round trip changed the term");
  }
  if (to_string(*again) != printed) fail("printing is not stable");

  auto e = etf::encode(*t);
  if (!e.has_value()) fail("a parsed term does not encode");
  auto back = etf::decode(*e);
  if (!back.has_value() || !(*back == *t)) fail("a parsed term does not survive ETF");
  return 0;
}
