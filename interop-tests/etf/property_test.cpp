// Random terms made by a live erl (random_terms.escript) go through our decoder, printer,
// parser and encoder; erl's bytes and ~w text are the expected answers. Then the reverse: erl
// decodes what we encoded and checks it is =:= the term it generated.
//
// ERLNODE_ETF_PROPERTY_COUNT (default 5000) and ERLNODE_ETF_PROPERTY_SEED (default 20261127)
// change the run; a failure prints the seed and the index of the first bad terms.
#include <erlnode/etf.hpp>
#include <erlnode/text.hpp>

#include "support/erl_process.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

using namespace erlnode;
using namespace erlnode::interop;
using bytes = std::vector<std::uint8_t>;
namespace fs = std::filesystem;

namespace {

enum : std::uint8_t {
  flag_minor2 = 1,
  flag_compressed = 2,
  flag_text = 4,
  flag_parse = 8,
};

struct record {
  std::uint8_t flags = 0;
  bytes etf;
  std::string text;
};

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

void put32(bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

std::vector<record> read_records(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  bytes all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<record> v;
  std::size_t i = 0;
  auto need = [&](std::size_t n) {
    if (all.size() - i < n) throw std::runtime_error("terms.bin is truncated");
  };
  while (i < all.size()) {
    record r;
    need(5);
    r.flags = all[i];
    std::size_t n = be32(&all[i + 1]);
    i += 5;
    need(n + 4);
    r.etf.assign(all.begin() + i, all.begin() + i + n);
    i += n;
    std::size_t tn = be32(&all[i]);
    i += 4;
    need(tn);
    r.text.assign(all.begin() + i, all.begin() + i + tn);
    i += tn;
    v.push_back(std::move(r));
  }
  return v;
}

std::string env_or(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

std::string hex(std::span<const std::uint8_t> b, std::size_t max = 64) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < b.size() && i < max; ++i) {
    s += d[b[i] >> 4];
    s += d[b[i] & 15];
  }
  if (b.size() > max) s += "...";
  return s;
}

// "erl ...<text around the first difference>... / ours ...".
std::string first_difference(const std::string& erl, const std::string& ours) {
  std::size_t p = 0;
  while (p < erl.size() && p < ours.size() && erl[p] == ours[p]) ++p;
  std::size_t from = p > 80 ? p - 80 : 0;
  return "differ at " + std::to_string(p) + "\n     erl  ..." + erl.substr(from, 200) +
         "\n     ours ..." + ours.substr(from, 200);
}

// Collects the first few failures of one kind, counts the rest.
struct failures {
  std::size_t count = 0;
  std::string first;
  void add(std::size_t index, const std::string& what) {
    if (++count <= 5) first += "\n  #" + std::to_string(index) + ": " + what.substr(0, 600);
  }
};

// One erl run shared by the test cases below: the generated records, and the process that
// later checks our encodings.
struct erl_run {
  std::string seed = env_or("ERLNODE_ETF_PROPERTY_SEED", "20261127");
  std::string count = env_or("ERLNODE_ETF_PROPERTY_COUNT", "5000");
  fs::path dir = fs::temp_directory_path() / unique_name("erlnode-etf-prop-");
  std::unique_ptr<child_process> erl;
  std::vector<record> records;
  std::vector<term> decoded;  // [] where decoding failed (the first case reports it)

