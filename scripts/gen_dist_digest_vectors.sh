#!/usr/bin/env bash
# Writes lib/dist/testdata/digests.txt: "cookie challenge MD5HEX" lines computed by a live erl
# exactly as dist_util:gen_digest/2 does (erlang:md5([Cookie | integer_to_list(Challenge)])).
# An empty cookie is written as "-".
set -euo pipefail
cd "$(dirname "$0")/.."
erl -noshell -eval '
  Cases = [{"secret",0},{"secret",12345},{"ABCDEFGHIJ",4294967295},{"",7},
           {"XKQZVTRPLMWNBYHUGJFD",2147483648},{"c00kie-with_symbols!",1}],
  {ok, F} = file:open("lib/dist/testdata/digests.txt", [write]),
  lists:foreach(fun({C,N}) ->
      Shown = case C of "" -> "-"; _ -> C end,
      io:format(F, "~s ~w ~s~n", [Shown, N, binary:encode_hex(erlang:md5([C|integer_to_list(N)]))])
    end, Cases),
  file:close(F), halt().'
