#!/usr/bin/env bash
# The network catalog on disk: how long a daemon takes to start with a full
# catalog, and what one update costs in bytes written.
#
# One daemon on 127.0.0.1 (kernel-chosen port, temporary home). OWNERS (5)
# members, each with a certificate from the network's CA (tests/tools/testcert),
# send it PER_OWNER (10,000, the default catalog_per_member) signed entries each
# (tests/tools/catsign --count, sent by tests/cli/hostile.py catalog-send), so
# its catalog holds OWNERS x PER_OWNER entries. Then:
#   start-up: the daemon is stopped and started RUNS (3) times; the time from
#     starting it to `shoal status` answering, best of RUNS, beside the same on a
#     node with an empty catalog (the baseline: process start, TLS keys, index,
#     control socket) and beside `cat catalog.log > /dev/null` (reading the
#     bytes, the floor for loading them);
#   bytes per update: UPDATES (200) `put --publish` of small files on the full
#     node, and the growth of home/catalog.log divided by UPDATES, beside the
#     size of the whole file (what each update would cost if the catalog were
#     rewritten whole).
#   bench/bench_catalog.sh [BUILD_DIR]   (default build)
# Everything lives in a temporary directory under BENCH_DIR (else /tmp), removed
# at the end (unless KEEP=1) with every process started here, also on failure.
set -euo pipefail
export LC_ALL=C # a '.' in $EPOCHREALTIME
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
shoal=$root/$build/shoal
testcert=$root/$build/tests/tools/testcert
catsign=$root/$build/tests/tools/catsign
hostile=$root/tests/cli/hostile.py
owners=${OWNERS:-5}
per_owner=${PER_OWNER:-10000}
updates=${UPDATES:-200}
runs=${RUNS:-3}
for t in "$shoal" "$testcert" "$catsign"; do
	[ -x "$t" ] || {
		echo "bench_catalog: $t is not built (make bench builds it)" >&2
		exit 1
	}
done
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-catbench.XXXXXX")
unset SHOAL_HOME
pid=

alive() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
stop() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 150); do alive || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}
cleanup() {
	local rc=$?
	trap - EXIT
	stop
	[ "$rc" -eq 0 ] || tail -n 6 "$work"/*.log >&2 2>/dev/null || true
	if [ "${KEEP:-}" = 1 ]; then echo "bench_catalog: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
die() {
	echo "bench_catalog: $*" >&2
	exit 1
}
shl() { timeout -s KILL 600 "$shoal" "$@"; }
# start HOME: starts the daemon and prints the seconds until status answers.
start() {
	local t0=$EPOCHREALTIME
	"$shoal" --home "$1" daemon --listen 127.0.0.1:0 2>>"$1.log" &
	pid=$!
	until "$shoal" --home "$1" status >/dev/null 2>&1; do
		alive || die "the daemon of $1 died (see $1.log)"
		sleep 0.01
	done
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}
best() { sort -n | head -n 1; }
entries() { shl --home "$1" ls --network 2>/dev/null | wc -l; }

cd "$work"
shl network create net.pem
shl --home full init --network net.pem >/dev/null
shl --home empty init --network net.pem >/dev/null
start full >/dev/null
addr=$(shl --home full status --json | sed -n 's/^ *"listen": *"\([^"]*\)".*$/\1/p')
[ -n "$addr" ] || die "no listen address"
total=$((owners * per_owner))
echo "bench_catalog: $owners members send $per_owner signed entries each" >&2
for o in $(seq "$owners"); do
	"$testcert" valid net.pem "m$o.key" "m$o.crt" >/dev/null || die "testcert m$o"
	"$catsign" "m$o.key" "m$o.crt" "entry-of-$o" --count "$per_owner" >"m$o.hex" ||
		die "catsign m$o"
	timeout -s KILL 300 python3 "$hostile" catalog-send "$addr" full/ca.crt "m$o.key" "m$o.crt" \
		"m$o.hex" >"m$o.out" 2>&1 || die "catalog-send m$o failed ($(tail -n 1 "m$o.out"))"
done
for _ in $(seq 600); do
	[ "$(entries full)" -ge "$total" ] && break
	sleep 0.5
done
[ "$(entries full)" -eq "$total" ] || die "the catalog holds $(entries full) entries, not $total"
stop

: >t_full && : >t_empty && : >t_cat
for _ in $(seq "$runs"); do
	sync
	t0=$EPOCHREALTIME
	cat full/catalog.log >/dev/null
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }' >>t_cat
	start empty >>t_empty
	stop
	start full >>t_full
	stop
done
log_bytes=$(stat -c %s full/catalog.log)
cat_s=$(best <t_cat)
empty_s=$(best <t_empty)
full_s=$(best <t_full)

start full >/dev/null
[ "$(entries full)" -eq "$total" ] || die "the restarted catalog holds $(entries full) entries"
# Let the start-up settle (a compaction, if any, happens now, not below).
sleep 3
before=$(stat -c %s full/catalog.log)
for i in $(seq "$updates"); do
	echo "update $i" >u
	shl --home full put u --name "update-$i" --publish --replicas 1 --no-progress \
		>/dev/null 2>put.err || die "put --publish $i failed: $(cat put.err)"
done
sleep 3 # the log is appended at most every 2 s
after=$(stat -c %s full/catalog.log)
[ "$(entries full)" -eq $((total + updates)) ] || die "the updates are not all in the catalog"
stop
per_update=$(((after - before) / updates))

printf '\ncatalog of %d entries (%d members x %d), catalog.log %d bytes (best of %d)\n' \
	"$total" "$owners" "$per_owner" "$log_bytes" "$runs"
printf '  %-40s %9s %9s\n' step seconds ratio
printf '  %-40s %9.3f %9s\n' "start-up, empty catalog (baseline)" "$empty_s" 1.00
printf '  %-40s %9.3f %9s\n' "start-up, $total entries" "$full_s" \
	"$(awk -v a="$full_s" -v b="$empty_s" 'BEGIN { printf "%.2f", a / b }')"
printf '  %-40s %9.3f %9s\n' "cat catalog.log > /dev/null" "$cat_s" -
printf '\n  %-40s %9s %9s\n' "bytes written per catalog update" bytes ratio
printf '  %-40s %9d %9s\n' "whole catalog.log (a full rewrite)" "$log_bytes" 1.000
printf '  %-40s %9d %9s\n' "appended per update ($updates updates)" "$per_update" \
	"$(awk -v a="$per_update" -v b="$log_bytes" 'BEGIN { printf "%.5f", a / b }')"
echo "ratio: start-up = full / empty (lower is better); bytes = appended / whole file"
