#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% Random terms for interop-tests/etf/property_test.cpp.
%%
%% Usage: random_terms.escript SEED COUNT DIR
%% 1. Generates COUNT random nested terms (fixed SEED) and writes DIR/terms.bin, one record
%%    per term:  Flags:8, Len:32, term_to_binary bytes, TextLen:32, ~w text (UTF-8)
%%    Flags: 1 = encoded with [{minor_version, 2}], 2 = [compressed], 4 = the text is
%%    comparable (no pid, port or ref inside, whose ~w shows a node index local to this erl),
%%    8 = the text is a literal erl_parse:parse_term/1 reads (nor any local fun).
%%    Prints "GENERATED <count>".
%% 2. Reads "CHECK <file>" from stdin. The file holds records  Index:32, Len:32, bytes  of
%%    terms encoded by C++; each must binary_to_term to a term =:= the original term Index.
%%    Prints "BAD <index> <reason>" for the first mismatches and then
%%    "CHECKED ok=<n> bad=<n>", and exits.
-mode(compile).

main([SeedS, CountS, Dir]) ->
    Seed = list_to_integer(SeedS),
    Count = list_to_integer(CountS),
    rand:seed(exsss, {Seed, Seed * 7 + 1, Seed * 13 + 2}),
    Ctx = context(),
    Terms = [gen(3, Ctx) || _ <- lists:seq(1, Count)],
    Records = [record(T) || T <- Terms],
    ok = file:write_file(filename:join(Dir, "terms.bin"), Records),
    io:format("GENERATED ~b~n", [Count]),
    check(list_to_tuple(Terms));
main(_) ->
    io:format("usage: random_terms.escript SEED COUNT DIR~n"),
    halt(2).

record(T) ->
    Flag = rand:uniform(4),
    {Opts, F0} = case Flag of
                     1 -> {[{minor_version, 2}], 1};
                     2 -> {[compressed], 2};
                     _ -> {[], 0}
                 end,
    B = term_to_binary(T, Opts),
    Text = unicode:characters_to_binary(io_lib:format("~w", [T])),
    F1 = case has_local_id(T) of
             true -> F0;
             false -> F0 bor 4
         end,
    F = case parseable(T) of
            true -> F1 bor 8;
            false -> F1
        end,
    <<F:8, (byte_size(B)):32, B/binary, (byte_size(Text)):32, Text/binary>>.

check(Terms) ->
    case io:get_line("") of
        "CHECK " ++ Rest ->
            {ok, Bin} = file:read_file(string:trim(Rest)),
            {Ok, Bad} = check_records(Bin, Terms, 0, 0),
            io:format("CHECKED ok=~b bad=~b~n", [Ok, Bad]);
        Other ->
            io:format("unexpected input ~p~n", [Other]),
            halt(1)
    end.

check_records(<<>>, _, Ok, Bad) -> {Ok, Bad};
check_records(<<I:32, Len:32, B:Len/binary, Rest/binary>>, Terms, Ok, Bad) ->
    Orig = element(I + 1, Terms),
    case catch binary_to_term(B) of
        T when T =:= Orig -> check_records(Rest, Terms, Ok + 1, Bad);
        Other ->
            [io:format("BAD ~b ~w~n", [I, {expected, Orig, got, Other, bytes, B}])
             || Bad < 10],
            check_records(Rest, Terms, Ok, Bad + 1)
    end.

has_local_id(T) when is_pid(T); is_port(T); is_reference(T) -> true;
has_local_id([H | T]) -> has_local_id(H) orelse has_local_id(T);
has_local_id(T) when is_tuple(T) -> has_local_id(tuple_to_list(T));
has_local_id(T) when is_map(T) -> has_local_id(maps:to_list(T));
has_local_id(_) -> false.

parseable(T) when is_pid(T); is_port(T); is_reference(T) -> false;
parseable(T) when is_function(T) -> erlang:fun_info(T, type) =:= {type, external};
parseable([H | T]) -> parseable(H) andalso parseable(T);
parseable(T) when is_tuple(T) -> parseable(tuple_to_list(T));
parseable(T) when is_map(T) -> parseable(maps:to_list(T));
parseable(_) -> true.

%% ---------------------------------------------------------------------------------------
%% The generator.

context() ->
    Pids = [self() | [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 3)]],
    Refs = [make_ref() || _ <- lists:seq(1, 3)] ++ [erlang:monitor(process, self())],
    #{pids => Pids, refs => Refs, ports => erlang:ports(),
      funs => [fun(X) -> X end, fun() -> Pids end, fun lists:map/2]}.

pick(L) -> lists:nth(rand:uniform(length(L)), L).

