#!/usr/bin/env bash
# The daemon as a member of a mesh: bootstrap and peer exchange, status and peers
# (text and JSON), one daemon per home, clean stop on SIGTERM, put/get/ls/rm/verify
# through the daemon (same outputs as offline), a killed member marked down by the
# others and welcomed back when restarted, a frozen member timed out, and a member
# rejoining through the members it remembers once its bootstrap node is gone.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
# Fast failure detection on every node: down within ~peer_timeout + a tick.
# No name tables: one placed, or copied here by repair, between the verify
# through the daemon and the one offline would change what they count.
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set recovery_delay=0)
# json HOME CMD: what `shoal CMD --json` prints on HOME.
json() { "$SHOAL" --home "$1" "$2" --json 2>/dev/null; }

make_nodes 1 2 3 4

# ---- no daemon ---------------------------------------------------------------------
shoal --home n1 status >out 2>err
check_failed "status without a daemon fails" $?
check_err1 "... with one 'shoal: ' line saying no daemon runs" err "no daemon is running"
check_eq "... and prints nothing on stdout" "" "$(cat out)"
shoal --home n1 peers --json >out 2>err
check_failed "peers --json without a daemon fails" $?
check_err1 "... with one 'shoal: ' line" err "no daemon is running"

# ---- three daemons, each bootstrapped from the first ---------------------------------
start_node 1
check_match "status --json reports the port the kernel chose" '^127\.0\.0\.1:[1-9][0-9]*$' "${node_addr[1]}"
for i in 2 3; do start_node "$i" 1; done
check_ne "daemons 1 and 2 listen on different ports" "${node_addr[1]}" "${node_addr[2]}"
check "three daemons bootstrapped from the first reach a full mesh" wait_for 15 mesh_up 1 2 3
for i in 1 2 3; do
	check_eq "node $i: peers shows 2 members up" 2 "$(peers_up "n$i")"
done
shoal --home n2 peers >out 2>err
check_eq "peers prints one line per member" 2 "$(wc -l <out)"
check_match "peers lines are id, address, up, round trip, nickname" \
	"^${node_id[1]}	${node_addr[1]}	up	([0-9]+\.[0-9]+ms|-)	-\$" "$(grep "^${node_id[1]}" out)"
check "peers on node 3 shows node 2 at the address it listens on" \
	grep -q "^${node_id[2]}	${node_addr[2]}	up	" <("$SHOAL" --home n3 peers 2>&1)
check "peers --json parses and lists the two others up" json_ok <(json n1 peers) \
	'sorted(p["node_id"] for p in j if p["state"] == "up") == sorted(a)' "${node_id[2]}" "${node_id[3]}"
check "peers --json entries have addr, rtt_ms and last_seen" json_ok <(json n1 peers) \
	'all(isinstance(p["addr"], str) and p["rtt_ms"] >= 0 and p["last_seen"] > 0 for p in j) and len(j) == 2'
check "status --json has node_id, listen and peers_up" json_ok <(json n1 status) \
	'j["node_id"] == a[0] and j["listen"] == a[1] and j["peers_up"] == 2 and j["peers_down"] == 0' \
	"${node_id[1]}" "${node_addr[1]}"
shoal --home n1 status >out 2>&1
check_match "status (text) names the node, its address and the peer count" \
	"node +${node_id[1]}.*listen +${node_addr[1]}.*peers +2 up, 0 down" "$(tr '\n' ' ' <out)"

# ---- one daemon per home -----------------------------------------------------------
pid1=${daemon_pid[n1]}
timeout -s KILL 20 "$SHOAL" --home n1 daemon --listen 127.0.0.1:0 >out 2>err
check_failed "a second daemon on the same home is refused" $?
check "... saying another daemon uses the home" grep -q "another shoal daemon" err
check_eq "... in one error line" 1 "$(grep -c "error" err)"
check "... and the first keeps running" _alive "$pid1"
check "... and still answers status" shoal --home n1 status
check "... through its control socket, still in place" test -S n1/ctl.sock

# ---- files through a running daemon ----------------------------------------------------
gen_data big $((20 * MiB)) mesh
echo "a small file" >small
cap=$(shoal --home n3 put big 2>put.err)
check_eq "put of 20 MiB through the daemon exits 0" 0 $?
check_match "... and prints a capability" "$CAP_RE" "$cap"
check "... the daemon counts what was stored" json_ok <(json n3 status) \
	'j["chunks"] >= 5 and j["bytes"] >= 20 * 1048576'
shoal --home n3 get "$cap" -o got1 2>err
check_eq "get by capability through the daemon exits 0" 0 $?
check "... and the 20 MiB file comes back identical" cmp -s big got1
shoal --home n3 get big -o got2 2>err
check "get by name through the daemon round-trips" cmp -s big got2
capsmall=$(shoal --home n3 put small 2>/dev/null)
check_match "a second put through the daemon" "$CAP_RE" "$capsmall"
ls_d=$(shoal --home n3 ls 2>&1)
check "ls through the daemon lists big with its size and capability" \
	grep -qxF "big	20971520	$cap" <(printf '%s\n' "$ls_d" | cut -f1-3)
