// erlnode-call against OTP's erl_call: both run with the same arguments (and stdin) against
// the same live erl node; stdout and the exit status must be identical. stderr is not
// compared (its wording names the tool).
#include "support/erl_process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace erlnode::interop;

namespace {

const std::string call_tool = ERLNODE_BINARY_DIR "/tools/erlnode-call/erlnode-call";

struct outcome {
  std::string out;  // stdout only
  int status = -1;  // exit status, or 128 + signal
};

// Runs `prog args...` with stderr discarded (the harness captures both streams together).
outcome run(const std::string& prog, const std::vector<std::string>& args, int epmd_port,
            const std::string& input = {}, bool give_input = false) {
  std::vector<std::string> argv{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>/dev/null", prog};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p(argv, {{"ERL_EPMD_PORT", std::to_string(epmd_port)}});
  if (give_input) p.write_stdin(input);
  p.close_stdin();
  auto st = p.wait(60s);
  p.pump();
  return {p.output(), st.value_or(-1)};
}

// Both tools, same arguments: identical stdout and status. Returns erl_call's outcome.
outcome same(const std::vector<std::string>& args, int epmd_port, const std::string& input = {},
             bool give_input = false) {
  auto want = run(erl_bin("erl_call"), args, epmd_port, input, give_input);
  auto got = run(call_tool, args, epmd_port, input, give_input);
  INFO("args: " << [&] {
    std::string s;
    for (auto& a : args) s += "'" + a + "' ";
    return s;
  }());
  CHECK(got.out == want.out);
  CHECK(got.status == want.status);
  return want;
}

}  // namespace

TEST_CASE("erlnode-call prints what erl_call prints", "[call]") {
  epmd_instance e;
  erl_node n({.epmd_port = e.port()});
  const std::vector<std::string> base{"-c", n.cookie(), "-sname", n.name()};
  auto with = [&](std::vector<std::string> more) {
    auto v = base;
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  const int ep = e.port();

  SECTION("results of every term kind") {
    n.eval("persistent_term:put(calltest_ref, make_ref())");
    const std::vector<std::string> applies{
        "erlang length [[a,b,c]]",
        "erlang node",
        "lists reverse [\"hello\"]",
        "lists seq [1,12]",  // control characters in a string
        "lists seq [120,135]",
        "lists seq [250,260]",  // not a byte string
        "erlang list_to_tuple [[1,a,\"s\",2.5,{},[],-7]]",
        "erlang list_to_binary [\"abc\"]",
        "erlang list_to_binary [[]]",
        "lists duplicate [40,120]",
        "erlang iolist_to_binary [[\"abcdefghijklmnopqrstuvwxyzabcdefghijklmn\"]]",
        "erlang whereis [user]",
        "erlang list_to_atom [\"Hello World\"]",
        "erlang list_to_atom [\"a@b_C1\"]",
        "erlang list_to_atom [\"\"]",
        "erlang list_to_atom [\"caf\\x{e9}\"]",
        "erlang list_to_atom [\"\\x{3bb}x\"]",  // not Latin-1: ei stops printing
        "erlang '*' [123456789012,123456789012]",
        "erlang '*' [18446744073709551615,1]",
        "erlang '*' [18446744073709551616,1]",
        "erlang '-' [0,340282366920938463463374607431768211456]",
        "erlang '-' [0,2147483648]",
        "math pi",
        "erlang float [1.0e20]",
        "erlang '/' [1,3]",
        "erlang make_tuple [3,{}]",
        "maps from_list [[{1,a},{2,b},{3,c},{4,d},{5,e},{6,f},{7,g},{8,h},{9,i},{10,j},{11,k},"
        "{12,l},{13,m},{14,n},{15,o},{16,p},{17,q},{18,r},{19,s},{20,t},{21,u},{22,v},{23,w},"
        "{24,x},{25,y},{26,z},{27,aa},{28,ab},{29,ac},{30,ad},{31,ae},{32,af},{33,ag}]]",
        "erlang make_fun [lists,seq,2]",
        "erlang nodes [hidden]",  // our own name: c17@host
        "erlang throw [{thrown,1}]",
        "erlang exit [bye]",
        "erlang error [boom]",
        "nosuchmod nosuchfun [1,\"two\"]",
        "lists seq",  // undef lists:seq/0
        "erlang",     // Fun defaults to start
        "erlang node [1]",
        "erlang apply [erlang, node, nolist]",
        "erlang atom_to_list nolist",  // the argument list is not a list
        // erl_call's argument grammar (ei_format), quirks included: raw bytes in strings and
        // quoted atoms, blank-separated elements, " ," dropping the next element, 64-bit
        // clipping, 1.5e3 read as 1500.0 followed by 3 (the e is taken as a separator).
        R"(erlang list_to_tuple [[[1 ,2], [a | b], {a ,b}, {a, b}, [1 2 3], "x\ny"]])",
        R"(erlang list_to_tuple [['q\x', 'café', "café", "", '', [,1], +5, -0]])",
        R"(erlang list_to_tuple [[1.5e3, 99999999999999999999, -99999999999999999999, 2.]])",
        R"(erlang list_to_tuple [[{}, {a}, {{}}, [[]], [[a]]]] trailing junk)",
        R"(io format ["~p"])",               // a valid ~ directive in a string is accepted
        R"(erlang list_to_tuple [[A, b]])",  // not ei's grammar, nor a literal: both fail
        R"(erlang length [[1,,2]])",
    };
    for (const auto& a : applies) same(with({"-a", a}), ep);
    // Terms erl_call's -a grammar cannot write, made on the node.
    const std::vector<std::string> exprs{
        "list_to_binary(lists:seq(1, 30)).",
        "list_to_binary(lists:seq(1, 31)).",
        "<<1, 2, 5:3>>.",
        "<<7:4>>.",
        "list_to_bitstring([lists:seq(1, 30), <<1:1>>]).",
        "list_to_bitstring([lists:seq(1, 29), <<1:1>>]).",
        "{1.0e300, -0.5, 1.0e-10, 123456789.125}.",
        "[-(1 bsl 64), 1 bsl 64 - 1, -(1 bsl 64) + 1, 1 bsl 200, -(1 bsl 200)].",
        "#{}.",
        "maps:from_list([{a, 1}, {\"k\", [x]}, {3, <<>>}]).",
        "lists:foldl(fun(_, A) -> {A} end, [], lists:seq(1, 9000)).",  // deep
        R"({$\\, [$", 0, 127, 128, 200, 255]}.)",
        "[list_to_atom([200]), list_to_atom(\"Ab\"), 'x-y', '_a', aB9@_].",
        "{whereis(init), persistent_term:get(calltest_ref), hd(erlang:ports())}.",
        R"(binary_to_list(<<"x\"y\\z">>).)",
    };
    for (const auto& e : exprs) same(with({"-e"}), ep, e, true);
  }

  SECTION("beyond erl_call: Args erl_call cannot send") {
    auto ours = [&](const std::string& a, const std::string& want) {
      auto r = run(call_tool, with({"-a", a}), ep);
      INFO(a);
      CHECK(r.status == 0);
      CHECK(r.out == want);
    };
    // erl_call refuses binaries, maps, $c and ~n in Args (status 255); erlnode-call reads
    // them as Erlang syntax.
    ours("erlang list_to_tuple [[<<1,2>>, #{a => 1}, $x]]", "{#Bin<1,2>, #{a => 1}, 120}");
    ours(R"(io_lib format ["~p~n", [x]])", R"(["x", 10])");
    // For an improper list erl_call sends a malformed message (it writes no tail, and the
    // node takes the bytes that follow as one); erlnode-call sends the list.
    ours("erlang hd [[1|2]]", "1");
    ours("lists nthtail [1,[1,2|3]]", "[2 | 3]");
    ours("erlang list_to_tuple [[[a|b], [a, b|c]]]", "{[a | b], [a, b | c]}");
    // ("[a | b]" with blanks is [a, b] to erl_call, and so to erlnode-call.)
  }

  SECTION("local funs, pids and ports") {
    n.eval("register(calltest_holder, spawn(fun() -> receive stop -> ok end end))");
    same(with({"-a", "erlang whereis [calltest_holder]"}), ep);
    same(with({"-e"}), ep, "F = fun(X) -> X end, {F, fun lists:seq/2}.", true);
    same(with({"-e"}), ep, "lists:seq(1, 100000).", true);  // a long list
  }

  SECTION("-e evaluates stdin on the node") {
    same(with({"-e"}), ep, "X = 1, Y = 2, {X + Y, hello}.", true);
    same(with({"-e"}), ep, "1 +", true);         // syntax error: {error, Text}
    same(with({"-e"}), ep, "foo:bar().", true);  // exception: {error, Text}
    same(with({"-e"}), ep, "", true);            // empty input
    same(with({"-e"}), ep, "[1,2 | 3].", true);
    same(with({"-e", "-a", "erlang node"}), ep, "X = 5.", true);  // both, -e first
    same(with({"-e", "-no_result_term"}), ep, "ok.", true);
  }

  SECTION("-fetch_stdout and -no_result_term") {
    same(with({"-a", "io format [\"hi ~p\n\",[42]]", "-fetch_stdout"}), ep);  // a raw newline
    same(with({"-e", "-fetch_stdout"}), ep, "io:format(\"a~n\"), io:format(\"b~n\"), 7.", true);
    same(with({"-e", "-fetch_stdout", "-no_result_term"}), ep, "io:format(\"only~n\").", true);
    same(with({"-a", "erlang node", "-no_result_term"}), ep);
    same(with({"-a", "io put_chars [\"not fetched\"]"}), ep);
  }

  SECTION("own node names: -h and -r") {
    same(with({"-h", "callclient", "-a", "erlang nodes [hidden]"}), ep);
    auto r = run(call_tool, with({"-r", "-a", "erlang nodes [hidden]"}), ep);
    CHECK(r.status == 0);
    CHECK(r.out.rfind("[c", 0) == 0);
  }

  SECTION("-R: a name the node chooses") {
    // The name differs from call to call, so compare its form: the node's dynamic name
    // ('32QXS6I7TVZE9@host', quoted as it starts with a digit or capital) and never c17.
    same(with({"-R", "-a", "erlang node"}), ep);
    same(with({"-R", "-h", "callclient", "-a", "erlang nodes [hidden]"}), ep);  // -h wins
    std::string at_host = "@";
    at_host += short_hostname();
    at_host += "']";
    for (const auto& tool : {erl_bin("erl_call"), call_tool}) {
      auto r = run(tool, with({"-R", "-a", "erlang nodes [hidden]"}), ep);
      INFO(tool << ": " << r.out);
      CHECK(r.status == 0);
      CHECK(r.out.rfind("['", 0) == 0);
      CHECK(r.out.find(at_host) != std::string::npos);
      CHECK(r.out.find("c17@") == std::string::npos);
      const auto at = r.out.find('@');
      REQUIRE(at != std::string::npos);
      CHECK(at >= 2 + 8);
      CHECK(std::all_of(r.out.begin() + 2, r.out.begin() + static_cast<std::ptrdiff_t>(at),
                        [](char ch) { return std::isupper(ch) || std::isdigit(ch); }));
    }
  }

  SECTION("-address [host:]port, without epmd") {
    std::string port =
        n.eval("{ok, Ns} = erl_epmd:names(), proplists:get_value(\"" + n.name() + "\", Ns)");
    same({"-c", n.cookie(), "-address", port, "-a", "erlang node"}, ep);
    same({"-c", n.cookie(), "-address", "localhost:" + port, "-a", "lists seq [1,3]"}, ep);
    same({"-c", n.cookie(), "-address", ":" + port, "-a", "erlang node"}, ep);
    // No epmd at all (a port nothing listens on).
    same({"-c", n.cookie(), "-address", port, "-a", "erlang node"}, free_tcp_port());
    same({"-c", n.cookie(), "-address", std::to_string(free_tcp_port()), "-a", "erlang node"}, ep);
  }

  SECTION("failures: exit codes") {
    same({"-c", "wrong-cookie", "-sname", n.name(), "-a", "erlang node"}, ep);
    same({"-c", n.cookie(), "-sname", "nosuchnode", "-a", "erlang node"}, ep);
    same({"-c", n.cookie(), "-sname", "nosuchnode", "-q"}, ep);     // nothing to halt: 0
    same(with({"-a", "erlang binary_to_list [<<1,2>>"}), ep);       // unparsable arguments
    same(with({"-a", "   "}), ep);                                  // empty apply string
    same(with({"-timeout", "1", "-a", "timer sleep [4000]"}), ep);  // SIGALRM
    same(with({"-timeout", "0", "-a", "erlang node"}), ep);         // bad timeout
    same(with({"-bogus"}), ep);
    same(with({"-a"}), ep);
    same({"-a", "erlang node"}, ep);  // no node: usage, 0
    same({"-address", "99999", "-a", "erlang node"}, ep);
    same({"-address", "1234", "-sname", "x", "-a", "erlang node"}, ep);
  }

  SECTION("-m compiles a module from stdin") {
    auto dir = std::filesystem::temp_directory_path() / unique_name("erlnode_call_m");
    std::filesystem::create_directories(dir);
    n.eval("ok = file:set_cwd(\"" + dir.string() + "\")");
    const std::string src =
        "-module(calltest_mod).\n-export([start/0]).\nstart() -> {compiled, ?MODULE}.\n";
    same(with({"-m", "-a", "calltest_mod"}), ep, src, true);
    n.eval("ok = file:set_cwd(\"/\")");
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("erlnode-call -q halts the node", "[call]") {
  epmd_instance e;
  erl_node n({.epmd_port = e.port()});
  auto r = run(call_tool, {"-c", n.cookie(), "-sname", n.name(), "-q"}, e.port());
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  CHECK(n.process().wait(20s).has_value());  // the erl process ended
}

TEST_CASE("erlnode-call answers ticks during a long call", "[call]") {
  // net_ticktime 2: the node ticks twice a second and drops a peer silent for about 2 s, so
  // a 5 s call survives only if the client answers the ticks (as ei does).
  epmd_instance e;
  erl_node n({.epmd_port = e.port(), .extra_args = {"-kernel", "net_ticktime", "2"}});
  auto r = same({"-c", n.cookie(), "-sname", n.name(), "-a", "timer sleep [5000]"}, e.port());
  CHECK(r.status == 0);
  CHECK(r.out == "ok");
}

TEST_CASE("erlnode-call with long names", "[call]") {
  epmd_instance e;
  erl_node n({.epmd_port = e.port(), .long_names = true});
  same({"-c", n.cookie(), "-name", n.node_name(), "-a", "erlang node"}, e.port());
  same({"-c", n.cookie(), "-n", n.node_name(), "-a", "lists seq [1,3]"}, e.port());
}

TEST_CASE("erlnode-call -s starts the node when it does not answer", "[call]") {
  epmd_instance e;
  const std::string name = unique_name("callstart");
  const std::string cookie = unique_name("cookie");
  auto r = run(call_tool, {"-s", "-c", cookie, "-sname", name, "-a", "os getpid"}, e.port());
  REQUIRE(r.status == 0);
  REQUIRE(r.out.size() > 2);
  const int os_pid = std::stoi(r.out.substr(1, r.out.size() - 2));  // "1234"
  // The node runs now: -s again only connects; -q halts it.
  r = run(call_tool, {"-s", "-c", cookie, "-sname", name, "-a", "erlang node"}, e.port());
  CHECK(r.status == 0);
  CHECK(r.out == name + "@" + short_hostname());
  r = run(call_tool, {"-c", cookie, "-sname", name, "-q"}, e.port());
  CHECK(r.status == 0);
  for (int i = 0; i < 100 && ::kill(os_pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
  if (::kill(os_pid, 0) == 0) ::kill(os_pid, SIGKILL);  // the node we started, by pid
  CHECK(run(call_tool, {"-c", cookie, "-sname", name, "-a", "erlang node"}, e.port()).status == 1);
}
