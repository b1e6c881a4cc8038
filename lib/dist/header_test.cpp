#include <erlnode/dist/header.hpp>

#include "dist/test_vectors.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace erlnode;
using namespace erlnode::dist;
using bytes = std::vector<std::uint8_t>;

namespace {
bytes u64be(std::uint64_t v) {
  bytes b;
  for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
  return b;
}
bytes fragment(std::uint8_t kind, std::uint64_t seq, std::uint64_t id, bytes tail) {
  bytes b{131, kind};
  auto s = u64be(seq), i = u64be(id);
  b.insert(b.end(), s.begin(), s.end());
  b.insert(b.end(), i.begin(), i.end());
  b.insert(b.end(), tail.begin(), tail.end());
  return b;
}
}  // namespace

TEST_CASE("pass-through packets recorded from erl") {
  auto pkts = test::packets_of("pass");
  REQUIRE(pkts.size() > 20);
  message_receiver r({.headers_negotiated = false});
  for (auto& p : pkts) {
    auto m = r.on_packet(p.bytes);
    REQUIRE(m);
    REQUIRE(m->has_value());
    CHECK((*m)->version_bytes);
    CHECK((*m)->offset == 1);
    CHECK((*m)->atoms.empty());
    CHECK((*m)->bytes[1] == 131);
  }
  CHECK(r.open_sequences() == 0);
}

TEST_CASE("normal headers with the atom cache, recorded from erl") {
  auto pkts = test::packets_of("hdr");
  message_receiver r({.headers_negotiated = true});
  int complete = 0, partial = 0;
  for (auto& p : pkts) {
    INFO(p.label);
    auto m = r.on_packet(p.bytes);
    REQUIRE(m);
    if (!m->has_value()) {
      ++partial;
      continue;
    }
    ++complete;
    CHECK_FALSE((*m)->version_bytes);
    // The control term is a tuple right after the header (no 131).
    CHECK(((*m)->bytes[(*m)->offset] == 104 || (*m)->bytes[(*m)->offset] == 105));
    if (p.label == "send") {
      // 3 new entries: our node, the fake node and 'hello'.
      REQUIRE((*m)->atoms.size() == 3);
      CHECK((*m)->atoms[0].text() == "dist_capture@vm");
      CHECK((*m)->atoms[1].text() == "fake_hdr@vm");
      CHECK((*m)->atoms[2].text() == "hello");
    }
    if (p.label == "atom_cache_again") {
      // The same atoms again, now as references to cached slots.
      REQUIRE((*m)->atoms.size() == 3);
      CHECK((*m)->atoms[2].text() == "hello");
    }
  }
  CHECK(partial == 2);  // big_send: 3 fragments
  CHECK(complete == static_cast<int>(pkts.size()) - 2);
  CHECK(r.open_sequences() == 0);
  CHECK(r.reassembly_bytes() == 0);
}

TEST_CASE("fragments recorded from erl reassemble into the whole message") {
  std::vector<bytes> frags, before;
  for (auto& p : test::packets_of("hdr")) {
    if (p.label == "big_send") frags.push_back(p.bytes);
    if (frags.empty()) before.push_back(p.bytes);
  }
  REQUIRE(frags.size() == 3);
  atom_cache_receiver cache;  // as the packets before left it
  for (auto& b : before) REQUIRE(parse_header(b, cache, true));
  auto h0 = parse_header(frags[0], cache, true);
  REQUIRE(h0);
  CHECK(h0->kind == header_kind::fragment_start);
  CHECK(h0->fragment_id == 3);
  auto h2 = parse_header(frags[2], cache, true);
  REQUIRE(h2);
  CHECK(h2->kind == header_kind::fragment_cont);
  CHECK(h2->fragment_id == 1);
  CHECK(h2->sequence_id == h0->sequence_id);
  CHECK(h2->payload_offset == 18);

  message_receiver r({.headers_negotiated = true});
  for (auto& b : before) REQUIRE(r.on_packet(b));
  REQUIRE(r.on_packet(frags[0]).value() == std::nullopt);
  REQUIRE(r.on_packet(frags[1]).value() == std::nullopt);
  CHECK(r.open_sequences() == 1);
  CHECK(r.reassembly_bytes() == frags[0].size() + frags[1].size() - 18);
  auto m = r.on_packet(frags[2]);
  REQUIRE(m);
  REQUIRE(m->has_value());
  // 150000 bytes of binary plus the terms around it.
  CHECK((*m)->bytes.size() - (*m)->offset > 150000);
  CHECK(r.open_sequences() == 0);
}

