#!/usr/bin/env escript
%% -*- erlang -*-
%%! -sname dist_capture -setcookie capturecookie -hidden
%%
%% Records real distribution traffic from this (live) node to a fake peer that speaks the
%% protocol from raw gen_tcp sockets: the handshake messages, then the packets the BEAM
%% sends for each operation (links, monitors, sends, exits, spawn requests, seq_trace
%% variants, fragments, atom cache headers). Three fake connections with different flags:
%%   pass: no DIST_HDR_ATOM_CACHE/FRAGMENTS (pass-through 112 packets), new variants
%%   hdr:  hidden profile incl. DIST_HDR_ATOM_CACHE + FRAGMENTS (131,68/69/70 headers)
%%   old:  no SEND_SENDER/EXIT_PAYLOAD/UNLINK_ID/ALIAS (old control message variants)
%% Output lines: "<conn> <label> <hex>" (hex = a handshake payload or a packet payload).
%% Run through scripts/capture-dist-vectors (isolated epmd).
-mode(compile).

-define(CREATION, 16#00C0FFEE).
-define(OUR_CHALLENGE, 16#12345678).
-define(COOKIE, "capturecookie").

flags() ->
    #{published => 16#1, extended_references => 16#4, dist_monitor => 16#8,
      fun_tags => 16#10, dist_monitor_name => 16#20, new_fun_tags => 16#80,
      extended_pids_ports => 16#100, export_ptr_tag => 16#200, bit_binaries => 16#400,
      new_floats => 16#800, unicode_io => 16#1000, dist_hdr_atom_cache => 16#2000,
      small_atom_tags => 16#4000, utf8_atoms => 16#10000, map_tag => 16#20000,
      big_creation => 16#40000, send_sender => 16#80000, big_seqtrace_labels => 16#100000,
      exit_payload => 16#400000, fragments => 16#800000, handshake_23 => 16#1000000,
      unlink_id => 16#2000000, mandatory_25_digest => 16#4000000, spawn => 1 bsl 32,
      v4_nc => 1 bsl 34, alias => 1 bsl 35}.

fl(Names) -> F = flags(), lists:foldl(fun(N, A) -> A bor maps:get(N, F) end, 0, Names).

mandatory() ->
    [extended_references, fun_tags, extended_pids_ports, new_fun_tags, export_ptr_tag,
     bit_binaries, new_floats, utf8_atoms, map_tag, big_creation, handshake_23].
optional() ->
    [mandatory_25_digest, unlink_id, v4_nc, dist_monitor, dist_monitor_name, send_sender,
     exit_payload, spawn, alias, unicode_io, small_atom_tags, big_seqtrace_labels].

main([Out]) ->
    {ok, F} = file:open(Out, [write]),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    {port, Port, _} = erl_epmd:port_please("dist_capture", "localhost"),
    Conns = [{pass, fl(mandatory() ++ optional())},
             {hdr, fl(mandatory() ++ optional() ++ [fragments, dist_hdr_atom_cache])},
             {old, fl(mandatory() ++ [dist_monitor, dist_monitor_name, spawn])}],
    io:format(F, "# recorded by scripts/capture-dist-vectors.escript from OTP ~s (erts ~s)~n",
              [erlang:system_info(otp_release), erlang:system_info(version)]),
    io:format(F, "# beam ~s cookie ~s fake creation ~.16B our challenge ~.16B~n",
              [node(), ?COOKIE, ?CREATION, ?OUR_CHALLENGE]),
    [capture(F, Conn, Flags, Host, Port) || {Conn, Flags} <- Conns],
    file:close(F),
    halt(0).

capture(F, Conn, Flags, Host, Port) ->
    FakeName = "fake_" ++ atom_to_list(Conn) ++ "@" ++ Host,
    Node = list_to_atom(FakeName),
    {S, Hs} = fake_connect(FakeName, Flags, Port),
    [emit(F, Conn, L, B) || {L, B} <- Hs],
    io:format(F, "~s flags ~16.16.0B~n", [Conn, Flags]),
    Mode = case Flags band fl([fragments, dist_hdr_atom_cache]) of 0 -> pass; _ -> hdr end,
    P = mkpid(Node, 1, 0),
    P2 = mkpid(Node, 2, 0),
    R = mkref(Node, [1, 2, 3]),
    NewIds = Flags band fl([unlink_id]) =/= 0,
    Alias = Flags band fl([alias]) =/= 0,
    Ops =
        [{send, fun() -> P ! {hello, "world", 42, self()} end},
         {reg_send, fun() -> {some_name, Node} ! {hello_reg, [1, 2.5, <<"bin">>]} end},
         {link, fun() -> link(P) end},
         {unlink, fun() -> unlink(P) end},
         {monitor_p, fun() -> put(m, monitor(process, P)) end},
         {demonitor_p, fun() -> demonitor(get(m)) end},
         {monitor_p_name, fun() -> put(m, monitor(process, {some_name, Node})) end},
         {demonitor_p_name, fun() -> demonitor(get(m)) end},
         {exit2, fun() -> exit(P, {shutdown, because}) end},
         {link_exit, fun() -> spawn(fun() -> link(P2), exit({linked, reason})end), timer:sleep(50) end},
         {group_leader, fun() -> group_leader(self(), P) end},
         {spawn_request, fun() -> spawn_request(Node, erlang, node, [], [monitor, link]) end},
         {send_tt, fun() -> traced(fun() -> P ! traced_send end) end},
         {reg_send_tt, fun() -> traced(fun() -> {some_name, Node} ! traced_reg end) end},
         {exit2_tt, fun() -> traced(fun() -> exit(P, traced_exit) end) end},
         {spawn_request_tt, fun() -> traced(fun() -> spawn_request(Node, m, f, [a], []) end) end},
         {big_send, fun() -> P ! {big, binary:copy(<<1, 2, 3>>, 50000)} end},
         {atom_cache_again, fun() -> P ! {hello, "world", 42, self()} end}]
        ++ [{alias_send, fun() -> R ! {alias_msg, 1} end} || Alias]
        ++ [{alias_send_tt, fun() -> traced(fun() -> R ! traced_alias end) end} || Alias],
    [begin Fun(), emit_packets(F, Conn, Label, drain(S)) end || {Label, Fun} <- Ops],
    %% Replies to messages the fake peer sends.
    Beam = spawn(fun() -> receive stop -> ok end end),
    register(capture_target, Beam),
    Lnk = {1, P, Beam},
    fake_send(S, Mode, Lnk, none),
    timer:sleep(50),
    _ = drain(S),
    [begin
         fake_send(S, Mode, {35, 4711, P, Beam}, none),
         emit_packets(F, Conn, unlink_id_ack, drain(S))
     end || NewIds],
    fake_send(S, Mode, {29, R, P, P, {erlang, node, 0}, [monitor]}, []),
    emit_packets(F, Conn, spawn_reply_and_exit, drain(S)),
    fake_send(S, Mode, {19, P, no_such_name, mkref(Node, [7, 7, 7])}, none),
    emit_packets(F, Conn, monitor_p_exit_noproc, drain(S)),
    Victim = spawn(fun() -> receive die -> exit({died, here}) end end),
    fake_send(S, Mode, {19, P, Victim, mkref(Node, [8, 8, 8])}, none),
    timer:sleep(50),
    Victim ! die,
    emit_packets(F, Conn, monitor_p_exit_reason, drain(S)),
    Beam ! stop,
    unregister_quiet(capture_target),
    gen_tcp:close(S),
    timer:sleep(100).

unregister_quiet(Name) -> catch unregister(Name).

traced(Fun) ->
    seq_trace:set_token(label, 17),
    Fun(),
    seq_trace:set_token([]).

mkpid(Node, Id, Serial) ->
    N = atom_to_binary(Node, utf8),
    binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, Id:32, Serial:32, ?CREATION:32>>).

