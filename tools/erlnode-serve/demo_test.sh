#!/usr/bin/env bash
# Runs scripts/demo against this build on a private epmd port and checks what erl saw.
set -euo pipefail
src=$1
build=$2
export ERL_EPMD_PORT=$((30000 + RANDOM % 20000))
out=$("$src/scripts/demo" --no-build --build-dir "$build" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
for want in "pong" "got back {hello,42,<<\"world\">>}" "intact" "{sink_count,10000}" "noproc" \
            "nodedown_reason,connection_closed"; do
  grep -qF "$want" <<<"$out" || { echo "demo_test: missing: $want" >&2; exit 1; }
done