gen(0, Ctx) -> leaf(Ctx);
gen(D, Ctx) ->
    case rand:uniform(10) of
        N when N =< 4 -> leaf(Ctx);
        5 -> [gen(D - 1, Ctx) || _ <- lists:seq(1, rand:uniform(6) - 1)];
        6 -> list_to_tuple([gen(D - 1, Ctx) || _ <- lists:seq(1, rand:uniform(6) - 1)]);
        7 -> maps:from_list([{gen(D - 1, Ctx), gen(D - 1, Ctx)}
                             || _ <- lists:seq(1, rand:uniform(6) - 1)]);
        8 -> improper(D, Ctx);
        9 -> case rand:uniform(8) of
                 1 -> large_map(Ctx);
                 2 when D < 3 -> leaf(Ctx);
                 3 -> list_to_tuple([leaf(Ctx) || _ <- lists:seq(1, 250 + rand:uniform(20))]);
                 _ -> [gen(D - 1, Ctx) || _ <- lists:seq(1, rand:uniform(12))]
             end;
        10 -> string()
    end.

improper(D, Ctx) ->
    Elems = [gen(D - 1, Ctx) || _ <- lists:seq(1, rand:uniform(4))],
    Tail = case leaf(Ctx) of
               L when is_list(L) -> x;
               T -> T
           end,
    lists:foldr(fun(E, Acc) -> [E | Acc] end, Tail, Elems).

%% Half of them without pids, ports and refs, so that their text is compared too.
large_map(Ctx) ->
    Leaf = case rand:uniform(2) of
               1 -> fun() -> leaf(Ctx) end;
               2 -> fun() -> plain_leaf() end
           end,
    maps:from_list([{Leaf(), Leaf()} || _ <- lists:seq(1, 30 + rand:uniform(70))]).

plain_leaf() ->
    case rand:uniform(6) of
        1 -> integer();
        2 -> float();
        3 -> atom();
        4 -> binary();
        5 -> string();
        6 -> {rand:uniform(100)}
    end.

leaf(Ctx) ->
    case rand:uniform(16) of
        1 -> rand:uniform(256) - 1;
        2 -> integer();
        3 -> integer();
        4 -> float();
        5 -> float();
        6 -> atom();
        7 -> atom();
        8 -> binary();
        9 -> bitstring();
        10 -> string();
        11 -> [];
        12 -> pick(maps:get(pids, Ctx));
        13 -> pick(maps:get(refs, Ctx));
        14 -> case rand:uniform(3) of
                  1 -> pick(maps:get(ports, Ctx));
                  _ -> pick(maps:get(funs, Ctx))
              end;
        15 -> erlang:make_fun(fun_atom(), fun_atom(), rand:uniform(256) - 1);
        16 -> {}
    end.

integer() ->
    Bits = pick([4, 8, 12, 27, 28, 31, 32, 33, 63, 64, 65, 100, 256, 2041, 3000]),
    V = rand:uniform(1 bsl Bits) - 1,
    case rand:uniform(2) of
        1 -> V;
        2 -> -V
    end.

float() ->
    case rand:uniform(3) of
        1 ->
            <<R:64>> = crypto_free_bytes(8),
            case <<R:64>> of
                <<F/float>> -> F;
                _ -> float()  % NaN or infinity: not a term
            end;
        2 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(40) - 20);
        3 -> float(rand:uniform(1000) - 500)
    end.

crypto_free_bytes(N) -> list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, N)]).

atom() ->
    Len = case rand:uniform(20) of
              1 -> 255;
              _ -> rand:uniform(12) - 1
          end,
    Alphabet = pick([ascii, latin1, unicode, mixed]),
    list_to_atom([char(Alphabet) || _ <- lists:seq(1, Len)]).

%% OTP 25 prints fun M:F/A with erlang:fun_to_list/1, which shows the UTF-8 bytes of
%% non-ASCII atoms as Latin-1 characters and control characters unescaped; io_lib's own
%% atom quoting (what we mimic) differs there. Such funs get printable ASCII names.
fun_atom() ->
    list_to_atom([pick([$a, $z, $A, $_, $@, $., $\s, $', $\\, $0]) || _ <- lists:seq(1, rand:uniform(8))]).

char(ascii) -> pick([$a, $b, $z, $A, $_, $@, $., $\s, $', $\\, $0, $9, $\n, 0, 127]) ;
char(latin1) -> pick([$a, 233, 255, 160, 192, $x]);
char(unicode) -> pick([1072, 1103, 16#4E2D, 16#1F600, 16#10FFFF, 16#7FF, 16#800]);
char(mixed) -> char(pick([ascii, latin1, unicode])).

binary() ->
    Len = case rand:uniform(10) of
              1 -> rand:uniform(400);
              _ -> rand:uniform(20) - 1
          end,
    crypto_free_bytes(Len).

bitstring() ->
    B = binary(),
    N = rand:uniform(7),
    X = rand:uniform(1 bsl N) - 1,
    <<B/binary, X:N>>.

string() ->
    Len = rand:uniform(30) - 1,
    case rand:uniform(3) of
        1 -> [rand:uniform(256) - 1 || _ <- lists:seq(1, Len)];
        2 -> [$a + rand:uniform(26) - 1 || _ <- lists:seq(1, Len)];
        3 -> [char(unicode) || _ <- lists:seq(1, Len)]
    end.