TEST_CASE("header bytes re-encode exactly as the BEAM wrote them") {
  for (auto& p : test::packets_of("hdr")) {
    if (p.bytes[1] != header_normal) continue;
    INFO(p.label);
    // Decode with a fresh cache would fail on old refs, so rebuild the refs by hand.
    std::size_t n = p.bytes[2];
    if (n == 0) continue;
    std::vector<header_ref> refs;
    const std::uint8_t* flags = &p.bytes[3];
    auto nib = [&](std::size_t i) { return i % 2 ? flags[i / 2] >> 4 : flags[i / 2] & 15; };
    std::size_t pos = 3 + n / 2 + 1;
    bool long_atoms = nib(n) & 1;
    for (std::size_t i = 0; i < n; ++i) {
      header_ref r;
      r.is_new = nib(i) & 8;
      r.slot = static_cast<std::uint16_t>((nib(i) & 7) * 256 + p.bytes[pos++]);
      if (r.is_new) {
        std::size_t len = long_atoms ? (p.bytes[pos] << 8 | p.bytes[pos + 1]) : p.bytes[pos];
        pos += long_atoms ? 2 : 1;
        r.value = atom(std::string_view(reinterpret_cast<const char*>(&p.bytes[pos]), len));
        pos += len;
      }
      refs.push_back(r);
    }
    bytes out{131, header_normal};
    REQUIRE(append_header_refs(out, refs));
    CHECK(out == bytes(p.bytes.begin(), p.bytes.begin() + static_cast<std::ptrdiff_t>(pos)));
  }
}

TEST_CASE("sender and receiver caches agree") {
  atom_cache_sender tx;
  atom_cache_receiver rx;
  std::vector<atom> atoms;
  for (int i = 0; i < 255; ++i) atoms.push_back(atom("atom_" + std::to_string(i)));
  std::string longtext;
  for (int i = 0; i < 200; ++i) longtext += "\xc3\xa4";  // 200 x a-umlaut: 400 bytes
  atoms.push_back(atom(longtext));
  for (int round = 0; round < 3; ++round) {
    for (std::size_t count : {1u, 2u, 3u, 254u, 255u}) {
      std::vector<header_ref> refs;
      for (std::size_t i = 0; i < count; ++i)
        refs.push_back(tx.reference(atoms[(i * 7 + round * 31) % atoms.size()]));
      bytes pkt{131, header_normal};
      REQUIRE(append_header_refs(pkt, refs));
      pkt.push_back(106);
      auto h = parse_header(pkt, rx, true);
      REQUIRE(h);
      REQUIRE(h->atoms.size() == count);
      for (std::size_t i = 0; i < count; ++i) CHECK(h->atoms[i] == refs[i].value);
      CHECK(h->payload_offset == pkt.size() - 1);
    }
  }
  CHECK(tx.reference(atoms[0]).is_new == false);
  tx.clear();
  CHECK(tx.reference(atoms[0]).is_new == true);
  bytes out;
  std::vector<header_ref> too_many(256, header_ref{atom("x"), 1, true});
  CHECK(append_header_refs(out, too_many).error().code == errc::bad_header);
  CHECK(out.empty());
}

TEST_CASE("malformed headers") {
  atom_cache_receiver cache;
  auto code = [&](bytes b, bool negotiated = true) {
    auto h = parse_header(b, cache, negotiated);
    return h ? std::error_code() : h.error().code;
  };
  CHECK(code({}) == errc::truncated);
  CHECK(code({131}) == errc::truncated);
  CHECK(code({131, 67, 0}) == errc::bad_header);
  CHECK(code({112, 131, 106}) == errc::bad_header);           // pass-through with headers on
  CHECK(code({131, 68, 0, 106}, false) == errc::bad_header);  // header without negotiation
  CHECK(code({131, 68}) == errc::truncated);
  CHECK(code({131, 68, 1}) == errc::truncated);
  CHECK(code({131, 68, 1, 0x00}) == errc::truncated);
  CHECK(code({131, 68, 1, 0x00, 5}) == errc::bad_atom_cache_ref);  // old entry, empty slot
  CHECK(code({131, 68, 1, 0x08, 5, 3, 'a'}) == errc::truncated);
  CHECK(code({131, 68, 1, 0x08, 5, 1, 0xff}) == errc::bad_header);   // invalid UTF-8
  CHECK(code({131, 68, 1, 0x18, 5, 0, 2, 'a'}) == errc::truncated);  // long atoms: u16 length
  CHECK_FALSE(code({131, 68, 1, 0x18, 6, 0, 1, 'a'}));               // ... and complete
  CHECK(code(fragment(69, 1, 0, {0})) == errc::bad_fragment);        // fragment id 0
  CHECK(code({131, 69, 0, 0, 0}) == errc::truncated);

  SECTION("every truncation of a recorded header") {
    auto pkt = test::packets_of("hdr").front().bytes;  // only new entries
    atom_cache_receiver fresh;
    auto full = parse_header(pkt, fresh, true);
    REQUIRE(full);
    for (std::size_t n = 0; n < full->payload_offset; ++n) {
      atom_cache_receiver c;
      auto h = parse_header(std::span(pkt).first(n), c, true);
      REQUIRE(h.has_error());
      CHECK(h.error().code == errc::truncated);
    }
  }
  SECTION("a reference to a slot the peer never defined") {
    message_receiver r({.headers_negotiated = true});
    auto again = test::line_bytes("hdr", "atom_cache_again");
    auto m = r.on_packet(again);
    REQUIRE(m.has_error());
    CHECK(m.error().code == errc::bad_atom_cache_ref);
  }
}

