#!/usr/bin/env bash
# Runs one dlmscope command line and checks its exit status and output (one CTest entry per case).
#
#   check.sh ok    [TEXT...] -- COMMAND...   exit 0; stdout is not empty and contains every TEXT
#   check.sh quiet [TEXT...] -- COMMAND...   as ok, and stderr is empty (-q / --quiet)
#   check.sh fail  [TEXT...] -- COMMAND...   exit status 1..127 (an error, not a crash); stderr is
#                                            exactly one line "dlmscope: error: ..." containing
#                                            every TEXT; stdout is empty
#   check.sh usage [TEXT...] -- COMMAND...   exit status 1..127; stderr contains every TEXT (the
#                                            command-line parser's own messages)
#
# TEXT is a fixed string, not a regular expression. A leading --skip-if-root makes the case exit
# 77 (CTest's SKIP_RETURN_CODE) when run as root, for permission tests root would pass.
set -u

if [ "${1:-}" = "--skip-if-root" ]; then
    shift
    if [ "$(id -u)" -eq 0 ]; then
        echo "skipped: running as root, which reads every file"
        exit 77
    fi
fi

mode=${1:?mode: ok, quiet, fail or usage}
shift
texts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    texts+=("$1")
    shift
done
[ "${1:-}" = "--" ] || { echo "check.sh: missing -- before the command" >&2; exit 2; }
shift

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$@" >"$tmp/out" 2>"$tmp/err"
rc=$?

status=0
bad() {
    echo "FAIL: $*"
    status=1
}
show() {
    echo "---- command: $*"
    echo "---- exit status: $rc"
    echo "---- stdout:"
    head -c 4000 "$tmp/out"
    echo "---- stderr:"
    head -c 4000 "$tmp/err"
    echo "----"
}
contains_all() {  # FILE: every TEXT is in FILE
    local t
    for t in "${texts[@]+"${texts[@]}"}"; do
        grep -qF -- "$t" "$1" || bad "$(basename "$1") lacks: $t"
    done
}

case "$mode" in
    ok | quiet)
        [ "$rc" -eq 0 ] || bad "exit status $rc, expected 0"
        [ -s "$tmp/out" ] || bad "stdout is empty"
        contains_all "$tmp/out"
        if [ "$mode" = quiet ] && [ -s "$tmp/err" ]; then bad "stderr is not empty"; fi
        ;;
    fail)
        if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then bad "exit status $rc, expected an error (1..127)"; fi
        lines=$(wc -l <"$tmp/err")
        [ "$lines" -eq 1 ] || bad "stderr has $lines lines, expected exactly one"
        head -n 1 "$tmp/err" | grep -q '^dlmscope: error: ' || bad "stderr does not start with 'dlmscope: error: '"
        contains_all "$tmp/err"
        [ ! -s "$tmp/out" ] || bad "stdout is not empty"
        ;;
    usage)
        if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then bad "exit status $rc, expected an error (1..127)"; fi
        contains_all "$tmp/err"
        ;;
    *)
        echo "check.sh: unknown mode $mode" >&2
        exit 2
        ;;
esac

show "$@"
[ "$status" -eq 0 ] && echo "PASS"
exit "$status"
