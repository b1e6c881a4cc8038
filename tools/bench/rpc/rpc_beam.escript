#!/usr/bin/env escript
%% -*- erlang -*-
%% BEAM side of the rpc benchmark (README.md).
%%
%%   target NAME COOKIE
%%       Starts a short-named node with a module `cpp` whose echo/1 returns its argument (the
%%       BEAM counterpart of erlnode-serve's cpp:echo/1) and serves until killed. Prints
%%       "ready NODE".
%%   drive NAME COOKIE N_SEQ PROCS CALLS_PER_PROC REPS PATH=NODE...
%%       Starts a node and, per round, runs each target once: `latency` (N_SEQ sequential
%%       rpc:call(Node, cpp, echo, [Small])) and `concurrent` (PROCS processes each making
%%       CALLS_PER_PROC such calls at once). Prints "result PATH CASE CALLS ELAPSED_US" per run.
%%
%% ERL_EPMD_PORT selects the (isolated) epmd.
-mode(compile).

main(["target", Name, Cookie]) ->
    start_dist(Name, Cookie),
    load_echo_module(),
    io:format("ready ~s~n", [node()]),
    receive after infinity -> ok end;
main(["drive", Name, Cookie, NSeq, Procs, PerProc, Reps | Targets]) ->
    start_dist(Name, Cookie),
    Paths = [begin [P, N] = string:split(T, "="), {P, list_to_atom(N)} end || T <- Targets],
    [warm(Node) || {_, Node} <- Paths],
    [begin
         report(Path, latency, latency(Node, list_to_integer(NSeq))),
         report(Path, concurrent,
                concurrent(Node, list_to_integer(Procs), list_to_integer(PerProc)))
     end || _ <- lists:seq(1, list_to_integer(Reps)), {Path, Node} <- Paths],
    halt(0);
main(_) ->
    io:format(standard_error, "usage: rpc_beam.escript target|drive ...~n", []),
    halt(2).

start_dist(Name, Cookie) ->
    {ok, _} = net_kernel:start([list_to_atom(Name), shortnames]),
    erlang:set_cookie(node(), list_to_atom(Cookie)).

load_echo_module() ->
    Forms = [{attribute, 1, module, cpp},
             {attribute, 2, export, [{echo, 1}]},
             {function, 3, echo, 1, [{clause, 3, [{var, 3, 'X'}], [], [{var, 3, 'X'}]}]}],
    {ok, cpp, Bin} = compile:forms(Forms),
    {module, cpp} = code:load_binary(cpp, "cpp.erl", Bin).

msg() -> {hello, 42, <<"world">>}.

%% Connects and checks the answer, so no handshake is timed and a wrong target fails loudly.
warm(Node) ->
    M = msg(),
    [M = rpc:call(Node, cpp, echo, [M]) || _ <- lists:seq(1, 200)].

latency(Node, N) ->
    M = msg(),
    T0 = erlang:monotonic_time(microsecond),
    seq(Node, M, N),
    {N, erlang:monotonic_time(microsecond) - T0}.

seq(_, _, 0) -> ok;
seq(Node, M, K) ->
    M = rpc:call(Node, cpp, echo, [M]),
    seq(Node, M, K - 1).

concurrent(Node, Procs, PerProc) ->
    Self = self(),
    M = msg(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> seq(Node, M, PerProc), Self ! {done, self()} end)
            || _ <- lists:seq(1, Procs)],
    [receive {done, P} -> ok end || P <- Pids],
    {Procs * PerProc, erlang:monotonic_time(microsecond) - T0}.

report(Path, Case, {Calls, Us}) ->
    io:format("result ~s ~s ~b ~b~n", [Path, Case, Calls, Us]).
