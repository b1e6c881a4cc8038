// erlnode_codec_bench: ETF decode / encode / walk, erlnode against BEAM and ei on the same
// bytes in the same run. Prints one JSON object per line, then a summary line with the ratios
// against the speed targets. See tools/bench/codec/README.md for what each measurement covers.
#include <erlnode/etf.hpp>

#include "child_process.hpp"
#include "ei_peer.hpp"
#include "timing.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#ifndef ERLNODE_BENCH_ESCRIPT
#define ERLNODE_BENCH_ESCRIPT "codec_beam.escript"
#endif
#ifndef ERLNODE_BENCH_CORPUS_DIR
#define ERLNODE_BENCH_CORPUS_DIR "codec-corpus"
#endif

namespace {

using namespace erlnode;
using bench::keep;
using bytes_t = std::vector<std::uint8_t>;

// Corpus names, as written by codec_beam.escript gen.
const char* const all_corpora[] = {"small", "ints", "tuples", "bin_64k", "bin_1m"};

struct corpus {
  std::string name;
  std::shared_ptr<const bytes_t> bytes;
  std::size_t terms = 0;     // values in the term, containers and list tails included
  std::size_t binaries = 0;  // BINARY_EXT values (for ns per binary)
  std::span<const std::uint8_t> span() const { return {bytes->data(), bytes->size()}; }
};

struct row {
  std::string corpus, op, impl;
  double ns_per_iter = 0;
  std::uint64_t iters = 0;
};

struct options {
  bench::timing_config timing;
  std::string corpus_dir = ERLNODE_BENCH_CORPUS_DIR;
  std::string escript = "escript";
  std::string script = ERLNODE_BENCH_ESCRIPT;
  std::vector<std::string> only;
  bool regen = false;
  bool beam = true;
  int rounds = 3;  // the whole measurement (native and BEAM) repeated, best kept
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "erlnode_codec_bench: %s\n", what.c_str());
  std::exit(1);
}

