#!/usr/bin/env bash
# Revocation and forgetting across real daemons (issue 11, items 2 and 3).
# Four nodes; node 4 is revoked with the CA key from node 1's machine. Within a
# bounded time the other three show it revoked and its links are closed; its
# catalog entries are gone; every chunk it held is back to 3 copies on the
# others; restarted, it never comes up again. Node 5, offline during the
# revocation (it knew node 4), learns it from the first member it meets. A
# revocation signed by another network's CA is refused. Then node 3 is killed
# and forgotten: it leaves every member's table.
# shellcheck disable=SC2317,SC2046 # helpers are called through check and wait_for; homes are words
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
TESTCERT=$(tool testcert)
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set grace_period=3
	--set repair_interval=1 --set scrub_rate=0 --set backoff_max=1 --set gossip_interval=1)

# catalog_has HOME NAME: `ls --network` on HOME lists NAME.
catalog_has() { "$SHOAL" --home "$1" ls --network 2>/dev/null | cut -f1 | grep -qx "$2"; }
catalog_lacks() { ! catalog_has "$@"; }
# members HOME: how many members HOME's `peers` lists.
members() { "$SHOAL" --home "$1" peers 2>/dev/null | grep -c .; }
lists() { "$SHOAL" --home "$1" peers 2>/dev/null | cut -f1 | grep -qx "$2"; }
not_listed() { ! lists "$@"; }
no_peer_up() { [ "$(peers_up "$1")" -eq 0 ]; }

make_nodes 1 2 3 4 5
start_node 1
for i in 2 3 4; do start_node "$i" 1; done
check "nodes 1-4 mesh" wait_for 20 mesh_up 1 2 3 4
# Node 5 meets node 4 once, then goes offline: it remembers it.
start_node 5 4
check "node 5 meets node 4" wait_for 20 mesh_up 4 5
stop_nodes 5

gen_data f4 $((3 * MiB)) four
gen_data f1 $((16 * MiB)) one
cap4=$(shoal --home n4 put f4 --name from4 --publish --replicas 3 2>put4.err)
check_match "node 4 publishes from4 at R = 3" "$CAP_RE" "$cap4"
locate_chunks n4 "$cap4" loc4
cap1=$(shoal --home n1 put f1 --name held --replicas 3 2>put1.err)
check_match "node 1 stores a 16 MiB file at R = 3" "$CAP_RE" "$cap1"
locate_chunks n1 "$cap1" loc
while read -r h; do [ -e "$(obj n4 "$h")" ] && echo "$h"; done <loc.ids >held4.ids
check "node 4 holds some of node 1's chunks ($(wc -l <held4.ids) of $(wc -l <loc.ids))" \
	test -s held4.ids
check "node 1 sees from4 in the catalog" wait_for 20 catalog_has n1 from4
check "from4's chunks have 3 copies" each_chunk_has -ge 3 loc4.ids n1 n2 n3 n4

# ---- hostile and mistaken revocations ----------------------------------------------
shoal network create other.pem
shoal --home n1 network revoke --network other.pem "${node_id[4]}" >out 2>err
check_failed "a revocation with another network's CA is refused" $?
check_err1 "... in one line naming the network" err "not the network"
shoal --home n1 network revoke --network "$T/network" "${node_id[1]}" >out 2>err
check_failed "a node cannot revoke itself" $?
check_err1 "... in one line" err "itself"
shoal --home n1 network revoke --network "$T/network" zzzzzzzzzz >out 2>err
check_failed "revoking no member is refused" $?
check_err1 "... in one line" err "no member"
# A member forging the CA's word is cut off; one asking to forget a member up
# is ignored.
"$TESTCERT" valid network h.key h.crt || fail "testcert h"
"${HOSTILE[@]}" revoke-forged "${node_addr[2]}" n2/ca.crt h.key h.crt "${node_id[4]}" >out 2>&1
check "a member sending a forged revocation is disconnected" test "$?" -eq 0
"${HOSTILE[@]}" forget-up "${node_addr[2]}" n2/ca.crt h.key h.crt "${node_id[4]}" >out 2>&1
check "a member asking to forget a member up keeps its link (Pong)" test "$?" -eq 0
check "no revocation was kept" test ! -s n1/revocations
check "... nor on node 2" test ! -s n2/revocations
check "node 4 is still up everywhere" all_see up "${node_id[4]}" 1 2 3
check "node 2 logged the forger" grep -q "revocation not signed by this network's CA" n2.log

# ---- the revocation --------------------------------------------------------------------
t0=$(now_ms)
shoal --home n1 network revoke --network "$T/network" "${node_id[4]:0:10}" \
	--reason "laptop stolen" >out 2>err
