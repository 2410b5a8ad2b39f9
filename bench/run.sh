#!/usr/bin/env bash
# Shoal benchmarks. Every figure is printed beside a baseline measured in the
# same run on the same file, because this machine is shared and noisy:
#   store: put and get of a 1 GiB random file vs `openssl dgst -sha256` of it
#          (OpenSSL's SHA-NI SHA-256; coreutils sha256sum is no baseline here),
#          and peak RSS of put/get for 256 MiB and 1 GiB files.
#   chunker: the content-defined chunker alone on in-memory data.
#   ls during repair: `shoal ls` latency on a node while its repair copies 1 GiB,
#          vs the same calls on the same node idle (bench/bench_ls_repair.sh).
#   catalog: daemon start-up with 50,000 catalog entries vs an empty catalog, and
#          bytes written per catalog update vs the whole file (bench/bench_catalog.sh).
#   leaving: `shoal drain` of a node's share of a 512 MiB file vs raw loopback TCP,
#          and a revocation reaching every member vs the round-trip time and one
#          `shoal status` (bench/bench_leave.sh).
#   recovery: `shoal recover` of 1,000 names on a fresh node vs putting them
#          (bench/bench_recover.sh).
#   incremental: a 1 GiB tree of 50,000 files put, put again unchanged and after
#          editing 10 files, vs the first put (bench/bench_incremental.sh).
#   folders: an edit's latency to another member (p50, p95) vs cp and sync, and
#          2,000 small files vs cp -r, with RSS and chunks fetched for renames
#          (bench/bench_folder.sh).
# Each timed step runs after `sync` with the best of RUNS runs reported.
#   bench/run.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
shoal="$root/$build/shoal"
runstat="$root/$build/bench/runstat"
runs=${RUNS:-3}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# best_of FILE: the lowest time and highest RSS recorded in FILE.
best_time() { sort -n "$1" | head -n 1 | cut -d' ' -f1; }
max_rss() { sort -k2 -n "$1" | tail -n 1 | cut -d' ' -f2; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

"$shoal" network create "$work/net.pem"

echo "== chunker =="
"$root/$build/bench/bench_chunker"

echo
echo "== store: put and get on one node =="
declare -A put_t get_t put_rss get_rss
for size_mib in 256 1024; do
	f="$work/data-$size_mib"
	head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$f"
	bytes=$((size_mib * 1024 * 1024))
	: >"$work/sha" && : >"$work/put" && : >"$work/get"
	for _ in $(seq "$runs"); do
		sync
		"$runstat" "$work/sha" openssl dgst -sha256 "$f" >/dev/null
		rm -rf "$work/home"
		"$shoal" --home "$work/home" init --network "$work/net.pem" >/dev/null
		sync
		"$runstat" "$work/put" "$shoal" --home "$work/home" put "$f" --no-progress >/dev/null
		rm -f "$work/out"
		sync
		"$runstat" "$work/get" "$shoal" --home "$work/home" get "data-$size_mib" \
			-o "$work/out" --no-progress
		cmp -s "$f" "$work/out" || { echo "bench: get returned different bytes" >&2; exit 1; }
	done
	sha_s=$(best_time "$work/sha")
	put_s=$(best_time "$work/put")
	get_s=$(best_time "$work/get")
	printf '\n%s MiB file (best of %d)\n' "$size_mib" "$runs"
	printf '  %-28s %8s %10s %8s %12s\n' step seconds MB/s ratio "peak RSS"
	printf '  %-28s %8.3f %10s %8s %12s\n' "openssl dgst -sha256" "$sha_s" "$(mbps $bytes "$sha_s")" 1.00 -
	printf '  %-28s %8.3f %10s %8s %9s KiB\n' "shoal put" "$put_s" "$(mbps $bytes "$put_s")" \
		"$(ratio "$put_s" "$sha_s")" "$(max_rss "$work/put")"
	printf '  %-28s %8.3f %10s %8s %9s KiB\n' "shoal get" "$get_s" "$(mbps $bytes "$get_s")" \
		"$(ratio "$get_s" "$sha_s")" "$(max_rss "$work/get")"
	rm -f "$f" "$work/out"
done
echo
echo "ratio = openssl seconds / step seconds (higher is better); aim: put >= 0.5, get >= 0.7"

echo
echo "== network =="
# Two node identities of a temporary network on 127.0.0.1: raw TCP vs the framed TLS
# channel (net/conn), TLS handshake rate, Ping/Pong round trips (best of RUNS).
RUNS="$runs" BENCH_DIR="$work" "$root/$build/bench/bench_net"

echo
echo "== distributed =="
# Five daemons on 127.0.0.1 beside raw loopback TCP and an rsync daemon, measured in
# the same run: a 1 GiB file put with R = 3 and fetched on a sixth node, 1,000 small
# files each way, and the peak RSS of every daemon (bench/bench_dist.sh).
RUNS="$runs" BENCH_DIR="$work" "$root/bench/bench_dist.sh" "$build"

echo
echo "== ls during repair =="
# Three daemons on 127.0.0.1: a 1 GiB file put with R = 2 on n1 and n2, n2 SIGKILLed,
# n1's repair copying every chunk to n3 while `shoal ls` and `shoal status` on n1 are
# timed call after call, beside the same calls idle (bench/bench_ls_repair.sh).
BENCH_DIR="$work" "$root/bench/bench_ls_repair.sh" "$root/$build/shoal"

echo
echo "== catalog =="
# One daemon whose catalog five members fill with 10,000 signed entries each: its
# start-up beside an empty catalog's, and the bytes one update appends beside the
# whole catalog file (bench/bench_catalog.sh).
RUNS="$runs" BENCH_DIR="$work" "$root/bench/bench_catalog.sh" "$build"

echo
echo "== leaving: drain and revocation =="
# Four daemons on 127.0.0.1: a 512 MiB file put with R = 3, one node drained (its
# chunks pushed to the others, timed until its daemon exits) beside raw loopback
# TCP for the same bytes; then four daemons and a fifth revoked, a fresh one in
# each of REVOKE_RUNS (5) runs, timed until every member shows it revoked, polled and
# unpolled, beside the round-trip time and a `shoal status` (bench/bench_leave.sh).
BENCH_DIR="$work" "$root/bench/bench_leave.sh" "$build"

echo
echo "== recovery: a lost node's names =="
# Three daemons on 127.0.0.1; 1,000 names put on n1, its daemon killed; a fresh
# node recovers them with the recovery key, timed beside the puts themselves
# (bench/bench_recover.sh).
BENCH_DIR="$work" "$root/bench/bench_recover.sh" "$build"

echo
echo "== incremental puts =="
# A 1 GiB tree of 50,000 files through a daemon: put, put again unchanged, put
# again after a one-byte edit of 10 files, each against the first put of the same
# run; the last version restored and compared (bench/bench_incremental.sh).
BENCH_DIR="$work" "$root/bench/bench_incremental.sh" "$build"

echo
echo "== collaborative folders =="
# An edit reaching another member (p50, p95) beside cp and sync of the same
# file; 2,000 small files in 100 directories reaching it beside cp -r and sync,
# with both daemons' RSS; 100 renamed directories and the chunks fetched for
# them (bench/bench_folder.sh).
BENCH_DIR="$work" "$root/bench/bench_folder.sh" "$build"
