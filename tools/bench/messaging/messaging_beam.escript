#!/usr/bin/env escript
%% -*- erlang -*-
%% BEAM side of the messaging benchmark (see README.md for the protocol).
%%
%%   recv NAME COOKIE
%%       Starts a short-named node, registers `bench` and serves runs until killed. Prints
%%       "ready NODE" once registered.
%%   send NAME COOKIE N_SMALL N_BIN REPS PATH=NODE...
%%       Starts a node and, for each target node, runs `small` and `bin_1mb` REPS times each.
%%       Prints "result PATH CASE ELAPSED_US RECV_CPU_US SEND_CPU_US" per run.
%%
%% ERL_EPMD_PORT selects the (isolated) epmd.
-mode(compile).

main(["recv", Name, Cookie]) ->
    start_dist(Name, Cookie),
    true = register(bench, self()),
    io:format("ready ~s~n", [node()]),
    idle();
main(["send", Name, Cookie, NSmall, NBin, Reps | Targets]) ->
    start_dist(Name, Cookie),
    Cases = [{small, list_to_integer(NSmall)}, {bin_1mb, list_to_integer(NBin)}],
    lists:foreach(
      fun(Target) ->
              [Path, Node] = string:split(Target, "="),
              Dest = {bench, list_to_atom(Node)},
              [report(Path, Case, run(Dest, msg(Case), N))
               || {Case, N} <- Cases, N > 0, _ <- lists:seq(1, list_to_integer(Reps))]
      end, Targets),
    halt(0);
main(_) ->
    io:format(standard_error, "usage: messaging_beam.escript recv|send ...~n", []),
    halt(2).

start_dist(Name, Cookie) ->
    {ok, _} = net_kernel:start([list_to_atom(Name), shortnames]),
    erlang:set_cookie(node(), list_to_atom(Cookie)).

msg(small) -> {hello, 42, <<"world">>};
msg(bin_1mb) -> binary:copy(<<16#5a>>, 1 bsl 20).

%% The whole VM's CPU time: the sum over all its threads of /proc/self/task/*/schedstat
%% (nanoseconds; like getrusage(RUSAGE_SELF) of the C and C++ peers). statistics(runtime)
%% is not used: it misses much of the VM's work (a 1 MiB-binary run showed a third of it).
cpu_us() ->
    case file:list_dir("/proc/self/task") of
        {ok, Tasks} -> lists:sum([task_ns(T) || T <- Tasks]) div 1000;
        _ -> element(1, erlang:statistics(runtime)) * 1000
    end.

task_ns(T) ->
    case file:read_file("/proc/self/task/" ++ T ++ "/schedstat") of
        {ok, S} -> binary_to_integer(hd(binary:split(S, <<" ">>)));
        _ -> 0  % the thread ended
    end.

%% --- receiver -----------------------------------------------------------------------------

idle() ->
    receive
        {sync, From, N} ->
            Cpu0 = cpu_us(),
            From ! {ready, self()},
            count(N, From, Cpu0);
        _ ->
            idle()
    end.

%% The same light check every receiver does: the small tuple's shape, or a binary.
count(0, From, Cpu0) ->
    From ! {done, cpu_us() - Cpu0},
    idle();
count(N, From, Cpu0) ->
    receive
        {hello, 42, B} when is_binary(B) -> count(N - 1, From, Cpu0);
        B when is_binary(B) -> count(N - 1, From, Cpu0)
    end.

%% --- sender -------------------------------------------------------------------------------
run(Dest, Msg, N) ->
    Dest ! {sync, self(), N},
    receive {ready, _} -> ok after 30000 -> exit({no_ready, Dest}) end,
    C0 = cpu_us(),
    T0 = erlang:monotonic_time(microsecond),
    send_n(Dest, Msg, N),
    receive
        {done, Cpu} -> {erlang:monotonic_time(microsecond) - T0, Cpu, cpu_us() - C0}
    after 120000 -> exit({no_done, Dest})
    end.

send_n(_, _, 0) -> ok;
send_n(Dest, Msg, N) ->
    Dest ! Msg,
    send_n(Dest, Msg, N - 1).

report(Path, Case, {Us, RecvCpu, SendCpu}) ->
    io:format("result ~s ~s ~b ~b ~b~n", [Path, Case, Us, RecvCpu, SendCpu]).