check_eq "network revoke NODE (an id prefix) exits 0" "0 " "$? $(cat err)"
check_match "... and says so" "^revoked ${node_id[4]}" "$(cat out)"
check "nodes 1-3 show node 4 revoked" wait_for 20 all_see revoked "${node_id[4]}" 1 2 3
echo "# revocation reached nodes 1-3 in $(($(now_ms) - t0)) ms"
check "node 4's links are closed: it sees no member up" wait_for 20 no_peer_up n4
check "node 4's log says it was revoked" wait_for 10 grep -q "this node was revoked" n4.log
for i in 1 2 3; do
	check "node $i's catalog no longer lists from4" wait_for 20 catalog_lacks "n$i" from4
	shoal --home "n$i" network revocations >rv 2>&1
	check_match "node $i lists the revocation with its reason" \
		"^${node_id[4]}	[0-9T:Z-]+	laptop stolen$" "$(cat rv)"
done
shoal --home n2 network revocations --json >rv.json
check "network revocations --json lists node 4" json_ok rv.json "j[0][\"node_id\"] == a[0]" "${node_id[4]}"
check "every chunk node 4 held has 3 good copies on nodes 1-3" \
	wait_for 90 each_chunk_has -ge 3 held4.ids n1 n2 n3
check "... and so has every chunk of the file" each_chunk_has -ge 3 loc.ids n1 n2 n3
# What node 4 pinned on the others is released: its own file is gone from them.
gone4() { while read -r h; do [ "$(copies "$h" n1 n2 n3)" -eq 0 ] || return 1; done <loc4.ids; }
check "the copies node 4 pinned on nodes 1-3 are released" wait_for 20 gone4
check_eq "node 2 counts one revoked member" 1 \
	"$("$SHOAL" --home n2 status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["peers_revoked"])')"
shoal --home n1 network revoke --network "$T/network" "${node_id[4]}" >out 2>err
check_eq "revoking it again is harmless (exit 0)" 0 $?
check_match "... with a warning" "revoked already" "$(cat err)"

# ---- it never comes back ------------------------------------------------------------
stop_daemon n4
start_daemon n4 n4b.log --listen "${node_addr[4]}" --bootstrap "${node_addr[1]}" "${NODE_OPTS[@]}"
daemon_ready "node 4 restarts" n4 && ok "node 4 restarts"
sleep 4
check "restarted, node 4 sees no member up" no_peer_up n4
check "... and nodes 1-3 still show it revoked" all_see revoked "${node_id[4]}" 1 2 3
check "... knowing it was revoked, it dials nobody" grep -q "revoked by the network's CA.*dials nobody" n4b.log
"${HOSTILE[@]}" no-hello "${node_addr[1]}" n4/ca.crt n4/node.key n4/node.crt >out 2>&1
check "its handshakes are refused: node 1 closes without a Hello" test "$?" -eq 0
check "... saying so in its log" grep -q "was revoked.*refusing it" n1.log

# ---- a node that was away learns it on joining ------------------------------------------
start_node 5 1
check "node 5 joins nodes 1-3" wait_for 20 mesh_up 1 2 3 5
check "node 5 learned the revocation" wait_for 10 grep -q "${node_id[4]}" <(
	"$SHOAL" --home n5 network revocations)
check "node 5 shows node 4 revoked, never up" wait_for 10 all_see revoked "${node_id[4]}" 5
stop_daemon n4

# ---- forget ----------------------------------------------------------------------------
# Node 5 has a long grace period: a member forgetting node 3 cannot make it
# skip that; it forgets node 3 once lost, or when its own owner says so.
stop_nodes 5
start_node 5 1 --set grace_period=600
check "node 5 back in the mesh" wait_for 20 mesh_up 1 2 3 5
shoal --home n1 forget "${node_id[2]:0:12}" >out 2>err
check_failed "forgetting a member that is up is refused" $?
check_err1 "... in one line" err "up"
kill_daemon n3
check "node 3 goes down on 1, 2 and 5" wait_for 20 all_see down "${node_id[3]}" 1 2 5
shoal --home n1 forget "${node_id[3]:0:12}" >out 2>err
check_eq "forget NODE (a down member) exits 0" "0 " "$? $(cat err)"
for i in 1 2; do
	check "node $i no longer lists node 3" wait_for 20 not_listed "n$i" "${node_id[3]}"
done
check "node 5 (grace 600 s) still lists node 3, down" all_see down "${node_id[3]}" 5
check "... and says it forgets it once lost" grep -q "forgetting it here once it is lost" n5.log
shoal --home n5 forget "${node_id[3]:0:12}" >out 2>err
check_eq "forget on node 5 itself exits 0" "0 " "$? $(cat err)"
check "node 5 no longer lists node 3" not_listed n5 "${node_id[3]}"
shoal --home n1 forget "${node_id[3]}" >out 2>err
check_failed "forgetting it again: no such member" $?
check_err1 "... in one line" err "no such member"
# Remembered no more after a restart either.
stop_nodes 2
start_node 2
sleep 2
check "restarted, node 2 does not remember node 3" not_listed n2 "${node_id[3]}"
stop_nodes 1 2 5
done_testing
