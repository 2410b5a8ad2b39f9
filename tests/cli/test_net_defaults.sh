#!/usr/bin/env bash
# Defaults fit for real links, and logs a person can read, between real daemons:
# with the default grace_period (600 s), a holder SIGKILLed for 30 s causes no
# repair copy and no repair line, and comes back up when restarted; with a short
# grace period, repairing a 20 MiB file logs a summary line per pass, not a line
# per chunk; a dead bootstrap address is logged at info with the retry time; a
# node of another network is named as such in both nodes' logs, once a minute
# at most however often it redials, and neither sees the other up.
# shellcheck disable=SC2317,SC2046 # helpers are called through check and wait_for; homes are words
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
# Fast failure detection and a scan every second, so that any repair would come
# soon; grace_period is left at its default. No name table uploads
# (recovery_delay=0): every chunk file counted is the test's files'.
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set repair_interval=1 --set scrub_rate=0
	--set recovery_delay=0)

# objects N...: "N:COUNT" of chunk files for each listed node.
objects() {
	local i
	for i; do printf '%s:%s ' "$i" "$(count_objects "n$i")"; done
}
# repair_lines N...: the lines of the listed nodes' logs that mention repair,
# after the first ${log_mark[N]} lines (0 unless mark_logs ran).
declare -A log_mark
repair_lines() {
	local i
	for i; do
		tail -n +$((${log_mark[$i]:-0} + 1)) "n$i.log" 2>/dev/null | grep 'repair' |
			sed "s|^|n$i.log:|"
	done
}
# mark_logs N...: repair_lines looks only past what the nodes' logs hold now.
mark_logs() {
	local i
	for i; do log_mark[$i]=$(wc -l <"n$i.log"); done
}
# summaries N [FROM]: node N's info lines summing up a repair pass (from line FROM on).
summaries() {
	tail -n +"${2:-1}" "n$1.log" 2>/dev/null | grep -E ' info: repair: scan of [0-9]+ chunks'
}
# peer_detail HOME NODE_ID: the 4th column of `shoal peers` for NODE_ID.
peer_detail() {
	"$SHOAL" --home "$1" peers 2>/dev/null | awk -F'\t' -v id="$2" '$1 == id {print $4}'
}
# free_port: a TCP port on 127.0.0.1 nothing listens on (bound, then let go).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_nodes 1 2 3 4 5 6 7 8 9

# ---- 1. the default grace period: a holder down 30 s is not repaired ---------------------
# Four nodes, so that a copy could be made (with three and --replicas 3, no node would
# be left to take one, whatever the grace period).
start_node 1
for i in 2 3 4; do start_node "$i" 1; done
check "four daemons form a full mesh" wait_for 20 mesh_up 1 2 3 4
gen_data f1 $((6 * MiB)) defaults-one
cap1=$(shoal --home n1 put f1 --replicas 3 2>put1.err)
check_match "put --replicas 3 of 6 MiB on node 1" "$CAP_RE" "$cap1"
locate_chunks n1 "$cap1" loc1
check "... every chunk has 3 good copies" each_chunk_has -ge 3 loc1.ids $(homes 1 2 3 4)
# The victim: whichever of nodes 2-4 holds the most chunks.
v=$(by_missing loc1.ids 2 3 4 | tail -n 1)
live=()
for i in 1 2 3 4; do [ "$i" == "$v" ] || live+=("$i"); done
held=$(($(wc -l <loc1.ids) - $(missing_in "n$v" loc1.ids)))
check "node $v holds chunks of it ($held)" test "$held" -ge 1
before=$(objects "${live[@]}")
# From the kill on: a pass while the put's copies were still arriving is not
# what this checks.
mark_logs 1 2 3 4
kill_daemon "n$v"
t0=$(now_ms)
check "node $v SIGKILLed: the others mark it down" \
	wait_for 10 all_see down "${node_id[$v]}" "${live[@]}"
changed='' lines=''
while [ $(($(now_ms) - t0)) -lt 30000 ]; do
	[ "$(objects "${live[@]}")" != "$before" ] && changed="after $(($(now_ms) - t0)) ms: $(objects "${live[@]}")"
	lines=$(repair_lines "${live[@]}" | head -n 3)
	[ -n "$changed$lines" ] && break
	sleep 0.5
