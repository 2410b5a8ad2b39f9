#!/usr/bin/env bash
# A tree of 100,000 small files in 1,000 folders through a running daemon:
# put and get round-trip it identical (diff -r), its listing takes several
# listing chunks and its data a few dozen chunks, not one per file, and
# memory stays bounded: the daemon's peak RSS (VmHWM) and each CLI call's
# (/usr/bin/time) stay under 64 MiB. Each step must finish within a minute.
# In a sanitizer build (whose shadow memory and quarantine inflate RSS and
# slow everything) the RSS checks are skipped and a step has three minutes.
# bench/bench_bigtree.sh runs the same at 1,000,000 files.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
FILES=${BIGTREE_FILES:-100000}
DIRS=${BIGTREE_DIRS:-1000}
LIMIT_KIB=65536
STEP_SECS=60
SAN=
if grep -qa __asan_init "$SHOAL"; then
	SAN=1
	STEP_SECS=180
fi
# check_rss DESC KIB: KIB is under the limit (skipped in a sanitizer build).
check_rss() {
	if [ -n "$SAN" ]; then
		skip "$1" "sanitizer build"
	else
		check "$1 ($2 KiB)" test "${2:-999999}" -lt "$LIMIT_KIB"
	fi
}

python3 - tree "$FILES" "$DIRS" <<'PY'
import os, sys
root, files, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.mkdir(root)
per = -(-files // dirs)
n = 0
for d in range(dirs):
    dp = os.path.join(root, "d%04d" % d)
    os.mkdir(dp)
    for i in range(per):
        if n == files:
            break
        size = (n * 2654435761) % 256
        fd = os.open(os.path.join(dp, "file-%05d" % i), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, ((b"%d.%d|" % (d, i)) * 64)[:size])
        os.close(fd)
        n += 1
PY
check_eq "the generated tree has $FILES files" "$FILES" "$(find tree -type f | wc -l)"

make_node h >/dev/null || fail "make_node"
start_daemon h h.log --listen 127.0.0.1:0
daemon_ready "the daemon starts" h || { done_testing; exit 1; }
dpid=$DAEMON_PID

# cli_rss FILE: the peak RSS in KiB that /usr/bin/time -v wrote to FILE.
cli_rss() { awk -F': ' '/Maximum resident/ {print $2}' "$1"; }

t0=$(now_ms)
/usr/bin/time -v -o put.time timeout -s KILL "$STEP_SECS" "$SHOAL" --home h put tree --no-progress \
	>out 2>err
rc=$?
t1=$(now_ms)
echo "# put of $FILES files: $((t1 - t0)) ms, CLI peak RSS $(cli_rss put.time) KiB"
check_eq "put of the tree exits 0 within $STEP_SECS s" 0 "$rc"
cap=$(cat out)
check_match "... printing a capability" "$CAP_RE" "$cap"
check_rss "... with the CLI under 64 MiB" "$(cli_rss put.time)"
objects=$(count_objects h)
check "... in a few dozen chunks, not one per file ($objects)" test "$objects" -le 100

t0=$(now_ms)
/usr/bin/time -v -o get.time timeout -s KILL "$STEP_SECS" "$SHOAL" --home h get "$cap" -o got >out 2>err
rc=$?
t1=$(now_ms)
echo "# get of $FILES files: $((t1 - t0)) ms, CLI peak RSS $(cli_rss get.time) KiB"
check_eq "get of the tree exits 0 within $STEP_SECS s" 0 "$rc"
check_eq "... printing nothing" "" "$(cat out err)"
check_rss "... with the CLI under 64 MiB" "$(cli_rss get.time)"
check "diff -r finds the trees identical" diff -r tree got
check_eq "... the same number of files" "$FILES" "$(find got -type f | wc -l)"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$dpid/status")
echo "# daemon peak RSS: $hwm KiB"
check_rss "the daemon's peak RSS stayed under 64 MiB" "$hwm"

stop_daemon h
check_eq "the daemon stops cleanly" 0 $?
check_no_sanitizer "no sanitizer report" h.log
done_testing
