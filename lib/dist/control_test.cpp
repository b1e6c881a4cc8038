#include <erlnode/dist/control.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;
using namespace erlnode::dist;

namespace {
const atom me{"cpp@host"};
const atom peer{"beam@host"};
const atom other{"third@host"};
const pid my_pid{me, 1, 0, 7};
const pid my_pid2{me, 2, 0, 7};
const pid peer_pid{peer, 40, 1, 9};
const pid other_pid{other, 5, 0, 3};
const reference ref{peer, 9, {1u, 2u, 3u}};
const reference my_ref{me, 7, {4u, 5u, 6u}};
const term token = tuple{0, 17, 3, peer_pid, 2};

control_context ctx(dflags negotiated = hidden_profile) { return {me, peer, negotiated}; }

// One well-formed message per op, as the peer would send it to us.
std::vector<control_message> samples() {
  term msg = tuple{atom("hello"), 42};
  return {
      ctl::link{peer_pid, my_pid},
      ctl::send{my_pid, msg},
      ctl::exit{peer_pid, my_pid, atom("normal")},
      ctl::unlink{peer_pid, my_pid},
      ctl::node_link{},
      ctl::reg_send{peer_pid, atom("net_kernel"), msg},
      ctl::group_leader{peer_pid, my_pid},
      ctl::exit2{peer_pid, my_pid, atom("kill")},
      ctl::send_tt{my_pid, token, msg},
      ctl::exit_tt{peer_pid, my_pid, token, atom("r")},
      ctl::reg_send_tt{peer_pid, atom("rex"), token, msg},
      ctl::exit2_tt{peer_pid, my_pid, token, atom("r")},
      ctl::monitor_p{peer_pid, my_pid, ref},
      ctl::demonitor_p{peer_pid, atom("net_kernel"), ref},
      ctl::monitor_p_exit{atom("name"), my_pid, my_ref, atom("noproc")},
      ctl::send_sender{peer_pid, my_pid, msg},
      ctl::send_sender_tt{peer_pid, my_pid, token, msg},
      ctl::payload_exit{peer_pid, my_pid, tuple{atom("x"), 1}},
      ctl::payload_exit_tt{peer_pid, my_pid, token, atom("y")},
      ctl::payload_exit2{peer_pid, my_pid, atom("z")},
      ctl::payload_exit2_tt{peer_pid, my_pid, token, atom("w")},
      ctl::payload_monitor_p_exit{peer_pid, my_pid, my_ref, atom("done")},
      ctl::spawn_request{ref, peer_pid, peer_pid, atom("erpc"), atom("execute_call"), 4,
                         list{atom("monitor")}, list{ref, atom("m"), atom("f"), list{}}},
      ctl::spawn_request_tt{ref, peer_pid, other_pid, atom("m"), atom("f"), 0, list{}, list{},
                            token},
      ctl::spawn_reply{my_ref, my_pid, 2, peer_pid},
      ctl::spawn_reply_tt{my_ref, my_pid, 3, atom("badarg"), token},
      ctl::alias_send{peer_pid, my_ref, msg},
      ctl::alias_send_tt{peer_pid, my_ref, token, msg},
      ctl::unlink_id{0xffffffffffffffffull, peer_pid, my_pid},
      ctl::unlink_id_ack{1, peer_pid, my_pid},
  };
}

std::string why_of(const term& c, const std::optional<term>& m, const control_context& cx) {
  std::string why;
  auto r = decode_control(c, m, cx, &why);
  return r ? std::string() : why;
}

// Replaces element i of the control tuple.
term with(const term& c, std::size_t i, term v) {
  tuple t = c.as<tuple>();
  t.set(i, std::move(v));
  return t;
}
}  // namespace

TEST_CASE("every op round-trips through its terms") {
  auto all = samples();
  CHECK(all.size() == 30);
  for (auto& m : all) {
    INFO(op_name(op_of(m)));
    auto terms = encode_control(m);
    REQUIRE(terms.control.is_tuple());
    CHECK(*terms.control.as<tuple>()[0].to_int64() == static_cast<int>(op_of(m)));
    CHECK(terms.message.has_value() == op_has_payload(op_of(m)));
    std::string why;
    // The old UNLINK is only valid when UNLINK_ID is not negotiated.
    dflags f = op_of(m) == op::unlink ? mandatory_25 : hidden_profile;
    auto back = decode_control(terms.control, terms.message, ctx(f), &why);
    INFO(why);
    REQUIRE(back);
    CHECK(op_of(*back) == op_of(m));
    auto again = encode_control(*back);
    CHECK(again.control == terms.control);
    CHECK(again.message == terms.message);
  }
}

