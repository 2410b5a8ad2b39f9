#!/usr/bin/env bash
# A member that claims every chunk and then never sends one, between real
# daemons: a get on a node it is connected to still finishes, identical, the
# stalled holder abandoned after seconds (the adaptive timeout of
# node/fetch.h), not after a minute per chunk; and while that get waits on
# it, a put and an ls on the same node finish.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=3 --set ping_interval=0.5 --set gossip_interval=0.5
	--set scrub_rate=0)
TESTCERT=$(tool testcert)

make_nodes 1 2 3
start_node 1
start_node 2 1
check "two daemons meet" wait_for 15 mesh_up 1 2
gen_data big.bin $((32 * MiB)) stall
cap=$(shoal --home n1 put big.bin --replicas 2 --no-progress 2>/dev/null)
check_match "a 32 MiB file is stored on nodes 1 and 2" "$CAP_RE" "$cap"
start_node 3 1
check "node 3 joins" wait_for 15 mesh_up 1 2 3

"$TESTCERT" valid network s.key s.crt || fail "testcert s"
"${HOSTILE[@]}" staller "${node_addr[3]}" n3/ca.crt s.key s.crt 55 >stall.out 2>&1 &
staller=$!
_track "$staller"
_in() { grep -q '^id ' stall.out; }
check "a member that claims every chunk connects to node 3" wait_for 10 _in
sid=$(sed -n 's/^id //p' stall.out)
check "... node 3 sees it up" wait_for 10 eval '[ "$(peer_state n3 "$sid")" == up ]'

t0=$(now_ms)
"$SHOAL" --home n3 get "$cap" -o got.bin --no-progress 2>get.err &
getter=$!
_asked() { grep -q '^stalled [0-9a-f]' stall.out; }
check "node 3's get asks the staller for a chunk" wait_for 20 _asked
echo "a small file" >small.txt
scap=$(shoal --home n3 put small.txt --replicas 1 --no-progress 2>put.err)
check_match "meanwhile a put on node 3 finishes" "$CAP_RE" "$scap"
check "... while the get is still waiting" _alive "$getter"
check "... and so does an ls" eval 'shoal --home n3 ls | grep -q "^small.txt"'
wait "$getter"
rc=$?
took=$(($(now_ms) - t0))
check_eq "the get finishes" 0 "$rc"
check "... identical" cmp -s big.bin got.bin
stalls=$(grep -c '^stalled [0-9a-f]' stall.out)
echo "# get took $took ms; the staller was asked for $stalls chunks"
check "... in under 40 s ($took ms), not a minute per stalled chunk" test "$took" -lt 40000
kill "$staller" 2>/dev/null
wait "$staller" 2>/dev/null
stop_nodes 1 2 3
done_testing
