#include <erlnode/dist/crypto.hpp>
#include <erlnode/dist/handshake.hpp>

#include "dist/test_vectors.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>

using namespace erlnode;
using namespace erlnode::dist;

namespace {
using bytes = std::vector<std::uint8_t>;

bytes frame(std::string_view payload, std::size_t prefix = 2) {
  bytes b;
  if (prefix == 4) {
    b.push_back(static_cast<std::uint8_t>(payload.size() >> 24));
    b.push_back(static_cast<std::uint8_t>(payload.size() >> 16));
  }
  b.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
  b.push_back(static_cast<std::uint8_t>(payload.size()));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
std::string be(std::uint64_t v, int n) {
  std::string s;
  for (int i = n - 1; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}
std::string name_msg(dflags f, std::uint32_t creation, std::string_view name) {
  std::string s(1, 'N');
  s += be(f, 8);
  s += be(creation, 4);
  s += be(name.size(), 2);
  s += name;
  return s;
}
std::string challenge_msg(dflags f, std::uint32_t ch, std::uint32_t creation,
                          std::string_view name) {
  std::string s(1, 'N');
  s += be(f, 8);
  s += be(ch, 4);
  s += be(creation, 4);
  s += be(name.size(), 2);
  s += name;
  return s;
}
std::string dig(std::string_view cookie, std::uint32_t ch) {
  auto d = cookie_digest(cookie, ch);
  return std::string(d.begin(), d.end());
}

// Deterministic challenges so transcripts can be replayed.
handshake_crypto fixed_crypto(std::uint32_t ch) {
  return {&cookie_digest, [ch] { return ch; }};
}

handshake_config initiator_cfg() {
  handshake_config c;
  c.role = handshake_role::initiator;
  c.this_node = "cpp@host";
  c.this_creation = 0x11223344;
  c.cookie = "secret";
  c.peer_node = "beam@host";
  c.crypto = fixed_crypto(1111);
  return c;
}
handshake_config acceptor_cfg() {
  handshake_config c;
  c.role = handshake_role::acceptor;
  c.this_node = "beam@host";
  c.this_creation = 0x55667788;
  c.cookie = "secret";
  c.crypto = fixed_crypto(2222);
  return c;
}

// Feeds `in` to h in chunks of the given sizes (the last chunk takes the rest), answering
// decisions with `status` / `alive`. Returns the bytes h consumed.
std::size_t drive(handshake& h, const bytes& in, std::vector<std::size_t> cuts,
                  handshake_status status = handshake_status::ok, bool alive = true) {
  std::size_t pos = 0;
  cuts.push_back(in.size());
  for (std::size_t cut : cuts) {
    std::size_t limit = std::max(pos, std::min(cut, in.size()));
    for (;;) {
      pos += h.feed(std::span(in).subspan(pos, limit - pos));
      if (h.current_state() == handshake::state::await_status) {
        REQUIRE(h.decide(status));
      } else if (h.current_state() == handshake::state::await_alive) {
        REQUIRE(h.answer_alive(alive));
      } else {
        break;
      }
    }
  }
  return pos;
}

std::vector<handshake_event> events(handshake& h) {
  std::vector<handshake_event> v;
  while (auto e = h.poll()) v.push_back(std::move(*e));
  return v;
}
std::optional<handshake_failed> failure(const std::vector<handshake_event>& ev) {
  for (auto& e : ev)
    if (auto* f = std::get_if<handshake_failed>(&e)) return *f;
  return std::nullopt;
}
std::optional<handshake_done> completion(const std::vector<handshake_event>& ev) {
  for (auto& e : ev)
    if (auto* d = std::get_if<handshake_done>(&e)) return *d;
  return std::nullopt;
}

// Runs two state machines against each other in memory until neither has output.
void pump(handshake& a, handshake& b, handshake_status status = handshake_status::ok) {
  for (int i = 0; i < 20; ++i) {
    bytes ab = std::exchange(a.output(), {});
    bytes ba = std::exchange(b.output(), {});
    if (ab.empty() && ba.empty()) return;
    if (!ab.empty()) CHECK(drive(b, ab, {}, status) == ab.size());
    if (!ba.empty()) CHECK(drive(a, ba, {}, status) == ba.size());
  }
}

// The acceptor's side of a full exchange with a fixed initiator, as raw bytes.
struct transcript {
  bytes to_acceptor;   // send_name, challenge_reply
  bytes to_initiator;  // status, challenge, ack
};
transcript run_pair(handshake_config ic, handshake_config ac) {
  handshake a(ic), b(ac);
  REQUIRE(a.start());
  REQUIRE(b.start());
  transcript t;
  for (int i = 0; i < 20; ++i) {
    bytes ab = std::exchange(a.output(), {});
    bytes ba = std::exchange(b.output(), {});
    if (ab.empty() && ba.empty()) break;
    t.to_acceptor.insert(t.to_acceptor.end(), ab.begin(), ab.end());
    t.to_initiator.insert(t.to_initiator.end(), ba.begin(), ba.end());
    drive(b, ab, {});
    drive(a, ba, {});
  }
  REQUIRE(a.is_done());
  REQUIRE(b.is_done());
  return t;
}
}  // namespace

TEST_CASE("cookie digest matches erlang:md5 vectors recorded from a live erl") {
  std::ifstream in(ERLNODE_SOURCE_DIR "/lib/dist/testdata/digests.txt");
  REQUIRE(in);
  std::string cookie, hex;
  std::uint32_t ch = 0;
  int n = 0;
  while (in >> cookie >> ch >> hex) {
    if (cookie == "-") cookie.clear();
    auto d = cookie_digest(cookie, ch);
    std::string got;
    char buf[3];
    for (auto b : d) {
      std::snprintf(buf, sizeof buf, "%02X", b);
      got += buf;
    }
    CHECK(got == hex);
    ++n;
  }
  CHECK(n >= 6);
  CHECK((random_challenge() != random_challenge() || random_challenge() != random_challenge()));
}

TEST_CASE("initiator and acceptor complete a handshake") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  ic.crypto = openssl_crypto();
  ac.crypto = openssl_crypto();
  ic.this_flags = hidden_profile;
  ac.this_flags = visible_profile & ~flag::alias;
  handshake a(ic), b(ac);
  REQUIRE(a.start());
  REQUIRE(b.start());
  CHECK(a.current_state() == handshake::state::recv_status);
  CHECK(b.current_state() == handshake::state::recv_name);
  pump(a, b);
  auto ea = events(a), eb = events(b);
  REQUIRE(completion(ea));
  REQUIRE(eb.size() == 2);
  auto& decision = std::get<need_status_decision>(eb[0]);
  CHECK(decision.peer_node == "cpp@host");
  CHECK(decision.peer_creation == 0x11223344);
  CHECK(decision.peer_flags == hidden_profile);
  CHECK_FALSE(decision.dynamic_name);
  auto da = completion(ea);
  auto db = completion(eb);
  REQUIRE(db);
  CHECK(da->peer_node == "beam@host");
  CHECK(da->peer_creation == 0x55667788);
  CHECK(db->peer_node == "cpp@host");
  CHECK(db->peer_creation == 0x11223344);
  CHECK(da->negotiated_flags == (hidden_profile & ~flag::alias));
  CHECK(db->negotiated_flags == da->negotiated_flags);
  CHECK(da->this_node == "cpp@host");
  CHECK(da->this_creation == 0x11223344);
}

TEST_CASE("the wire format of every handshake message") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  ic.this_flags = mandatory_25 | flag::spawn;
  ac.this_flags = mandatory_25;
  auto t = run_pair(ic, ac);
  bytes want_a = frame(name_msg(mandatory_25 | flag::spawn, 0x11223344, "cpp@host"));
  auto r = frame("r" + be(1111, 4) + dig("secret", 2222));
  want_a.insert(want_a.end(), r.begin(), r.end());
  CHECK(t.to_acceptor == want_a);
  bytes want_b = frame("sok");
  auto c = frame(challenge_msg(mandatory_25, 2222, 0x55667788, "beam@host"));
  auto ack = frame("a" + dig("secret", 1111));
  want_b.insert(want_b.end(), c.begin(), c.end());
  want_b.insert(want_b.end(), ack.begin(), ack.end());
  CHECK(t.to_initiator == want_b);
}

