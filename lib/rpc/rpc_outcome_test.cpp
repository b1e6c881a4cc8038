// Result shapes of erpc and rex, checked against what erl (OTP 25) gives for the same calls
// (see the comments: each expected term was printed by a live erl calling another erl node).
#include "rpc/rpc_outcome.hpp"

#include <erlnode/text.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace erlnode;
using namespace erlnode::detail;

namespace {
term erl(std::string_view s) { return erlnode::parse(s).value(); }
std::string str(const term& t) { return to_string(t); }

rpc_outcome caught(const std::function<void()>& f, atom m = atom("m"), atom fn = atom("f"),
                   const list& args = list{1, 2}) {
  try {
    f();
  } catch (...) {
    return outcome_of_current_exception(m, fn, args);
  }
  FAIL("no exception");
  return {};
}
}  // namespace

TEST_CASE("undef has the stack a BEAM callee gives") {
  // erpc:call(B, nomod, nofun, [1]) on erl: {exception, undef, [{nomod,nofun,[1],[]}]}
  auto o = undef_outcome(atom("nomod"), atom("nofun"), list{1});
  reference ref(atom("a@h"), 1, {1u, 2u, 3u});
  CHECK(erpc_exit_reason(ref, o) ==
        term(tuple{ref, atom("error"), atom("undef"), erl("[{nomod,nofun,[1],[]}]")}));
  // rpc:call(B, nomod, nofun, [1]): {badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}
  CHECK(str(rex_reply(o)) == "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}");
}

TEST_CASE("exceptions of each class map to erpc exit reasons and rex replies") {
  reference ref(atom("a@h"), 1, {7u});
  auto thr = caught([] { raise_throw(atom("foo")); });
  CHECK(thr.k == rpc_outcome::kind::thrown);
  CHECK(erpc_exit_reason(ref, thr) == term(tuple{ref, atom("throw"), atom("foo")}));
  CHECK(str(rex_reply(thr)) == "foo");  // rpc:call(B, erlang, throw, [foo]) -> foo

  auto ex = caught([] { raise_exit(atom("foo")); });
  CHECK(erpc_exit_reason(ref, ex) == term(tuple{ref, atom("exit"), atom("foo")}));
  CHECK(str(rex_reply(ex)) == "{badrpc,{'EXIT',foo}}");

  // An error raised without a stack gets the frame of the function itself.
  auto er = caught([] { raise_error(atom("foo")); });
  CHECK(er.k == rpc_outcome::kind::error);
  CHECK(str(er.stack) == "[{m,f,2,[]}]");
  CHECK(erpc_exit_reason(ref, er) ==
        term(tuple{ref, atom("error"), atom("foo"), erl("[{m,f,2,[]}]")}));
  CHECK(str(rex_reply(er)) == "{badrpc,{'EXIT',{foo,[{m,f,2,[]}]}}}");

  // A stack given by the handler is kept.
  auto er2 = caught([] {
    throw erlang_exception(exception_class::error, atom("x"), erl("[{a,b,1,[{line,3}]}]"));
  });
  CHECK(str(er2.stack) == "[{a,b,1,[{line,3}]}]");
}

TEST_CASE("other C++ exceptions become readable errors") {
  auto o = caught([] { throw std::runtime_error("boom"); });
  CHECK(o.k == rpc_outcome::kind::error);
  CHECK(o.value ==
        term(tuple{atom("cpp_exception"), binary("std::runtime_error"), binary("boom")}));
  auto i = caught([] { throw 42; });
  CHECK(i.value == term(tuple{atom("cpp_exception"), binary("int"), binary("")}));
  auto b = caught([] { (void)term(1).as<tuple>(); });
  CHECK(str(b.value) == "badarg");
}

TEST_CASE("caller side: erpc DOWN reasons") {
  reference res(atom("a@h"), 1, {9u});
  reference other(atom("a@h"), 1, {10u});
  auto r = result_of_erpc_down(res, tuple{res, atom("return"), 42});
  CHECK(r.ok());
  CHECK(r.value == term(42));
  CHECK(r.to_rpc_term() == term(42));
  r = result_of_erpc_down(res, tuple{res, atom("throw"), atom("t")});
  CHECK(r.st == rpc_result::status::exception);
  CHECK(r.cls == exception_class::throw_);
  CHECK(str(r.to_rpc_term()) == "t");
  r = result_of_erpc_down(res, tuple{res, atom("exit"), atom("e")});
  CHECK(r.cls == exception_class::exit);
  CHECK(str(r.to_rpc_term()) == "{badrpc,{'EXIT',e}}");
  r = result_of_erpc_down(res,
                          tuple{res, atom("error"), atom("undef"), erl("[{nomod,nofun,[1],[]}]")});
  CHECK(r.cls == exception_class::error);
  CHECK(str(r.to_rpc_term()) == "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}");
  // Another reference, killed, noconnection.
  r = result_of_erpc_down(res, tuple{other, atom("return"), 1});
  CHECK(r.st == rpc_result::status::badrpc);
  r = result_of_erpc_down(res, atom("killed"));
  CHECK(str(r.to_rpc_term()) == "{badrpc,{'EXIT',killed}}");
  r = result_of_erpc_down(res, atom("noconnection"));
  CHECK(r.st == rpc_result::status::nodedown);
  CHECK(str(r.to_rpc_term()) == "{badrpc,nodedown}");
  // A returned {'EXIT', _} is a badrpc for rpc:call, as RPCIFY makes it.
  r = result_of_erpc_down(res, tuple{res, atom("return"), term(tuple{atom("EXIT"), 1})});
  CHECK(r.ok());
  CHECK(str(r.to_rpc_term()) == "{badrpc,{'EXIT',1}}");
}

TEST_CASE("caller side: spawn errors, rex replies, timeouts") {
  CHECK(str(result_of_spawn_error(atom("notsup")).to_rpc_term()) == "{badrpc,notsup}");
  CHECK(str(result_of_spawn_error(atom("system_limit")).to_rpc_term()) ==
        "{badrpc,{'EXIT',system_limit}}");
  CHECK(result_of_spawn_error(atom("noconnection")).st == rpc_result::status::nodedown);
  auto r = result_of_rex_reply(erl("{badrpc,{'EXIT',foo}}"));
  CHECK(r.st == rpc_result::status::badrpc);
  CHECK(str(r.to_rpc_term()) == "{badrpc,{'EXIT',foo}}");
  CHECK(result_of_rex_reply(erl("{ok,1}")).value == erl("{ok,1}"));
  CHECK(str(timeout_result().to_rpc_term()) == "{badrpc,timeout}");
}

TEST_CASE("get() raises as erpc does") {
  reference res(atom("a@h"), 1, {9u});
  auto r = result_of_erpc_down(res, tuple{res, atom("error"), atom("x"), list{}});
  try {
    (void)r.get();
    FAIL("no throw");
  } catch (const erlang_exception& e) {
    CHECK(e.cls() == exception_class::error);
    CHECK(e.reason() == term(atom("x")));
  }
  try {
    (void)timeout_result().get();
    FAIL("no throw");
  } catch (const erlang_exception& e) {
    CHECK(str(e.reason()) == "{erpc,timeout}");
  }
  CHECK(rpc_result::from_value(1).get() == term(1));
}