mkref(Node, Words) ->
    N = atom_to_binary(Node, utf8),
    W = << <<X:32>> || X <- Words >>,
    binary_to_term(<<131, 90, (length(Words)):16, 119, (byte_size(N)), N/binary,
                     ?CREATION:32, W/binary>>).

fake_connect(Name, Flags, Port) ->
    {ok, S} = gen_tcp:connect("localhost", Port, [binary, {packet, 2}, {active, false}]),
    NameBin = list_to_binary(Name),
    SendName = <<$N, Flags:64, ?CREATION:32, (byte_size(NameBin)):16, NameBin/binary>>,
    ok = gen_tcp:send(S, SendName),
    {ok, Status} = gen_tcp:recv(S, 0, 5000),
    <<"sok">> = Status,
    {ok, Challenge} = gen_tcp:recv(S, 0, 5000),
    <<$N, _:64, Ch:32, _:32, _/binary>> = Challenge,
    Reply = <<$r, ?OUR_CHALLENGE:32, (erlang:md5([?COOKIE, integer_to_list(Ch)]))/binary>>,
    ok = gen_tcp:send(S, Reply),
    {ok, Ack} = gen_tcp:recv(S, 0, 5000),
    Ack = <<$a, (erlang:md5([?COOKIE, integer_to_list(?OUR_CHALLENGE)]))/binary>>,
    ok = inet:setopts(S, [{packet, 4}]),
    {S, [{hs_send_name, SendName}, {hs_status, Status}, {hs_challenge, Challenge},
         {hs_reply, Reply}, {hs_ack, Ack}]}.

%% Control messages from the fake peer, as a non-BEAM node would encode them.
fake_send(S, pass, Ctl, Msg) ->
    ok = gen_tcp:send(S, [112, term_to_binary(Ctl) | msg_bin(Msg, true)]);
fake_send(S, hdr, Ctl, Msg) ->
    <<131, C/binary>> = term_to_binary(Ctl),
    ok = gen_tcp:send(S, [<<131, 68, 0>>, C | msg_bin(Msg, false)]).

msg_bin(none, _) -> [];
msg_bin(M, true) -> [term_to_binary(M)];
msg_bin(M, false) -> <<131, B/binary>> = term_to_binary(M), [B].

drain(S) -> drain(S, []).
drain(S, Acc) ->
    case gen_tcp:recv(S, 0, 300) of
        {ok, <<>>} -> drain(S, Acc);  % tick
        {ok, B} -> drain(S, [B | Acc]);
        {error, timeout} -> lists:reverse(Acc)
    end.

emit_packets(F, Conn, Label, Packets) ->
    [emit(F, Conn, Label, B) || B <- Packets],
    case Packets of
        [] -> io:format(F, "# ~s ~s: nothing sent~n", [Conn, Label]);
        _ -> ok
    end.

emit(F, Conn, Label, Bin) ->
    io:format(F, "~s ~s ~s~n", [Conn, Label, binary:encode_hex(Bin)]).
