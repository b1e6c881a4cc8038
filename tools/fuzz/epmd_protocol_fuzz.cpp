// libFuzzer target: the epmd protocol parsers (requests as epmd reads them, and the four reply
// parsers a client uses), plus the text-level reply parsers.
//
// Invariants checked on every input:
//  - no parser crashes or over-reads (ASan), whatever the bytes;
//  - each incremental parser gives the same outcome (error code and offset, or the same
//    value) whether the input arrives whole, one byte at a time, or split at points taken
//    from the input itself;
//  - feed() never claims more bytes than it was given;
//  - a parsed request re-encodes to as many bytes as it was parsed from (NAMES, DUMP and
//    KILL: at most as many, since bytes after their tag are ignored, as by OTP's epmd).
#include <erlnode/epmd/protocol.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace erlnode;
using namespace erlnode::epmd;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "epmd_protocol_fuzz: invariant broken: %s\n", what);
  std::abort();
}

using bytes = std::span<const std::uint8_t>;

// Chunk boundaries: whole, every byte, and a few points picked by the input's own bytes.
std::vector<std::vector<std::size_t>> splits(bytes in) {
  std::vector<std::vector<std::size_t>> s;
  s.push_back({in.size()});
  std::vector<std::size_t> each;
  for (std::size_t i = 1; i <= in.size(); ++i) each.push_back(i);
  s.push_back(each);
  std::vector<std::size_t> picked;
  std::size_t at = 0;
  for (std::size_t i = 0; i < in.size() && at < in.size(); i += 7) {
    at += 1 + in[i] % 13;
    picked.push_back(std::min(at, in.size()));
  }
  if (picked.empty() || picked.back() != in.size()) picked.push_back(in.size());
  s.push_back(picked);
  return s;
}

// Outcome of running one parser over a chunked stream: what a run ends with.
struct outcome {
  bool ok = false;           // complete (or, for text replies, finished)
  int code = 0;              // error code when !ok and an error was returned
  std::size_t offset = 0;    // error offset
  std::size_t consumed = 0;  // bytes taken before stopping
  std::string value;         // a printable digest of the parsed value
  friend bool operator==(const outcome&, const outcome&) = default;
};

template <class Parser, class Digest>
outcome run(bytes in, const std::vector<std::size_t>& cuts, Parser p, Digest digest) {
  outcome o;
  std::size_t from = 0;
  for (std::size_t to : cuts) {
    bytes chunk = in.subspan(from, to - from);
    const std::size_t before = chunk.size();
    auto r = p.feed(chunk);
    if (chunk.size() > before) fail("feed() grew its input");
    o.consumed += before - chunk.size();
    if (!r) {  // how much of the failing chunk was taken is not part of the contract
      o.code = r.error().code.value();
      o.offset = r.error().offset;
      o.consumed = 0;
      return o;
    }
    if (*r == status::complete) {
      o.ok = true;
      o.value = digest(p);
      return o;
    }
    if (!chunk.empty()) fail("need_more with bytes left over");
    from = to;
  }
  return o;
}

std::string digest_node(const node_info& n) {
  return std::to_string(n.port) + "/" + std::to_string(n.node_type) + "/" +
         std::to_string(n.protocol) + "/" + std::to_string(n.highest_version) + "/" +
         std::to_string(n.lowest_version) + "/" + n.name + "/" + n.extra;
}

void check_requests(bytes in) {
  // Requests follow each other on a connection the fuzzer sees as one stream; parse them all.
  outcome first;
  bool have_first = false;
  for (const auto& cuts : splits(in)) {
    request_parser p;
    std::string all;
    std::size_t from = 0, consumed = 0;
    int code = 0;
    for (std::size_t to : cuts) {
      bytes chunk = in.subspan(from, to - from);
      while (true) {
        const std::size_t before = chunk.size();
        auto r = p.feed(chunk);
        consumed += before - chunk.size();
        if (!r) {
          code = r.error().code.value();
          break;
        }
        if (*r == status::need_more) {
          if (!chunk.empty()) fail("request_parser: need_more with bytes left over");
          break;
        }
        // Complete: the request must re-encode to exactly its bytes.
        auto e = encode(p.get());
        if (!e) fail("a parsed request does not encode");
        // NAMES, DUMP and KILL ignore bytes after their tag (as OTP's epmd does).
        const bool bare = std::holds_alternative<names_request>(p.get()) ||
                          std::holds_alternative<dump_request>(p.get()) ||
                          std::holds_alternative<kill_request>(p.get());
        if (bare ? e->size() > p.offset() : e->size() != p.offset())
          fail("a parsed request re-encodes to another length");
        all += std::to_string(p.get().index()) + ":" + std::to_string(e->size()) + ";";
        p.reset();
        if (chunk.empty()) break;
      }
      if (code) break;
      from = to;
    }
    outcome o;
    o.code = code;
    o.consumed = code ? 0 : consumed;
    o.value = all;
    if (!have_first) {
      first = o;
      have_first = true;
    } else if (!(o == first)) {
      fail("request_parser: split input parses differently");
    }
  }
}

template <class Parser, class Digest>
void check_reply(bytes in, const char* name, Digest digest) {
  outcome first;
  bool have_first = false;
  for (const auto& cuts : splits(in)) {
    outcome o = run(in, cuts, Parser{}, digest);
    if (!have_first) {
      first = o;
      have_first = true;
    } else if (!(o == first)) {
      std::fprintf(stderr, "%s\n", name);
      fail("reply parser: split input parses differently");
    }
  }
}

void check_text_reply(bytes in) {
  std::string first;
  bool have_first = false;
  for (const auto& cuts : splits(in)) {
    text_reply_parser p(4096);
    std::string got;
    std::size_t from = 0;
    bool failed = false;
    for (std::size_t to : cuts) {
      bytes chunk = in.subspan(from, to - from);
      auto r = p.feed(chunk);
      if (!r) {
        got = "error " + std::to_string(r.error().code.value());
        failed = true;
        break;
      }
      from = to;
    }
    if (!failed) {
      auto f = p.finish();
      got = f ? "text " + std::to_string(p.get().epmd_port) + " " + p.get().text
              : "finish error " + std::to_string(f.error().code.value());
    }
    if (!have_first) {
      first = got;
      have_first = true;
    } else if (got != first) {
      fail("text_reply_parser: split input parses differently");
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;  // byte-at-a-time replays are quadratic in the worst case
  bytes in(data, size);
  check_requests(in);
  check_reply<alive2_reply_parser>(in, "alive2", [](const alive2_reply_parser& p) {
    const auto& r = p.get();
    return std::to_string(r.result) + "/" + std::to_string(r.creation) + "/" +
           std::to_string(r.extended);
  });
  check_reply<port2_reply_parser>(in, "port2", [](const port2_reply_parser& p) {
    const auto& r = p.get();
    return std::to_string(r.result) + "/" + (r.node ? digest_node(*r.node) : "-");
  });
  check_text_reply(in);
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_names(text);
  (void)parse_kill_reply(text);
  (void)parse_stop_reply(text);
  (void)valid_name(text);
  return 0;
}
