%% BEAM side of the distribution benchmark (compiled by erlnode_dist_bench at run time).
%% sink/0: a counting receiver registered as `sink`; {done, From} answers {ack, Count, CpuUs}.
%% run/3: sends to a sink and prints one JSON line per measurement.
-module(dist_bench).
-export([sink/0, run/3]).

sink() ->
    register(sink, self()),
    io:format("READY~n"),
    sink_loop(0, undefined).

sink_loop(N, Cpu0) ->
    receive
        {done, From} ->
            {Cpu1, _} = statistics(runtime),
            From ! {ack, N, (Cpu1 - start_cpu(Cpu0)) * 1000},
            sink_loop(0, undefined);
        _ when Cpu0 =:= undefined ->
            {C, _} = statistics(runtime),
            sink_loop(N + 1, C);
        _ ->
            sink_loop(N + 1, Cpu0)
    end.

start_cpu(undefined) -> element(1, statistics(runtime));
start_cpu(C) -> C.

%% Pair: label; Target: {Name, Node}; Sizes: [{small, N} | {big, N}]
run(Pair, Target = {_, Node}, Sizes) ->
    true = net_kernel:connect_node(Node),
    [measure(Pair, Target, S) || S <- Sizes],
    ok.

measure(Pair, Target, {Kind, N}) ->
    Msg = case Kind of
              small -> {hello, 42, <<"world">>};
              big -> binary:copy(<<7>>, 1 bsl 20)
          end,
    T0 = erlang:monotonic_time(microsecond),
    send_n(Target, Msg, N),
    Target ! {done, self()},
    {Count, CpuUs} = receive {ack, C, Cpu} -> {C, Cpu} after 120000 -> {0, 0} end,
    T1 = erlang:monotonic_time(microsecond),
    Secs = (T1 - T0) / 1.0e6,
    Rate = case Kind of
               small -> io_lib:format("\"msgs_per_s\":~.1f", [Count / Secs]);
               big -> io_lib:format("\"mb_per_s\":~.1f", [Count / Secs])
           end,
    io:format("{\"bench\":\"dist\",\"pair\":\"~s\",\"kind\":\"~s\",\"messages\":~b,"
              "\"seconds\":~.3f,~s,\"recv_cpu_us_per_msg\":~.3f}~n",
              [Pair, Kind, Count, Secs, Rate, CpuUs / max(Count, 1)]).

send_n(_, _, 0) -> ok;
send_n(T, M, N) -> T ! M, send_n(T, M, N - 1).
