#!/usr/bin/env bash
# Wanted copies are a promise that is kept, between real daemons. A daemon
# alone puts with --replicas 3: status counts the file and its chunks short of
# copies at once, ls says "degraded 1/3", explain says why. Two peers start,
# and a second file is put while only the first is up: every chunk of both
# reaches 3 good copies on disk, status counts nothing short, ls
# says "full 3/3", explain says safe. A holder killed past the grace period
# and a new member joining: the same again. A file put offline with
# --replicas 2 gets its second copy once its daemon runs with a member up.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
GRACE=3
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set "grace_period=$GRACE"
	--set repair_interval=1 --set scrub_rate=0)

# health N FIELD: a counter of the health object of `status --json` on node N.
health() {
	"$SHOAL" --home "n$1" status --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["health"][sys.argv[1]])' "$2" 2>/dev/null ||
		echo -1
}
# ls_health N NAME: the health column of NAME in node N's ls.
ls_health() { "$SHOAL" --home "n$1" ls 2>/dev/null | awk -F'\t' -v n="$2" '$1 == n {print $4}'; }
# explain_field N NAME FIELD: a field of `explain NAME --json` on node N.
explain_field() {
	"$SHOAL" --home "n$1" explain "$2" --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$3" 2>/dev/null
}
none_short() {
	local counts
	counts="$(health "$1" under_replicated) $(health "$1" under_files)"
	echo "node $1: $counts chunks and files short"
	[ "$counts" == "0 0" ]
}

# ---- a put while alone --------------------------------------------------------------------
make_nodes 1 2 3 4 5
start_node 1
gen_data big 3000000
"$SHOAL" --home n1 put big --name big --replicas 3 >out 2>err
check_eq "a daemon alone puts with --replicas 3" 0 $?
check_match "... warning that 1 copy is made now, the other 2 once members join" \
	'^shoal: warning: only 1 node is up: 1 copy now, the other 2 once members join' "$(cat err)"
locate_chunks n1 big loc
nchunks=$(wc -l <loc.ids)
check "... a file of several chunks ($nchunks)" test "$nchunks" -ge 3
check_eq "status counts the file and each of its chunks short of copies at once" \
	"1 $nchunks" "$(health 1 under_files) $(health 1 under_replicated)"
check_match "... in words" 'health  1 file \([0-9]+ chunks\) under-replicated' \
	"$("$SHOAL" --home n1 status 2>&1)"
check_eq "ls marks it degraded, 1 copy of 3" "degraded 1/3" "$(ls_health 1 big)"
"$SHOAL" --home n1 explain big >explain.out 2>&1
check_eq "explain exits 0" 0 $?
check_match "explain lists each chunk with 1 of 3 copies, on this node" \
	'  [0-9a-f]{12}  1 of 3 copies \(short\)  on this node' "$(cat explain.out)"
check_match "... and says it is not safe: only 1 member is up, 2 more are needed" \
	'not safe yet: 3 copies are wanted but only 1 member is up .*as soon as 2 more members are up' \
	"$(cat explain.out)"
check_eq "explain --json: not safe, fewest copies 1 of 3" "False 1 3" \
	"$(explain_field 1 big safe) $(explain_field 1 big fewest) $(explain_field 1 big wanted)"
check_eq "explain --json lists every chunk" "$nchunks" \
	"$("$SHOAL" --home n1 explain big --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["chunk_list"]))')"

# ---- copies catch up once members are up -------------------------------------------------
# A second file is put while one member is up: 2 copies now. Whichever of
# its 2 holders leads a chunk's repair (plan.h) must know that 3 are wanted.
t0=$(now_ms)
start_node 2 1
check "a peer starts and meets node 1" wait_for 20 mesh_up 1 2
gen_data mid 6000000
"$SHOAL" --home n1 put mid --name mid --replicas 3 >out 2>err
check_eq "a put with --replicas 3 while 1 member is up works" 0 $?
check_match "... warning that 2 copies are made now, the other 1 once members join" \
	'^shoal: warning: only 2 nodes are up: 2 copies now, the other 1 once members join' "$(cat err)"
locate_chunks n1 mid mloc
start_node 3 1
check "another peer starts and meets both" wait_for 20 mesh_up 1 2 3
check "every chunk reaches 3 good copies" wait_for 30 each_chunk_has -eq 3 loc.ids n1 n2 n3
echo "# copies caught up $(($(now_ms) - t0)) ms after the first peer started"
check "... and every chunk of the file put while 1 member was up ($(wc -l <mloc.ids))" \
	wait_for 30 each_chunk_has -eq 3 mloc.ids n1 n2 n3
check "status then counts nothing short" wait_for 30 none_short 1
check_eq "ls marks it full, 3 of 3" "full 3/3" "$(ls_health 1 big)"
check_match "explain says it is safe" 'safe: every chunk has the 3 copies wanted' \
	"$("$SHOAL" --home n1 explain big 2>&1)"
check_eq "explain --json: safe" True "$(explain_field 1 big safe)"

# ---- a holder lost and a new member joining ----------------------------------------------
kill_daemon n3
check "node 3 is killed: node 1 sees it down" wait_for 10 all_see down "${node_id[3]}" 1
check_match "explain, while it is only down, names what is waited for" \
	'not safe yet: .*(down|lost in)' "$("$SHOAL" --home n1 explain big 2>&1)"
start_node 4 1
check "a new member joins" wait_for 20 mesh_up 1 2 4
check "past the grace period, every chunk is back to 3 good copies on the live nodes" \
	wait_for 40 each_chunk_has -eq 3 loc.ids n1 n2 n4
check "status counts nothing short" wait_for 30 none_short 1
check_eq "ls marks it full, 3 of 3" "full 3/3" "$(ls_health 1 big)"

# ---- a put made offline keeps its wanted copies --------------------------------------------
gen_data small 700000
"$SHOAL" --home n5 put small --name small --replicas 2 >out 2>err
check_eq "an offline put with --replicas 2 works" 0 $?
check_match "... warning that the copies wait for a daemon" 'no daemon running; stored on this node only until one runs with members up' "$(cat err)"
check_eq "... ls marks it degraded, 1 of 2" "degraded 1/2" "$(ls_health 5 small)"
start_node 5 1
check "its daemon starts and meets the others" wait_for 20 mesh_up 1 5
locate_chunks n5 small sloc
check "every chunk of it reaches 2 good copies" \
	wait_for 30 each_chunk_has -eq 2 sloc.ids n1 n2 n4 n5
check "status on node 5 counts nothing short" wait_for 30 none_short 5
check_eq "ls marks it full, 2 of 2" "full 2/2" "$(ls_health 5 small)"

# ---- usage --------------------------------------------------------------------------------
"$SHOAL" --home n1 explain >out 2>err
check_failed "explain without a target fails" $?
check_match "... with a usage line" 'which capability or name' "$(cat err)"
"$SHOAL" --home n1 explain nosuch >out 2>err
check_failed "explain of an unknown name fails" $?
check_eq "... with one 'shoal: ' line" 1 "$(grep -c '^shoal: ' err)"
check "explain --help describes it" eval '"$SHOAL" explain --help | grep -q "copies"'

stop_nodes 1 2 4 5
done_testing
