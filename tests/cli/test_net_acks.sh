#!/usr/bin/env bash
# A PutAck means durable: a holder acks a pushed chunk only after its group
# commit (the objects synced, then the index row and the pin committed). Four
# daemons: the uploader, node 1; healthy holders 2 and 3; and a faulty holder
# whose fsyncs fail (SHOAL_FAULTS, src/util/fault.h) once it has started, so
# that its group commits fail:
#  1. every commit of holder 4 (the faulty one) fails: a put from node 1 with
#     --replicas 3 succeeds with holder 4 replaced, and every chunk of it then
#     has an index row (and a pin for node 1) on nodes 1, 2 and 3; with
#     --replicas 4 (holder 4 cannot be replaced) the put fails with one line
#     and binds no name; holder 4 holds no index row at all;
#  2. holder 4 is stopped and a fresh holder 5 takes its place, whose first
#     commit alone fails: a put with --replicas 3 succeeds, every chunk of it
#     has at least 3 holders with an index row and a pin for node 1, and
#     holder 5 holds rows only for chunks whose commit went through.
# The rows are read with sqlite3 from each home after its daemon has stopped,
# and every store passes the audit (rows name chunk files that hash to them).
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
# Fast failure detection on every node: a stopped member is down within
# ~peer_timeout + a tick.
# No name table uploads (recovery_delay=0): the fsyncs and copies counted here
# are the test's puts' alone.
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set recovery_delay=0)

# b32_hex B32: a node id or capability field as hex.
b32_hex() {
	python3 -c 'import base64, sys; s = sys.argv[1].upper(); print(base64.b32decode(s + "=" * (-len(s) % 8)).hex())' "$1"
}
# start_faulty N BOOT_N FAULTS: start_node N BOOT_N with SHOAL_FAULTS=FAULTS in
# its environment (the daemon's, and that of the status calls that wait for it).
start_faulty() {
	echo "# node $1 starts with SHOAL_FAULTS=$3"
	SHOAL_FAULTS=$3 start_node "$1" "$2"
}
# startup_fsyncs HOME: how many fsyncs the fault hook counts before a first
# daemon on HOME answers status. Starts copies of HOME (each on its own, with
# no bootstrap) with SHOAL_FAULTS=fsync:K+ for K = 1, 2, ... until one answers;
# prints K - 1.
startup_fsyncs() {
	local k
	for k in $(seq 1 20); do
		rm -rf probe && cp -a "$1" probe || return 1
		SHOAL_FAULTS=fsync:$k+ start_daemon probe probe.log --listen 127.0.0.1:0 \
			--set recovery_delay=0
		if wait_daemon probe 10; then
			kill_daemon probe
			rm -rf probe
			echo $((k - 1))
			return 0
		fi
		kill_daemon probe
	done
	return 1
}
# fault_fired N COUNT: node N's log says the fault hook failed COUNT fsyncs.
fault_fired() { [ "$(grep -c 'fault injected: fsync' "n$1.log")" -eq "$2" ]; }
# told_of N: node 1 (the uploader) logs that a replica on node N failed (and so
# tried another node).
told_of() { grep -q "replica of a chunk on ${node_id[$1]:0:16} failed" n1.log; }
# audit_put UPLOADER_N CAP R N...: with every daemon stopped, checks the chunks
# of the file CAP put from node UPLOADER_N (its manifest and what the manifest
# refs, from the uploader's index): each has at least R holders among the
# uploader and the nodes N with a row in their chunks table, the uploader
# among them, and every other such holder has a pin for the uploader. Prints
# how many chunks it checked, then each problem; non-zero when there is one.
audit_put() {
	local up=$1 cap=$2 want=$3
	shift 3
	# shellcheck disable=SC2046 # homes are words
	python3 - "n$up" "$cap" "$want" $(homes "$@") "$(b32_hex "${node_id[$up]}")" <<'PY'
import base64, sqlite3, sys
uploader, cap, want, *homes = sys.argv[1:-1]
up_id = bytes.fromhex(sys.argv[-1])
want = int(want)
field = cap.split(":")[1].upper()
manifest = base64.b32decode(field + "=" * (-len(field) % 8))
def db(home):
    return sqlite3.connect("file:%s/index.sqlite?mode=ro" % home, uri=True)
u = db(uploader)
chunks = [manifest] + [bytes(c) for (c,) in u.execute(
    "SELECT chunk FROM refs WHERE manifest = ?", (manifest,))]
problems = []
if len(chunks) < 4:
    problems.append("only %d chunks listed for the file" % len(chunks))
for c in chunks:
    holders = []
    for home in [uploader] + homes:
        d = db(home)
        if d.execute("SELECT 1 FROM chunks WHERE id = ?", (c,)).fetchone():
            holders.append(home)
            if home != uploader and not d.execute(
                    "SELECT 1 FROM pins WHERE chunk = ? AND node = ?", (c, up_id)).fetchone():
                problems.append("%s: a row on %s but no pin for the uploader" % (c.hex()[:16], home))
        d.close()
    if uploader not in holders:
        problems.append("%s: no row on the uploader" % c.hex()[:16])
    if len(holders) < want:
        problems.append("%s: %d holders with an index row (%s), want %d" % (
            c.hex()[:16], len(holders), " ".join(holders), want))
print("%d chunks checked" % len(chunks))
for p in problems[:20]:
    print(p)
sys.exit(1 if problems else 0)
PY
}
# check_audit DESC ARGS...: audit_put ARGS as a test case (its problems as the diagnostic).
check_audit() {
	local desc=$1 out
	shift
	if out=$(audit_put "$@" 2>&1); then ok "$desc (${out%%$'\n'*})"; else fail "$desc" "$out"; fi
}
# rows HOME TABLE: how many rows TABLE has in HOME's index.
rows() { sqlite3 "file:$1/index.sqlite?mode=ro" "SELECT count(*) FROM $2"; }
# unrowed_objects HOME: chunk files in HOME without a chunks row (copies written
# by a commit that failed).
unrowed_objects() {
	local f n=0 hex
	for f in "$1"/objects/??/*; do
		[ -f "$f" ] || continue
		hex=${f##*/}
		[ "$(sqlite3 "file:$1/index.sqlite?mode=ro" "SELECT count(*) FROM chunks WHERE id = X'$hex'")" = 0 ] && n=$((n + 1))
	done
	echo "$n"
}

