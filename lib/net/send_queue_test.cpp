#include "net/send_queue.hpp"
#include "net/dist_header.hpp"

#include <erlnode/dist/header.hpp>
#include <erlnode/node_error.hpp>

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <random>
#include <thread>

using namespace erlnode;
using namespace erlnode::net::detail;

namespace {
struct packet {
  std::vector<std::uint8_t> bytes;
};
// Concatenates a batch and splits it into packets (u32 length each).
std::vector<packet> packets_of(const send_queue::batch& b) {
  std::vector<std::uint8_t> all;
  b.for_each_buffer([&](const std::uint8_t* p, std::size_t n) { all.insert(all.end(), p, p + n); });
  std::vector<packet> out;
  std::size_t i = 0;
  while (i + 4 <= all.size()) {
    std::size_t len =
        (std::size_t{all[i]} << 24) | (all[i + 1] << 16) | (all[i + 2] << 8) | all[i + 3];
    REQUIRE(i + 4 + len <= all.size());
    out.push_back({std::vector<std::uint8_t>(all.begin() + i + 4, all.begin() + i + 4 + len)});
    i += 4 + len;
  }
  CHECK(i == all.size());
  return out;
}
out_message msg(std::size_t ctl, std::size_t payload, std::uint64_t sender, std::uint8_t fill = 1) {
  out_message m;
  m.data.assign(ctl + payload, fill);
  m.ctl_size = ctl;
  m.sender = sender;
  return m;
}
send_queue::cache_writer no_atoms() {
  return [](std::span<const atom> a, std::vector<std::uint8_t>& out) {
    out.push_back(static_cast<std::uint8_t>(a.size()));
  };
}
}  // namespace

TEST_CASE("pass-through packets: u32 length, 112, the terms") {
  send_queue q(wire_mode::pass_through, {}, no_atoms());
  out_message m;
  m.data = {131, 104, 0};
  q.push(std::move(m));
  send_queue::batch b;
  REQUIRE(q.next_batch(b));
  auto ps = packets_of(b);
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].bytes == std::vector<std::uint8_t>{112, 131, 104, 0});
  q.batch_done(b);
  CHECK(q.bytes() == 0);
  CHECK(!q.next_batch(b));
}

TEST_CASE("ticks go first, as empty packets") {
  send_queue q(wire_mode::header, {}, no_atoms());
  q.push(msg(3, 0, 0));
  q.push_tick();
  send_queue::batch b;
  REQUIRE(q.next_batch(b));
  auto ps = packets_of(b);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].bytes.empty());
  CHECK(ps[1].bytes == std::vector<std::uint8_t>{131, 68, 0, 1, 1, 1});
}

TEST_CASE("large messages are fragmented and interleaved with other senders' messages") {
  send_queue::limits lim;
  lim.fragment_size = 100;
  send_queue q(wire_mode::fragments, lim, no_atoms());
  q.push(msg(5, 250, 1, 7));  // 3 fragments
  q.push(msg(2, 10, 2, 8));   // another sender: goes between the fragments
  q.push(msg(2, 10, 1, 9));   // same sender: waits for the last fragment
  std::vector<packet> all;
  send_queue::batch b;
  while (q.next_batch(b)) {
    auto ps = packets_of(b);
    all.insert(all.end(), ps.begin(), ps.end());
    q.batch_done(b);
  }
  REQUIRE(all.size() == 5);
  // 131,69, seq, count 3, atom cache part (0), ctl 5 bytes + 100 payload
  CHECK(all[0].bytes[1] == 69);
  CHECK(all[0].bytes[17] == 3);
  CHECK(all[0].bytes.size() == 18 + 1 + 5 + 100);
  CHECK(all[1].bytes[1] == 68);
  CHECK(all[1].bytes.back() == 8);
  CHECK(all[2].bytes[1] == 70);
  CHECK(all[2].bytes[17] == 2);
  CHECK(all[3].bytes[1] == 70);
  CHECK(all[3].bytes[17] == 1);
  CHECK(all[3].bytes.size() == 18 + 50);
  CHECK(all[4].bytes.back() == 9);  // sender 1's small message after its large one
  CHECK(q.bytes() == 0);
  CHECK(q.packets() == 0);
}

