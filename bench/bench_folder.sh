#!/usr/bin/env bash
# Collaborative folders: how long an edit takes to reach another member, and
# what a big folder costs.
#
# Two daemons on 127.0.0.1 (kernel-chosen ports, temporary homes) share a
# folder. Latency: EDITS times, 4 KiB of new random bytes are written into a
# file on A (one of eight, new at first, rewritten after), and the time until
# B holds exactly those bytes is measured (polled every 10 ms); p50 and p95
# are printed beside `cp` and `sync` of the same file into a plain directory.
# Scale: FILES small files (1 to 4 KiB) in 100 directories are moved into A
# at once; the time until B holds them all (beside `cp -r` and `sync` of the
# same tree), both daemons' RSS before and after, the chunks B fetched and
# what each one's objects/ then holds beside the files.
# Renames: the 100 directories renamed on A; the time until B has the new
# names, and the chunks B fetched for it (0: it renamed, it did not fetch).
#   bench/bench_folder.sh [SHOAL_BINARY | BUILD_DIR]   (else $SHOAL, else build/shoal)
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
arg=${1:-${SHOAL:-build}}
. "$root/bench/lib.sh"
shoal=$(bench_shoal bench_folder "$arg") || exit 1
edits=${EDITS:-40}
files=${FILES:-2000}
opts=(--set peer_timeout=2 --set ping_interval=0.5 --set recovery_delay=0 --set scrub_rate=0)
bench_daemons bench_folder
now_ns() { date +%s%N; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# percentile FILE P: the P-th percentile of the numbers in FILE.
percentile() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int((NR - 1) * p / 100) + 1; print v[i] }'; }
status_json() { "$shoal" --home "$1" folder status --json; }
fetched() { status_json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["folders"][0]["counters"]["fetched"])'; }

cd "$work"
"$shoal" network create net.pem
for h in a b; do "$shoal" --home "$h" init --network net.pem --name "$h" >/dev/null; done
bench_start a
bench_start b a
mkdir A C
invite=$("$shoal" --home a folder create A | tail -n 1)
"$shoal" --home b folder join "$invite" B >/dev/null

# ---- latency ----
: >lat.ms
: >cp.us
for i in $(seq 1 "$edits"); do
	head -c 4096 /dev/urandom >edit.bin
	f="A/e$((i % 8)).bin"
	t0=$(now_ns)
	cp edit.bin "$f"
	for _ in $(seq 3000); do
		cmp -s edit.bin "B/e$((i % 8)).bin" && break
		sleep 0.01
	done
	t1=$(now_ns)
	cmp -s edit.bin "B/e$((i % 8)).bin" || bench_die "edit $i did not reach B within 30 s"
	echo $(((t1 - t0) / 1000000)) >>lat.ms
	t0=$(now_ns)
	cp edit.bin "C/e$((i % 8)).bin"
	sync -f C 2>/dev/null || true
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000)) >>cp.us
	sleep 0.3
done
p50=$(percentile lat.ms 50)
p95=$(percentile lat.ms 95)
cp50=$(percentile cp.us 50)
echo "edit to another member ($edits edits of 4 KiB, new or rewritten files):"
printf '  p50 %6d ms    p95 %6d ms    (cp + sync of the same file: p50 %d us)\n' "$p50" "$p95" "$cp50"
echo "  of which the debounce is 1000 ms (a scan starts 1 s after the last change seen)"

# ---- scale ----
rss_a0=$(rss_kb "${pid[a]}")
rss_b0=$(rss_kb "${pid[b]}")
f0=$(fetched b)
mkdir S
for d in $(seq 1 100); do
	mkdir "S/d$d"
	for i in $(seq 1 $((files / 100))); do
		head -c $((1024 + (i * 37) % 3072)) /dev/urandom >"S/d$d/f$i"
	done
done
t0=$(now_ns)
mv S A/S
for _ in $(seq 6000); do
	[ "$(find B/S -type f 2>/dev/null | wc -l)" -ge "$files" ] && break
	sleep 0.1
done
t1=$(now_ns)
[ "$(find B/S -type f | wc -l)" -ge "$files" ] || bench_die "the $files files did not all reach B"
diff -r A/S B/S >/dev/null || bench_die "B/S differs from A/S"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
rss_a1=$(rss_kb "${pid[a]}")
rss_b1=$(rss_kb "${pid[b]}")
t2=$(now_ns)
cp -r A/S C/S
sync
t3=$(now_ns)
cps=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
echo "$files small files in 100 directories, moved into A at once, until B has them all:"
printf '  %s s (cp -r + sync of the same tree: %s s, ratio %s)\n' "$secs" "$cps" \
	"$(awk -v a="$cps" -v b="$secs" 'BEGIN { printf "%.0f", b / a }')"
printf '  daemon RSS: A %d -> %d KiB, B %d -> %d KiB; B fetched %d chunks\n' "$rss_a0" "$rss_a1" \
	"$rss_b0" "$rss_b1" $(($(fetched b) - f0))
sleep 2 # B lets the fetched objects go once its last pass is committed
printf '  objects/: A %d KiB, B %d KiB, for %d KiB of files (kept in the trees)\n' \
	"$(du -sk a/objects | cut -f1)" "$(du -sk b/objects | cut -f1)" "$(du -sk A/S | cut -f1)"

# ---- renames ----
f0=$(fetched b)
t0=$(now_ns)
for d in $(seq 1 100); do mv "A/S/d$d" "A/S/r$d"; done
for _ in $(seq 6000); do
	[ "$(find B/S -path '*/r*' -type f 2>/dev/null | wc -l)" -ge "$files" ] &&
		[ ! -e B/S/d1 ] && break
	sleep 0.1
done
t1=$(now_ns)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "100 directories ($files files) renamed on A, until B has the new names:"
printf '  %s s; chunks fetched by B: %d\n' "$secs" $(($(fetched b) - f0))