TEST_CASE("encoded tuples have the wire layout") {
  auto t = encode_control(ctl::send{my_pid, atom("m")});
  CHECK(t.control == term(tuple{2, atom(), my_pid}));
  t = encode_control(ctl::reg_send{peer_pid, atom("rex"), 1});
  CHECK(t.control == term(tuple{6, peer_pid, atom(), atom("rex")}));
  t = encode_control(
      ctl::spawn_request{ref, peer_pid, peer_pid, atom("m"), atom("f"), 2, list{}, list{1, 2}});
  CHECK(t.control ==
        term(tuple{29, ref, peer_pid, peer_pid, tuple{atom("m"), atom("f"), 2}, list{}}));
  CHECK(t.message == term(list{1, 2}));
  t = encode_control(ctl::unlink_id{0xffffffffffffffffull, my_pid, peer_pid});
  CHECK(t.control.as<tuple>()[1].is_integer());
  CHECK(t.control.as<tuple>()[1].to_big_int() == big_int(0xffffffffffffffffull));
}

TEST_CASE("wrong arity and wrong message presence are invalid for every op") {
  for (auto& m : samples()) {
    auto terms = encode_control(m);
    const auto& t = terms.control.as<tuple>();
    std::string name(op_name(op_of(m)));
    INFO(name);
    std::vector<term> longer(t.begin(), t.end());
    longer.push_back(atom("extra"));
    std::string why = why_of(tuple(longer), terms.message, ctx());
    CHECK(why.find(name) == 0);
    CHECK(why.find("elements") != std::string::npos);
    if (t.size() > 1) {
      std::vector<term> shorter(t.begin(), t.end() - 1);
      CHECK_FALSE(why_of(tuple(shorter), terms.message, ctx()).empty());
    }
    auto flipped = terms.message ? std::optional<term>() : std::optional<term>(atom("x"));
    auto r = decode_control(terms.control, flipped, ctx());
    REQUIRE(r.has_error());
    CHECK(r.error().code == errc::invalid_control_message);
  }
}

TEST_CASE("a field of the wrong type is invalid, and the reason names it") {
  for (auto& m : samples()) {
    auto terms = encode_control(m);
    const auto& t = terms.control.as<tuple>();
    INFO(op_name(op_of(m)));
    dflags f = op_of(m) == op::unlink ? mandatory_25 : hidden_profile;
    // A float is wrong for every checked field (pids, refs, atoms, lists, ids, flags).
    int rejected = 0;
    for (std::size_t i = 1; i < t.size(); ++i) {
      auto why = why_of(with(terms.control, i, 1.5), terms.message, ctx(f));
      if (!why.empty()) {
        ++rejected;
        CHECK(why.find("element " + std::to_string(i + 1)) != std::string::npos);
      }
    }
    // Fields that may hold any term: reasons and tokens.
    std::size_t free_fields = 0;
    for (std::size_t i = 1; i < t.size(); ++i)
      if (t[i] == token || t[i] == term(atom("normal")) || t[i] == term(atom("kill")) ||
          t[i] == term(atom("r")) || t[i] == term(atom("noproc")))
        ++free_fields;
    CHECK(rejected == static_cast<int>(t.size() - 1 - free_fields));
  }
}