done
check_eq "... for 30 s: no repair copy is made (objects on ${live[*]}: $before)" "" "$changed"
check_eq "... and no node logs a repair line" "" "$lines"
check_eq "... nor any per-chunk repair line, at any level" "" \
	"$(grep -hE 'repair: chunk' $(for i in "${live[@]}"; do echo "n$i.log"; done) | head -n 3)"
check_eq "... node $v is down, not lost, on node ${live[0]}" down "$(peer_state "n${live[0]}" "${node_id[$v]}")"
# These two need `peers` and `status` to show when repair starts (DETAIL column of
# peers: "repair in 9m 30s" for a member down; status: "N down (repair in ...)").
check_match "... peers on node ${live[0]} says when its repair would start" \
	'^repair in ' "$(peer_detail "n${live[0]}" "${node_id[$v]}")"
check_match "... and so does status" 'peers +2 up, 1 down \(repair in [0-9][0-9ms ]*\), 0 lost' \
	"$(shoal --home "n${live[0]}" status 2>&1 | tr '\n' ' ')"
start_node "$v" 1
check "node $v restarted: up again on every node within 15 s" wait_for 15 mesh_up 1 2 3 4
sleep 2 # a few scans with everyone up
check_eq "... no copy was made or let go meanwhile" "$before" "$(objects "${live[@]}")"
check_eq "... and it still holds its $held chunks" "$held" \
	"$(($(wc -l <loc1.ids) - $(missing_in "n$v" loc1.ids)))"
check_eq "... still without a repair line" "" "$(repair_lines 1 2 3 4 | head -n 3)"
stop_nodes 1 2 3 4

# ---- 2. repair with a short grace period logs a summary per pass -------------------------
GRACE=(--set grace_period=2)
start_node 5 "" "${GRACE[@]}"
for i in 6 7 8; do start_node "$i" 5 "${GRACE[@]}"; done
check "four more daemons form a full mesh" wait_for 20 mesh_up 5 6 7 8
gen_data f2 $((20 * MiB)) defaults-two
cap2=$(shoal --home n5 put f2 --replicas 3 2>put2.err)
check_match "put --replicas 3 of 20 MiB on node 5" "$CAP_RE" "$cap2"
locate_chunks n5 "$cap2" loc2
n2=$(wc -l <loc2.ids)
check "... in many chunks ($n2)" test "$n2" -ge 10
v=$(by_missing loc2.ids 6 7 8 | tail -n 1)
live=()
for i in 5 6 7 8; do [ "$i" == "$v" ] || live+=("$i"); done
held=$((n2 - $(missing_in "n$v" loc2.ids)))
# Only what is logged after the kill counts (a pass may have run during the put).
declare -A from
for i in "${live[@]}"; do from[$i]=$(($(wc -l <"n$i.log") + 1)); done
kill_daemon "n$v"
check "node $v (holding $held chunks) SIGKILLed: every chunk is back to 3 copies within 30 s" \
	wait_for 30 each_chunk_has -ge 3 loc2.ids $(homes "${live[@]}")
sleep 3 # passes that find everything well: they must log nothing
per_node='' total=0 made=0
for i in "${live[@]}"; do
	c=$(summaries "$i" "${from[$i]}" | wc -l)
	total=$((total + c))
	per_node+="$i:$c "
	made=$((made + $(summaries "$i" "${from[$i]}" | sed -nE 's/.* ([0-9]+) copies made.*/\1/p' | awk '{s += $1} END {print s + 0}')))
done
echo "# summary lines per node since the kill: $per_node"
for i in "${live[@]}"; do summaries "$i" "${from[$i]}"; done | head -n 3 | sed 's/^/# /'
check "the repair is summed up in a few info lines, at least one ($per_node)" \
	test "$total" -ge 1 -a "$total" -le 6
check "... which count the copies made: $made for the $held chunks node $v held" \
	test "$made" -ge "$held"