make_nodes 1 2 3 4 5

# ---- 1. a holder whose every commit fails ------------------------------------------------
skip4=$(startup_fsyncs n4)
check_match "a first daemon on holder 4 (the faulty one) takes a known number of fsyncs to start (${skip4:-?})" \
	'^[0-9]+$' "${skip4:-}"
start_node 1
start_node 2 1
start_node 3 1
start_faulty 4 1 "fsync:$((skip4 + 1))+"
check "the four form a full mesh" wait_for 15 mesh_up 1 2 3 4
check "... and holder 4 has not failed an fsync yet" fault_fired 4 0

gen_data one.bin $((10 * MiB)) acks-one
cap1=$(shoal --home n1 put one.bin --name one --replicas 3 2>put1.err)
check_eq "put --replicas 3 from node 1, holder 4 failing every commit: exits 0 (4 replaced)" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$cap1"
check "... holder 4's commits did fail (its log says so)" grep -q 'fault injected: fsync' n4.log
check "... and node 1 was told so and tried another node" told_of 4

gen_data four.bin $((3 * MiB)) acks-four
shoal --home n1 put four.bin --name four --replicas 4 >put4.out 2>put4.err
check_failed "put --replicas 4 (holder 4 cannot be replaced): fails" $?
check_err1 "... with one line saying how far the chunk got" put4.err "reached 3 of 4 nodes"
check_eq "... printing nothing on stdout" "" "$(head -c 300 put4.out)"
check "... binding no name" test -z "$(shoal --home n1 ls 2>/dev/null | awk -F'\t' '$1 == "four"')"

stop_daemon n4
rc=$?
check "SIGTERM stops holder 4 in time, without a crash (exit $rc)" test "$rc" -lt 124
check "node 1 sees holder 4 down" wait_peer_state 15 down n1 "${node_id[4]}"

# ---- 2. a fresh holder whose first commit alone fails --------------------------------------
skip5=$(startup_fsyncs n5)
check_match "a first daemon on holder 5 (fresh) takes a known number of fsyncs to start (${skip5:-?})" \
	'^[0-9]+$' "${skip5:-}"
start_faulty 5 1 "fsync:$((skip5 + 1))"
check "nodes 1, 2, 3 and 5 form a full mesh" wait_for 15 mesh_up 1 2 3 5
check "... and holder 5 has not failed an fsync yet" fault_fired 5 0
gen_data three.bin $((10 * MiB)) acks-three
cap3=$(shoal --home n1 put three.bin --name three --replicas 3 2>put3.err)
check_eq "put --replicas 3 from node 1, holder 5 failing its first commit: exits 0" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$cap3"
check "... holder 5's first commit did fail, and only that one (its log)" fault_fired 5 1
check "... and node 1 was told so and tried another node" told_of 5

# ---- the index rows, every daemon stopped -------------------------------------------------
stop_nodes 1 2 3 5
check_audit "put 1: every chunk has an index row on nodes 1, 2 and 3, each with a pin for node 1" \
	1 "$cap1" 3 2 3 4
check_eq "holder 4, whose every commit failed, has no chunk row" 0 "$(rows n4 chunks)"
check_eq "... and no pin" 0 "$(rows n4 pins)"
check "... (it did receive chunks: files without rows; $(unrowed_objects n4))" \
	test "$(unrowed_objects n4)" -ge 1
check_audit "put 3: every chunk has at least 3 holders with an index row, each with a pin for node 1" \
	1 "$cap3" 3 2 3 5
check "holder 5, whose first commit failed, holds a chunk it has no row for" \
	test "$(unrowed_objects n5)" -ge 1
for i in 1 2 3 4 5; do
	check "the store of node $i passes the audit (rows name files that hash to their ids)" store_audit "n$i"
done
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