TEST_CASE("pids must belong to the right node") {
  auto c = ctx();
  // LINK from a pid that is not the peer's: the BEAM kills the connection for this.
  auto why = why_of(tuple{1, other_pid, my_pid}, std::nullopt, c);
  CHECK(why == "LINK: element 2 is not a pid of the peer node beam@host");
  CHECK(why_of(tuple{1, peer_pid, other_pid}, std::nullopt, c) ==
        "LINK: element 3 is not a pid of this node");
  CHECK_FALSE(why_of(tuple{19, other_pid, my_pid, ref}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{35, 5, other_pid, my_pid}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{29, ref, other_pid, peer_pid, tuple{atom("m"), atom("f"), 0}, list{}},
                     term(list{}), c)
                  .empty());
  CHECK_FALSE(why_of(tuple{3, other_pid, my_pid, atom("r")}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{24, other_pid, my_pid}, term(atom("r")), c).empty());
  // Senders of messages may be any pid.
  CHECK(why_of(tuple{22, other_pid, my_pid}, term(1), c).empty());
  CHECK(why_of(tuple{6, other_pid, atom(), atom("x")}, term(1), c).empty());
  // A send to somebody else's pid is not for us.
  CHECK_FALSE(why_of(tuple{22, peer_pid, other_pid}, term(1), c).empty());
  // Without node names in the context the node checks are skipped.
  CHECK(why_of(tuple{1, other_pid, other_pid}, std::nullopt, control_context{}).empty());
}

TEST_CASE("old UNLINK is invalid once UNLINK_ID is negotiated") {
  term unlink = tuple{4, peer_pid, my_pid};
  CHECK(why_of(unlink, std::nullopt, ctx(mandatory_25)).empty());
  CHECK(why_of(unlink, std::nullopt, ctx(mandatory_26)) ==
        "UNLINK: obsolete once UNLINK_ID is negotiated");
}

TEST_CASE("unknown and malformed ops") {
  for (int o : {0, 9, 10, 11, 14, 15, 17, 37, 99, -1, 256}) {
    auto r = decode_control(tuple{o, peer_pid, my_pid}, std::nullopt, ctx());
    REQUIRE(r.has_error());
    CHECK(r.error().code == errc::unknown_control_op);
  }
  std::string why;
  CHECK(decode_control(term(atom("x")), std::nullopt, ctx(), &why).has_error());
  CHECK(why == "control message is not a tuple with an op");
  CHECK(decode_control(tuple{}, std::nullopt, ctx()).has_error());
  CHECK(decode_control(tuple{atom("link"), peer_pid, my_pid}, std::nullopt, ctx()).has_error());
  CHECK(decode_control(tuple{big_int(1) << 70}, std::nullopt, ctx()).has_error());
}

TEST_CASE("field ranges") {
  auto c = ctx();
  // UNLINK_ID ids are 1..2^64-1.
  CHECK_FALSE(why_of(tuple{35, 0, peer_pid, my_pid}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{35, -1, peer_pid, my_pid}, std::nullopt, c).empty());
  CHECK(
      why_of(tuple{35, big_int(0xffffffffffffffffull), peer_pid, my_pid}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{35, big_int(1) << 64, peer_pid, my_pid}, std::nullopt, c).empty());
  // SPAWN_REPLY flags below 2^27; result a pid or an atom.
  CHECK(why_of(tuple{31, my_ref, my_pid, (1 << 27) - 1, peer_pid}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{31, my_ref, my_pid, 1 << 27, peer_pid}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{31, my_ref, my_pid, -1, peer_pid}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{31, my_ref, my_pid, 0, 5}, std::nullopt, c).empty());
  // SPAWN_REQUEST: {M, F, Arity} with arity 0..255, options a proper list.
  auto req = [&](term mfa, term opts) {
    return why_of(tuple{29, ref, peer_pid, peer_pid, mfa, opts}, term(list{}), c);
  };
  CHECK(req(tuple{atom("m"), atom("f"), 255}, list{}).empty());
  CHECK_FALSE(req(tuple{atom("m"), atom("f"), 256}, list{}).empty());
  CHECK_FALSE(req(tuple{atom("m"), atom("f")}, list{}).empty());
  CHECK_FALSE(req(tuple{atom("m"), 1, 0}, list{}).empty());
  CHECK_FALSE(req(tuple{atom("m"), atom("f"), 0}, list({atom("a")}, atom("tail"))).empty());
  CHECK_FALSE(req(tuple{atom("m"), atom("f"), 0}, atom("monitor")).empty());
  // MONITOR_P targets: our pid or a name, not a foreign pid or a number.
  CHECK(why_of(tuple{19, peer_pid, atom("name"), ref}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{19, peer_pid, other_pid, ref}, std::nullopt, c).empty());
  CHECK_FALSE(why_of(tuple{19, peer_pid, 5, ref}, std::nullopt, c).empty());
}

