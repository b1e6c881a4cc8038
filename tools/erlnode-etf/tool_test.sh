#!/usr/bin/env bash
# CTest for erlnode-etf: decode, encode, roundtrip, --stream and error reporting.
# The byte vectors are term_to_binary/1,2 output of a live erl (OTP 25):
#   T = {ok,"abc",1.5,<<1,2>>,[a|b],-300}    term_to_binary(T)
#   U = {ok,"abc",1.5,<<1,2>>,'é',[a|b],-300} term_to_binary(U), with {minor_version,2}
#   term_to_binary({1,2}), term_to_binary(a)
set -u
tool=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

bytes() { for b in "$@"; do printf "\\$(printf %03o "$b")"; done; }
record() { local f=$1; shift; local n=$(cat "$f" | wc -c); bytes $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)); cat "$f"; }
hex() { od -An -v -tx1 "$@" | tr -d ' \n'; }
expect() {  # name expected actual
  if [ "$2" != "$3" ]; then
    echo "FAIL $1"; echo "  expected: $2"; echo "  actual:   $3"; failures=$((failures + 1))
  else
    echo "ok   $1"
  fi
}

bytes 131 104 6 100 0 2 111 107 107 0 3 97 98 99 70 63 248 0 0 0 0 0 0 109 0 0 0 2 1 2 \
  108 0 0 0 1 100 0 1 97 100 0 1 98 98 255 255 254 212 > "$tmp/t.etf"
t_text='{ok,[97,98,99],1.5,<<1,2>>,[a|b],-300}'
bytes 131 104 7 100 0 2 111 107 107 0 3 97 98 99 70 63 248 0 0 0 0 0 0 109 0 0 0 2 1 2 \
  100 0 1 233 108 0 0 0 1 100 0 1 97 100 0 1 98 98 255 255 254 212 > "$tmp/u.etf"
bytes 131 104 7 119 2 111 107 107 0 3 97 98 99 70 63 248 0 0 0 0 0 0 109 0 0 0 2 1 2 \
  119 2 195 169 108 0 0 0 1 119 1 97 119 1 98 98 255 255 254 212 > "$tmp/u2.etf"
u_text="{ok,\"abc\",1.5,<<1,2>>,'é',[a|b],-300}."
bytes 131 104 2 97 1 97 2 > "$tmp/pair.etf"
bytes 131 100 0 1 97 > "$tmp/a.etf"
bytes 131 104 2 97 1 > "$tmp/cut.etf"

# decode: from a file and from stdin
expect "decode file" "$t_text" "$("$tool" decode "$tmp/t.etf")"
expect "decode stdin" "$t_text" "$("$tool" decode < "$tmp/t.etf")"

# encode: erl's bytes for both minor versions
printf '%s\n' "$u_text" > "$tmp/u.txt"
expect "encode" "$(hex "$tmp/u.etf")" "$("$tool" encode "$tmp/u.txt" | hex)"
expect "encode minor 2" "$(hex "$tmp/u2.etf")" \
  "$("$tool" encode --minor-version 2 < "$tmp/u.txt" | hex)"

# roundtrip: the same bytes back; minor version 2 turns ATOM_EXT into SMALL_ATOM_UTF8_EXT
expect "roundtrip" "$(hex "$tmp/u.etf")" "$("$tool" roundtrip "$tmp/u.etf" | hex)"
expect "roundtrip minor 2" "$(hex "$tmp/u2.etf")" \
  "$("$tool" roundtrip --minor-version 2 "$tmp/u.etf" | hex)"

# --stream decode: records 1, 2, 4 good, 3 cut short
{ record "$tmp/pair.etf"; record "$tmp/a.etf"; record "$tmp/cut.etf"; record "$tmp/t.etf"; } \
  > "$tmp/in.stream"
out=$("$tool" decode --stream "$tmp/in.stream" 2> "$tmp/err")
status=$?
expect "stream decode output" "$(printf '{1,2}\na\n%s' "$t_text")" "$out"
expect "stream decode status" 1 "$status"
expect "stream decode error" "erlnode-etf: record 3: input ends inside a term at offset 5" \
  "$(cat "$tmp/err")"

# --stream encode: one term per line, blank lines skipped, line 4 malformed
printf '{1,2}\na\n\n{1,\n%s\n' "$t_text" > "$tmp/lines.txt"
"$tool" encode --stream "$tmp/lines.txt" > "$tmp/out.stream" 2> "$tmp/err"
status=$?
{ record "$tmp/pair.etf"; record "$tmp/a.etf"; record "$tmp/t.etf"; } > "$tmp/want.stream"
expect "stream encode output" "$(hex "$tmp/want.stream")" "$(hex "$tmp/out.stream")"
expect "stream encode status" 1 "$status"
grep -q "^erlnode-etf: record 4: .* at offset " "$tmp/err"
expect "stream encode error names line 4" 0 $?

# --stream roundtrip: the good records come back unchanged
{ record "$tmp/pair.etf"; record "$tmp/a.etf"; record "$tmp/t.etf"; } > "$tmp/good.stream"
expect "stream roundtrip" "$(hex "$tmp/good.stream")" \
  "$("$tool" roundtrip --stream < "$tmp/good.stream" | hex)"
"$tool" roundtrip --stream "$tmp/good.stream" > /dev/null
expect "stream roundtrip status" 0 $?

# A record header claiming more bytes than follow
{ record "$tmp/a.etf"; bytes 0 0 1 0 131; } > "$tmp/short.stream"
out=$("$tool" decode --stream "$tmp/short.stream" 2> "$tmp/err")
status=$?
expect "short record output" "a" "$out"
expect "short record status" 1 "$status"
grep -q "^erlnode-etf: record 2: record of 256 bytes cut short at offset 9" "$tmp/err"
expect "short record error" 0 $?

# Errors outside --stream
"$tool" decode "$tmp/cut.etf" > /dev/null 2> "$tmp/err"
expect "decode error status" 1 $?
expect "decode error message" "erlnode-etf: input ends inside a term at offset 5" "$(cat "$tmp/err")"
bytes 130 106 | "$tool" decode > /dev/null 2>&1
expect "bad version status" 1 $?
printf 'not a {term' | "$tool" encode > /dev/null 2>&1
expect "bad text status" 1 $?
"$tool" frobnicate > /dev/null 2>&1
expect "usage status" 2 $?
"$tool" decode "$tmp/does-not-exist" > /dev/null 2>&1
expect "missing file status" 2 $?
"$tool" encode --minor-version 3 < "$tmp/u.txt" > /dev/null 2>&1
expect "bad minor version status" 2 $?

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