  erl_run() {
    fs::create_directories(dir);
    erl = std::make_unique<child_process>(std::vector<std::string>{
        erl_bin("escript"), ERLNODE_SOURCE_DIR "/interop-tests/etf/random_terms.escript", seed,
        count, dir.string()});
    if (!erl->wait_for_output("GENERATED", 300s))
      throw std::runtime_error("random_terms.escript failed: " + erl->output());
    records = read_records(dir / "terms.bin");
    for (const auto& r : records) {
      auto t = etf::decode(r.etf);
      decoded.push_back(t ? *t : term());
    }
  }
  ~erl_run() {
    erl.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static erl_run& get() {
    static erl_run r;
    return r;
  }
};

}  // namespace

TEST_CASE("random erl terms decode and re-encode to erl's bytes; erl decodes ours to =:= terms") {
  auto& run = erl_run::get();
  INFO("seed " << run.seed << ", count " << run.count);
  const auto& records = run.records;
  REQUIRE(records.size() == std::stoul(run.count));

  failures decode_fail, encode_fail;
  bytes ours;  // records for erl: index, length, bytes
  auto send = [&](std::size_t i, const bytes& b) {
    put32(ours, static_cast<std::uint32_t>(i));
    put32(ours, static_cast<std::uint32_t>(b.size()));
    ours.insert(ours.end(), b.begin(), b.end());
  };

  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    auto t = etf::decode(r.etf);
    if (!t) {
      decode_fail.add(i, t.error().message() + " in " + hex(r.etf));
      continue;
    }
    etf::encode_options eo;
    eo.minor_version = (r.flags & flag_minor2) ? 2 : 1;
    eo.compressed = (r.flags & flag_compressed) ? 6 : 0;
    auto e = etf::encode(*t, eo);
    if (!e)
      encode_fail.add(i, e.error().message());
    else if (*e != r.etf)
      encode_fail.add(i, "erl " + hex(r.etf) + "\n     ours " + hex(*e) + "\n     " + r.text);
    // erl checks our plain encodings in both minor versions.
    etf::encode_options plain;
    plain.minor_version = (i % 2) ? 2 : 1;
    if (auto p = etf::encode(*t, plain)) send(i, *p);
  }
  INFO("decode failures: " << decode_fail.count << decode_fail.first);
  INFO("encode mismatches: " << encode_fail.count << encode_fail.first);
  CHECK(decode_fail.count == 0);
  CHECK(encode_fail.count == 0);

  // The reverse direction: erl decodes our bytes.
  {
    std::ofstream out(run.dir / "ours.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(ours.data()),
              static_cast<std::streamsize>(ours.size()));
  }
  run.erl->write_stdin("CHECK " + (run.dir / "ours.bin").string() + "\n");
  REQUIRE(run.erl->wait_for_output("CHECKED", 300s));
  INFO("erl says:\n" << run.erl->output().substr(0, 4000));
  CHECK(run.erl->output().find("bad=0") != std::string::npos);
  CHECK(run.erl->output().find("ok=0 ") == std::string::npos);
  CHECK(run.erl->wait(60s) == 0);
}

TEST_CASE("random erl terms: erl's ~w text parses to the term and re-encodes to erl's bytes") {
  auto& run = erl_run::get();
  INFO("seed " << run.seed << ", count " << run.count);
  REQUIRE(run.decoded.size() == run.records.size());
  failures parse_fail;
  std::size_t parsed = 0;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    const auto& r = run.records[i];
    if (!(r.flags & flag_parse)) continue;
    ++parsed;
    etf::encode_options eo;
    eo.minor_version = (r.flags & flag_minor2) ? 2 : 1;
    eo.compressed = (r.flags & flag_compressed) ? 6 : 0;
    auto p = parse(r.text);
    if (!p) {
      parse_fail.add(i, p.error().message() + ": " + r.text);
    } else if (!(*p == run.decoded[i])) {
      parse_fail.add(i, "parsed to a different term: " + r.text);
    } else {
      auto pe = etf::encode(*p, eo);
      if (!pe || *pe != r.etf) parse_fail.add(i, "parsed term encodes differently: " + r.text);
    }
  }
  INFO("parse failures: " << parse_fail.count << " of " << parsed << parse_fail.first);
  CHECK(parse_fail.count == 0);
  CHECK(parsed > run.records.size() / 4);
}

TEST_CASE("random erl terms print as erl's ~w") {
  auto& run = erl_run::get();
  INFO("seed " << run.seed << ", count " << run.count);
  REQUIRE(run.decoded.size() == run.records.size());
  failures print_fail;
  std::size_t printed = 0;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    const auto& r = run.records[i];
    if (!(r.flags & flag_text)) continue;
    ++printed;
    std::string s = to_string(run.decoded[i]);
    if (s != r.text) print_fail.add(i, first_difference(r.text, s));
  }
  INFO("print mismatches: " << print_fail.count << " of " << printed << print_fail.first);
  CHECK(print_fail.count == 0);
  CHECK(printed > run.records.size() / 4);
}
