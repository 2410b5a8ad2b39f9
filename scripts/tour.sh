#!/usr/bin/env bash
# `make run`: a short guided tour of Shoal on this machine. Everything happens
# in a temporary directory that is removed at the end.
set -euo pipefail
shoal=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d /tmp/shoal-tour.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ shoal %s\n' "${*:2}"; "$@"; }

step "A network is a certificate authority; every node carries a certificate it signed"
run "$shoal" network create network.pem
ls -l network.pem

step "A node lives in a home directory: its key, certificate, store and index"
export SHOAL_HOME="$work/node1"
run "$shoal" init --network network.pem --listen 127.0.0.1:7400
ls "$SHOAL_HOME"

step "Store a 48 MiB sample file: chunked by content, encrypted, addressed by SHA-256"
head -c $((48 * 1024 * 1024)) /dev/urandom >sample.bin
printf 'Shoal tour sample, made %s\n' "$(date -u)" >>sample.bin
printf '$ %s\n' "shoal put sample.bin --name sample"
cap=$("$shoal" put sample.bin --name sample)
echo "$cap"
echo "(that capability is all anyone needs to read the file)"
echo "chunks on disk: $(find "$SHOAL_HOME/objects" -path '*/tmp' -prune -o -type f -print | wc -l)"

step "Nothing readable reaches the disk"
if grep -r -a -q -F "Shoal tour sample" "$SHOAL_HOME"; then
	echo "plaintext found under the home!" >&2
	exit 1
fi
echo "the sample's text appears nowhere under $SHOAL_HOME"

step "The same content again deduplicates: no new chunk"
run "$shoal" put sample.bin --name sample-copy >/dev/null
echo "chunks on disk: $(find "$SHOAL_HOME/objects" -path '*/tmp' -prune -o -type f -print | wc -l)"
run "$shoal" ls

step "Fetch it back by capability, verified chunk by chunk, and compare"
run "$shoal" get "$cap" -o fetched.bin
cmp sample.bin fetched.bin && echo "fetched.bin is identical to sample.bin"

step "Verify re-hashes every stored chunk"
run "$shoal" verify

step "Damage one chunk on disk: get refuses, verify names it"
victim=$(find "$SHOAL_HOME/objects" -path '*/tmp' -prune -o -type f -size +100k -print -quit)
chmod u+w "$victim"
printf '\xff' | dd of="$victim" bs=1 seek=1000 conv=notrunc status=none
run "$shoal" get sample -o broken.bin || echo "(get failed as it should; broken.bin exists: $([ -e broken.bin ] && echo yes || echo no))"
run "$shoal" verify || echo "(verify exits non-zero while a chunk is bad)"

step "Removing both names releases the chunks"
run "$shoal" rm sample
run "$shoal" rm sample-copy
echo "chunks on disk: $(find "$SHOAL_HOME/objects" -path '*/tmp' -prune -o -type f -print | wc -l)"

step "A network: three daemons on 127.0.0.1, each told only of the first"
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap 'stop_all; rm -rf "$work"' EXIT
start() { # start HOME [ARGS...]: runs a daemon, waits until it answers
	local home=$1
	shift
	"$shoal" --home "$home" daemon --listen 127.0.0.1:0 --set peer_timeout=2 \
		--set ping_interval=0.5 "$@" 2>>"$home.log" &
	pids+=($!)
	for _ in $(seq 100); do
		"$shoal" --home "$home" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "daemon of $home did not start" >&2
	return 1
}
listen_of() { "$shoal" --home "$1" status --json | sed -n 's/.*"listen": "\(.*\)".*/\1/p'; }
for i in 2 3; do "$shoal" --home "$work/node$i" init --network network.pem >/dev/null; done
start "$work/node1"
first=$(listen_of "$work/node1")
start "$work/node2" --bootstrap "$first"
start "$work/node3" --bootstrap "$first"
wait_up() { # wait_up HOME N: until HOME sees N peers up
	for _ in $(seq 100); do
		[ "$("$shoal" --home "$1" peers | grep -c $'\tup\t')" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_up "$work/node3" 2
# Give the keepalive pings a moment to measure round trips.
for _ in $(seq 40); do
	[ "$("$shoal" --home "$work/node3" peers | grep -c 'ms$')" -ge 2 ] && break
	sleep 0.05
done
echo "node3 found node2 through node1's gossip:"
run "$shoal" --home "$work/node3" peers
run "$shoal" --home "$work/node1" status

step "Kill node3 with SIGKILL: the others mark it down; restarted, it is back"
kill -9 "${pids[2]}"
wait "${pids[2]}" 2>/dev/null || true
for _ in $(seq 100); do
	[ "$("$shoal" --home "$work/node1" peers | grep -c $'\tdown\t')" -ge 1 ] && break
	sleep 0.05
done
run "$shoal" --home "$work/node1" peers
start "$work/node3"
wait_up "$work/node1" 2
echo "node3 restarted without --bootstrap and rejoined through the members it remembers:"
run "$shoal" --home "$work/node1" peers

step "With a daemon running, the CLI goes through it"
run "$shoal" --home "$work/node2" put sample.bin --name sample-on-node2
run "$shoal" --home "$work/node2" ls

step "Done: replication across these nodes, send and the catalog come next"