namespace {
// A message whose bytes are partly referenced (binary payloads) rather than copied.
out_message with_refs(std::vector<std::uint8_t>& logical, std::uint64_t sender) {
  // ctl 4 bytes, own 3, ref 150, own 5, ref 7, ref 40 (adjacent), own 2
  out_message m;
  std::vector<std::uint8_t> r1(150), r2(7), r3(40);
  for (std::size_t i = 0; i < r1.size(); ++i) r1[i] = static_cast<std::uint8_t>(100 + i);
  for (std::size_t i = 0; i < r2.size(); ++i) r2[i] = static_cast<std::uint8_t>(30 + i);
  for (std::size_t i = 0; i < r3.size(); ++i) r3[i] = static_cast<std::uint8_t>(60 + i);
  binary b1(r1), b2(r2), b3(r3);
  m.keep = tuple{b1, b2, b3};
  m.data = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  m.ctl_size = 4;
  m.sender = sender;
  m.refs = {{7, b1.data(), b1.size()}, {12, b2.data(), b2.size()}, {12, b3.data(), b3.size()}};
  m.ref_bytes = 197;
  logical = {1, 2, 3, 4, 5, 6, 7};
  logical.insert(logical.end(), r1.begin(), r1.end());
  logical.insert(logical.end(), {8, 9, 10, 11, 12});
  logical.insert(logical.end(), r2.begin(), r2.end());
  logical.insert(logical.end(), r3.begin(), r3.end());
  logical.insert(logical.end(), {13, 14});
  return m;
}
}  // namespace

TEST_CASE("referenced payload bytes go out in place, whole or split into fragments") {
  std::vector<std::uint8_t> logical;
  for (std::size_t fs : {1000, 100, 37, 7, 1}) {
    CAPTURE(fs);
    send_queue::limits lim;
    lim.fragment_size = fs;
    send_queue q(fs == 1000 ? wire_mode::header : wire_mode::fragments, lim, no_atoms());
    q.push(with_refs(logical, 1));  // the keep term is the queue's only reference now
    CHECK(q.bytes() == logical.size());
    std::vector<std::uint8_t> got;
    send_queue::batch b;
    std::size_t packets = 0;
    while (q.next_batch(b)) {
      for (auto& p : packets_of(b)) {
        ++packets;
        const std::size_t head = p.bytes[1] == 68 ? 3 : 19;  // 131,68,N or 131,69/70,seq,n(,N)
        const std::size_t skip = p.bytes[1] == 70 ? 18 : head;
        got.insert(got.end(), p.bytes.begin() + static_cast<std::ptrdiff_t>(skip), p.bytes.end());
      }
      q.batch_done(b);
    }
    CHECK(got == logical);
    CHECK(packets == (fs == 1000 ? 1 : (logical.size() - 4 + fs - 1) / fs));
    CHECK(q.bytes() == 0);
  }
}

TEST_CASE("a full queue parks async senders until the writer drains it") {
  boost::asio::io_context io;
  send_queue::limits lim;
  lim.max_bytes = 100;
  send_queue q(wire_mode::header, lim, no_atoms());
  q.push(msg(0, 150, 0));
  int done = 0;
  std::error_code got = make_error_code(node_errc::timeout);
  q.push_async(msg(0, 10, 0), net::any_completion<std::error_code>(
                                  [&](std::error_code ec) {
                                    ++done;
                                    got = ec;
                                  },
                                  io.get_executor()));
  io.poll();
  CHECK(done == 0);
  CHECK(q.packets() == 1);
  send_queue::batch b;
  REQUIRE(q.next_batch(b));
  q.batch_done(b);
  io.restart();
  io.poll();
  CHECK(done == 1);
  CHECK(!got);
  CHECK(q.packets() == 1);

  q.push(msg(0, 150, 0));
  q.push_async(msg(0, 10, 0), net::any_completion<std::error_code>(
                                  [&](std::error_code ec) {
                                    ++done;
                                    got = ec;
                                  },
                                  io.get_executor()));
  q.close();
  io.restart();
  io.poll();
  CHECK(done == 2);
  CHECK(got == node_errc::closed);
}

TEST_CASE("atom cache references decode in write order") {
  dist::atom_cache_sender oc;
  send_queue q(wire_mode::header, {}, [&](std::span<const atom> a, std::vector<std::uint8_t>& out) {
    std::vector<dist::header_ref> refs;
    for (atom x : a) refs.push_back(oc.reference(x));
    REQUIRE(dist::append_header_refs(out, refs));
  });
  out_message m = msg(1, 0, 0);
  m.atoms = {atom("hello")};
  out_message m2 = m;
  q.push(std::move(m));
  q.push(std::move(m2));
  send_queue::batch b;
  REQUIRE(q.next_batch(b));
  auto ps = packets_of(b);
  REQUIRE(ps.size() == 2);
  dist::atom_cache_receiver ic;
  auto h1 = dist::parse_header(ps[0].bytes, ic, true);
  REQUIRE(h1);
  CHECK(h1->atoms == std::vector<atom>{atom("hello")});
  CHECK(ps[1].bytes.size() < ps[0].bytes.size());  // second time: a reference only
  auto h2 = dist::parse_header(ps[1].bytes, ic, true);
  REQUIRE(h2);
  CHECK(h2->atoms == std::vector<atom>{atom("hello")});
}