std::optional<bytes_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  return bytes_t(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string path_of(const options& o, const std::string& name) {
  return o.corpus_dir + "/" + name + ".etf";
}

std::size_t count_binaries(const bench::ei_peer::node& n) {
  std::size_t c = n.bin ? 1 : 0;
  for (const auto& k : n.kids) c += count_binaries(k);
  return c;
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

void print_row(const row& r, const corpus& c) {
  double mb_per_s = static_cast<double>(c.bytes->size()) / r.ns_per_iter * 1e3;
  std::printf(
      "{\"corpus\":\"%s\",\"op\":\"%s\",\"impl\":\"%s\",\"mb_per_s\":%s,\"ns_per_term\":%s,"
      "\"ns_per_iter\":%s,\"iters\":%llu,\"bytes\":%zu,\"terms\":%zu}\n",
      r.corpus.c_str(), r.op.c_str(), r.impl.c_str(), num(mb_per_s).c_str(),
      num(r.ns_per_iter / static_cast<double>(c.terms)).c_str(), num(r.ns_per_iter).c_str(),
      static_cast<unsigned long long>(r.iters), c.bytes->size(), c.terms);
  std::fflush(stdout);
}

// Checks, untimed, that every implementation handles the corpus, and counts its terms.
void check(corpus& c, bench::ei_peer::node& tree) {
  auto t = etf::decode(c.span());
  if (!t) fail(c.name + ": etf::decode: " + t.error().message());
  auto s = etf::decode_shared(c.span(), c.bytes);
  if (!s) fail(c.name + ": etf::decode_shared: " + s.error().message());
  if (!(*s == *t)) fail(c.name + ": decode_shared and decode disagree");
  auto e = etf::encode(*t);
  if (!e) fail(c.name + ": etf::encode: " + e.error().message());
  if (*e != *c.bytes)
    std::fprintf(stderr, "erlnode_codec_bench: %s: etf::encode differs from term_to_binary\n",
                 c.name.c_str());
  etf::iov_encoding iov;
  if (!etf::encode_iov(*t, iov) || iov.flatten() != *e)
    fail(c.name + ": etf::encode_iov differs from etf::encode");
  etf::reader rd(c.span());
  if (!rd.read_version() || !rd.skip() || rd.offset() != c.bytes->size())
    fail(c.name + ": etf::reader::skip did not walk the whole term");
  if (!bench::ei_peer::decode(c.span(), tree)) fail(c.name + ": ei decode failed");
  if (bench::ei_peer::encode_x(tree) < 0 || bench::ei_peer::encode_sized(tree) < 0)
    fail(c.name + ": ei encode failed");
  if (!bench::ei_peer::walk(c.span())) fail(c.name + ": ei_skip_term failed");
  c.terms = bench::ei_peer::count(tree);
  c.binaries = count_binaries(tree);
}

std::vector<row> bench_native(const corpus& c, const bench::ei_peer::node& tree, const options& o) {
  std::vector<row> rows;
  auto run = [&](const char* op, const char* impl, auto&& f) {
    auto t = bench::measure(f, o.timing);
    rows.push_back({c.name, op, impl, t.ns_per_iter, t.iters});
  };
  const auto bytes = c.span();
  const term value = *etf::decode(bytes);

  run("decode", "erlnode", [&] { keep(etf::decode(bytes)); });
  run("decode", "erlnode_shared", [&] { keep(etf::decode_shared(bytes, c.bytes)); });
  run("decode", "ei", [&] {
    bench::ei_peer::node n;
    keep(bench::ei_peer::decode(bytes, n));
    keep(n);
  });
  run("encode", "erlnode", [&] { keep(etf::encode(value)); });
  run("encode", "erlnode_iov", [&] {
    etf::iov_encoding out;
    keep(etf::encode_iov(value, out));
    keep(out);
  });
  run("encode", "ei", [&] { keep(bench::ei_peer::encode_x(tree)); });
  run("encode", "ei_sized", [&] { keep(bench::ei_peer::encode_sized(tree)); });
  run("walk", "erlnode", [&] {
    etf::reader r(bytes, 1);
    keep(r.skip());
  });
  run("walk", "ei", [&] { keep(bench::ei_peer::walk(bytes)); });
  return rows;
}

// Minimal reader for the flat JSON lines codec_beam.escript prints.
std::optional<std::string> json_field(const std::string& line, const std::string& key) {
  auto k = line.find("\"" + key + "\":");
  if (k == std::string::npos) return std::nullopt;
  auto v = k + key.size() + 3;
  if (v < line.size() && line[v] == '"') {
    auto end = line.find('"', v + 1);
    if (end == std::string::npos) return std::nullopt;
    return line.substr(v + 1, end - v - 1);
  }
  auto end = line.find_first_of(",}", v);
  return line.substr(v, end - v);
}

std::vector<row> bench_beam(const std::vector<corpus>& cs, const options& o) {
  // The BEAM's CPU clock ticks in milliseconds: its runs must be longer.
  long min_ms = static_cast<long>(o.timing.min_run_ns / 1e6);
  if (o.timing.cpu_clock) min_ms = std::max(min_ms, 80L);
  std::vector<std::string> argv = {o.escript,
                                   o.script,
                                   "bench",
                                   o.corpus_dir,
                                   o.timing.cpu_clock ? "cpu" : "wall",
                                   o.timing.quick ? "0" : std::to_string(min_ms),
                                   o.timing.quick ? "1" : std::to_string(o.timing.runs)};
  for (const auto& c : cs) argv.push_back(c.name);
  auto out = bench::run_capture(argv);
  if (!out) fail("the BEAM peer (" + o.script + ") failed");
  std::vector<row> rows;
  std::size_t pos = 0;
  while (pos < out->size()) {
    auto nl = out->find('\n', pos);
    if (nl == std::string::npos) nl = out->size();
    std::string line = out->substr(pos, nl - pos);
    pos = nl + 1;
    auto name = json_field(line, "corpus");
    auto op = json_field(line, "op");
    auto ns = json_field(line, "ns_per_iter");
    auto iters = json_field(line, "iters");
    if (!name || !op || !ns || !iters) continue;
    auto c = std::find_if(cs.begin(), cs.end(), [&](const corpus& x) { return x.name == *name; });
    if (c == cs.end()) continue;
    rows.push_back({*name, *op, "beam", std::strtod(ns->c_str(), nullptr),
                    std::strtoull(iters->c_str(), nullptr, 10)});
  }
  return rows;
}

// Ratio objects of the summary: "<peer>/<ours>" time ratios per corpus (higher is better).
struct summary_builder {
  std::map<std::tuple<std::string, std::string, std::string>, double> ns;
  const std::vector<corpus>& cs;
  bool all_ok = true;

  std::optional<double> get(const std::string& c, const std::string& op,
                            const std::string& impl) const {
    auto it = ns.find({c, op, impl});
    if (it == ns.end()) return std::nullopt;
    return it->second;
  }

  // Speed-up of the fastest of `ours` over the fastest of `peers`, per corpus; with more than
  // one of ours, "path" names the one that was used. ok when every ratio >= target; only
  // targets that `count` decide all_ok (the others are informative).
  std::string ratio(const char* label, const std::string& op, std::vector<std::string> ours,
                    std::vector<std::string> peers, double target, bool count = true) {
    std::string s =
        std::string("\"") + label + "\":{\"target\":" + num(target) + ",\"by_corpus\":{";
    std::string path = ",\"path\":{";
    double lo = 1e300;
    bool any = false;
    for (const auto& c : cs) {
      std::optional<double> mine;
      std::string used;
      for (const auto& o : ours)
        if (auto v = get(c.name, op, o); v && (!mine || *v < *mine)) {
          mine = *v;
          used = o;
        }
      std::optional<double> peer;
      for (const auto& p : peers)
        if (auto v = get(c.name, op, p)) peer = peer ? std::min(*peer, *v) : *v;
      if (!mine || !peer) continue;
      double r = *peer / *mine;
      s += std::string(any ? "," : "") + "\"" + c.name + "\":" + num(r);
      path += std::string(any ? "," : "") + "\"" + c.name + "\":\"" + used + "\"";
      lo = std::min(lo, r);
      any = true;
    }
    bool ok = any && lo >= target;
    if (count) all_ok = all_ok && ok;
    s += "}";
    if (ours.size() > 1) s += path + "}";
    s += ",\"min\":" + (any ? num(lo) : std::string("null")) +
         ",\"ok\":" + (ok ? "true" : "false") + (count ? "" : ",\"informative\":true") + "}";
    return s;
  }

  // decode_shared cost per binary: the same for 64 KB and 1 MB binaries when it is O(1).
  std::string binary_o1() {
    auto small = std::find_if(cs.begin(), cs.end(), [](auto& c) { return c.name == "bin_64k"; });
    auto large = std::find_if(cs.begin(), cs.end(), [](auto& c) { return c.name == "bin_1m"; });
    if (small == cs.end() || large == cs.end()) return "\"binary_o1\":null";
    auto per = [&](const corpus& c, const char* impl) -> double {
      auto v = get(c.name, "decode", impl);
      return v && c.binaries ? *v / static_cast<double>(c.binaries) : 0;
    };
    double s64 = per(*small, "erlnode_shared"), s1m = per(*large, "erlnode_shared");
    double ratio = s64 > 0 ? s1m / s64 : 0;
    bool ok = s64 > 0 && ratio <= 2.0;
    all_ok = all_ok && ok;
    return "\"binary_o1\":{\"ns_per_binary_64k\":" + num(s64) +
           ",\"ns_per_binary_1m\":" + num(s1m) + ",\"ratio_1m_to_64k\":" + num(ratio) +
           ",\"target_ratio_max\":2.000,\"copying_ns_per_binary_64k\":" +
           num(per(*small, "erlnode")) +
           ",\"copying_ns_per_binary_1m\":" + num(per(*large, "erlnode")) +
           ",\"ok\":" + (ok ? "true" : "false") + "}";
  }
};

void print_summary(const std::vector<corpus>& cs, const std::vector<row>& rows, const options& o) {
  summary_builder b{{}, cs};
  for (const auto& r : rows) b.ns[{r.corpus, r.op, r.impl}] = r.ns_per_iter;
  bool beam = o.beam;
  std::string s = std::string("{\"summary\":\"codec\",\"clock\":\"") +
                  (o.timing.cpu_clock ? "cpu" : "wall") +
                  "\",\"quick\":" + (o.timing.quick ? "true" : "false");
  // Targets judge the library's best public path per corpus: decode or decode_shared,
  // encode or encode_iov (tools/bench/codec/README.md); the copying paths alone are
  // reported too, as informative ratios.
  const std::vector<std::string> decoders = {"erlnode", "erlnode_shared"};
  const std::vector<std::string> encoders = {"erlnode", "erlnode_iov"};
  if (beam) {
    s += "," + b.ratio("decode_vs_beam", "decode", decoders, {"beam"}, 2.0);
    s += "," + b.ratio("encode_vs_beam", "encode", encoders, {"beam"}, 2.0);
  }
  s += "," + b.ratio("encode_vs_ei", "encode", encoders, {"ei", "ei_sized"}, 1.0);
  s += "," + b.ratio("walk_vs_ei", "walk", {"erlnode"}, {"ei"}, 2.0);
  if (beam) {
    s += "," + b.ratio("decode_copying_vs_beam", "decode", {"erlnode"}, {"beam"}, 2.0, false);
    s += "," + b.ratio("encode_copying_vs_beam", "encode", {"erlnode"}, {"beam"}, 2.0, false);
  }
  s += "," + b.ratio("decode_vs_ei", "decode", decoders, {"ei"}, 1.0, false);
  s += "," + b.ratio("encode_copying_vs_ei", "encode", {"erlnode"}, {"ei", "ei_sized"}, 1.0, false);
  s += "," + b.binary_o1();
  s += std::string(",\"all_ok\":") + (b.all_ok ? "true" : "false") + "}";
  std::printf("%s\n", s.c_str());
}

void usage(FILE* f) {
  std::fprintf(
      f,
      "usage: erlnode_codec_bench [--quick] [--min-ms N] [--runs N] [--rounds N]\n"
      "                           [--corpus NAME]...\n"
      "                           [--clock cpu|wall] [--corpus-dir DIR] [--regen]\n"
      "                           [--no-beam] [--escript PATH] [--script PATH]\n"
      "  --quick       one iteration of everything (smoke test; numbers meaningless)\n"
      "  --clock C     cpu (default: this thread's CPU time; the BEAM's runtime) or wall\n"
      "  --min-ms N    each timed run lasts at least N ms (default 25)\n"
      "  --runs N      best of N runs (default 5)\n"
      "  --rounds N    repeat everything (C++ and BEAM alternately) N times, keep the best\n"
      "                (default 3; --quick: 1)\n"
      "  --corpus NAME only this corpus (small, ints, tuples, bin_64k, bin_1m)\n"
      "  --regen       rewrite the corpus files with erl even if they exist\n"
      "  --no-beam     skip the BEAM peer\n");
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(stderr);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      o.timing.quick = true;
    } else if (a == "--clock") {
      std::string v = next();
      if (v != "cpu" && v != "wall") {
        usage(stderr);
        std::exit(2);
      }
      o.timing.cpu_clock = v == "cpu";
    } else if (a == "--min-ms") {
      o.timing.min_run_ns = std::atof(next().c_str()) * 1e6;
    } else if (a == "--runs") {
      o.timing.runs = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--rounds") {
      o.rounds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--corpus") {
      o.only.push_back(next());
    } else if (a == "--corpus-dir") {
      o.corpus_dir = next();
    } else if (a == "--escript") {
      o.escript = next();
    } else if (a == "--script") {
      o.script = next();
    } else if (a == "--regen") {
      o.regen = true;
    } else if (a == "--no-beam") {
      o.beam = false;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else {
      usage(stderr);
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  bench::ei_peer::init();

  std::vector<std::string> names;
  for (const char* n : all_corpora)
    if (o.only.empty() || std::find(o.only.begin(), o.only.end(), n) != o.only.end())
      names.push_back(n);
  if (names.empty()) fail("no such corpus");

  // The corpora are BEAM's own term_to_binary output, written by erl into the build tree.
  bool missing = o.regen;
  for (const auto& n : names) missing = missing || !read_file(path_of(o, n)).has_value();
  if (missing && !bench::run_capture({o.escript, o.script, "gen", o.corpus_dir}))
    fail("could not generate the corpora with " + o.script);

  std::vector<corpus> cs;
  std::vector<bench::ei_peer::node> trees(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto b = read_file(path_of(o, names[i]));
    if (!b) fail("cannot read " + path_of(o, names[i]));
    cs.push_back({names[i], std::make_shared<const bytes_t>(std::move(*b))});
    check(cs.back(), trees[i]);
  }

  // With --rounds N every measurement is taken N times, the C++ side and the BEAM alternately,
  // and each keeps its best: a slow phase of a shared machine then hits both sides alike.
  std::vector<row> rows;
  auto keep_best = [&](const std::vector<row>& r) {
    for (const auto& x : r) {
      auto it = std::find_if(rows.begin(), rows.end(), [&](const row& y) {
        return y.corpus == x.corpus && y.op == x.op && y.impl == x.impl;
      });
      if (it == rows.end())
        rows.push_back(x);
      else if (x.ns_per_iter < it->ns_per_iter)
        *it = x;
    }
  };
  const int rounds = o.timing.quick ? 1 : o.rounds;
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < cs.size(); ++i) keep_best(bench_native(cs[i], trees[i], o));
    if (o.beam) keep_best(bench_beam(cs, o));
  }
  trees.clear();
  for (const auto& r : rows) {
    auto c =
        std::find_if(cs.begin(), cs.end(), [&](const corpus& x) { return x.name == r.corpus; });
    print_row(r, *c);
  }
  print_summary(cs, rows, o);
  return 0;
}