TEST_CASE("handshake input split at every byte gives the same result") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  auto t = run_pair(ic, ac);
  SECTION("acceptor") {
    for (std::size_t cut = 0; cut <= t.to_acceptor.size(); ++cut) {
      handshake b(ac);
      REQUIRE(b.start());
      CHECK(drive(b, t.to_acceptor, {cut}) == t.to_acceptor.size());
      CHECK(b.output() == t.to_initiator);
      CHECK(completion(events(b)));
    }
    handshake b(ac);  // byte by byte
    REQUIRE(b.start());
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < t.to_acceptor.size(); ++i) cuts.push_back(i);
    CHECK(drive(b, t.to_acceptor, cuts) == t.to_acceptor.size());
    CHECK(b.is_done());
  }
  SECTION("initiator") {
    for (std::size_t cut = 0; cut <= t.to_initiator.size(); ++cut) {
      handshake a(ic);
      REQUIRE(a.start());
      CHECK(drive(a, t.to_initiator, {cut}) == t.to_initiator.size());
      CHECK(a.output() == t.to_acceptor);
      CHECK(completion(events(a)));
    }
  }
}

TEST_CASE("bytes after the last handshake message are left for the connection") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  auto t = run_pair(ic, ac);
  bytes in = t.to_initiator;
  for (std::uint8_t b : {0, 0, 0, 0, 9, 9}) in.push_back(b);
  handshake a(ic);
  REQUIRE(a.start());
  CHECK(drive(a, in, {}) == t.to_initiator.size());
  CHECK(a.is_done());
  CHECK(a.feed(std::span(in).subspan(t.to_initiator.size())) == 0);
}

