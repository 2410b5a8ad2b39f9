#!/usr/bin/env bash
# Incremental puts of a tree through a running daemon: FILES (50,000) files
# of random bytes, BYTES (1 GiB) in all, over DIRS (500) folders, are put
# once, put again unchanged (nothing touched), and put again after a
# one-byte edit of 10 files; the last version is restored with get and
# checked identical. Prints each put's time, its ratio to the first put's
# in this same run, and what it reused (put --json), then the get's check.
#   bench/bench_incremental.sh [SHOAL_BINARY | BUILD_DIR]   (else $SHOAL, else build/shoal)
# Everything lives in a temporary directory under BENCH_DIR (else /tmp),
# removed at the end (unless KEEP=1) with the daemon, also on failure or
# interruption. Exits 1 when the restored tree differs.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
arg=${1:-${SHOAL:-build}}
. "$root/bench/lib.sh"
shoal=$(bench_shoal bench_incremental "$arg") || exit 1
files=${FILES:-50000}
dirs=${DIRS:-500}
bytes=${BYTES:-1073741824}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-incremental.XXXXXX")
unset SHOAL_HOME
dpid=

cleanup() {
	if [ -n "$dpid" ]; then
		kill -TERM "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now() { echo "${EPOCHREALTIME}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b / a }'; }
jfield() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# timed NAME CMD...: runs CMD after a sync; sets t_NAME (seconds).
timed() {
	local name=$1 t0
	shift
	sync
	t0=$(now)
	"$@"
	printf -v "t_$name" '%s' "$(secs "$t0" "$(now)")"
}

cd "$work"
echo "bench_incremental: generating $files files ($bytes bytes) in $dirs folders"
python3 - tree "$files" "$dirs" "$bytes" <<'PY'
import os, sys
root, files, dirs, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.mkdir(root)
per = -(-files // dirs)
# Sizes spread around the mean, summing to total exactly.
mean = total // files
sizes = [mean // 2 + (n * 2654435761) % (mean + 1) for n in range(files)]
fix = (total - sum(sizes)) // files
sizes = [x + fix for x in sizes]
sizes[-1] += total - sum(sizes)
n = 0
for d in range(dirs):
    dp = os.path.join(root, "d%04d" % d)
    os.mkdir(dp)
    for i in range(per):
        if n == files:
            break
        with open(os.path.join(dp, "f%04d" % i), "wb") as f:
            f.write(os.urandom(sizes[n]))
        n += 1
PY

"$shoal" network create net.pem >/dev/null
"$shoal" --home h init --network net.pem >/dev/null
"$shoal" --home h daemon --listen 127.0.0.1:0 2>daemon.log &
dpid=$!
for _ in $(seq 300); do
	"$shoal" --home h status >/dev/null 2>&1 && break
	sleep 0.1
done
"$shoal" --home h status >/dev/null

timed first "$shoal" --home h put tree --no-progress --json >first.json
timed same "$shoal" --home h put tree --no-progress --json >same.json
# One byte of 10 files spread over the tree.
python3 - tree "$files" "$dirs" <<'PY'
import os, sys
root, files, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = -(-files // dirs)
for k in range(10):
    n = k * (files // 10) + 17
    p = os.path.join(root, "d%04d" % (n // per), "f%04d" % (n % per))
    with open(p, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0xff]))
PY
timed edited "$shoal" --home h put tree --no-progress --json >edited.json
timed get "$shoal" --home h get tree -o got --no-progress
status=identical
diff -r tree got >diff.txt 2>&1 || status=DIFFERENT
kill -TERM "$dpid"
wait "$dpid" || true
dpid=

printf '\n%s files, %s bytes, %s folders; through a daemon (one node, R capped at 1)\n' \
	"$files" "$bytes" "$dirs"
printf '  %-30s %9s %8s %9s %14s\n' step seconds ratio reused "reused bytes"
for step in first same edited; do
	t=t_$step
	printf '  %-30s %9s %8s %9s %14s\n' "$(case $step in first) echo "first put" ;;
		same) echo "re-put, unchanged" ;; edited) echo "re-put, 10 files edited" ;; esac)" \
		"${!t}" "$(ratio "$t_first" "${!t}")" "$(jfield "$step.json" reused)" \
		"$(jfield "$step.json" reused_bytes)"
done
printf '  %-30s %9s %8s   %s\n' "get of the last version" "$t_get" "$(ratio "$t_first" "$t_get")" "$status"
echo "ratio = step seconds / first put seconds (lower is better)"
[ "$status" = identical ] || { echo "bench_incremental: the trees differ" >&2; head -n 5 diff.txt >&2; exit 1; }
