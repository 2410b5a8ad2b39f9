#!/usr/bin/env bash
# A tree of many small files through a running daemon: FILES (1,000,000)
# files of 1..255 bytes spread over DIRS (10,000) folders are generated, put,
# restored with get, and checked identical (diff -r, and the file count).
# Reports the time of each step and the peak RSS (VmHWM) of the daemon over
# the whole run and of each CLI call (/usr/bin/time -v), against the 64 MiB
# the design allows: memory must not grow with the number of entries.
#   bench/bench_bigtree.sh [SHOAL_BINARY | BUILD_DIR]   (else $SHOAL, else build/shoal)
# FILES and DIRS set the size. Everything lives in a temporary directory
# under BENCH_DIR (else /tmp), removed at the end (unless KEEP=1) with the
# daemon, also on failure or interruption. Exits 1 when the trees differ or
# an RSS passes RSS_LIMIT_KIB (65536).
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
arg=${1:-${SHOAL:-build}}
. "$root/bench/lib.sh"
shoal=$(bench_shoal bench_bigtree "$arg") || exit 1
files=${FILES:-1000000}
dirs=${DIRS:-10000}
limit=${RSS_LIMIT_KIB:-65536}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-bigtree.XXXXXX")
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
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# timed NAME CMD...: runs CMD under /usr/bin/time -v; sets t_NAME (s) and rss_NAME (KiB).
timed() {
	local name=$1 t0 t1
	shift
	t0=$(now)
	/usr/bin/time -v -o "$work/$name.time" "$@"
	t1=$(now)
	printf -v "t_$name" '%s' "$(secs "$t0" "$t1")"
	printf -v "rss_$name" '%s' "$(awk -F': ' '/Maximum resident/ {print $2}' "$work/$name.time")"
}

cd "$work"
echo "bench_bigtree: generating $files files in $dirs folders"
t0=$(now)
python3 - tree "$files" "$dirs" <<'PY'
import os, sys
root, files, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.mkdir(root)
per = -(-files // dirs)
n = 0
for d in range(dirs):
    dp = os.path.join(root, "d%05d" % d)
    os.mkdir(dp)
    for i in range(per):
        if n == files:
            break
        size = 1 + (n * 2654435761) % 255
        data = (b"%d/%d " % (d, i)) * (size // 4 + 1)
        fd = os.open(os.path.join(dp, "f%05d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data[:size])
        os.close(fd)
        n += 1
PY
t_gen=$(secs "$t0" "$(now)")
bytes=$(du -s --apparent-size -B1 tree | cut -f1)

"$shoal" network create net.pem >/dev/null
"$shoal" --home h init --network net.pem >/dev/null
"$shoal" --home h daemon --listen 127.0.0.1:0 2>daemon.log &
dpid=$!
for _ in $(seq 300); do
	"$shoal" --home h status >/dev/null 2>&1 && break
	sleep 0.1
done
"$shoal" --home h status >/dev/null

sync
timed put "$shoal" --home h put tree --no-progress >cap.txt
cap=$(cat cap.txt)
objects=$(find h/objects -type f | wc -l)
sync
timed get "$shoal" --home h get "$cap" -o got
daemon_hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$dpid/status")
t0=$(now)
status=identical
diff -r tree got >diff.txt 2>&1 || status=DIFFERENT
[ "$(find got -type f | wc -l)" = "$files" ] || status=DIFFERENT
t_diff=$(secs "$t0" "$(now)")
kill -TERM "$dpid"
wait "$dpid" || true
dpid=

printf '\n%-34s %s\n' "files / folders" "$files / $dirs ($(mib $((bytes / 1024))) MiB of data)"
printf '%-34s %s s\n' "generate" "$t_gen"
printf '%-34s %s s  (%s objects in the store)\n' "put" "$t_put" "$objects"
printf '%-34s %s s\n' "get" "$t_get"
printf '%-34s %s s: %s\n' "diff -r" "$t_diff" "$status"
printf '%-34s %s MiB\n' "peak RSS, daemon (VmHWM)" "$(mib "$daemon_hwm")"
printf '%-34s %s MiB\n' "peak RSS, CLI put" "$(mib "$rss_put")"
printf '%-34s %s MiB\n' "peak RSS, CLI get" "$(mib "$rss_get")"
printf '%-34s %s MiB\n' "limit" "$(mib "$limit")"
fail=0
[ "$status" = identical ] || { echo "bench_bigtree: the trees differ" >&2; head -n 5 diff.txt >&2; fail=1; }
for r in "$daemon_hwm" "$rss_put" "$rss_get"; do
	[ "$r" -le "$limit" ] || { echo "bench_bigtree: an RSS passed the limit" >&2; fail=1; }
done
exit "$fail"