TEST_CASE("4-byte length prefixes for TLS distribution") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  ic.length_prefix = ac.length_prefix = 4;
  auto t = run_pair(ic, ac);
  CHECK(t.to_initiator[0] == 0);
  CHECK(t.to_initiator[1] == 0);
  CHECK(t.to_initiator[2] == 0);
  CHECK(t.to_initiator[3] == 3);  // "sok"
  CHECK(t.to_initiator[4] == 's');
}

TEST_CASE("a wrong cookie fails on both sides") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  ic.cookie = "wrong";
  handshake a(ic), b(ac);
  REQUIRE(a.start());
  REQUIRE(b.start());
  pump(a, b);
  auto f = failure(events(b));
  REQUIRE(f);
  CHECK(f->err.code == errc::bad_digest);
  CHECK(f->reason.find("cpp@host") != std::string::npos);
  CHECK(b.output().empty());  // no ack is sent
  CHECK(a.current_state() == handshake::state::recv_ack);

  // The initiator detects a bad ack too.
  handshake a2(initiator_cfg());
  REQUIRE(a2.start());
  bytes in = frame("sok");
  auto c = frame(challenge_msg(mandatory_25, 2222, 1, "beam@host"));
  auto ack = frame("a" + dig("other", 1111));
  in.insert(in.end(), c.begin(), c.end());
  in.insert(in.end(), ack.begin(), ack.end());
  drive(a2, in, {});
  f = failure(events(a2));
  REQUIRE(f);
  CHECK(f->err.code == errc::bad_digest);
}

TEST_CASE("acceptor takes a per-peer cookie once the peer's name is known") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  ic.cookie = "for-cpp-only";
  std::string asked;
  ac.cookie_for = [&](std::string_view peer) {
    asked = std::string(peer);
    return peer == "cpp@host" ? std::string("for-cpp-only") : std::string();
  };
  handshake a(ic), b(ac);
  REQUIRE(a.start());
  REQUIRE(b.start());
  pump(a, b);
  CHECK(asked == "cpp@host");
  CHECK(completion(events(a)));
  CHECK(completion(events(b)));

  // Another peer (no per-peer cookie) is held to the node cookie.
  ac.cookie_for = [](std::string_view) { return std::string(); };
  handshake a2(ic), b2(ac);
  REQUIRE(a2.start());
  REQUIRE(b2.start());
  pump(a2, b2);
  auto f = failure(events(b2));
  REQUIRE(f);
  CHECK(f->err.code == errc::bad_digest);
}

