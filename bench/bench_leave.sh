#!/usr/bin/env bash
# Leaving the network: how fast `shoal drain` hands a node's chunks over, and how
# fast a revocation reaches every member, each beside a baseline measured in the
# same run.
#
# Drain: four daemons on 127.0.0.1 (kernel-chosen ports, temporary homes), n2..n4
# bootstrapped from n1; a BIG_MIB (512) MiB random file put on n1 with --replicas
# 3. With four nodes and R = 3 every chunk n2 holds has exactly two other copies
# (checked through `shoal locate`), so the drain pushes one copy of each: the bytes
# pushed are the bytes of the files under n2/objects/??/. Timed, wall clock: from
# `shoal --home n2 drain` to the command having exited 0 and n2's daemon having
# exited (with 0). repair_rate is left at its default (64 MiB/s), a cap on the
# drain's copying too (it may well be slower); n2's log stamps split the time
# into handing over, leaving, and exiting. Baseline: the
# same number of bytes over raw loopback TCP, from a python3 socket sender to a
# receiver in another process (best of RAW_RUNS (3)). Afterwards every chunk of
# the file must have 3 good copies (files hashing to their id) on n1, n3 and n4.
#
# Revocation: four fresh daemons r1..r4 and one more, vK, meshed; then `shoal
# --home r1 network revoke --network NET VK --reason bench`, timed from just
# before the command to each of r1..r4 showing vK "revoked" in `shoal peers`, and
# to vK's own `shoal peers` showing no member up. One loop per node polls, every
# 20 ms, from before the command; a node counts at the end of the first call that
# saw the state. The same moments are also read from the daemons' logs (stamped
# in ms): each of r1..r4 taking the revocation, vK's fourth link going down; from
# r1's stamp to the others' is the spreading alone, without the command's start
# or the polling. The polling costs CPU (a shoal process every 20 ms or so per
# loop, five loops, on a machine that may have two CPUs), so every polled run is
# followed by one with nothing polling, timed by the log stamps alone (wK).
# REVOKE_RUNS (5) runs of each kind, with a new node to revoke each time (the
# revoked one is then stopped): min, median and max in ms. Baselines: the
# round-trip time r1..r4's `shoal peers` report to the node just before it is
# revoked, and the wall time of one `shoal status` and one `shoal peers` on r1
# idle (STATUS_CALLS (20) calls each; the polling's granularity is 20 ms plus one
# call).
# Both parts run with repair_interval=1, scrub_rate=0, peer_timeout=2 and
# ping_interval=0.5.
#   bench/bench_leave.sh [SHOAL_BINARY | BUILD_DIR]   (else $SHOAL, else build/shoal)
# Everything lives in a temporary directory under BENCH_DIR (else /tmp), removed
# at the end (unless KEEP=1) with every process started here, also on failure or
# interruption.
set -euo pipefail
export LC_ALL=C # a '.' in $EPOCHREALTIME
root=$(cd "$(dirname "$0")/.." && pwd)
arg=${1:-${SHOAL:-build}}
. "$root/bench/lib.sh"
shoal=$(bench_shoal bench_leave "$arg") || exit 1
big_mib=${BIG_MIB:-512}
raw_runs=${RAW_RUNS:-3}
revoke_runs=${REVOKE_RUNS:-5}
status_calls=${STATUS_CALLS:-20}
limit=${DRAIN_LIMIT:-600}   # seconds the drain may take before the run fails
rlimit=${REVOKE_LIMIT:-30}  # seconds a revocation may take to be seen everywhere
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-leave.XXXXXX")
unset SHOAL_HOME

declare -A pid=() addr=() id=()
loops=() # the revocation's polling loops

