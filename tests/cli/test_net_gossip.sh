#!/usr/bin/env bash
# Gossip cannot fill the member table (issue 10, item 3). A certified member
# gossips 1,100 random node ids: they stay candidates (no member slot, no
# index row, not gossiped on, not in `shoal peers`), their addresses are
# dialled within the dial budget, and a genuine node started afterwards joins
# and meshes with everyone. Then the table really full: of members remembered
# in the index that never come up (as the old gossip left it), and of members
# that came and went; a genuine node is admitted all the same, in place of
# one of them, while a table full of members that are up still refuses one.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
TESTCERT=$(tool testcert)
NODE_OPTS=(--set gossip_interval=0.5 --set ping_interval=0.5 --set backoff_max=1)
# The dial budget (src/node/candidates.h): 8 dials at once, then 4 a second.
DIAL_BURST=8
DIAL_RATE=4

# members HOME: how many members `shoal peers` lists (up or down).
members() { "$SHOAL" --home "$1" peers 2>/dev/null | grep -c .; }
more_members_than() { [ "$(members "$2")" -gt "$1" ]; }
either_grew() { more_members_than 3 n2 || more_members_than 3 n3; }
# status_field HOME KEY: KEY of `shoal status --json` (empty when missing).
status_field() {
	"$SHOAL" --home "$1" status --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}
# index_members HOME: the rows of the members table of HOME's index.
index_members() {
	python3 - "$1/index.sqlite" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT count(*) FROM members").fetchone()[0])
EOF
}
# index_has HOME NODE_ID: HOME's index remembers the member NODE_ID.
index_has() {
	python3 - "$1/index.sqlite" "$2" <<'EOF'
import base64, sqlite3, sys
nid = base64.b32decode(sys.argv[2].upper() + "====")
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
sys.exit(0 if db.execute("SELECT 1 FROM members WHERE id = ?", (nid,)).fetchone() else 1)
EOF
}
# fill_index HOME COUNT: COUNT members nobody can reach (random ids at
# 127.0.0.1:1) in HOME's index, seen long ago: what the old gossip left there.
fill_index() {
	python3 - "$1/index.sqlite" "$2" <<'EOF'
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time())
db.executemany("INSERT INTO members(id, addr, last_seen) VALUES(?, ?, ?)",
               [(os.urandom(32), "127.0.0.1:1", now - 3600 - i) for i in range(int(sys.argv[2]))])
db.commit()
EOF
}
# up_is N HOME, down_is N HOME: `shoal peers` on HOME lists N members up (not
# up: down, or lost once down past grace_period).
up_is() { [ "$(peers_up "$2")" -eq "$1" ]; }
down_is() {
	[ "$("$SHOAL" --home "$2" peers 2>/dev/null | awk -F'\t' '$3 == "down" || $3 == "lost"' | wc -l)" -eq "$1" ]
}
lost_is() { [ "$("$SHOAL" --home "$2" peers 2>/dev/null | awk -F'\t' '$3 == "lost"' | wc -l)" -eq "$1" ]; }

check "testcert is built ($TESTCERT)" test -x "$TESTCERT"
make_nodes 1 2 3 4
for c in g a b c d e f; do
	"$TESTCERT" valid network "$c.key" "$c.crt" || fail "testcert valid $c"
done

# ---- one member gossips 1,100 node ids ------------------------------------------------
t1=$(now_ms) # before node 1's dial budget starts filling
start_node 1
start_node 2 1
start_node 3 1
check "three daemons reach a full mesh" wait_for 15 mesh_up 1 2 3
CA=n1/ca.crt
"${HOSTILE[@]}" gossip "${node_addr[1]}" "$CA" g.key g.crt 1100 3 >gossip.out 2>&1
check_eq "a certified member gossips 1,100 random node ids to node 1; Pong comes back" 0 $?
check "... in 5 Peers frames (256 members at most in one)" grep -q "sent 1100 ids in 5 Peers frames" gossip.out
dials=$(sed -n 's/^dials \([0-9]*\) .*/\1/p' gossip.out)
echo "# $(tr '\n' ';' <gossip.out)"
bound=$((DIAL_BURST + DIAL_RATE * 3 + 2))
check "node 1 dials gossiped addresses (some dials reach the member's listeners)" test "${dials:-0}" -ge 1
check "... at most $bound in the 3 s after the gossip (8 at once, then 4 a second)" \
	test "${dials:-99999}" -le "$bound"
check_eq "node 1's peers: its 2 real members and the gossiping one, nothing gossiped" \
	3 "$(members n1)"
check_eq "... status counts the same 3 (up + down)" 3 \
	"$(($(status_field n1 peers_up) + $(status_field n1 peers_down)))"
cands=$(status_field n1 candidates)
check "... and lists the gossiped ids as candidates, at most 64 (one member's budget)" \
	test "${cands:-0}" -ge 1 -a "${cands:-999}" -le 64
elapsed=$((($(now_ms) - t1) / 1000 + 1))
nd=$(status_field n1 new_dials)
check "... its new dials since start fit the budget: ${nd:-?} <= 8 + 4 x ${elapsed} s" \
	test "${nd:-99999}" -le $((DIAL_BURST + DIAL_RATE * elapsed))