TEST_CASE("acceptor refuses a peer missing mandatory flags with not_allowed") {
  auto ac = acceptor_cfg();
  ac.required_flags = mandatory_26;
  handshake b(ac);
  REQUIRE(b.start());
  auto in = frame(name_msg(mandatory_25 & ~flag::big_creation, 5, "old@host"));
  CHECK(drive(b, in, {}) == in.size());
  auto ev = events(b);
  auto f = failure(ev);
  REQUIRE(f);
  CHECK(f->err.code == errc::missing_mandatory_flags);
  CHECK(f->reason.find("BIG_CREATION, UNLINK_ID, V4_NC") != std::string::npos);
  CHECK(f->reason.find("old@host") != std::string::npos);
  CHECK(b.output() == frame("snot_allowed"));
  CHECK(b.has_failed());
}

TEST_CASE("the digest bit alone satisfies the OTP 25 mandatory set") {
  handshake b(acceptor_cfg());
  REQUIRE(b.start());
  auto in = frame(name_msg(flag::mandatory_25_digest, 5, "new@host"));
  drive(b, in, {});
  auto ev = events(b);
  REQUIRE(ev.size() == 1);
  CHECK(std::holds_alternative<need_status_decision>(ev[0]));
  bytes st = frame("sok");  // the challenge follows in the same output
  CHECK(std::equal(st.begin(), st.end(), b.output().begin()));
}

TEST_CASE("initiator aborts when the acceptor lacks mandatory flags") {
  handshake a(initiator_cfg());
  REQUIRE(a.start());
  a.output().clear();
  bytes in = frame("sok");
  auto c = frame(challenge_msg(mandatory_25 & ~flag::handshake_23, 1, 1, "beam@host"));
  in.insert(in.end(), c.begin(), c.end());
  drive(a, in, {});
  auto f = failure(events(a));
  REQUIRE(f);
  CHECK(f->err.code == errc::missing_mandatory_flags);
  CHECK(f->reason.find("HANDSHAKE_23") != std::string::npos);
  CHECK(a.output().empty());
}

TEST_CASE("acceptor status decisions") {
  auto ac = acceptor_cfg();
  auto name = frame(name_msg(hidden_profile, 5, "cpp@host"));
  SECTION("nok and not_allowed refuse") {
    for (auto s : {handshake_status::nok, handshake_status::not_allowed}) {
      handshake b(ac);
      REQUIRE(b.start());
      drive(b, name, {}, s);
      CHECK(b.output() == frame("s" + std::string(status_text(s))));
      auto f = failure(events(b));
      REQUIRE(f);
      CHECK(f->err.code == errc::handshake_refused);
    }
  }
  SECTION("ok_simultaneous continues") {
    handshake b(ac);
    REQUIRE(b.start());
    drive(b, name, {}, handshake_status::ok_simultaneous);
    CHECK(b.current_state() == handshake::state::recv_reply);
    bytes st = frame("sok_simultaneous");
    CHECK(std::equal(st.begin(), st.end(), b.output().begin()));
  }
  SECTION("alive waits for true or false") {
    for (std::string reply : {"strue", "sfalse", "smaybe", "x"}) {
      handshake b(ac);
      REQUIRE(b.start());
      drive(b, name, {}, handshake_status::alive);
      CHECK(b.output() == frame("salive"));
      CHECK(b.current_state() == handshake::state::recv_alive_reply);
      b.output().clear();
      auto r = frame(reply);
      CHECK(b.feed(r) == r.size());
      if (reply == "strue") {
        CHECK(b.current_state() == handshake::state::recv_reply);
        CHECK(b.output() == frame(challenge_msg(hidden_profile, 2222, 0x55667788, "beam@host")));
      } else {
        auto f = failure(events(b));
        REQUIRE(f);
        CHECK(f->err.code == (reply == "sfalse" ? errc::status_alive_refused : errc::bad_status));
      }
    }
  }
  SECTION("decisions in the wrong state") {
    handshake b(ac);
    CHECK(b.decide(handshake_status::ok).error().code == errc::bad_state);
    REQUIRE(b.start());
    CHECK(b.decide(handshake_status::ok).error().code == errc::bad_state);
    CHECK(b.answer_alive(true).error().code == errc::bad_state);
    CHECK(b.start().error().code == errc::bad_state);
    b.feed(name);
    CHECK(b.decide(handshake_status::named).error().code == errc::bad_state);
    CHECK(b.decide_named("x@host", 1).error().code == errc::bad_state);  // not dynamic
    CHECK(b.decide(handshake_status::ok));
    CHECK(b.decide(handshake_status::ok).error().code == errc::bad_state);
  }
}

