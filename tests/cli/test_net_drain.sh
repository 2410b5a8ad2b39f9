#!/usr/bin/env bash
# Leaving the network for good (issue 11, item 3): four nodes, a file at R = 3
# whose chunks node 2 holds some of. `shoal drain` on node 2 hands each of its
# chunks to the best-ranked members without one, verified, then says Leave:
# the CLI and the daemon exit 0, every chunk has 3 good copies on nodes 1, 3
# and 4, none counts as under-replicated, and no node lists node 2 any more.
# Then node 5 joins, and node 3 drains at a slow repair_rate and is SIGKILLed
# half-way (its chunks must go to node 5): started
# again it resumes by itself, `shoal drain` attaches to it, and it completes.
# Also: puts are refused while a node drains, a drained home never starts
# again, and drain wants a daemon.
# shellcheck disable=SC2317,SC2046 # helpers are called through check and wait_for; homes are words
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set grace_period=600
	--set repair_interval=1 --set scrub_rate=0 --set backoff_max=1 --set gossip_interval=1)

lists() { "$SHOAL" --home "$1" peers 2>/dev/null | cut -f1 | grep -qx "$2"; }
nobody_lists() { # NODE_ID N...
	local who=$1 i
	shift
	for i; do lists "n$i" "$who" && return 1; done
	return 0
}
under() {
	"$SHOAL" --home "$1" status --json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["health"]["under_replicated"])'
}
none_under() { for i; do [ "$(under "n$i")" == 0 ] || return 1; done; }
# exited N: node N's daemon is gone; its exit status into $rc.
exited() { ! kill -0 "${daemon_pid[n$1]}" 2>/dev/null; }

shoal --home n2 drain >out 2>err
check_failed "drain without a home fails" $?
make_nodes 1 2 3 4
shoal --home n2 drain >out 2>err
check_failed "drain without a daemon fails" $?
check_err1 "... saying the daemon is needed" err "no daemon"
start_node 1
for i in 2 3 4; do start_node "$i" 1; done
check "nodes 1-4 mesh" wait_for 20 mesh_up 1 2 3 4

gen_data f $((24 * MiB)) drain
cap=$(shoal --home n1 put f --replicas 3 2>put.err)
check_match "a 24 MiB file at R = 3 on node 1" "$CAP_RE" "$cap"
locate_chunks n1 "$cap" loc
while read -r h; do [ -e "$(obj n2 "$h")" ] && echo "$h"; done <loc.ids >held2.ids
check "node 2 holds some of its chunks ($(wc -l <held2.ids) of $(wc -l <loc.ids))" test -s held2.ids
check "every chunk has 3 copies" each_chunk_has -ge 3 loc.ids n1 n2 n3 n4

# ---- a drain from start to end ------------------------------------------------------
pid2=${daemon_pid[n2]}
t0=$(now_ms)
shoal --home n2 drain >out 2>err
check_eq "drain on node 2 exits 0" 0 $?
ms=$(($(now_ms) - t0))
bytes=$(($(wc -l <held2.ids) * 1048576))
echo "# drain: node 2 handed $(wc -l <held2.ids) chunks over in $ms ms"
check_match "... saying it is drained" "^drained" "$(cat out)"
check_match "... with progress on stderr" "chunks held by other members" "$(cat err)"
check "node 2's daemon stops" wait_for 10 exited 2
wait "$pid2"
check_eq "... with exit 0" 0 $?
unset "daemon_pid[n2]"
check "every chunk has 3 good copies on nodes 1, 3 and 4" each_chunk_has -ge 3 loc.ids n1 n3 n4
check "no node lists node 2 any more" wait_for 10 nobody_lists "${node_id[2]}" 1 3 4
check "nothing counts as under-replicated on 1, 3, 4" wait_for 10 none_under 1 3 4
check "node 2 left a note in its home" test -f n2/left
check "... and keeps nothing for others" test "$(count_objects n2)" -lt "$(wc -l <held2.ids)"
shoal --home n2 daemon --listen 127.0.0.1:0 >out 2>err
check_failed "a drained node's daemon refuses to start" $?
check_match "... saying it left" "left the network" "$(cat err)"
shoal --home n1 get "$cap" -o back 2>get.err
check "the file reads back whole from node 1" cmp -s f back

# ---- interrupted and resumed ---------------------------------------------------------
# Node 5 joins: node 3's chunks must now go to it, at 2 MiB/s.
make_nodes 5
start_node 5 1
stop_nodes 3
start_node 3 1 --set repair_rate=2
check "nodes 1, 3, 4, 5 mesh" wait_for 20 mesh_up 1 3 4 5
while read -r h; do [ -e "$(obj n3 "$h")" ] && echo "$h"; done <loc.ids >held3.ids
shoal --home n3 drain >out3 2>err3 &
drain_pid=$!
halfway() { grep -q "drain: [1-9][0-9]* of" err3; }
check "node 3's drain makes progress" wait_for 30 halfway
kill_daemon n3
wait "$drain_pid"
check_failed "the drain command fails when its daemon is killed" $?
check_match "... saying it carries on after a restart" "start it again" "$(cat err3)"
check "node 3 noted the drain in its home" test -f n3/draining
start_node 3 1 --set repair_rate=64
pid3=${daemon_pid[n3]}
check "restarted, node 3 resumes the drain" wait_for 10 grep -q "drain: resuming" n3.log
shoal --home n3 put f --name refused >out 2>err
check_failed "a put on a draining node is refused" $?
check_err1 "... in one line" err "draining"
shoal --home n3 drain >out 2>err
rc=$?
# It may have finished before the command reached it.
[ $rc -ne 0 ] && grep -q "no daemon" err && rc=0
check_eq "drain again on node 3 completes (exit 0)" 0 $rc
check "node 3's daemon stops" wait_for 20 exited 3
wait "$pid3"
check_eq "... with exit 0" 0 $?
unset "daemon_pid[n3]"
check "every chunk has 3 good copies on nodes 1, 4 and 5" each_chunk_has -ge 3 loc.ids n1 n4 n5
check "no node lists node 3 any more" wait_for 10 nobody_lists "${node_id[3]}" 1 4 5
check "nothing counts as under-replicated on 1, 4, 5" wait_for 10 none_under 1 4 5
shoal --home n5 get "$cap" -o back5 2>get5.err
check "the file reads back whole from node 5" cmp -s f back5
stop_nodes 1 4 5
done_testing