check "rm through the daemon exits 0" shoal --home n3 rm small
ls_d=$(shoal --home n3 ls 2>&1)
check_eq "... and ls no longer shows it" $'big\t20971520\t'"$cap" "$(cut -f1-3 <<<"$ls_d")"
shoal --home n3 rm small >out 2>rm_d.err
check_failed "rm of a missing name through the daemon fails" $?
check_err1 "... with one 'shoal: ' line" rm_d.err
shoal --home n3 get "shoal:notacapability" -o x 2>get_d.err
check_failed "get of a malformed capability through the daemon fails" $?
check_err1 "... with one 'shoal: ' line" get_d.err
verify_d=$(shoal --home n3 verify 2>&1)
check_eq "verify through the daemon exits 0" 0 $?
check_match "... with a summary line" '^verified [0-9]+ chunks' "$verify_d"

# ---- SIGTERM stops a daemon cleanly --------------------------------------------------
stop_nodes 3
check "... logging 'stopped'" grep -q "info: stopped$" n3.log
check "... and removing its control socket" test ! -e n3/ctl.sock
check "... and its peers mark it down" wait_for 5 all_see down "${node_id[3]}" 1 2
check "... while keeping each other up" mesh_up 1 2

# ---- the same store offline: the same outputs ------------------------------------------
check_eq "ls offline prints what ls through the daemon printed" "$ls_d" "$(shoal --home n3 ls 2>&1)"
check_eq "verify offline prints what verify through the daemon printed" "$verify_d" \
	"$(shoal --home n3 verify 2>&1)"
check_eq "put offline of the same file gives the capability put through the daemon gave" \
	"$cap" "$(shoal --home n3 put big 2>put_o.err)"
check_err1 "... saying no version was added (the same content)" put_o.err "unchanged"
shoal --home n3 get "$cap" -o got3 2>/dev/null
check "get offline returns the file stored through the daemon" cmp -s big got3
shoal --home n3 rm small >out 2>rm_o.err
check_failed "rm of a missing name offline fails" $?
check_eq "... with the error rm through the daemon printed" "$(cat rm_d.err)" "$(cat rm_o.err)"
shoal --home n3 get "shoal:notacapability" -o x 2>get_o.err
check_eq "get of a malformed capability: same error offline" "$(cat get_d.err)" "$(cat get_o.err)"

# Back on its old address: the others find it again without help.
start_node 3 1
check "... and the three are a full mesh again" wait_for 15 mesh_up 1 2 3

# ---- a fourth daemon joins later ----------------------------------------------------------
start_node 4 1
check "a fourth daemon joins: all four see each other up" wait_for 15 mesh_up 1 2 3 4
for i in 1 2 3 4; do
	check_eq "node $i: 3 members up" 3 "$(peers_up "n$i")"
done

# ---- kill -9 of a member, then restart --------------------------------------------------
kill_daemon n2
t0=$(now_ms)
check "kill -9 of node 2: nodes 1, 3, 4 mark it down within 4 s" wait_for 4 all_see down "${node_id[2]}" 1 3 4
echo "# node 2 seen down everywhere after $(($(now_ms) - t0)) ms"
check "... and stay up among themselves" mesh_up 1 3 4
start_node 2 1 # on its address
check "... and is up again everywhere, no operator action" wait_for 15 mesh_up 1 2 3 4

# ---- a frozen member: only the keepalive can tell -------------------------------------------
kill -STOP "${daemon_pid[n4]}"
t0=$(now_ms)
check "SIGSTOP of node 4: the others mark it down within 4 s (peer timeout 2 s)" \
	wait_for 4 all_see down "${node_id[4]}" 1 2 3
echo "# node 4 seen down everywhere after $(($(now_ms) - t0)) ms"
check "... logging that it went silent" grep -q "warn: peer ${node_id[4]:0:16} silent" n1.log
kill -CONT "${daemon_pid[n4]}"
check "SIGCONT: node 4 is up again everywhere" wait_for 15 mesh_up 1 2 3 4

# ---- the bootstrap node is gone for good; a member restarts ---------------------------------
kill_daemon n1
check "kill -9 of node 1 (the bootstrap): the others mark it down" \
	wait_for 4 all_see down "${node_id[1]}" 2 3 4
kill_daemon n2
check "kill -9 of node 2: the others mark it down" wait_for 4 all_see down "${node_id[2]}" 3 4
# A fresh port: the others cannot find it, it must find them. Only the dead node 1
# is its bootstrap.
old2=${node_addr[2]}
unset 'node_addr[2]'
start_node 2 1
check_ne "... on a new port" "$old2" "${node_addr[2]}"
check "... reconnects through the members it remembers: 3 and 4 up" wait_for 15 mesh_up 2 3 4
check_eq "... node 1 down in its list" down "$(peer_state n2 "${node_id[1]}")"
check "node 3 knows node 2 at its new address" \
	grep -q "^${node_id[2]}	${node_addr[2]}	up	" <("$SHOAL" --home n3 peers 2>&1)

# ---- orderly end -----------------------------------------------------------------------
stop_nodes 2 3 4
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
