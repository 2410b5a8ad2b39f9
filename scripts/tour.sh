#!/usr/bin/env bash
# `make run`: a short guided tour of Shoal on this machine. One node on its own
# first, then five daemons on 127.0.0.1: a file stored with three replicas, its
# uploader killed with SIGKILL, the file fetched back elsewhere and compared byte
# for byte, a file published and listed from a third node, a directory round trip,
# a collaborative folder: an edit propagating, a conflict shown and resolved.
# Everything happens in a temporary directory; every daemon started here is
# stopped at the end, and also when a step fails or the tour is interrupted.
#   scripts/tour.sh PATH/TO/shoal       (KEEP=1 keeps the temporary directory)
set -euo pipefail
shoal=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d /tmp/shoal-tour.XXXXXX)
cd "$work"
# Never touch the user's ~/.shoal.
unset SHOAL_HOME

declare -A pid=() id=() addr=()
ok_end=0

# alive PID: the process exists and is not a zombie.
alive() {
	local st
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
dead() { ! alive "$1"; }
# Stops every daemon still running (SIGTERM, then SIGKILL after 5 s); on a failure
# shows the end of each daemon's log.
cleanup() {
	local n p
	trap "" INT TERM HUP
	trap - EXIT
	for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
	for _ in $(seq 50); do
		p=0
		for n in "${!pid[@]}"; do alive "${pid[$n]}" && p=1; done
		[ "$p" -eq 0 ] && break
		sleep 0.1
	done
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "$ok_end" -ne 1 ]; then
		for f in node?.log; do
			[ -s "$f" ] || continue
			echo "--- last lines of $f" >&2
			tail -n 15 "$f" >&2
		done
		echo "tour: FAILED (temporary directory: $work${KEEP:+, kept})" >&2
	fi
	cd /
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() {
	echo "tour: $*" >&2
	exit 1
}
# shl ARGS...: shoal, killed after 120 s so that a hang fails the tour.
shl() { timeout -s KILL 120 "$shoal" "$@"; }
# show ARGS...: prints the command, then runs it.
show() {
	printf '$ shoal %s\n' "$*"
	shl "$@"
}
# show_cap ARGS...: the same for a put; the capability it prints goes to $cap too.
show_cap() {
	printf '$ shoal %s\n' "$*"
	cap=$(shl "$@")
	echo "$cap"
	[[ $cap =~ ^shoal:[a-z2-7]+:[a-z2-7]+$ ]] || die "put printed no capability"
}
# wait_until SECONDS CMD...: polls CMD every 0.1 s; fails at the deadline.
wait_until() {
	local t=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || return 1
		sleep 0.1
	done
}
count_objects() { find "$1"/objects/?? -type f 2>/dev/null | wc -l; }

# ---- one node on its own ---------------------------------------------------------------
step "A network is a certificate authority; every node carries a certificate it signed"
show network create network.pem
for i in 1 2 3 4 5; do
	id[$i]=$(shl --home "node$i" init --network network.pem --name "node$i")
done
echo "five nodes made with 'shoal --home nodeN init --network network.pem --name nodeN'; node1 is ${id[1]}"
ls node1

step "Alone, node1 stores a file: chunked by content, encrypted, addressed by SHA-256"
head -c $((16 * 1024 * 1024)) /dev/urandom >alone.bin
printf 'Shoal tour sample, made %s\n' "$(date -u)" >>alone.bin
show_cap --home node1 put alone.bin --no-progress
echo "(that capability is all anyone needs to read the file; $(count_objects node1) chunks on disk)"
grep -r -a -q -F "Shoal tour sample" node1 && die "plaintext found under node1!"
echo "the sample's text appears nowhere under node1: the disk holds ciphertext only"
show --home node1 get "$cap" -o alone.out --no-progress
cmp alone.bin alone.out
echo "alone.out is identical to alone.bin"
show --home node1 verify
show --home node1 rm alone.bin
echo "(the name is gone and its chunks with it: $(count_objects node1) left)"

# ---- five daemons ------------------------------------------------------------------------
# start N [ARGS...]: runs node N's daemon on a port the kernel picks, waits until it answers.
start() {
	local n=$1
	shift
	"$shoal" --home "node$n" daemon --listen 127.0.0.1:0 --set peer_timeout=2 \
		--set ping_interval=0.5 "$@" 2>>"node$n.log" &
	pid[$n]=$!
	wait_until 15 "$shoal" --home "node$n" status || die "daemon of node$n did not start (see node$n.log)"
	addr[$n]=$(shl --home "node$n" status --json | sed -n 's/^ *"listen": *"\([^"]*\)".*$/\1/p')
	[ -n "${addr[$n]}" ] || die "no listen address in 'shoal --home node$n status --json'"
}
ups() { shl --home "node$1" peers | awk -F'\t' '$3 == "up"' | wc -l; }
all_up() { # all_up COUNT N...: each listed node sees COUNT members up
	local want=$1 n
	shift
	for n in "$@"; do [ "$(ups "$n")" -ge "$want" ] || return 1; done
}
# name_of NODE_ID: nodeN for one of ours.
name_of() {
	local n
	for n in "${!id[@]}"; do [ "${id[$n]}" == "$1" ] && echo "node$n" && return; done
	echo "${1:0:16}"
}

step "Five daemons on 127.0.0.1, each told only of node1; gossip does the rest"
start 1
for n in 2 3 4 5; do start "$n" --bootstrap "${addr[1]}"; done
echo "daemons listening on ${addr[1]} ${addr[2]} ${addr[3]} ${addr[4]} ${addr[5]}"
wait_until 20 all_up 4 1 2 3 4 5 || die "the five daemons did not form a full mesh in 20 s"
# Give the keepalive pings a moment to measure round trips.
rtts() { [ "$(shl --home node5 peers | awk -F'\t' '$4 ~ /ms$/' | wc -l)" -ge 4 ]; }
wait_until 3 rtts || true
show --home node5 peers

step "node2 stores a 24 MiB file with three replicas: its own copy and two peers' per chunk"
head -c $((24 * 1024 * 1024)) /dev/urandom >sample.bin
show_cap --home node2 put sample.bin --name sample --replicas 3 --no-progress

step "Where the chunks landed (shoal locate: chunk, stored bytes, holders)"
printf '$ shoal --home node2 locate sample\n'
shl --home node2 locate sample >locate.txt
# The first lines, chunk ids shortened and holders shown by name.
head -n 4 locate.txt | while IFS=$'\t' read -r chunk size holders; do
	names=
	for h in ${holders//,/ }; do names+="${names:+,}$(name_of "$h")"; done
	printf '%.16s...\t%s\t%s\n' "$chunk" "$size" "$names"
done
total=$(wc -l <locate.txt)
[ "$total" -gt 0 ] || die "locate listed no chunk"
echo "... $total chunks in all (the first is the file's manifest, itself a chunk). Per node:"
for n in 1 2 3 4 5; do
	c=$(awk -F'\t' -v id="${id[$n]}" '{ split($3, h, ","); for (k in h) if (h[k] == id) { c++; break } }
		END { print c + 0 }' locate.txt)
	printf '  node%s: %2d of %d chunks%s\n' "$n" "$c" "$total" "$([ "$n" = 2 ] && echo '  (the uploader)')"
done
bad=$(awk -F'\t' '{ n = split($3, h, ","); delete seen; d = 0
	for (k = 1; k <= n; k++) if (!(h[k] in seen)) { seen[h[k]] = 1; d++ }
	if (d < 3) print }' locate.txt | wc -l)
[ "$bad" -eq 0 ] || die "$bad chunks are on fewer than 3 distinct nodes"
echo "every chunk is on 3 distinct nodes"

step "SIGKILL the uploader: node2 is gone without a word"
kill -KILL "${pid[2]}"
wait "${pid[2]}" 2>/dev/null || true
unset 'pid[2]'
echo "$ kill -9 <node2's daemon>"
node2_down() {
	shl --home node4 peers | awk -F'\t' -v id="${id[2]}" '$1 == id && $3 == "down" { f = 1 } END { exit !f }'
}
wait_until 10 node2_down || die "node4 did not mark node2 down within 10 s"
printf '$ shoal --home node4 peers | grep <node2 id>\n'
shl --home node4 peers | grep "^${id[2]}"

step "node4 fetches the file from the surviving holders, verifying every chunk"
show --home node4 get "$cap" -o fetched.bin --no-progress
cmp sample.bin fetched.bin
echo "cmp: fetched.bin is identical to sample.bin, byte for byte"

step "node3 publishes a file; node5 finds it in the network catalog"
printf 'Meeting notes: the tour works.\n' >notes.txt
show --home node3 put notes.txt --name notes --publish --no-progress
listed() { [[ $'\n'$(shl --home node5 ls --network) == *$'\n'notes$'\t'* ]]; }
wait_until 15 listed || die "node5 did not list 'notes' within 15 s"
show --home node5 ls --network
show --home node5 get notes -o notes.out --no-progress
cmp notes.txt notes.out
echo "node5 got 'notes' by its name in the catalog: identical"

step "A directory round trip: stored through node4, restored through node1"
mkdir -p album/2024 album/2025
for y in 2024 2025; do
	for m in 01 02 03; do head -c $((100 * 1024 + RANDOM)) /dev/urandom >"album/$y/photo-$m.jpg"; done
done
echo "an album of six photos" >album/README
show_cap --home node4 put album --no-progress
show --home node1 get "$cap" -o album.out --no-progress
diff -r album album.out
echo "diff -r: album.out holds the same $(find album.out -type f | wc -l) files, byte for byte"

step "A folder node3 and node5 edit together: an edit goes across"
mkdir -p team3
printf 'Plan: ship on Friday.\n' >team3/plan.txt
printf '$ shoal --home node3 folder create team3 --name team\n'
invite=$(shl --home node3 folder create team3 --name team | tail -n 1)
echo "$invite"
[[ $invite == shoal-folder:* ]] || die "folder create printed no invite"
show --home node5 folder join "$invite" team5
same() { cmp -s "$1" "$2"; }
wait_until 30 same team3/plan.txt team5/plan.txt || die "plan.txt did not reach node5"
echo "team5/plan.txt: $(cat team5/plan.txt)"
printf 'Plan: ship on Friday. Tests first.\n' >team5/plan.txt
echo "(node5 edits team5/plan.txt)"
wait_until 30 same team5/plan.txt team3/plan.txt || die "node5's edit did not reach node3"
echo "team3/plan.txt: $(cat team3/plan.txt)"

step "Both edit plan.txt while node5 is paused: one conflict, the same on both"
show --home node5 folder pause team5
printf 'Plan: ship on Monday.\n' >team3/plan.txt
printf 'Plan: ship on Tuesday.\n' >team5/plan.txt
sleep 2
show --home node5 folder resume team5
has_copy() { compgen -G "$1/plan.conflict-*.txt" >/dev/null; }
wait_until 30 has_copy team3 || die "no conflict copy on node3"
wait_until 30 has_copy team5 || die "no conflict copy on node5"
show --home node3 folder conflicts
for f in team3/plan*.txt; do echo "$f: $(cat "$f")"; done
show --home node5 folder resolve team5/plan.txt --keep theirs
no_copy() { ! has_copy team3 && ! has_copy team5; }
wait_until 30 no_copy || die "the resolution did not reach node3"
wait_until 30 same team3/plan.txt team5/plan.txt || die "the two plans differ"
echo "resolved on node5, on both now: $(cat team3/plan.txt)"
show --home node3 folder status team3

step "Stop every node (SIGTERM)"
for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}"; done
for n in $(printf '%s\n' "${!pid[@]}" | sort); do
	rc=0
	wait_until 15 dead "${pid[$n]}" || die "node$n did not stop within 15 s of SIGTERM"
	wait "${pid[$n]}" || rc=$?
	unset "pid[$n]"
	[ "$rc" -eq 0 ] || die "node$n exited with status $rc after SIGTERM"
	echo "node$n stopped cleanly"
done
ok_end=1
echo
echo "Tour complete."
