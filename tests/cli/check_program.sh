#!/usr/bin/env bash
# tests/cli/check_program.sh - checks a program's command line without letting it work:
#   check_program.sh PROGRAM CASE...
# CASE is one of
#   help:REGEX     `PROGRAM --help` exits 0 and its output has a line matching REGEX
#                  (grep -E); give one per option to check its default is listed
#   STATUS:ARGS    `PROGRAM ARGS` (split at spaces) exits with STATUS and writes exactly
#                  one line to stderr ("NAME: error: ..."); for a usage error (2) nothing
#                  to stdout either
# Every case runs under `timeout 60`: a program that starts its work instead of refusing
# the arguments fails here.
set -u
program="$1"
shift
name="$(basename "$program")"
failures=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $name $1" >&2
  failures=$((failures + 1))
}

for case in "$@"; do
  kind="${case%%:*}"
  arg="${case#*:}"
  if [ "$kind" = help ]; then
    timeout 60 "$program" --help >"$tmp/out" 2>"$tmp/err"
    status=$?
    [ "$status" = 0 ] || fail "--help: exit status $status, expected 0: $(head -3 "$tmp/err")"
    grep -Eq -- "$arg" "$tmp/out" || fail "--help: no line matches '$arg' in:
$(cat "$tmp/out")"
    continue
  fi
  read -r -a args <<<"$arg"
  timeout 60 "$program" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
  status=$?
  lines=$(wc -l <"$tmp/err")
  if [ "$status" != "$kind" ]; then
    fail "$arg: exit status $status, expected $kind; stderr: $(head -3 "$tmp/err")"
  elif [ "$lines" != 1 ]; then
    fail "$arg: $lines lines on stderr, expected one:
$(cat "$tmp/err")"
  elif ! grep -q "error" "$tmp/err"; then
    fail "$arg: stderr does not say error: $(cat "$tmp/err")"
  elif [ "$kind" = 2 ] && [ -s "$tmp/out" ]; then
    fail "$arg: a usage error printed to stdout: $(head -3 "$tmp/out")"
  else
    echo "ok: $name $arg -> $status: $(cat "$tmp/err")"
  fi
done
[ "$failures" = 0 ] || exit 1
echo "$name: all $# cases pass"