TEST_CASE("dynamic names (DFLAG_NAME_ME)") {
  auto ic = initiator_cfg();
  ic.this_node = "host";
  ic.this_flags = hidden_profile | flag::name_me;
  auto ac = acceptor_cfg();
  handshake a(ic), b(ac);
  REQUIRE(a.start());
  REQUIRE(b.start());
  CHECK(a.output() == frame(name_msg(hidden_profile | flag::name_me, 0, "host")));
  CHECK(b.feed(a.output()) == a.output().size());
  a.output().clear();
  auto ev = events(b);
  REQUIRE(ev.size() == 1);
  auto& d = std::get<need_status_decision>(ev[0]);
  CHECK(d.dynamic_name);
  CHECK(d.peer_node == "host");
  CHECK(b.decide(handshake_status::ok).error().code == errc::bad_state);
  CHECK(b.decide_named("X@otherhost", 9).error().code == errc::invalid_config);
  CHECK(b.decide_named("X@host", 0).error().code == errc::invalid_config);
  REQUIRE(b.decide_named("ABC123@host", 0x0a0b0c0d));
  bytes named = frame("snamed:" + be(11, 2) + "ABC123@host" + be(0x0a0b0c0d, 4));
  CHECK(std::equal(named.begin(), named.end(), b.output().begin()));
  pump(a, b);
  auto da = completion(events(a));
  auto db = completion(events(b));
  REQUIRE(da);
  REQUIRE(db);
  CHECK(da->this_node == "ABC123@host");
  CHECK(da->this_creation == 0x0a0b0c0d);
  CHECK(db->peer_node == "ABC123@host");
  CHECK(db->peer_creation == 0x0a0b0c0d);

  SECTION("an initiator asking for a name refuses a plain ok") {
    handshake a2(ic);
    REQUIRE(a2.start());
    auto in = frame("sok");
    a2.feed(in);
    auto f = failure(events(a2));
    REQUIRE(f);
    CHECK(f->err.code == errc::bad_status);
  }
  SECTION("named: with another host is refused") {
    handshake a2(ic);
    REQUIRE(a2.start());
    auto in = frame("snamed:" + be(7, 2) + "X@other" + be(1, 4));
    a2.feed(in);
    auto f = failure(events(a2));
    REQUIRE(f);
    CHECK(f->err.code == errc::bad_node_name);
  }
  SECTION("named: for a static name is refused") {
    handshake a2(initiator_cfg());
    REQUIRE(a2.start());
    auto in = frame("snamed:" + be(6, 2) + "X@host" + be(1, 4));
    a2.feed(in);
    auto f = failure(events(a2));
    REQUIRE(f);
    CHECK(f->err.code == errc::bad_status);
  }
}

