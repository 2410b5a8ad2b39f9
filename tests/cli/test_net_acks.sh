#!/usr/bin/env bash
# A PutAck means durable: a holder acks a pushed chunk only after its group
# commit (the objects synced, then the index row and the pin committed). Four
# daemons: the uploader u, healthy holders a and b, and a faulty holder whose
# fsyncs fail (SHOAL_FAULTS, src/util/fault.h) once it has started, so that
# its group commits fail:
#  1. every commit of holder f fails: a put from u with --replicas 3 succeeds
#     with f replaced, and every chunk of it then has an index row (and a pin
#     for u) on u, a and b; with --replicas 4 (f cannot be replaced) the put
#     fails with one line and binds no name; f holds no index row at all;
#  2. f is stopped and a fresh holder g takes its place, whose first commit
#     alone fails: a put with --replicas 3 succeeds, every chunk of it has at
#     least 3 holders with an index row and a pin for u, and g holds rows only
#     for chunks whose commit went through.
# The rows are read with sqlite3 from each home after its daemon has stopped,
# and every store passes the audit (rows name chunk files that hash to them).
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
# Killed (say by a runner's timeout): still stop every daemon through the EXIT trap.
trap 'exit 143' TERM INT HUP
cd "$T" || exit 1
CAP_RE='^shoal:[a-z2-7]{52}:[a-z2-7]{52}$'
MiB=1048576
# Fast failure detection: a stopped member is down within ~peer_timeout + a tick.
FAST=(--set peer_timeout=2 --set ping_interval=0.5)