check "... saying how much was scanned, copied and to how many members" \
	grep -qE ' info: repair: scan of [0-9]+ chunks: [0-9]+ under-replicated, [1-9][0-9]* copies made \([0-9]+\.[0-9] MiB\) to [1-9][0-9]* members?, [0-9]+ surplus released, 0 could not be copied$' \
	$(for i in "${live[@]}"; do echo "n$i.log"; done)
check_eq "... with no per-chunk line at info level ('copied to', 'copying it to')" "" \
	"$(grep -hE ' (info|warn): repair: chunk' $(for i in "${live[@]}"; do echo "n$i.log"; done) | head -n 3)"
check_eq "... and no pass that did nothing logged" "" \
	"$(for i in "${live[@]}"; do summaries "$i"; done | grep ' 0 copies made .* 0 surplus released, 0 could not be copied$' | head -n 3)"
stop_nodes "${live[@]}"

# ---- 3. a dead bootstrap address ------------------------------------------------------
dead=127.0.0.1:$(free_port)
start_daemon n9 n9.log --listen 127.0.0.1:0 --bootstrap "$dead" "${NODE_OPTS[@]}"
daemon_ready "daemon 9 starts with a dead bootstrap ($dead)" n9 && ok "daemon 9 starts with a dead bootstrap ($dead)"
node_addr[9]=$(daemon_addr n9)
unreachable() { grep -F " info: bootstrap $dead unreachable (connection refused); retrying in " n9.log; }
check "its log says, at info, that the bootstrap is unreachable and when it retries" \
	wait_for 10 unreachable
unreachable | head -n 2 | sed 's/^/# /'
check_match "... 'retrying in N s'" 'retrying in [0-9]+(\.[0-9])? s$' "$(unreachable | tail -n 1)"
sleep 3
tries=$(unreachable | wc -l)
check "... once a try, backing off: $tries lines in ~5 s" test "$tries" -ge 2 -a "$tries" -le 8
check_eq "... and nothing at warn level" "" "$(grep -E ' (warn|error): ' n9.log | head -n 3)"

# ---- 4. a node of another network ----------------------------------------------------------
shoal network create other.net
node_id[10]=$(shoal --home n10 init --network other.net 2>&1)
check_match "a node of another network (node 10)" "^$ID_RE\$" "${node_id[10]}"
# Node 10 redials node 9 every half second at most: a line per try would flood.
start_node 10 9 --set backoff_max=0.5 --log-level debug
other9() { grep -F " warn: ${node_addr[9]}: node from another network (its certificate is not signed by this network's CA); disconnecting" n10.log; }
refused10() { grep -E " warn: 127\.0\.0\.1:[0-9]+: refused by the peer: this node's certificate is not from its network \(another network, revoked, or expired\)" n9.log; }
check "node 10, dialling node 9, says it is of another network" wait_for 10 other9
check "node 9 says it was refused by a peer: another network, revoked or expired" wait_for 10 refused10
seen_up=0
deadline=$(($(now_ms) + 5000))
while [ "$(now_ms)" -lt "$deadline" ]; do
	[ "$(peers_up n9)" -ne 0 ] && seen_up=1
	[ "$(peers_up n10)" -ne 0 ] && seen_up=1
	sleep 0.25
done
check_eq "neither sees the other up (5 s)" 0 "$seen_up"
check_eq "... and node 9 does not even list node 10" none "$(peer_state n9 "${node_id[10]}")"
tries=$(grep -cF " debug: bootstrap ${node_addr[9]} failed " n10.log)
check "node 10 kept redialling node 9 ($tries tries)" test "$tries" -ge 4
check_eq "... and said so once (once a minute at most)" 1 "$(other9 | wc -l)"
check_eq "... and so did node 9" 1 "$(refused10 | wc -l)"
check_eq "... no line above debug level tells what a certificate says" "" \
	"$(grep -hE ' (error|warn|info): .*(CN=|shoal network [a-z0-9])' n9.log n10.log | head -n 3)"
stop_nodes 9 10

check_no_sanitizer "no daemon log has a sanitizer report" n?.log n10.log
done_testing