check_eq "node 1 logs once that the member's gossip overflowed its candidates" 1 \
	"$(grep -c "warn: peer .* gossips more new nodes than fit" n1.log)"

# A genuine node after the flood: admitted, and meshed through gossip.
start_node 4 1
check "a genuine node started after the gossip joins node 1 and meshes with all: 1 2 3 4 up" \
	wait_for 15 mesh_up 1 2 3 4
check_eq "... node 1 shows it up" up "$(peer_state n1 "${node_id[4]}")"
check_eq "node 4 took nothing of the flood from node 1's Peers: 3 members" 3 "$(members n4)"
check_fails "nodes 2 and 3 never list more than their 3 real members (2 s of gossip rounds)" \
	wait_for 2 either_grew
check_eq "... node 2: 3 members" 3 "$(members n2)"
check_eq "... node 3: 3 members" 3 "$(members n3)"
for i in 2 3 4; do
	check_eq "node $i has no candidate left (only members are gossiped)" 0 "$(status_field "n$i" candidates)"
done
check "node 1 saves node 4 in its index" wait_for 10 index_has n1 "${node_id[4]}"
# (The gossiping member gave no listen address in its Hello: nothing to remember.)
check_eq "... and its index holds only its members: 2, 3 and 4" 3 "$(index_members n1)"
stop_nodes 1 2 3 4

# ---- a table full of members that never come up ------------------------------------------
# 1,024 members in the index at unreachable addresses: the member table's size.
make_nodes 5 6
fill_index n5 1024
t5=$(now_ms) # before node 5's dial budget starts filling
start_node 5
check_eq "node 5 starts with 1,024 remembered members, none up" "1024 0" \
	"$(members n5) $(peers_up n5)"
start_node 6 5
check "a genuine node bootstrapped from it is admitted: 5 and 6 up" wait_for 15 mesh_up 5 6
check_eq "... the table still has 1,024 members" 1024 "$(members n5)"
check "... one not up since start made room, with a log line" \
	grep -q "member table full: forgetting .* (not up since start) to make room for ${node_id[6]:0:16}" n5.log
check_eq "node 6 is told of none of those node 5 never saw up: 1 member" 1 "$(members n6)"
check "node 5 saves node 6 in its index" wait_for 10 index_has n5 "${node_id[6]}"
check_eq "... and forgets the one it replaced: 1,024 rows" 1024 "$(index_members n5)"
nd=$(status_field n5 new_dials)
elapsed=$((($(now_ms) - t5) / 1000 + 1))
check "node 5 dials the 1,024 remembered addresses within the budget (${nd:-?} dials)" \
	test "${nd:-99999}" -le $((DIAL_BURST + DIAL_RATE * elapsed))
stop_nodes 5 6

# ---- a table full of members that came and went; then one full of members up ----------------
make_nodes 7 8
start_node 7 "" --set max_members=3 --set grace_period=1 --set peer_timeout=10
CA=n7/ca.crt
for c in a b c; do
	"${HOSTILE[@]}" idle "${node_addr[7]}" "$CA" "$c.key" "$c.crt" 0.2 >/dev/null 2>&1 ||
		fail "member $c says Hello to node 7"
done
check "node 7 (max_members 3): three members came and went; its table is full of them" \
	wait_for 10 down_is 3 n7
# Each is lost 1 s after it left: only then may a newcomer take its slot.
check "... and lost once down past grace_period (1 s)" wait_for 10 lost_is 3 n7
start_node 8 7
check "a genuine node is admitted once they are lost (down past grace_period, 1 s): 7, 8 up" \
	wait_for 15 mesh_up 7 8
check "... in place of a lost one, with a log line" \
	grep -q "member table full: forgetting .* (lost) to make room for ${node_id[8]:0:16}" n7.log
check_eq "... still 3 members" 3 "$(members n7)"
# Two more members stay connected: they take the other two lost members' slots.
"${HOSTILE[@]}" idle "${node_addr[7]}" "$CA" d.key d.crt 6 >idle_d.out 2>&1 &
idle_d=$!
"${HOSTILE[@]}" idle "${node_addr[7]}" "$CA" e.key e.crt 6 >idle_e.out 2>&1 &
idle_e=$!
_track "$idle_d" "$idle_e"
check "two more members connect: node 7's 3 slots are all members up" wait_for 5 up_is 3 n7
"${HOSTILE[@]}" idle "${node_addr[7]}" "$CA" f.key f.crt 2 >idle_f.out 2>&1
check_failed "then a newcomer is refused (hung up on after Hello)" $?
check "... with a log line saying the table is full of members up" \
	grep -q "member table full of members up or lately down" n7.log
wait "$idle_d"
check_eq "... and the members up were not dropped for it: member d stayed 6 s" 0 $?
wait "$idle_e"
check_eq "... nor member e" 0 $?
check_eq "... nor node 8" up "$(peer_state n7 "${node_id[8]}")"
stop_nodes 7 8

check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