TEST_CASE("initiator status replies") {
  struct want {
    std::string status;
    errc code;
  };
  for (auto w : {want{"snok", errc::status_nok}, want{"snot_allowed", errc::status_not_allowed},
                 want{"sbogus", errc::bad_status}, want{"s", errc::bad_status},
                 want{"xok", errc::bad_handshake_message}}) {
    handshake a(initiator_cfg());
    REQUIRE(a.start());
    auto in = frame(w.status);
    CHECK(a.feed(in) == in.size());
    auto f = failure(events(a));
    REQUIRE(f);
    CHECK(f->err.code == w.code);
  }
  SECTION("alive: the owner chooses") {
    for (bool replace : {true, false}) {
      handshake a(initiator_cfg());
      REQUIRE(a.start());
      a.output().clear();
      auto in = frame("salive");
      CHECK(a.feed(in) == in.size());
      auto ev = events(a);
      REQUIRE(ev.size() == 1);
      CHECK(std::get<need_alive_decision>(ev[0]).peer_node == "beam@host");
      CHECK(a.feed(frame("sok")) == 0);  // nothing consumed while deciding
      REQUIRE(a.answer_alive(replace));
      CHECK(a.output() == frame(replace ? "strue" : "sfalse"));
      CHECK(a.has_failed() == !replace);
    }
  }
}

TEST_CASE("the challenge must name the node dialled") {
  handshake a(initiator_cfg());
  REQUIRE(a.start());
  bytes in = frame("sok");
  auto c = frame(challenge_msg(hidden_profile, 1, 1, "beam@otherhost"));
  in.insert(in.end(), c.begin(), c.end());
  drive(a, in, {});
  auto f = failure(events(a));
  REQUIRE(f);
  CHECK(f->err.code == errc::peer_name_mismatch);
}

TEST_CASE("malformed messages in every receiving state") {
  struct bad {
    std::string payload;
    errc code;
  };
  auto check_all = [](auto make, std::vector<bad> cases, const bytes& prologue) {
    for (auto& c : cases) {
      handshake h = make();
      REQUIRE(h.start());
      if (!prologue.empty()) drive(h, prologue, {});
      events(h);
      auto in = frame(c.payload);
      h.feed(in);
      auto ev = events(h);
      auto f = failure(ev);
      INFO("payload size " << c.payload.size());
      REQUIRE(f);
      CHECK(f->err.code == c.code);
      CHECK(h.has_failed());
      CHECK(h.feed(in) == 0);  // dead after failure
    }
  };
  auto good_name = name_msg(hidden_profile, 5, "cpp@host");
  auto good_challenge = challenge_msg(hidden_profile, 9, 5, "beam@host");

  SECTION("acceptor: name") {
    std::vector<bad> cases{
        {"n" + good_name.substr(1), errc::unsupported_version},
        {"X" + good_name.substr(1), errc::bad_handshake_message},
        {name_msg(hidden_profile, 5, "nohost"), errc::bad_node_name},
        {name_msg(hidden_profile, 5, "a@b@c"), errc::bad_node_name},
        {name_msg(hidden_profile | flag::name_me, 0, "a@b"), errc::bad_node_name},
    };
    for (std::size_t n = 1; n < good_name.size(); ++n)
      cases.push_back({good_name.substr(0, n), errc::truncated});
    check_all([] { return handshake(acceptor_cfg()); }, cases, {});
  }
  SECTION("acceptor: challenge reply") {
    std::string good_reply = "r" + be(1111, 4) + dig("secret", 2222);
    std::vector<bad> cases{{good_reply + "x", errc::bad_handshake_message},
                           {"a" + good_reply.substr(1), errc::bad_handshake_message}};
    for (std::size_t n = 1; n < good_reply.size(); ++n)
      cases.push_back({good_reply.substr(0, n), errc::bad_handshake_message});
    check_all([] { return handshake(acceptor_cfg()); }, cases, frame(good_name));
  }
  SECTION("initiator: challenge") {
    std::vector<bad> cases{
        {"n" + good_challenge.substr(1), errc::unsupported_version},
        {"s" + good_challenge.substr(1), errc::bad_handshake_message},
    };
    for (std::size_t n = 1; n < good_challenge.size(); ++n)
      cases.push_back({good_challenge.substr(0, n), errc::truncated});
    check_all([] { return handshake(initiator_cfg()); }, cases, frame("sok"));
  }
  SECTION("initiator: ack") {
    auto pro = frame("sok");
    auto c = frame(good_challenge);
    pro.insert(pro.end(), c.begin(), c.end());
    std::string good_ack = "a" + dig("secret", 1111);
    std::vector<bad> cases{{good_ack + "x", errc::bad_handshake_message},
                           {"r" + good_ack.substr(1), errc::bad_handshake_message}};
    for (std::size_t n = 1; n < good_ack.size(); ++n)
      cases.push_back({good_ack.substr(0, n), errc::bad_handshake_message});
    check_all([] { return handshake(initiator_cfg()); }, cases, pro);
  }
  SECTION("length prefixes") {
    handshake b(acceptor_cfg());
    REQUIRE(b.start());
    bytes zero{0, 0};
    CHECK(b.feed(zero) == 2);
    auto f = failure(events(b));
    REQUIRE(f);
    CHECK(f->err.code == errc::bad_handshake_message);

    auto cfg = acceptor_cfg();
    cfg.max_message_size = 100;
    handshake b2(cfg);
    REQUIRE(b2.start());
    bytes big{0, 101};
    CHECK(b2.feed(big) == 2);
    f = failure(events(b2));
    REQUIRE(f);
    CHECK(f->err.code == errc::message_too_large);
  }
}

