#!/usr/bin/env bash
# Latency of `shoal ls` (and `shoal status`) on a node while its repair copies
# BIG_MIB (1024) MiB to another node, beside the same calls on the same node idle.
#
# Three daemons on 127.0.0.1 (kernel-chosen ports, temporary homes): while only
# n1 and n2 run, NAMES (8) small files are put on n1 with --replicas 1 (so ls has
# something to list) and a BIG_MIB MiB random file with --replicas 2 (every chunk
# then lives on n1 and n2); n3 joins; n2 is SIGKILLed. After the grace period
# (GRACE, 3 s) n1, the only holder left, copies every chunk of the big file to n3,
# repair_rate left at its default (64 MiB/s, a cap: the copying may well be slower,
# so the table reports how long it took). Scrub is off (scrub_rate=0) so that only
# repair competes with the calls; failures are detected fast (peer_timeout=2,
# ping_interval=0.5) and scans run every second (repair_interval=1).
#
# Timed, wall clock, one call after another: `shoal ls` on n1 and, in a second
# loop running at the same time, `shoal status` on n1; first idle (IDLE_CALLS (20)
# ls calls, with n3 up, before the kill), then from the kill until the repair is
# over. A call counts as "during repair" when it overlaps the copying: from the
# first chunk n3 holds to n3 holding every chunk of the file (both seen through
# `shoal status --json` on n3, answered by its event loop). Each phase reports
# count, median and max; the ratio is during / idle.
#   bench/bench_ls_repair.sh [SHOAL_BINARY | BUILD_DIR]   (else $SHOAL, else build/shoal)
# Everything lives in a temporary directory under BENCH_DIR (else /tmp), removed
# at the end (unless KEEP=1) with every process started here, also on failure or
# interruption.
set -euo pipefail
export LC_ALL=C # a '.' in $EPOCHREALTIME
root=$(cd "$(dirname "$0")/.." && pwd)
arg=${1:-${SHOAL:-build}}
. "$root/bench/lib.sh"
shoal=$(bench_shoal bench_ls_repair "$arg") || exit 1
big_mib=${BIG_MIB:-1024}
idle_calls=${IDLE_CALLS:-20}
grace=${GRACE:-3}
nnames=${NAMES:-8}
limit=${REPAIR_LIMIT:-900} # seconds the repair may take before the run fails
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-lsrep.XXXXXX")
unset SHOAL_HOME

declare -A pid=() addr=()
loops=() # background timing loops and the repair watcher

