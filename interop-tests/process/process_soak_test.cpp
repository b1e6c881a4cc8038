// Soak: 100,000 messages with random links, unlinks, monitors, demonitors, exit/2 signals and
// deaths between 50 erl processes and 50 C++ mailboxes; afterwards neither side holds any
// link or monitor state about the other, and erl's process count is back where it started.
#include "node/cpp_node.hpp"
#include "node/node_impl.hpp"
#include "support/erl_process.hpp"

#include <erlnode/text.hpp>

#include <catch2/catch.hpp>

#include <random>

using namespace erlnode;
using namespace erlnode::interop;
using namespace std::chrono_literals;

TEST_CASE("soak: random signals between 50 erl processes and 50 mailboxes leak nothing") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  node_options o;
  o.name = unique_name("cpp");
  o.cookie = erl.cookie();
  o.epmd_port = static_cast<std::uint16_t>(e.port());
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  auto box = c->create_mailbox(atom("box")).value();
  REQUIRE(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
  const std::string base = erl.eval("erlang:system_info(process_count)");

  // Workers obey commands; the manager keeps 50 of them alive and tells us their pids.
  erl.eval(
      "Box = {box, '" + c.name() +
      "'}, "
      "Worker = fun Loop() -> receive "
      "{send, To, K} -> [To ! {from_erl, I} || I <- lists:seq(1, K)], Loop(); "
      "{link, P} -> catch link(P), Loop(); "
      "{unlink, P} -> unlink(P), Loop(); "
      "{monitor, P} -> monitor(process, P), Loop(); "
      "{exit, P, R} -> exit(P, R), Loop(); "
      "{die, R} -> exit(R); "
      "_ -> Loop() end end, "
      "Spawn = fun(I) -> {P, _} = spawn_monitor(fun() -> process_flag(trap_exit, I rem 2 =:= 0), "
      "Worker() end), Box ! {slot, I, P}, P end, "
      "Mgr = spawn(fun() -> W0 = maps:from_list([{I, Spawn(I)} || I <- lists:seq(0, 49)]), "
      "(fun ML(Ws) -> receive "
      "{'DOWN', _, process, P, _} -> case [I || {I, W} <- maps:to_list(Ws), W =:= P] of "
      "[I] -> ML(Ws#{I => Spawn(I)}); [] -> ML(Ws) end; "
      "{stop, From} -> [begin erlang:demonitor(R0, [flush]), ok end || R0 <- []], "
      "[exit(W, kill) || W <- maps:values(Ws)], From ! stopped end end)(W0) end), ok");

  constexpr int n = 50;
  std::vector<std::optional<pid>> erl_pids(n);
  auto take_slots = [&] {
    while (auto m = box.try_receive()) {
      auto* t = m->get_if<tuple>();
      if (t && t->size() == 3 && (*t)[0].is_atom(atom("slot")))
        erl_pids[static_cast<std::size_t>(*(*t)[1].to_int64())] = (*t)[2].as<pid>();
    }
  };
  for (int i = 0;
       i < 100 && std::any_of(erl_pids.begin(), erl_pids.end(), [](auto& p) { return !p; }); ++i) {
    take_slots();
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(std::all_of(erl_pids.begin(), erl_pids.end(), [](auto& p) { return p.has_value(); }));

  std::vector<mailbox> cpp(n);
  std::vector<std::vector<reference>> refs(n);
  auto fresh = [&](int i) {
    cpp[i] = c->create_mailbox();
    cpp[i].trap_exit(i % 2 == 0);
    refs[i].clear();
  };
  for (int i = 0; i < n; ++i) fresh(i);

  std::mt19937 rng(12345);
  const atom reasons[] = {atoms::normal, atom("boom"), atoms::kill};
  long messages = 0, signals = 0, deaths = 0;
  while (messages < 100'000) {
    take_slots();
    const int i = static_cast<int>(rng() % n), j = static_cast<int>(rng() % n);
    if (!cpp[i].alive()) {
      ++deaths;
      fresh(i);
    }
    mailbox& mb = cpp[i];
    const pid& ep = *erl_pids[j];
    auto cmd = [&](term t) { (void)mb.send(ep, t); };
    const unsigned r = rng() % 100;
    if (r < 80) {
      cmd(tuple{atom("msg"), messages});
      ++messages;
      continue;
    }
    if (r < 86) {
      cmd(tuple{atom("send"), mb.self(), 5});
      messages += 6;
      continue;
    }
    ++signals;
    switch (r) {
      case 86:
        (void)mb.link(ep);
        break;
      case 87:
        (void)mb.unlink(ep);
        break;
      case 88:
        refs[i].push_back(mb.monitor(ep));
        break;
      case 89:
        if (!refs[i].empty()) {
          mb.demonitor(refs[i].back(), true);
          refs[i].pop_back();
        }
        break;
      case 90:
        cmd(tuple{atoms::link, mb.self()});
        break;
      case 91:
        cmd(tuple{atom("unlink"), mb.self()});
        break;
      case 92:
        cmd(tuple{atoms::monitor, mb.self()});
        break;
      case 93:
        (void)mb.exit(ep, reasons[rng() % 3]);
        break;
      case 94:
        cmd(tuple{atoms::exit, mb.self(), reasons[rng() % 3]});
        break;
      case 95:
        mb.exit(reasons[rng() % 2]);
        break;
      case 96:
        cmd(tuple{atom("die"), atom("boom")});
        break;
      default: {
        // Local links between mailboxes too.
        auto& other = cpp[static_cast<std::size_t>(j)];
        if (other.alive()) (void)mb.link(other.self());
      }
    }
    if (messages % 1000 == 0)
      for (auto& m : cpp)
        while (m.alive() && m.try_receive()) {
        }
  }
  WARN("messages " << messages << ", signals " << signals << ", mailbox deaths " << deaths);
  std::this_thread::sleep_for(1s);

  // Every mailbox exits: erl must be left with no link or monitor naming our node.
  cpp.clear();
  std::this_thread::sleep_for(1s);
  const std::string refs_to_us =
      "CN = '" + c.name() +
      "', NodeOf = fun(P) when is_pid(P) -> node(P); ({process, P}) when is_pid(P) -> node(P); "
      "({process, {_, Nd}}) -> Nd; (_) -> none end, "
      "length([X || P <- processes(), {_, Vs} <- case process_info(P, [links, monitors, "
      "monitored_by]) of undefined -> []; I -> I end, X <- Vs, NodeOf(X) =:= CN])";
  CHECK(erl.eval(refs_to_us) == "0");
  auto s = c->impl()->stats();
  CHECK(s.processes == 1);  // box
  CHECK(s.links == 0);
  CHECK(s.monitors == 0);
  CHECK(s.watching == 0);
  CHECK(s.aliases == 0);
  CHECK(s.peer_index == 0);

  // And erl's processes go back to the count before the soak.
  CHECK(erl.eval("Mgr ! {stop, self()}, receive stopped -> ok after 10000 -> timeout end") == "ok");
  CHECK(erl.eval("receive after 500 -> ok end, erlang:system_info(process_count)") == base);
}