TEST_CASE("error offsets point into the handshake stream") {
  handshake a(initiator_cfg());
  REQUIRE(a.start());
  bytes in = frame("sok");
  auto c = frame(challenge_msg(hidden_profile, 1, 1, "beam@host"));
  auto ack = frame("a" + dig("other", 1111));
  in.insert(in.end(), c.begin(), c.end());
  in.insert(in.end(), ack.begin(), ack.end());
  drive(a, in, {});
  auto f = failure(events(a));
  REQUIRE(f);
  CHECK(f->err.offset == in.size() - 16);  // first digest byte of the ack
}

TEST_CASE("configuration is checked by start()") {
  auto bad = [](auto mutate) {
    auto c = initiator_cfg();
    mutate(c);
    handshake h(c);
    auto r = h.start();
    return r.has_error() && r.error().code == errc::invalid_config;
  };
  CHECK(bad([](handshake_config& c) { c.this_creation = 0; }));
  CHECK(bad([](handshake_config& c) { c.this_node = "no_at_sign"; }));
  CHECK(bad([](handshake_config& c) { c.this_node = "bad.alive@host"; }));
  CHECK(bad([](handshake_config& c) { c.crypto.digest = nullptr; }));
  CHECK(bad([](handshake_config& c) { c.crypto.challenge = nullptr; }));
  CHECK(bad([](handshake_config& c) { c.length_prefix = 3; }));
  CHECK(bad([](handshake_config& c) {
    c.role = handshake_role::acceptor;
    c.this_flags |= flag::name_me;
  }));
  CHECK(bad([](handshake_config& c) {
    c.this_flags |= flag::name_me;  // a dynamic name request gives only the host
  }));
  handshake h(initiator_cfg());
  CHECK(h.setup_timeout() == std::chrono::milliseconds(7000));
}