TEST_CASE("variants are chosen by the negotiated flags") {
  CHECK(op_of(make_send(my_pid, peer_pid, 1, hidden_profile)) == op::send_sender);
  CHECK(op_of(make_send(my_pid, peer_pid, 1, mandatory_25)) == op::send);
  CHECK(op_of(make_send(my_pid, peer_pid, 1, hidden_profile, token)) == op::send_sender_tt);
  CHECK(op_of(make_send(my_pid, peer_pid, 1, mandatory_25, token)) == op::send_tt);
  CHECK(op_of(make_reg_send(my_pid, atom("rex"), 1)) == op::reg_send);
  CHECK(op_of(make_reg_send(my_pid, atom("rex"), 1, token)) == op::reg_send_tt);
  CHECK(op_of(make_exit(my_pid, peer_pid, 1, hidden_profile)) == op::payload_exit);
  CHECK(op_of(make_exit(my_pid, peer_pid, 1, mandatory_25)) == op::exit);
  CHECK(op_of(make_exit(my_pid, peer_pid, 1, hidden_profile, token)) == op::payload_exit_tt);
  CHECK(op_of(make_exit(my_pid, peer_pid, 1, mandatory_25, token)) == op::exit_tt);
  CHECK(op_of(make_exit2(my_pid, peer_pid, 1, hidden_profile)) == op::payload_exit2);
  CHECK(op_of(make_exit2(my_pid, peer_pid, 1, mandatory_25)) == op::exit2);
  CHECK(op_of(make_exit2(my_pid, peer_pid, 1, hidden_profile, token)) == op::payload_exit2_tt);
  CHECK(op_of(make_exit2(my_pid, peer_pid, 1, mandatory_25, token)) == op::exit2_tt);
  CHECK(op_of(make_monitor_p_exit(my_pid, peer_pid, ref, 1, hidden_profile)) ==
        op::payload_monitor_p_exit);
  CHECK(op_of(make_monitor_p_exit(my_pid, peer_pid, ref, 1, mandatory_25)) == op::monitor_p_exit);
  CHECK(op_of(make_unlink(my_pid, peer_pid, 5, mandatory_26)) == op::unlink_id);
  CHECK(op_of(make_unlink(my_pid, peer_pid, 5, mandatory_25)) == op::unlink);
}

TEST_CASE("can_send follows the negotiated flags") {
  CHECK(can_send(ctl::monitor_p{my_pid, peer_pid, my_ref}, hidden_profile));
  CHECK_FALSE(can_send(ctl::monitor_p{my_pid, peer_pid, my_ref}, mandatory_25));
  CHECK_FALSE(
      can_send(ctl::monitor_p{my_pid, atom("n"), my_ref}, mandatory_25 | flag::dist_monitor));
  CHECK(can_send(ctl::monitor_p{my_pid, atom("n"), my_ref},
                 mandatory_25 | flag::dist_monitor | flag::dist_monitor_name));
  CHECK_FALSE(can_send(ctl::unlink{my_pid, peer_pid}, mandatory_26));
  CHECK(can_send(ctl::unlink{my_pid, peer_pid}, mandatory_25));
  CHECK_FALSE(can_send(ctl::unlink_id{1, my_pid, peer_pid}, mandatory_25));
  CHECK_FALSE(can_send(ctl::alias_send{my_pid, ref, 1}, mandatory_26));
  CHECK_FALSE(can_send(ctl::spawn_reply{ref, peer_pid, 0, atom("badarg")}, mandatory_26));
  CHECK(can_send(ctl::spawn_reply{ref, peer_pid, 0, atom("badarg")}, hidden_profile));
  CHECK_FALSE(can_send(ctl::payload_exit{my_pid, peer_pid, 1}, mandatory_26));
  CHECK_FALSE(can_send(ctl::send_sender{my_pid, peer_pid, 1}, mandatory_26));
  CHECK(can_send(ctl::send{peer_pid, 1}, mandatory_25));
}

TEST_CASE("op names") {
  CHECK(op_name(op::payload_monitor_p_exit) == "PAYLOAD_MONITOR_P_EXIT");
  CHECK(op_name(static_cast<op>(99)) == "UNKNOWN");
  CHECK(op_has_payload(op::spawn_request));
  CHECK_FALSE(op_has_payload(op::spawn_reply));
}