TEST_CASE("fragment reassembly enforces OTP's rules") {
  bytes first = fragment(69, 7, 3, {0, 104, 0});
  bytes mid = fragment(70, 7, 2, {1, 2, 3});
  bytes last = fragment(70, 7, 1, {4, 5});
  auto fails = [](message_receiver& r, const bytes& b, errc e) {
    auto m = r.on_packet(b);
    return m.has_error() && m.error().code == e;
  };
  SECTION("in order") {
    message_receiver r({.headers_negotiated = true});
    REQUIRE(r.on_packet(first).value() == std::nullopt);
    REQUIRE(r.on_packet(mid).value() == std::nullopt);
    auto m = r.on_packet(last).value();
    REQUIRE(m);
    CHECK(bytes(m->bytes.begin() + static_cast<std::ptrdiff_t>(m->offset), m->bytes.end()) ==
          bytes{104, 0, 1, 2, 3, 4, 5});
  }
  SECTION("a single fragment is a whole message") {
    message_receiver r({.headers_negotiated = true});
    auto m = r.on_packet(fragment(69, 9, 1, {0, 104, 0})).value();
    REQUIRE(m);
    CHECK(r.open_sequences() == 0);
  }
  SECTION("continuation without a start") {
    message_receiver r({.headers_negotiated = true});
    CHECK(fails(r, mid, errc::bad_fragment));
  }
  SECTION("out of order") {
    message_receiver r({.headers_negotiated = true});
    REQUIRE(r.on_packet(first));
    CHECK(fails(r, last, errc::bad_fragment));
  }
  SECTION("sequence id reused while open") {
    message_receiver r({.headers_negotiated = true});
    REQUIRE(r.on_packet(first));
    CHECK(fails(r, first, errc::bad_fragment));
  }
  SECTION("sequences interleave") {
    message_receiver r({.headers_negotiated = true});
    REQUIRE(r.on_packet(first).value() == std::nullopt);
    REQUIRE(r.on_packet(fragment(69, 8, 2, {0, 104, 1})).value() == std::nullopt);
    REQUIRE(r.on_packet(mid).value() == std::nullopt);
    auto m8 = r.on_packet(fragment(70, 8, 1, {9})).value();
    REQUIRE(m8);
    CHECK(m8->bytes.back() == 9);
    auto m7 = r.on_packet(last).value();
    REQUIRE(m7);
    CHECK(r.open_sequences() == 0);
    // A finished sequence id may start again.
    REQUIRE(r.on_packet(first).value() == std::nullopt);
  }
  SECTION("memory bound") {
    message_receiver r({.headers_negotiated = true, .max_reassembly_bytes = 30});
    REQUIRE(r.on_packet(first));  // 21 bytes held
    CHECK(fails(r, fragment(70, 7, 2, bytes(10, 1)), errc::reassembly_limit));
  }
  SECTION("sequence count bound") {
    message_receiver r({.headers_negotiated = true, .max_sequences = 2});
    REQUIRE(r.on_packet(fragment(69, 1, 2, {0, 106})));
    REQUIRE(r.on_packet(fragment(69, 2, 2, {0, 106})));
    CHECK(fails(r, fragment(69, 3, 2, {0, 106}), errc::reassembly_limit));
  }
}

TEST_CASE("hostile input: corrupted recorded packets and random packets") {
  auto pkts = test::packets_of("hdr");
  for (std::size_t k = 0; k < pkts.size(); ++k) {
    const auto& good = pkts[k].bytes;
    const std::size_t limit = std::min<std::size_t>(good.size(), 64);
    for (std::size_t i = 0; i < limit; ++i) {
      message_receiver r({.headers_negotiated = true, .max_reassembly_bytes = 1 << 20});
      for (std::size_t j = 0; j < k; ++j) REQUIRE(r.on_packet(pkts[j].bytes));
      bytes bad = good;
      bad[i] ^= 0xff;
      auto m = r.on_packet(bad);  // any outcome but a crash
      if (m && m->has_value()) CHECK((*m)->offset <= (*m)->bytes.size());
    }
  }
  std::mt19937 rng(99);
  message_receiver r({.headers_negotiated = true, .max_reassembly_bytes = 1 << 16});
  for (int round = 0; round < 20000; ++round) {
    bytes b(rng() % 40);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng() % 4 ? rng() % 8 : rng());
    if (b.size() >= 2) {
      b[0] = 131;
      b[1] = static_cast<std::uint8_t>(68 + rng() % 3);
    }
    auto m = r.on_packet(b);
    if (m && m->has_value()) CHECK((*m)->offset <= (*m)->bytes.size());
    CHECK(r.reassembly_bytes() <= (1u << 16));
  }
}