TEST_CASE("a large message in the queue does not hold up small senders") {
  send_queue::limits lim;
  lim.max_bytes = 1000;
  lim.fragment_size = 100;
  send_queue q(wire_mode::fragments, lim, no_atoms());
  q.push(msg(0, 10'000, 1));  // fragmented: counts against the whole-queue bound only
  CHECK(q.bytes() == 10'000);
  CHECK(q.push_blocking(msg(0, 50, 2)));  // returns at once
  // Another large one waits (the whole queue is over the bound) until the writer drains it.
  std::atomic<bool> pushed{false};
  std::thread t([&] {
    CHECK(q.push_blocking(msg(0, 5'000, 3)));
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(!pushed);
  send_queue::batch b;
  while (!pushed && q.next_batch(b)) q.batch_done(b);
  t.join();
  CHECK(pushed);
}

// Chunks (framed at push time) and items (framed when taken) mixed with fragmented messages,
// many senders and an atom cache whose slots keep being reassigned: the peer must read every
// message whole, with its own atoms, in each sender's order.
TEST_CASE("mixed small, fragmented and cached-atom messages arrive intact and in order") {
  dist::atom_cache_sender oc;
  send_queue::limits lim;
  lim.fragment_size = 100;
  lim.max_buffers = 16;
  send_queue q(wire_mode::fragments, lim,
               [&](std::span<const atom> a, std::vector<std::uint8_t>& out) {
                 std::vector<dist::header_ref> refs;
                 for (atom x : a) refs.push_back(oc.reference(x));
                 REQUIRE(dist::append_header_refs(out, refs));
               });
  std::mt19937 rng(7);
  std::map<std::uint32_t, std::vector<atom>> sent_atoms;
  std::map<std::uint32_t, std::size_t> sent_size;
  std::map<std::uint64_t, std::uint32_t> last_seen;  // sender -> last id read
  dist::atom_cache_receiver ic;
  reassembler ra(1u << 20);
  std::size_t got = 0;
  auto read_message = [&](std::span<const std::uint8_t> data, const std::vector<atom>& atoms) {
    REQUIRE(data.size() >= 9);
    std::uint32_t id = (std::uint32_t{data[0]} << 24) | (data[1] << 16) | (data[2] << 8) | data[3];
    std::uint64_t sender = data[4];
    REQUIRE(sent_atoms.count(id));
    CHECK(atoms == sent_atoms[id]);
    CHECK(data.size() == sent_size[id]);
    CHECK(data.back() == static_cast<std::uint8_t>(id));
    if (sender != 0) {  // no order is promised without a key
      auto l = last_seen.find(sender);
      if (l != last_seen.end()) CHECK(l->second < id);
      last_seen[sender] = id;
    }
    ++got;
  };
  auto drain = [&](int batches) {
    send_queue::batch b;
    for (int i = 0; i < batches && q.next_batch(b); ++i) {
      for (auto& p : packets_of(b)) {
        auto h = dist::parse_header(p.bytes, ic, true);
        REQUIRE(h);
        auto rest = std::span<const std::uint8_t>(p.bytes).subspan(h->payload_offset);
        if (h->kind == dist::header_kind::normal) {
          read_message(rest, h->atoms);
        } else {
          auto r = h->kind == dist::header_kind::fragment_start
                       ? ra.start(h->sequence_id, h->fragment_id, h->atoms, rest)
                       : ra.next(h->sequence_id, h->fragment_id, rest);
          REQUIRE(r);
          if (*r) read_message(*(*r)->data, (*r)->atoms);
        }
      }
      q.batch_done(b);
    }
  };
  const std::uint32_t n = 3000;
  for (std::uint32_t id = 1; id <= n; ++id) {
    const std::uint64_t sender = rng() % 6;  // 0: no ordering key
    const std::size_t size = rng() % 10 == 0 ? 150 + rng() % 400 : 9 + rng() % 60;
    out_message m;
    m.sender = sender;
    m.ctl_size = 5;
    m.data.assign(size, static_cast<std::uint8_t>(id));
    for (int i = 0; i < 4; ++i) m.data[i] = static_cast<std::uint8_t>(id >> (24 - 8 * i));
    m.data[4] = static_cast<std::uint8_t>(sender);
    for (std::uint32_t i = 0, k = rng() % 4; i < k; ++i) {
      std::string name = "a";
      name += std::to_string(rng() % 5000);
      atom a(name);
      if (std::find(m.atoms.begin(), m.atoms.end(), a) == m.atoms.end()) m.atoms.push_back(a);
    }
    sent_atoms[id] = m.atoms;
    sent_size[id] = size;
    if (rng() % 2)
      q.push(std::move(m));
    else
      CHECK(q.push_copy(m, false));
    if (rng() % 8 == 0) drain(1 + static_cast<int>(rng() % 3));
  }
  drain(1 << 20);
  CHECK(got == n);
  CHECK(q.bytes() == 0);
  CHECK(q.packets() == 0);
}