alive() {
	local st
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# stop_all: the loops, then SIGTERM to every daemon, SIGKILL after 10 s.
stop_all() {
	local n p
	for p in "${loops[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
	for _ in $(seq 100); do
		p=0
		for n in "${!pid[@]}"; do alive "${pid[$n]}" && p=1; done
		[ "$p" -eq 0 ] && break
		sleep 0.1
	done
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	for p in "${loops[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pid=()
	loops=()
}
cleanup() {
	local rc=$?
	trap "" INT TERM HUP
	trap - EXIT
	stop_all
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/n?.log; do
			[ -s "$f" ] || continue
			echo "--- last lines of $(basename "$f")" >&2
			tail -n 6 "$f" >&2
		done
	fi
	# KEEP=1 keeps the directory (logs, per-call times) for a look.
	if [ "${KEEP:-}" = 1 ]; then echo "bench_ls_repair: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

die() {
	echo "bench_ls_repair: $*" >&2
	exit 1
}
# shl ARGS...: shoal, killed after 600 s so that a hang fails the benchmark.
shl() { timeout -s KILL 600 "$shoal" "$@"; }
wait_until() { # SECONDS CMD...
	local t=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || return 1
		sleep 0.1
	done
}
json_num() { # KEY: the first "KEY": NUMBER on stdin
	sed -n "s/^ *\"$1\": *\([0-9]*\).*\$/\1/p" | head -n 1
}
start() { # start N [ARGS...]
	local n=$1
	shift
	"$shoal" --home "n$n" daemon --listen 127.0.0.1:0 "${OPTS[@]}" "$@" 2>>"n$n.log" &
	pid[$n]=$!
	wait_until 15 "$shoal" --home "n$n" status || die "daemon n$n did not start (see n$n.log)"
	addr[$n]=$(shl --home "n$n" status --json | sed -n 's/^ *"listen": *"\([^"]*\)".*$/\1/p')
	[ -n "${addr[$n]}" ] || die "no listen address from n$n"
}
ups() { shl --home "n$1" peers | awk -F'\t' '$3 == "up"' | wc -l; }
all_up() { # COUNT N...
	local want=$1 n
	shift
	for n in "$@"; do [ "$(ups "$n")" -ge "$want" ] || return 1; done
}
chunks_on() { shl --home "n$1" status --json | json_num chunks; }

# timed OUT STOP MAX CMD...: runs CMD one call after another until the file STOP
# exists or MAX calls were made (0: no limit), appending "start end status" per
# call to OUT (seconds since the epoch, microseconds).
timed() {
	local out=$1 stop=$2 max=$3 i=0 t0 t1 rc
	shift 3
	while [ ! -e "$stop" ] && { [ "$max" -eq 0 ] || [ "$i" -lt "$max" ]; }; do
		t0=$EPOCHREALTIME
		rc=0
		"$@" >/dev/null 2>>"$out.err" || rc=$?
		t1=$EPOCHREALTIME
		echo "$t0 $t1 $rc" >>"$out"
		i=$((i + 1))
	done
}
# stats FILE [FROM TO]: "count median_ms max_ms failed" of the calls in FILE, or of
# those overlapping [FROM, TO] (epoch seconds).
stats() {
	awk -v from="${2:-0}" -v to="${3:-1e99}" '
		$2 >= from && $1 <= to { n++; v[n] = ($2 - $1) * 1000; if ($3 != 0) bad++ }
		END {
			if (!n) { print "0 - - 0"; exit }
			for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
			med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			printf "%d %.1f %.1f %d\n", n, med, v[n], bad + 0
		}' "$1"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.1f", a / b }'; }

cd "$work"
OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set "grace_period=$grace"
	--set repair_interval=1 --set scrub_rate=0)
echo "bench_ls_repair: $shoal; making a $big_mib MiB random file" >&2
head -c $((big_mib * 1024 * 1024)) /dev/urandom >big
shl network create net.pem
for n in 1 2 3; do shl --home "n$n" init --network net.pem >/dev/null; done
start 1
start 2 --bootstrap "${addr[1]}"
wait_until 30 all_up 1 1 2 || die "n1 and n2 do not see each other up"
for i in $(seq "$nnames"); do
	head -c $((i * 4096)) /dev/urandom >"small-$i"
	shl --home n1 put "small-$i" --name "name-$i" --replicas 1 --no-progress >/dev/null ||
		die "put of small-$i failed (n1.log)"
done
echo "bench_ls_repair: put of the big file with --replicas 2 on n1 (n2 up)" >&2
shl --home n1 put big --replicas 2 --no-progress >cap || die "put of the big file failed (n1.log)"
rm -f big
shl --home n1 locate "$(cat cap)" >loc || die "locate of the big file failed"
nchunks=$(wc -l <loc)
[ "$nchunks" -gt 0 ] || die "locate lists no chunks"
awk -F'\t' 'split($3, h, ",") != 2 { bad = 1 } END { exit bad }' loc ||
	die "not every chunk of the big file is on exactly 2 nodes after the put"
stored_mib=$(awk -F'\t' '{ s += $2 } END { printf "%.0f", s / 1048576 }' loc)
start 3 --bootstrap "${addr[1]}"
wait_until 30 all_up 2 1 2 3 || die "the three daemons did not form a full mesh"
[ "$(chunks_on 3)" == 0 ] || die "n3 holds chunks before the repair"

# ---- idle --------------------------------------------------------------------------------
echo "bench_ls_repair: idle: $idle_calls ls calls on n1, status alongside" >&2
timed st_idle idle.stop 0 "$shoal" --home n1 status &
loops+=($!)
# The same polling of n3 as the watcher's below, so both phases carry its load.
(while [ ! -e idle.stop ]; do
	"$shoal" --home n3 status --json >/dev/null 2>&1 || true
	sleep 0.05
done) &
loops+=($!)
timed ls_idle idle.stop "$idle_calls" "$shoal" --home n1 ls
touch idle.stop
wait "${loops[@]}"
loops=()
[ "$(chunks_on 3)" == 0 ] || die "n3 took chunks while n2 was up"

# ---- n2 killed: the repair ------------------------------------------------------------------
# The watcher polls n3's chunk count: repair.start is when the first poll that saw
# a chunk there began, repair.last when the last poll that saw fewer than all of
# them began (so [start, last] lies within the copying, give or take the time a
# status takes), repair.end (and during.stop) when the first poll that saw all of
# them returned.
watch_repair() {
	local c t
	while :; do
		t=$EPOCHREALTIME
		c=$("$shoal" --home n3 status --json 2>/dev/null | json_num chunks) || c=0
		c=${c:-0}
		if [ "$c" -ge "$nchunks" ]; then
			[ -e repair.start ] || echo "$t" >repair.start
			[ -e repair.last ] || echo "$t" >repair.last
			echo "$EPOCHREALTIME" >repair.end
			touch during.stop
			return
		fi
		if [ "$c" -gt 0 ]; then
			[ -e repair.start ] || echo "$t" >repair.start
			echo "$t" >repair.last
		fi
		sleep 0.05
	done
}
echo "bench_ls_repair: n2 SIGKILLed; ls and status on n1 until n3 holds all $nchunks chunks" >&2
t_kill=$EPOCHREALTIME
kill -KILL "${pid[2]}"
wait "${pid[2]}" 2>/dev/null || true
unset 'pid[2]'
watch_repair &
loops+=($!)
timed st_during during.stop 0 "$shoal" --home n1 status &
loops+=($!)
timed ls_during during.stop 0 "$shoal" --home n1 ls &
loops+=($!)
waited=0
while [ ! -e during.stop ]; do
	sleep 0.5
	waited=$((waited + 1))
	[ "$waited" -le $((limit * 2)) ] || die "the repair did not finish within $limit s"
	for n in 1 3; do alive "${pid[$n]}" || die "daemon n$n died (n$n.log)"; done
done
wait "${loops[@]}"
loops=()
t_start=$(cat repair.start)
t_last=$(cat repair.last)
t_end=$(cat repair.end)
repaired=$(shl --home n1 status --json | json_num repaired)
shl --home n1 locate "$(cat cap)" >loc2 || die "locate after the repair failed"
awk -F'\t' 'split($3, h, ",") < 2 { bad = 1 } END { exit bad }' loc2 ||
	die "some chunk has fewer than 2 holders after the repair"
stop_all

# ---- the table -------------------------------------------------------------------------------
read -r li_n li_med li_max li_bad <<<"$(stats ls_idle)"
read -r ld_n ld_med ld_max ld_bad <<<"$(stats ls_during "$t_start" "$t_last")"
read -r si_n si_med si_max si_bad <<<"$(stats st_idle)"
read -r sd_n sd_med sd_max sd_bad <<<"$(stats st_during "$t_start" "$t_last")"
copy_s=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')
wait_s=$(awk -v a="$t_kill" -v b="$t_start" 'BEGIN { printf "%.1f", b - a }')
rate=$(awk -v m="$stored_mib" -v s="$copy_s" 'BEGIN { if (s > 0) printf "%.0f", m / s; else print "-" }')
echo
echo "ls while repair copies: 3 daemons on 127.0.0.1, $(nproc) CPUs; $shoal"
echo "n1 holds $nnames names and a $big_mib MiB file put with R = 2 ($nchunks chunks, $stored_mib MiB stored);"
echo "n2 SIGKILLed, grace period $grace s; n1 copies every chunk to n3 (repair_rate default, scrub off)"
echo
echo "| call on n1 | phase | calls | median ms | max ms | failed | median ratio | max ratio |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
echo "| shoal ls | idle | $li_n | $li_med | $li_max | $li_bad | 1.0 | 1.0 |"
echo "| shoal ls | during repair | $ld_n | $ld_med | $ld_max | $ld_bad | $(div "$ld_med" "$li_med") | $(div "$ld_max" "$li_max") |"
echo "| shoal status | idle | $si_n | $si_med | $si_max | $si_bad | 1.0 | 1.0 |"
echo "| shoal status | during repair | $sd_n | $sd_med | $sd_max | $sd_bad | $(div "$sd_med" "$si_med") | $(div "$sd_max" "$si_max") |"
echo
echo "repair: started $wait_s s after the kill; copied $nchunks chunks ($stored_mib MiB) to n3 in $copy_s s" \
	"($rate MiB/s); n1 counts $repaired copies made"
echo "ratio = during / idle (lower is better); a call is 'during repair' when it overlaps the copying"
