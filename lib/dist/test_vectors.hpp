// Loads lib/dist/testdata/dist_vectors.txt (recorded from a live erl by
// scripts/capture-dist-vectors) for the dist unit tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace erlnode::dist::test {

struct vector_line {
  std::string conn;   // pass | hdr | old
  std::string label;  // hs_* or the operation that produced the packet
  std::vector<std::uint8_t> bytes;
};

inline std::vector<std::uint8_t> from_hex(const std::string& h) {
  std::vector<std::uint8_t> b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    b.push_back(static_cast<std::uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

inline std::vector<vector_line> load_vectors() {
  std::ifstream in(ERLNODE_SOURCE_DIR "/lib/dist/testdata/dist_vectors.txt");
  if (!in) throw std::runtime_error("dist_vectors.txt missing");
  std::vector<vector_line> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    vector_line v;
    std::string hex;
    ls >> v.conn >> v.label >> hex;
    v.bytes = from_hex(hex);
    out.push_back(std::move(v));
  }
  return out;
}

// Packets of one connection (handshake and flags lines excluded), in recorded order.
inline std::vector<vector_line> packets_of(const std::string& conn) {
  std::vector<vector_line> out;
  for (auto& v : load_vectors())
    if (v.conn == conn && v.label.rfind("hs_", 0) != 0 && v.label != "flags") out.push_back(v);
  return out;
}

inline std::vector<std::uint8_t> line_bytes(const std::string& conn, const std::string& label) {
  for (auto& v : load_vectors())
    if (v.conn == conn && v.label == label) return v.bytes;
  throw std::runtime_error("no vector " + conn + " " + label);
}

inline std::uint64_t flags_of(const std::string& conn) {
  for (auto& v : load_vectors())
    if (v.conn == conn && v.label == "flags") {
      std::uint64_t f = 0;
      for (auto b : v.bytes) f = (f << 8) | b;
      return f;
    }
  throw std::runtime_error("no flags for " + conn);
}

}  // namespace erlnode::dist::test
