#!/usr/bin/env bash
# Runs scripts/demo against this build on a private epmd port and checks every line of what
# erl saw (and erlnode-serve logged).
set -euo pipefail
src=$1
build=$2
# Below Linux's ephemeral range (32768-60999): a port there can be taken at any moment by
# another test's outgoing connection.
export ERL_EPMD_PORT=$((20000 + RANDOM % 12000))
out=$("$src/scripts/demo" --no-build --build-dir "$build" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
status=0
while IFS= read -r want; do
  [ -z "$want" ] && continue
  grep -qF -- "$want" <<<"$out" || { echo "demo_test: missing: $want" >&2; status=1; }
done <<'LINES'
net_adm:ping(C)                                pong
rpc:call(C, cpp, echo, [{hello, [1,2,3]}])     {hello,[1,2,3]}
(right: true)
badrpc, error badarith (as 1 + a)
[ok,ok,ok] in
(equals crypto:hash: true)
raised error:oops
raised exit:oops
raised throw:oops
{undef,[{cpp,nosuch,[],[]}]}
connected_nodes =>
got back {hello,42,<<"world">>}
gen_server:call({echo, C}, {ping, 1})          {ping,1}
8 MB binary through echo                       intact
{sink_count,10000}
exited: done
went DOWN: bye
echo is alive (no DOWN)
DOWN noproc
nodeup demo_erl_
nodedown_reason,connection_closed
LINES
if grep -q FAILED <<<"$out"; then echo "demo_test: a step FAILED" >&2; status=1; fi
exit $status