alive() {
	local st
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# stop HOME...: SIGTERM to each home's daemon, SIGKILL after 10 s.
stop() {
	local h p
	for h; do [ -z "${pid[$h]:-}" ] || kill -TERM "${pid[$h]}" 2>/dev/null || true; done
	for _ in $(seq 100); do
		p=0
		for h; do [ -n "${pid[$h]:-}" ] && alive "${pid[$h]}" && p=1; done
		[ "$p" -eq 0 ] && break
		sleep 0.1
	done
	for h; do
		[ -n "${pid[$h]:-}" ] || continue
		kill -KILL "${pid[$h]}" 2>/dev/null || true
		wait "${pid[$h]}" 2>/dev/null || true
		unset "pid[$h]"
	done
}
# stop_all: the loops, then every daemon.
stop_all() {
	local p
	for p in "${loops[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	stop "${!pid[@]}"
	for p in "${loops[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	loops=()
}
# A trap may run while a command's stderr is redirected to a file: fd 3 is the
# script's own stderr, for what cleanup says.
exec 3>&2
cleanup() {
	local rc=$?
	trap "" INT TERM HUP
	trap - EXIT
	stop_all
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/*.log; do
			[ -s "$f" ] || continue
			echo "--- last lines of $(basename "$f")" >&3
			tail -n 6 "$f" >&3
		done
	fi
	# KEEP=1 keeps the directory (logs, per-run times) for a look.
	if [ "${KEEP:-}" = 1 ]; then echo "bench_leave: kept $work" >&3; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

die() {
	echo "bench_leave: $*" >&3
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
# init HOME: a new node in HOME; its id into ${id[HOME]}.
init() {
	id[$1]=$(shl --home "$1" init --network net.pem) || die "init of $1 failed"
}
start() { # start HOME [ARGS...]
	local h=$1
	shift
	"$shoal" --home "$h" daemon --listen 127.0.0.1:0 "${OPTS[@]}" "$@" 2>>"$h.log" &
	pid[$h]=$!
	wait_until 15 "$shoal" --home "$h" status || die "daemon $h did not start (see $h.log)"
	addr[$h]=$(shl --home "$h" status --json | sed -n 's/^ *"listen": *"\([^"]*\)".*$/\1/p')
	[ -n "${addr[$h]}" ] || die "no listen address from $h"
}
# state HOME NODE_ID: NODE_ID's state in HOME's `shoal peers` (none: not listed).
state() {
	local s
	s=$("$shoal" --home "$1" peers 2>/dev/null | awk -F'\t' -v id="$2" '$1 == id { print $3 }')
	echo "${s:-none}"
}
# mesh HOME...: every listed home shows every other one up.
mesh() {
	local a b
	for a; do
		for b; do
			[ "$a" == "$b" ] && continue
			[ "$(state "$a" "${id[$b]}")" == up ] || return 1
		done
	done
}
# rtt HOME NODE_ID: the round-trip time (ms) HOME's `shoal peers` shows to NODE_ID.
rtt() {
	"$shoal" --home "$1" peers 2>/dev/null |
		awk -F'\t' -v id="$2" '$1 == id && $4 ~ /^[0-9.]+ms$/ { sub(/ms$/, "", $4); print $4 }'
}
has_rtt() { [ -n "$(rtt "$1" "$2")" ]; }
# revoked HOME NODE_ID: HOME's `shoal peers` answers and shows NODE_ID revoked.
# none_up HOME: HOME's `shoal peers` answers and shows no member up. Both are
# polled by five loops at once on a machine that may have two CPUs: one process
# each, the lines read by bash itself.
revoked() {
	local out nid st
	out=$("$shoal" --home "$1" peers 2>/dev/null) || return 1
	while IFS=$'\t' read -r nid _ st _; do
		[ "$nid" == "$2" ] && [ "$st" == revoked ] && return 0
	done <<<"$out"
	return 1
}
none_up() {
	local out st
	out=$("$shoal" --home "$1" peers 2>/dev/null) || return 1
	while IFS=$'\t' read -r _ _ st _; do
		[ "$st" == up ] && return 1
	done <<<"$out"
	return 0
}
# stamp HOME PATTERN [NTH]: the time (microseconds since the epoch) in the NTH (1)
# line of HOME.log that matches PATTERN (grep -E); the daemons stamp their lines
# in milliseconds, UTC.
stamp() {
	local line
	line=$(grep -E -m "${3:-1}" -- "$2" "$1.log" | tail -n 1)
	[ -n "$line" ] || return 1
	echo $(($(date -u -d "${line%% *}" +%s%3N) * 1000))
}
# poll OUT CMD...: runs CMD every 20 ms until it succeeds, then writes the time
# it returned (microseconds since the epoch) to OUT; gives up after $rlimit s.
poll() {
	local out=$1 t end
	shift
	t=${EPOCHREALTIME/./}
	end=$((t + rlimit * 1000000))
	while [ "$t" -lt "$end" ]; do
		if "$@" >/dev/null 2>&1; then
			t=${EPOCHREALTIME/./}
			echo "$t" >"$out"
			return 0
		fi
		sleep 0.02
		t=${EPOCHREALTIME/./}
	done
	return 1
}
# since FROM US: milliseconds from FROM to US (both microseconds since the epoch).
since() { awk -v d=$(($2 - $1)) 'BEGIN { printf "%.2f\n", d / 1000 }'; }
# call_ms OUT CMD...: appends the wall time of CMD (ms) to OUT.
call_ms() {
	local out=$1 t0 t1
	shift
	t0=${EPOCHREALTIME/./}
	"$@" >/dev/null 2>&1 || die "$* failed"
	t1=${EPOCHREALTIME/./}
	awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f\n", d / 1000 }' >>"$out"
}
# mmm FILE: "min median max" of the numbers in FILE, one a line.
mmm() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (!NR) { print "- - -"; exit }
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f %.1f %.1f\n", v[1], med, v[NR] }'
}
# raw_tcp BYTES: seconds to send BYTES over a loopback TCP connection from a
# python3 sender to a receiver in another process (from before the connection to
# the receiver having read the last byte).
raw_tcp() {
	python3 - "$1" <<'PY'
import os, socket, sys, time
n = int(sys.argv[1])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
port = ls.getsockname()[1]
t0 = time.monotonic()
child = os.fork()
if child == 0:
    ls.close()
    s = socket.create_connection(("127.0.0.1", port))
    block = memoryview(os.urandom(1 << 20))
    left = n
    while left:
        k = min(left, len(block))
        s.sendall(block[:k])
        left -= k
    s.close()
    os._exit(0)
c, _ = ls.accept()
buf = bytearray(1 << 20)
got = 0
while True:
    k = c.recv_into(buf)
    if not k:
        break
    got += k
t1 = time.monotonic()
_, status = os.waitpid(child, 0)
if got != n or status != 0:
    sys.exit("raw_tcp: received %d of %d bytes (sender status %d)" % (got, n, status))
print("%.6f" % (t1 - t0))
PY
}
# good_copies IDS_FILE HOME...: "FEWEST CHUNK": the fewest files on the HOMEs whose
# SHA-256 is their chunk id, over the chunks of IDS_FILE, and a chunk with that few.
good_copies() {
	python3 - "$@" <<'PY'
import hashlib, os, sys
ids, homes = sys.argv[1], sys.argv[2:]
fewest, which = None, "-"
for h in open(ids).read().split():
    n = 0
    for home in homes:
        try:
            with open(os.path.join(home, "objects", h[:2], h), "rb") as f:
                n += hashlib.sha256(f.read()).hexdigest() == h
        except FileNotFoundError:
            pass
    if fewest is None or n < fewest:
        fewest, which = n, h[:12]
print(fewest if fewest is not None else 0, which)
PY
}

cd "$work"
OPTS=(--set repair_interval=1 --set scrub_rate=0 --set peer_timeout=2 --set ping_interval=0.5)
shl network create net.pem

# ---- drain ----------------------------------------------------------------------------------
echo "bench_leave: drain: 4 daemons; a $big_mib MiB random file put on n1 with --replicas 3" >&2
for n in 1 2 3 4; do init "n$n"; done
start n1
for n in 2 3 4; do start "n$n" --bootstrap "${addr[n1]}"; done
wait_until 30 mesh n1 n2 n3 n4 || die "n1..n4 did not form a full mesh"
head -c $((big_mib * 1024 * 1024)) /dev/urandom >big
shl --home n1 put big --replicas 3 --no-progress >cap || die "put of the big file failed (n1.log)"
rm -f big
shl --home n1 locate "$(cat cap)" >loc || die "locate of the big file failed"
cut -f1 loc >loc.ids
nfile=$(wc -l <loc.ids)
[ "$nfile" -gt 0 ] || die "locate lists no chunks"
awk -F'\t' 'split($3, h, ",") != 3 { bad = 1 } END { exit bad }' loc ||
	die "not every chunk of the big file is on exactly 3 nodes after the put"
find n2/objects/?? -type f -printf '%s\n' >n2.sizes
chunks=$(wc -l <n2.sizes)
bytes=$(awk '{ s += $1 } END { printf "%.0f", s }' n2.sizes)
[ "$chunks" -gt 0 ] || die "n2 holds no chunk of the big file"

echo "bench_leave: raw loopback TCP, $bytes bytes, best of $raw_runs" >&2
: >raw
for _ in $(seq "$raw_runs"); do raw_tcp "$bytes" >>raw || die "the raw TCP baseline failed"; done
raw_s=$(sort -n raw | head -n 1)

echo "bench_leave: drain of n2 ($chunks chunks, $bytes bytes)" >&2
sync
drain_t0=${EPOCHREALTIME/./}
shl --home n2 drain >drain.out 2>drain.err || die "drain on n2 failed: $(tail -n 1 drain.err)"
waited=0
while alive "${pid[n2]}"; do
	waited=$((waited + 1))
	[ "$waited" -le $((limit * 100)) ] || die "n2's daemon did not exit after the drain"
	sleep 0.01
done
drain_t1=${EPOCHREALTIME/./}
rc=0
wait "${pid[n2]}" || rc=$?
unset 'pid[n2]'
[ "$rc" -eq 0 ] || die "n2's daemon exited with $rc after the drain (n2.log)"
grep -q "^drained" drain.out || die "drain did not say it drained: $(cat drain.out)"
drain_s=$(awk -v d=$((drain_t1 - drain_t0)) 'BEGIN { printf "%.3f", d / 1e6 }')
# Where the time went, as n2 logged it.
d_start=$(stamp n2 "drain: handing every chunk over") || die "n2.log does not show the drain start"
d_held=$(stamp n2 "drain: all [0-9]+ chunks are held") || die "n2.log does not show the chunks held"
d_left=$(stamp n2 "drain: done; this node has left") || die "n2.log does not show the node leave"
read -r fewest at <<<"$(good_copies loc.ids n1 n3 n4)"
[ "$fewest" -ge 3 ] ||
	die "after the drain chunk $at has only $fewest good copies on n1, n3 and n4"
stop n1 n3 n4
rm -rf n1 n2 n3 n4

# ---- revocation -----------------------------------------------------------------------------
echo "bench_leave: revocation: r1..r4; $revoke_runs runs polled, $revoke_runs not, a new node revoked in each" >&2
for n in 1 2 3 4; do init "r$n"; done
start r1
for n in 2 3 4; do start "r$n" --bootstrap "${addr[r1]}"; done
wait_until 30 mesh r1 r2 r3 r4 || die "r1..r4 did not form a full mesh"
: >status_ms && : >peers_ms
for _ in $(seq "$status_calls"); do
	call_ms status_ms "$shoal" --home r1 status
	call_ms peers_ms "$shoal" --home r1 peers
done
# revoke_run V POLL: V joins r1..r4 and is revoked on r1; with POLL (1) the loops
# poll r1..r4 and V every 20 ms meanwhile, without (0) nothing does. Appends the
# times to P.*_ms, P being "poll" or "idle".
revoke_run() {
	local v=$1 p=idle r t0 t1 skip at_r1 at_all down
	[ "$2" -eq 1 ] && p=poll
	init "$v"
	start "$v" --bootstrap "${addr[r1]}"
	wait_until 30 mesh r1 r2 r3 r4 "$v" || die "$v did not join r1..r4 (see $v.log)"
	for r in r1 r2 r3 r4; do
		wait_until 10 has_rtt "$r" "${id[$v]}" || die "$r shows no round-trip time to $v"
		rtt "$r" "${id[$v]}" >>"$p.rtt_ms"
	done
	rm -f seen.*
	if [ "$2" -eq 1 ]; then
		for r in r1 r2 r3 r4; do
			poll "seen.$r" revoked "$r" "${id[$v]}" &
			loops+=($!)
		done
		poll seen.self none_up "$v" &
		loops+=($!)
		sleep 0.1 # the loops under way
	fi
	skip=$(wc -l <"$v.log")
	t0=${EPOCHREALTIME/./}
	shl --home r1 network revoke --network net.pem "${id[$v]}" --reason bench >revoke.out \
		2>revoke.err || die "network revoke of $v failed: $(tail -n 1 revoke.err)"
	t1=${EPOCHREALTIME/./}
	since "$t0" "$t1" >>"$p.cmd_ms"
	if [ "$2" -eq 1 ]; then
		for r in "${loops[@]}"; do wait "$r" || die "not every node saw $v revoked in $rlimit s"; done
		loops=()
		since "$t0" "$(cat seen.r1)" >>"$p.r1_ms"
		since "$t0" "$(cat seen.r1 seen.r2 seen.r3 seen.r4 | sort -n | tail -n 1)" >>"$p.all_ms"
		since "$t0" "$(cat seen.self)" >>"$p.self_ms"
	else
		wait_until "$rlimit" all_logged "$v" || die "not every node logged $v revoked in $rlimit s"
		wait_until "$rlimit" none_up "$v" || die "$v still shows a member up after $rlimit s"
	fi
	# The same moments as the daemons log them: each of r1..r4 taking the
	# revocation, and the revoked node's fourth link going down.
	for r in r1 r2 r3 r4; do
		stamp "$r" "$(logged_pattern "$v")" >"stamp.$r" || die "$r.log does not say $v was revoked"
	done
	at_r1=$(cat stamp.r1)
	at_all=$(cat stamp.r? | sort -n | tail -n 1)
	tail -n +$((skip + 1)) "$v.log" >"$v.after.log"
	down=$(stamp "$v.after" "info: peer [a-z2-7]+ down: " 4) ||
		die "$v.log does not show its four links going down"
	since "$t0" "$at_r1" >>"$p.log_r1_ms"
	since "$t0" "$at_all" >>"$p.log_all_ms"
	since "$t0" "$down" >>"$p.log_self_ms"
	since "$at_r1" "$at_all" >>"$p.spread_ms"
	since "$at_r1" "$down" >>"$p.spread_self_ms"
	stop "$v"
}
logged_pattern() { echo "node ${id[$1]:0:16} revoked by the network's CA"; }
all_logged() {
	local r
	for r in r1 r2 r3 r4; do grep -q -- "$(logged_pattern "$1")" "$r.log" || return 1; done
}
for p in poll idle; do
	for f in rtt cmd r1 all self log_r1 log_all log_self spread spread_self; do : >"$p.${f}_ms"; done
done
for k in $(seq "$revoke_runs"); do
	revoke_run "v$k" 1
	revoke_run "w$k" 0
done
stop_all

# ---- the table --------------------------------------------------------------------------------
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
drain_rate=$(awk -v b="$bytes" -v s="$drain_s" 'BEGIN { printf "%.1f", b / 1048576 / s }')
raw_rate=$(awk -v b="$bytes" -v s="$raw_s" 'BEGIN { printf "%.1f", b / 1048576 / s }')
echo
echo "drain: 4 daemons on 127.0.0.1, $(nproc) CPUs; $shoal"
echo "a $big_mib MiB file put on n1 with R = 3 ($nfile chunks); n2 drains, pushing one copy of each chunk it holds"
echo
echo "| step | chunks | MiB | seconds | MiB/s | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
printf '| raw loopback TCP, python3 (best of %d) | - | %s | %.3f | %s | 1.00 |\n' \
	"$raw_runs" "$mib" "$raw_s" "$raw_rate"
printf '| shoal drain on n2, until its daemon exits | %d | %s | %s | %s | %s |\n' \
	"$chunks" "$mib" "$drain_s" "$drain_rate" \
	"$(awk -v a="$drain_rate" -v b="$raw_rate" 'BEGIN { printf "%.3f", a / b }')"
echo
secs() { awk -v d=$(($2 - $1)) 'BEGIN { printf "%.2f", d / 1e6 }'; }
echo "n2's log: command to drain start $(secs "$drain_t0" "$d_start") s, handing over $(secs "$d_start" "$d_held") s" \
	"($(awk -v b="$bytes" -v d=$((d_held - d_start)) 'BEGIN { printf "%.1f", b / 1048576 / (d / 1e6) }') MiB/s)," \
	"then to leaving $(secs "$d_held" "$d_left") s, to the daemon gone $(secs "$d_left" "$drain_t1") s"
echo "repair_rate at its default (64 MiB/s), a cap the drain may well stay under;" \
	"afterwards every chunk has 3 good copies on n1, n3, n4"
echo "ratio = drain MiB/s / raw MiB/s (higher is better)"
echo
echo "revocation: r1..r4 and the node revoked, on 127.0.0.1; $revoke_runs runs of each kind, a new node revoked in each"
echo
row() { # LABEL POLLING FILE
	local lo med hi
	read -r lo med hi <<<"$(mmm "$3")"
	echo "| $1 | $2 | $(wc -l <"$3") | $lo | $med | $hi |"
}
echo "| from just before \`network revoke\` on r1 to | polling | runs | min ms | median ms | max ms |"
echo "|---|---|---:|---:|---:|---:|"
row "the command returning" "every 20 ms" poll.cmd_ms
row "the command returning" none idle.cmd_ms
row "r1, where it was signed, showing it revoked" "every 20 ms" poll.r1_ms
row "every one of r1..r4 showing it revoked" "every 20 ms" poll.all_ms
row "the revoked node showing no member up" "every 20 ms" poll.self_ms
row "r1 logging it (the daemons' ms stamps)" "every 20 ms" poll.log_r1_ms
row "r1 logging it" none idle.log_r1_ms
row "every one of r1..r4 logging it" "every 20 ms" poll.log_all_ms
row "every one of r1..r4 logging it" none idle.log_all_ms
row "the revoked node logging its 4th link down" "every 20 ms" poll.log_self_ms
row "the revoked node logging its 4th link down" none idle.log_self_ms
echo
echo "| from r1 logging the revocation to | polling | runs | min ms | median ms | max ms |"
echo "|---|---|---:|---:|---:|---:|"
row "every one of r2..r4 logging it" "every 20 ms" poll.spread_ms
row "every one of r2..r4 logging it" none idle.spread_ms
row "the revoked node logging its 4th link down" "every 20 ms" poll.spread_self_ms
row "the revoked node logging its 4th link down" none idle.spread_self_ms
echo
cat poll.rtt_ms idle.rtt_ms >rtt_ms
echo "| baseline | | calls | min ms | median ms | max ms |"
echo "|---|---|---:|---:|---:|---:|"
row "round-trip time r1..r4 show to it, before" - rtt_ms
row "\`shoal status\` on r1" none status_ms
row "\`shoal peers\` on r1" none peers_ms
echo
echo "polling: one loop per node, each call of \`shoal peers\` 20 ms after the last; a state counts"
echo "when the call that saw it returned. The logged rows use the daemons' own stamps (ms)."