TEST_CASE("handshakes recorded from a live erl replay byte for byte") {
  // scripts/capture-dist-vectors: a fake peer (challenge 0x12345678) connected to a BEAM.
  for (std::string conn : {"pass", "hdr", "old"}) {
    INFO(conn);
    auto name = test::line_bytes(conn, "hs_send_name");
    auto status = test::line_bytes(conn, "hs_status");
    auto challenge = test::line_bytes(conn, "hs_challenge");
    auto reply = test::line_bytes(conn, "hs_reply");
    auto ack = test::line_bytes(conn, "hs_ack");
    auto as_str = [](const bytes& b) { return std::string(b.begin(), b.end()); };
    auto be_at = [](const bytes& b, std::size_t at, std::size_t n) {
      std::uint64_t v = 0;
      for (std::size_t i = 0; i < n; ++i) v = v << 8 | b[at + i];
      return v;
    };
    std::string fake_name = as_str(bytes(name.begin() + 15, name.end()));
    std::string beam_name = as_str(bytes(challenge.begin() + 19, challenge.end()));
    auto beam_challenge = static_cast<std::uint32_t>(be_at(challenge, 9, 4));

    SECTION("our initiator against the BEAM's acceptor messages") {
      handshake_config c;
      c.role = handshake_role::initiator;
      c.this_node = fake_name;
      c.this_creation = 0x00C0FFEE;
      c.this_flags = test::flags_of(conn);
      c.cookie = "capturecookie";
      c.peer_node = beam_name;
      c.crypto = fixed_crypto(0x12345678);
      bytes in = frame(as_str(status));
      for (auto& m : {challenge, ack}) {
        auto f = frame(as_str(m));
        in.insert(in.end(), f.begin(), f.end());
      }
      bytes want = frame(as_str(name));
      auto r = frame(as_str(reply));
      want.insert(want.end(), r.begin(), r.end());
      for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        handshake h(c);
        REQUIRE(h.start());
        CHECK(drive(h, in, {cut}) == in.size());
        CHECK(h.output() == want);
        auto d = completion(events(h));
        REQUIRE(d);
        CHECK(d->peer_node == beam_name);
        CHECK(d->peer_creation == be_at(challenge, 13, 4));
        CHECK(d->negotiated_flags == (test::flags_of(conn) & be_at(challenge, 1, 8)));
      }
    }
    SECTION("our acceptor writes exactly what the BEAM wrote") {
      handshake_config c;
      c.role = handshake_role::acceptor;
      c.this_node = beam_name;
      c.this_creation = static_cast<std::uint32_t>(be_at(challenge, 13, 4));
      c.this_flags = be_at(challenge, 1, 8);
      c.cookie = "capturecookie";
      c.crypto = fixed_crypto(beam_challenge);
      bytes in = frame(as_str(name));
      auto r = frame(as_str(reply));
      in.insert(in.end(), r.begin(), r.end());
      bytes want = frame(as_str(status));
      for (auto& m : {challenge, ack}) {
        auto f = frame(as_str(m));
        want.insert(want.end(), f.begin(), f.end());
      }
      handshake h(c);
      REQUIRE(h.start());
      CHECK(drive(h, in, {}) == in.size());
      CHECK(h.output() == want);
      auto d = completion(events(h));
      REQUIRE(d);
      CHECK(d->peer_node == fake_name);
      CHECK(d->peer_creation == 0x00C0FFEE);
    }
  }
}

TEST_CASE("hostile input: every byte of a valid exchange corrupted, and random bytes") {
  auto ic = initiator_cfg();
  auto ac = acceptor_cfg();
  auto t = run_pair(ic, ac);
  auto corrupt_run = [](const handshake_config& c, const bytes& good) {
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (std::uint8_t x : {0x01, 0x80, 0xff}) {
        bytes in = good;
        in[i] ^= x;
        handshake h(c);
        REQUIRE(h.start());
        std::size_t used = drive(h, in, {});
        CHECK(used <= in.size());
        // Either refused, or still complete (a byte that does not matter, e.g. a flag bit
        // the other side ignores), or waiting for bytes that a corrupted length promised.
        bool failed = h.has_failed(), done = h.is_done();
        CHECK((failed || done || used == in.size()));
        if (failed) CHECK(failure(events(h)));
      }
    }
  };
  corrupt_run(ac, t.to_acceptor);
  corrupt_run(ic, t.to_initiator);

  std::mt19937 rng(12345);
  for (int round = 0; round < 3000; ++round) {
    bytes in(rng() % 64);
    for (auto& b : in) b = static_cast<std::uint8_t>(rng());
    if (in.size() >= 2 && round % 2) {  // plausible length prefix
      in[0] = 0;
      in[1] = static_cast<std::uint8_t>(in.size() - 2);
    }
    for (auto cfg : {ic, ac}) {
      handshake h(cfg);
      REQUIRE(h.start());
      CHECK(drive(h, in, {}) <= in.size());
    }
  }
}
