// erlnode-etf: converts between the external term format and Erlang text.
//   decode     ETF bytes (with 131) -> the term as ~w text and a newline
//   encode     one term in Erlang syntax -> ETF bytes (as term_to_binary/1,2)
//   roundtrip  ETF bytes -> decoded and encoded again -> ETF bytes
// With --stream the binary side is a sequence of records (4-byte big-endian length, then
// the bytes) and the text side one term per line. A bad record is reported on stderr with
// its number and the byte offset; the others are still processed and the exit status is 1.
#include <erlnode/etf.hpp>
#include <erlnode/text.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace erlnode;

namespace {

void usage(std::FILE* f) {
  std::fputs(
      "usage: erlnode-etf decode|encode|roundtrip [--stream] [--minor-version N] [FILE]\n"
      "  decode     ETF bytes (starting with 131) -> ~w text and a newline\n"
      "  encode     one term in Erlang syntax -> ETF bytes\n"
      "  roundtrip  ETF bytes -> decode -> encode -> ETF bytes\n"
      "  --stream   binary side: records of a 4-byte big-endian length and the bytes;\n"
      "             text side: one term per line (blank lines are skipped)\n"
      "  --minor-version N  1 (default, as term_to_binary/1 in OTP 25) or 2 (UTF-8 atoms)\n"
      "Reads FILE, or stdin. Exit status: 0 all records good, 1 some failed, 2 usage/I/O.\n",
      f);
}

enum class mode { decode, encode, roundtrip };

struct options {
  mode m = mode::decode;
  bool stream = false;
  etf::encode_options enc;
  std::optional<std::string> file;
};

class runner {
 public:
  explicit runner(const options& o) : o_(o) {}

  int run(const std::string& in) {
    if (o_.stream) {
      if (o_.m == mode::encode)
        encode_lines(in);
      else
        binary_records(in);
    } else {
      if (o_.m == mode::encode)
        encode_one(in, 0);
      else
        binary_one(as_bytes(in), 0);
    }
    std::fflush(stdout);
    if (std::ferror(stdout)) {
      std::fputs("erlnode-etf: write error\n", stderr);
      return 2;
    }
    return failed_ ? 1 : 0;
  }

 private:
  static std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
  }

  void report(std::size_t record, const std::string& what) {
    failed_ = true;
    if (o_.stream)
      std::fprintf(stderr, "erlnode-etf: record %zu: %s\n", record, what.c_str());
    else
      std::fprintf(stderr, "erlnode-etf: %s\n", what.c_str());
  }

  void write_bytes(const std::vector<std::uint8_t>& b) {
    if (o_.stream) {
      std::uint8_t len[4] = {
          static_cast<std::uint8_t>(b.size() >> 24), static_cast<std::uint8_t>(b.size() >> 16),
          static_cast<std::uint8_t>(b.size() >> 8), static_cast<std::uint8_t>(b.size())};
      std::fwrite(len, 1, 4, stdout);
    }
    std::fwrite(b.data(), 1, b.size(), stdout);
  }

  // decode / roundtrip of one ETF record.
  void binary_one(std::span<const std::uint8_t> b, std::size_t record) {
    auto t = etf::decode(b);
    if (!t) return report(record, t.error().message());
    if (o_.m == mode::decode) {
      std::string s = to_string(*t);
      s += '\n';
      std::fwrite(s.data(), 1, s.size(), stdout);
      return;
    }
    auto e = etf::encode(*t, o_.enc);
    if (!e) return report(record, e.error().message());
    write_bytes(*e);
  }

  void binary_records(const std::string& in) {
    auto b = as_bytes(in);
    std::size_t pos = 0;
    for (std::size_t record = 1; pos < b.size(); ++record) {
      if (b.size() - pos < 4) {
        report(record, "record length cut short at offset " + std::to_string(pos));
        return;  // cannot find the next record
      }
      std::size_t len = (std::size_t{b[pos]} << 24) | (std::size_t{b[pos + 1]} << 16) |
                        (std::size_t{b[pos + 2]} << 8) | b[pos + 3];
      if (b.size() - pos - 4 < len) {
        report(record, "record of " + std::to_string(len) + " bytes cut short at offset " +
                           std::to_string(pos));
        return;
      }
      binary_one(b.subspan(pos + 4, len), record);
      pos += 4 + len;
    }
  }

  void encode_one(std::string_view text, std::size_t record) {
    auto t = parse(text);
    if (!t) return report(record, t.error().message());
    auto e = etf::encode(*t, o_.enc);
    if (!e) return report(record, e.error().message());
    write_bytes(*e);
  }

  void encode_lines(const std::string& in) {
    std::size_t start = 0, line = 0;
    while (start < in.size()) {
      std::size_t end = in.find('\n', start);
      if (end == std::string::npos) end = in.size();
      std::string_view text(in.data() + start, end - start);
      ++line;
      if (text.find_first_not_of(" \t\r") != std::string_view::npos) encode_one(text, line);
      start = end + 1;
    }
  }

  const options& o_;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  if (args[0] == "-h" || args[0] == "--help") {
    usage(stdout);
    return 0;
  }
  if (args[0] == "decode")
    o.m = mode::decode;
  else if (args[0] == "encode")
    o.m = mode::encode;
  else if (args[0] == "roundtrip")
    o.m = mode::roundtrip;
  else {
    usage(stderr);
    return 2;
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--stream") {
      o.stream = true;
    } else if (args[i] == "--minor-version" && i + 1 < args.size()) {
      std::string_view v = args[++i];
      if (v != "1" && v != "2") {
        std::fputs("erlnode-etf: --minor-version must be 1 or 2\n", stderr);
        return 2;
      }
      o.enc.minor_version = v[0] - '0';
    } else if (!args[i].empty() && args[i][0] == '-' && args[i] != "-") {
      usage(stderr);
      return 2;
    } else if (!o.file) {
      o.file = std::string(args[i]);
    } else {
      usage(stderr);
      return 2;
    }
  }

  std::string in;
  if (!o.file || *o.file == "-") {
    in.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) {
      std::fputs("erlnode-etf: cannot read stdin\n", stderr);
      return 2;
    }
  } else {
    std::ifstream f(*o.file, std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "erlnode-etf: cannot open %s: %s\n", o.file->c_str(),
                   std::strerror(errno));
      return 2;
    }
    in.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  return runner(o).run(in);
}