declare -A id addr
# b32_hex B32: a node id or capability field as hex.
b32_hex() {
	python3 -c 'import base64, sys; s = sys.argv[1].upper(); print(base64.b32decode(s + "=" * (-len(s) % 8)).hex())' "$1"
}
# mesh_up NODE...: every listed node shows every other listed node up.
mesh_up() {
	local i j
	for i in "$@"; do
		for j in "$@"; do
			[ "$i" == "$j" ] && continue
			[ "$(peer_state "$i" "${id[$j]}")" == up ] || return 1
		done
	done
}
# start NODE [BOOTSTRAP_NODE]: starts NODE's daemon (in the environment of the
# call, so SHOAL_FAULTS=... start works) and waits for it.
start() {
	local boot=()
	[ -n "${2:-}" ] && boot=(--bootstrap "${addr[$2]}")
	start_daemon "$1" "$1.log" --listen 127.0.0.1:0 "${boot[@]}" "${FAST[@]}"
	check "daemon $1 starts${SHOAL_FAULTS:+ (SHOAL_FAULTS=$SHOAL_FAULTS)}" wait_daemon "$1"
	addr[$1]=$(daemon_addr "$1")
}
# startup_fsyncs HOME: how many fsyncs the fault hook counts before a first
# daemon on HOME answers status. Starts copies of HOME (each on its own, with
# no bootstrap) with SHOAL_FAULTS=fsync:K+ for K = 1, 2, ... until one answers;
# prints K - 1.
startup_fsyncs() {
	local k
	for k in $(seq 1 20); do
		rm -rf probe && cp -a "$1" probe || return 1
		SHOAL_FAULTS=fsync:$k+ start_daemon probe probe.log --listen 127.0.0.1:0
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
# fault_fired HOME COUNT: HOME's log says the fault hook failed COUNT fsyncs.
fault_fired() { [ "$(grep -c 'fault injected: fsync' "$1.log")" -eq "$2" ]; }
# audit_put UPLOADER CAP R HOME...: with every daemon stopped, checks the chunks
# of the file CAP put from UPLOADER (its manifest and what the manifest refs,
# from UPLOADER's index): each has at least R holders among UPLOADER and the
# HOMEs with a row in their chunks table, UPLOADER among them, and every other
# such holder has a pin for UPLOADER. Prints how many chunks it checked, then
# each problem; non-zero when there is one.
audit_put() {
	python3 - "$@" "$(b32_hex "${id[$1]}")" <<'PY'
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

for n in u a b f g; do
	id[$n]=$(make_node "$n" 2>&1)
	[[ ${id[$n]} =~ ^[a-z2-7]{52}$ ]] || fail "init node $n" "${id[$n]}"
done

# ---- 1. a holder whose every commit fails ------------------------------------------------
skip_f=$(startup_fsyncs f)
check_match "a first daemon on f takes a known number of fsyncs to start (${skip_f:-?})" '^[0-9]+$' "${skip_f:-}"
start u
start a u
start b u
SHOAL_FAULTS=fsync:$((skip_f + 1))+ start f u
check "the four form a full mesh" wait_for 15 mesh_up u a b f
check "... and f has not failed an fsync yet" fault_fired f 0

gen_data one.bin $((10 * MiB)) acks-one
cap1=$(shoal --home u put one.bin --name one --replicas 3 2>put1.err)
check_eq "put --replicas 3 from u, f failing every commit: exits 0 (f replaced)" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$cap1"
check "... f's commits did fail (its log says so)" grep -q 'fault injected: fsync' f.log
check "... and u was told so and tried another node" \
	grep -q "replica of a chunk on ${id[f]:0:16} failed" u.log

gen_data four.bin $((3 * MiB)) acks-four
shoal --home u put four.bin --name four --replicas 4 >put4.out 2>put4.err
check_failed "put --replicas 4 (f cannot be replaced): fails" $?
check_err1 "... with one line saying how far the chunk got" put4.err "reached 3 of 4 nodes"
check_eq "... printing nothing on stdout" "" "$(head -c 300 put4.out)"
check "... binding no name" test -z "$(shoal --home u ls 2>/dev/null | awk -F'\t' '$1 == "four"')"

stop_daemon f
rc=$?
check "SIGTERM stops f in time, without a crash (exit $rc)" test "$rc" -lt 124
check "u sees f down" wait_peer_state 15 down u "${id[f]}"

# ---- 2. a fresh holder whose first commit alone fails --------------------------------------
skip_g=$(startup_fsyncs g)
check_match "a first daemon on g takes a known number of fsyncs to start (${skip_g:-?})" '^[0-9]+$' "${skip_g:-}"
SHOAL_FAULTS=fsync:$((skip_g + 1)) start g u
check "u, a, b and g form a full mesh" wait_for 15 mesh_up u a b g
check "... and g has not failed an fsync yet" fault_fired g 0
gen_data three.bin $((10 * MiB)) acks-three
cap3=$(shoal --home u put three.bin --name three --replicas 3 2>put3.err)
check_eq "put --replicas 3 from u, g failing its first commit: exits 0" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$cap3"
check "... g's first commit did fail, and only that one (its log)" fault_fired g 1
check "... and u was told so and tried another node" \
	grep -q "replica of a chunk on ${id[g]:0:16} failed" u.log

# ---- the index rows, every daemon stopped -------------------------------------------------
for n in u a b g; do
	stop_daemon "$n"
	check_eq "SIGTERM stops $n with exit 0" 0 $?
done
check_audit "put 1: every chunk has an index row on u, a and b, each with a pin for u" \
	u "$cap1" 3 a b f
check_eq "f, whose every commit failed, has no chunk row" 0 "$(rows f chunks)"
check_eq "... and no pin" 0 "$(rows f pins)"
check "... (it did receive chunks: files without rows; $(unrowed_objects f))" \
	test "$(unrowed_objects f)" -ge 1
check_audit "put 3: every chunk has at least 3 holders with an index row, each with a pin for u" \
	u "$cap3" 3 a b g
check "g, whose first commit failed, holds a chunk it has no row for" \
	test "$(unrowed_objects g)" -ge 1
for n in u a b f g; do
	check "the store of $n passes the audit (rows name files that hash to their ids)" store_audit "$n"
done
check_no_sanitizer "no daemon log has a sanitizer report" u.log a.log b.log f.log g.log
done_testing
