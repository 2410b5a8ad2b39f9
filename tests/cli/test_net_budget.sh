#!/usr/bin/env bash
# What one member may make others store, between real daemons. A node with a
# 4 MiB storage_limit among four: a 64 MiB put with R = 3 still succeeds, every
# chunk on 3 nodes, the limited node holding at most its limit plus one chunk
# and logging the refusals once. A hostile member pushing 64 chunks that ask
# for 16 copies each to a node whose storage_per_member is 32 MiB gets 32 in
# and the rest refused (REFUSED, one log line); once it is gone, repair keeps
# its chunks at replicas_max copies, not 16, and status reports nothing
# under-replicated; with repair_gone_days 0 its chunks are not copied at all.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
GRACE=3
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set gossip_interval=0.5
	--set "grace_period=$GRACE" --set repair_interval=1 --set scrub_rate=0
	--set replicas_max=2)
TESTCERT=$(tool testcert)

stored_bytes() { # HOME: bytes of chunk files in HOME's object tree
	find "$1/objects" -path "$1/objects/tmp" -prune -o -type f -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}
status_num() { # HOME KEY
	"$SHOAL" --home "$1" status --json 2>/dev/null | sed -n "s/^ *\"$2\": *\([0-9]*\).*\$/\1/p"
}
# copies_of IDS_FILE N...: "FEWEST MOST" files per chunk of IDS_FILE on the nodes
copies_of() {
	local ids=$1
	shift
	copy_range copies "$ids" $(homes "$@") | cut -d' ' -f1,2
}

# ---- a storage limit -----------------------------------------------------------------------
make_nodes 1 2 3 4
start_node 1
start_node 2 1
start_node 3 1
start_node 4 1 --set storage_limit=4M
check "four daemons form a full mesh" wait_for 20 mesh_up 1 2 3 4
gen_data big.bin $((64 * MiB)) budget
cap=$(shoal --home n1 put big.bin --replicas 3 --no-progress 2>put.err)
check_match "a 64 MiB put with R = 3 succeeds beside a node limited to 4 MiB" "$CAP_RE" "$cap"
locate_chunks n1 "$cap" loc
check "... every chunk is on 3 nodes" \
	awk -F'\t' 'split($3, h, ",") != 3 { bad = 1 } END { exit bad }' loc
limit=$((4 * MiB))
on4=$(stored_bytes n4)
check "... the limited node holds at most its limit plus one chunk ($on4 bytes)" \
	test "$on4" -le $((limit + 4 * MiB + 16))
check "... and took some (it is not simply skipped)" test "$on4" -gt 0
check_eq "... logging its refusals of node 1 once" 1 \
	"$(grep -c "${node_id[1]:0:16}: refusing its chunks: this node's storage limit" n4.log)"
rm -f got.bin
shoal --home n2 get "$cap" -o got.bin 2>/dev/null
check "... and the file reads back whole elsewhere" cmp -s big.bin got.bin
rm -f big.bin got.bin

# ---- a member's budget, and repair for a member that is gone --------------------------------
stop_daemon n1 >/dev/null
start_node 1 "" --set storage_per_member=32M
check "node 1 is back with storage_per_member 32M" wait_for 20 mesh_up 1 2 3 4
"$TESTCERT" valid network h.key h.crt || fail "testcert h"
hid=$(cd "$(dirname "${HOSTILE[-1]}")" && python3 -c 'import hostile, sys; print(hostile.node_id_b32(sys.argv[1]))' "$T/h.crt")
"${HOSTILE[@]}" putflood "${node_addr[1]}" n1/ca.crt h.key h.crt 64 $((1 * MiB)) 16 flood.ids \
	>flood.out 2>&1
check_eq "a member pushes 64 chunks of 1 MiB asking 16 copies each" 0 $?
check_eq "... node 1 takes 32 MiB of them and refuses the rest" \
	"acked 32 refused 32 no_space 0 busy 0 other 0" "$(cat flood.out)"
check_eq "... logging it once" 1 \
	"$(grep -c "${hid:0:16}: refusing its chunks: this member's storage budget" n1.log)"
head -n 32 flood.ids >taken.ids
check_eq "... all 32 are stored on node 1" 0 "$(missing_in n1 taken.ids)"
# The member is gone (its connection closed); after the grace period repair
# serves it for repair_gone_days, up to replicas_max (2) copies, never 16.
_two() { [ "$(copies_of taken.ids 1 2 3 4)" == "2 2" ]; }
check "once it is lost, repair copies its chunks to 2 nodes (replicas_max)" wait_for 60 _two
sleep $((GRACE + 2))
check_eq "... and no further" "2 2" "$(copies_of taken.ids 1 2 3 4)"
_settled() {
	local i
	for i in 1 2 3 4; do [ "$(status_num "n$i" under_replicated)" == 0 ] || return 1; done
}
check "... with nothing under-replicated on any node" wait_for 20 _settled

# ---- repair_gone_days 0: a member that is gone is not served at all ------------------------
make_nodes 5 6
start_node 5 "" --set repair_gone_days=0
start_node 6 5 --set repair_gone_days=0
check "two more daemons meet" wait_for 20 mesh_up 5 6
"$TESTCERT" valid network g.key g.crt || fail "testcert g"
"${HOSTILE[@]}" putflood "${node_addr[5]}" n5/ca.crt g.key g.crt 8 $((256 * KiB)) 16 gone.ids \
	>gone.out 2>&1
check_eq "a member pushes 8 chunks asking 16 copies each to node 5" \
	"acked 8 refused 0 no_space 0 busy 0 other 0" "$(cat gone.out)"
_lost() { "$SHOAL" --home n5 status 2>/dev/null | grep -q '(1 lost)'; }
wait_for 20 _lost
sleep $((GRACE + 3))
check_eq "... once it is gone, node 6 holds none of them" 8 "$(missing_in n6 gone.ids)"
check_eq "... and node 5 reports nothing under-replicated" 0 "$(status_num n5 under_replicated)"

stop_nodes 1 2 3 4 5 6
done_testing
