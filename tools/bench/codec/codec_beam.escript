#!/usr/bin/env escript
%% -*- erlang -*-
%%! +S 1:1 +A 0 +MBsbct 4096
%%
%% The BEAM side of the codec benchmark (one scheduler, like the single-threaded C++ side).
%% +MBsbct 4096 keeps 1 MB binaries in multi-block carriers: with the default single-block
%% carrier threshold (512 KB) binary_to_term/1 of the bin_1m corpus is ~60x slower, an
%% allocator artefact that would flatter our numbers.
%%
%%   codec_beam.escript gen DIR
%%       Writes the corpora, term_to_binary/1 of each, as DIR/<name>.etf.
%%   codec_beam.escript bench DIR CLOCK MIN_MS RUNS NAME...
%%       For each corpus: binary_to_term/1 of the file's bytes, and term_to_binary/1 of the
%%       decoded term. Picks an iteration count N so one run lasts at least MIN_MS, times RUNS
%%       runs of N iterations and prints the best as one JSON line. CLOCK is wall
%%       (erlang:monotonic_time/1) or cpu (statistics(runtime): CPU time of the emulator, whose
%%       only busy thread is the one scheduler; millisecond resolution, so use MIN_MS >= 80):
%%       {"corpus":...,"op":"decode"|"encode","impl":"beam","ns_per_iter":...,"iters":N}
-mode(compile).

main(["gen", Dir]) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    [ok = file:write_file(filename:join(Dir, Name ++ ".etf"), term_to_binary(T))
     || {Name, T} <- corpora()],
    ok;
main(["bench", Dir, Clock, MinMs, Runs | Names]) ->
    persistent_term:put(codec_bench_clock, list_to_atom(Clock)),
    Min = list_to_integer(MinMs) * 1000000,
    R = list_to_integer(Runs),
    lists:foreach(fun(Name) -> bench(Dir, Name, Min, R) end, Names);
main(_) ->
    io:format(standard_error,
              "usage: codec_beam.escript gen DIR | bench DIR wall|cpu MIN_MS RUNS NAME...~n", []),
    halt(2).

corpora() ->
    [{"small", small()},
     {"ints", lists:seq(1, 100000)},
     {"tuples", [{I, integer_to_binary(I), float(I), [a, b | c]} || I <- lists:seq(1, 20000)]},
     {"bin_64k", binaries(16, 64 * 1024)},
     {"bin_1m", binaries(16, 1024 * 1024)}].

%% About 200 bytes: atoms, integers of every encoding, binaries, a string, a float, a map, a pid
%% and a reference.
small() ->
    {user, 42, -7, 100000, 1 bsl 40, <<"alice">>, <<"alice@example.com">>, "hello", 3.25,
     [admin, staff, {since, 2019}],
     #{name => <<"Alice">>, age => 30, active => true, tags => [a, b]},
     self(), make_ref()}.

binaries(N, Size) -> [binary:copy(<<I>>, Size) || I <- lists:seq(1, N)].

bench(Dir, Name, Min, Runs) ->
    {ok, Bin} = file:read_file(filename:join(Dir, Name ++ ".etf")),
    Words = erts_debug:flat_size(binary_to_term(Bin)),
    report(Name, "decode",
           best_heap(Words, fun() -> measure(fun decode_loop/2, Bin, Min, Runs) end)),
    report(Name, "encode",
           best_heap(Words,
                     fun() -> measure(fun encode_loop/2, binary_to_term(Bin), Min, Runs) end)).

%% Each measurement runs in fresh processes, once with the default heap and once with a heap
%% that holds 8 decoded terms, and the faster is kept: the BEAM at its best. With the default
%% heap, whether a collection copies the newest result varies from run to run
%% (binary_to_term/1 of ints: 0.35 or 1.1 ms); the large heap is stable but loses cache
%% locality on big terms (tuples: 4.5 against 2.5-4 ms).
best_heap(Words, F) ->
    min(isolated([], F), isolated([{min_heap_size, 8 * Words + 233}], F)).

isolated(Opts, F) ->
    {Pid, Ref} = spawn_opt(fun() -> exit({done, F()}) end, [monitor | Opts]),
    receive
        {'DOWN', Ref, process, Pid, {done, Result}} -> Result;
        {'DOWN', Ref, process, Pid, Reason} -> error(Reason)
    end.

report(Name, Op, {Ns, N}) ->
    io:format("{\"corpus\":\"~s\",\"op\":\"~s\",\"impl\":\"beam\",\"ns_per_iter\":~.3f,"
              "\"iters\":~b}~n", [Name, Op, Ns, N]).

%% Returns {best ns per iteration, iterations per run}.
measure(Loop, Arg, Min, Runs) ->
    N = calibrate(Loop, Arg, Min, 1),
    Best = lists:min([time(Loop, Arg, N) || _ <- lists:seq(1, Runs)]),
    {Best / N, N}.

%% The better of two timings, so one slow run (a GC, a preemption) does not stop it early.
calibrate(Loop, Arg, Min, N) ->
    case min(time(Loop, Arg, N), time(Loop, Arg, N)) of
        T when T >= Min; N >= 1 bsl 30 -> N;
        T when T * 8 < Min -> calibrate(Loop, Arg, Min, N * 8);
        _ -> calibrate(Loop, Arg, Min, N * 2)
    end.

time(Loop, Arg, N) ->
    garbage_collect(),  % keeps min_heap_size
    T0 = now_ns(),
    _ = Loop(N, Arg),
    now_ns() - T0.

now_ns() ->
    case persistent_term:get(codec_bench_clock) of
        cpu -> element(1, statistics(runtime)) * 1000000;
        _ -> erlang:monotonic_time(nanosecond)
    end.

%% The last result is returned so the calls cannot be optimised away.
decode_loop(N, Bin) -> decode_loop(N, Bin, []).
decode_loop(0, _, Last) -> Last;
decode_loop(N, Bin, _) -> decode_loop(N - 1, Bin, binary_to_term(Bin)).

encode_loop(N, Term) -> encode_loop(N, Term, <<>>).
encode_loop(0, _, Last) -> Last;
encode_loop(N, Term, _) -> encode_loop(N - 1, Term, term_to_binary(Term)).
