#include <erlnode/dist/flags.hpp>
#include <erlnode/dist/node_name.hpp>

#include <catch2/catch.hpp>

using namespace erlnode::dist;

TEST_CASE("flag values match OTP's dist.hrl") {
  CHECK(flag::published == 0x1);
  CHECK(flag::extended_references == 0x4);
  CHECK(flag::dist_monitor == 0x8);
  CHECK(flag::fun_tags == 0x10);
  CHECK(flag::dist_monitor_name == 0x20);
  CHECK(flag::new_fun_tags == 0x80);
  CHECK(flag::extended_pids_ports == 0x100);
  CHECK(flag::export_ptr_tag == 0x200);
  CHECK(flag::bit_binaries == 0x400);
  CHECK(flag::new_floats == 0x800);
  CHECK(flag::unicode_io == 0x1000);
  CHECK(flag::dist_hdr_atom_cache == 0x2000);
  CHECK(flag::small_atom_tags == 0x4000);
  CHECK(flag::utf8_atoms == 0x10000);
  CHECK(flag::map_tag == 0x20000);
  CHECK(flag::big_creation == 0x40000);
  CHECK(flag::send_sender == 0x80000);
  CHECK(flag::big_seqtrace_labels == 0x100000);
  CHECK(flag::exit_payload == 0x400000);
  CHECK(flag::fragments == 0x800000);
  CHECK(flag::handshake_23 == 0x1000000);
  CHECK(flag::unlink_id == 0x2000000);
  CHECK(flag::mandatory_25_digest == 0x4000000);
  CHECK(flag::spawn == 0x100000000ull);
  CHECK(flag::name_me == 0x200000000ull);
  CHECK(flag::v4_nc == 0x400000000ull);
  CHECK(flag::alias == 0x800000000ull);
}

TEST_CASE("mandatory sets per OTP release") {
  CHECK(mandatory_25 == 0x1070f94);  // MANDATORY_DFLAGS_25 in dist.hrl
  CHECK(mandatory_26 == (mandatory_25 | flag::v4_nc | flag::unlink_id));
  CHECK((hidden_profile & mandatory_26) == mandatory_26);
  CHECK((hidden_profile & flag::mandatory_25_digest) != 0);
  CHECK((hidden_profile & flag::published) == 0);
  CHECK((hidden_profile & flag::name_me) == 0);
  CHECK((hidden_profile & (flag::atom_cache | flag::hidden_atom_cache)) == 0);
  CHECK((hidden_profile & flag::fragments) != 0);
  CHECK((hidden_profile & flag::dist_hdr_atom_cache) != 0);
  for (dflags f : {flag::dist_monitor, flag::dist_monitor_name, flag::send_sender,
                   flag::exit_payload, flag::spawn, flag::alias, flag::unicode_io,
                   flag::small_atom_tags, flag::big_seqtrace_labels})
    CHECK((hidden_profile & f) != 0);
  CHECK(visible_profile == (hidden_profile | flag::published));
}

TEST_CASE("the digest bit stands for every OTP 25 mandatory flag") {
  CHECK(expand_mandatory_digest(flag::mandatory_25_digest) ==
        (mandatory_25 | flag::mandatory_25_digest));
  CHECK(missing_flags(flag::mandatory_25_digest, mandatory_25) == 0);
  CHECK(missing_flags(flag::mandatory_25_digest, mandatory_26) == (flag::v4_nc | flag::unlink_id));
  CHECK(expand_mandatory_digest(flag::spawn) == flag::spawn);
  CHECK(negotiate(hidden_profile, flag::mandatory_25_digest) ==
        (mandatory_25 | flag::mandatory_25_digest));
  CHECK(negotiate(flag::spawn | flag::alias, flag::alias | flag::published) == flag::alias);
}

TEST_CASE("missing flags are named as OTP names them") {
  CHECK(flag_name(flag::big_creation) == "BIG_CREATION");
  CHECK(flag_name(flag::alias) == "ALIAS");
  CHECK(flag_name(dflags{1} << 40) == "UNKNOWN<10000000000>");
  CHECK(describe_missing_flags(mandatory_25 & ~(flag::big_creation | flag::handshake_23),
                               mandatory_25) == "BIG_CREATION, HANDSHAKE_23");
  CHECK(describe_missing_flags(mandatory_25, mandatory_26) == "UNLINK_ID, V4_NC");
  CHECK(describe_missing_flags(hidden_profile, mandatory_26).empty());
  CHECK(flag_names(flag::published | flag::spawn) ==
        std::vector<std::string>{"PUBLISHED", "SPAWN"});
}

TEST_CASE("node names") {
  CHECK(validate_peer_name("a@b"));
  CHECK(validate_peer_name("any thing@host.example.com"));  // OTP only wants name@host
  CHECK_FALSE(validate_peer_name("ab"));
  CHECK_FALSE(validate_peer_name("@b"));
  CHECK_FALSE(validate_peer_name("a@"));
  CHECK_FALSE(validate_peer_name("a@b@c"));
  CHECK_FALSE(validate_peer_name(""));
  CHECK(validate_peer_name("host", true));
  CHECK_FALSE(validate_peer_name("a@host", true));
  CHECK_FALSE(validate_peer_name("", true));

  CHECK(validate_own_name("erl_node-1@vm"));
  CHECK(validate_own_name("x@10.0.0.1"));
  CHECK_FALSE(validate_own_name("bad.name@vm"));
  CHECK_FALSE(validate_own_name("sp ace@vm"));
  CHECK_FALSE(validate_own_name("x@h ost"));
  CHECK_FALSE(validate_own_name("x@"));
  CHECK_FALSE(validate_own_name(std::string(250, 'a') + "@hosts"));
  CHECK(validate_own_host("vm.example.org"));
  CHECK_FALSE(validate_own_host("a@vm"));

  auto p = split_node_name("a@b");
  REQUIRE(p);
  CHECK(p->alive == "a");
  CHECK(p->host == "b");
  CHECK_FALSE(split_node_name("a@b@c"));
}

TEST_CASE("simultaneous connect: the greater name keeps its own attempt") {
  CHECK(keep_own_attempt("b@h", "a@h"));
  CHECK_FALSE(keep_own_attempt("a@h", "b@h"));
  CHECK(keep_own_attempt("ab@h", "a@h"));
  CHECK_FALSE(keep_own_attempt("A@h", "a@h"));  // byte order: 'A' < 'a'
}
