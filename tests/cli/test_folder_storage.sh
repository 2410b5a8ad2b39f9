#!/usr/bin/env bash
# A folder created with --replicas keeps copies on storage nodes, so a member
# coming back while every other member is offline catches up from them.
# Five real daemons: nodes 1 and 2 are the folder's members (A and C), 3, 4
# and 5 only store. The invite carries the replicas to the joining member.
# With C stopped, A changes files (an edit, a new file, a delete, a new
# directory); A's journal is published and repair places A's chunks on the
# storage nodes, which hold only ciphertext (no file's bytes, no folder id
# in the catalog). Then A stops and C starts with only the storage nodes up:
# C takes A's batches from the journal and the files' chunks from the
# storage nodes, and ends with A's tree; a decoy a storage node published
# under the journals' name is refused. A coming back agrees, conflict-free.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set grace_period=1
	--set repair_interval=0.5 --set recovery_delay=0 --set scrub_rate=0)
SYNC=120 # seconds a change gets to arrive (the sanitizer build is slow)

tree() { folder_tree "$1"; }
same_trees() { [ "$(tree "$1")" == "$(tree "$2")" ]; }
counter() { # N NAME: one of node N's folder counters
	"$SHOAL" --home "n$1" folder status --json 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['folders'][0]['counters']['$2'])" 2>/dev/null ||
		echo -1
}
health() { # N FIELD
	"$SHOAL" --home "n$1" status --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["health"][sys.argv[1]])' "$2" 2>/dev/null ||
		echo -1
}
above() { [ "$(counter "$1" "$2")" -gt "$3" ]; } # N NAME VALUE
no_short() { [ "$(health "$1" under_replicated)" == 0 ]; }
in_sync() { folder_in_sync "$1"; }

make_nodes 1 2 3 4 5
start_node 1
for n in 2 3 4 5; do start_node "$n" 1; done
check "the five daemons see each other" wait_for 30 mesh_up 1 2 3 4 5

# ---- create with replicas, join ----------------------------------------------------------
mkdir -p A/docs
echo "hello" >A/hello.txt
echo "old" >A/old.txt
gen_data A/docs/big.bin $((2 * MiB)) big
shoal --home n1 folder create A --replicas 2 >create.out 2>create.err
invite=$(grep -o 'shoal-folder:[a-z2-7]*' create.out | head -n 1)
check "node 1 creates a folder with --replicas 2" test -n "$invite"
check "node 2 joins with the invite" shoal --home n2 folder join "$invite" C
check "C gets A's files" wait_slow "$SYNC" same_trees A C
check_match "the invite carried the replicas: C's status speaks of the storage nodes" \
	'storage nodes: 2 copies wanted' "$(shoal --home n2 folder status C)"
check_eq "... folder list --json says so on C" 2 \
	"$(shoal --home n2 folder list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["folders"][0]["replicas"])')"

check "A published its first journal" wait_for "$SYNC" above 1 journal_seq 0

# ---- A changes while C is away -----------------------------------------------------------
stop_nodes 2
j0=$(counter 1 journal_seq)
secret_line="storage nodes never see this line $RANDOM$RANDOM"
echo "hello again" >A/hello.txt
echo "$secret_line" >A/new.txt
gen_data A/docs/fresh.bin $((1 * MiB)) fresh
rm A/old.txt
mkdir A/sub
echo "in sub" >A/sub/inner.txt
check "A publishes its journal after the changes" wait_for "$SYNC" above 1 journal_seq "$j0"
check "A's chunks reach their copies on the storage nodes" wait_for "$SYNC" no_short 1
check_eq "no storage node holds a byte of the new file in clear" "" \
	"$(grep -rl "$secret_line" n3/objects n4/objects n5/objects 2>/dev/null)"
check "the storage nodes hold copies of A's chunks" \
	test "$(count_objects n3)" -gt 0 -a "$(count_objects n4)" -gt 0
fid=$(shoal --home n1 folder list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["folders"][0]["id"])')
check_eq "the catalog of a storage node names no folder id" "" \
	"$(grep -l "$fid" n3/catalog* 2>/dev/null)"
check_eq "ls --network does not list the journal's pointer" "" \
	"$(shoal --home n3 ls --network 2>&1 | grep -i shoal-folder)"

# ---- A away, C back: only the storage nodes are up -----------------------------------------
# A storage node publishes a decoy under the journals' name (it sees the
# name in its catalog): bytes of a pointer's length that no key opens.
stop_nodes 1
jname=$(grep -ao '\.shoal-folder-[a-z2-7]*' n3/catalog.log | head -n 1)
check "the journals' name is in a storage node's catalog" test -n "$jname"
head -c 136 /dev/urandom >decoy.bin
check "a storage node publishes a decoy under that name" \
	shoal --home n3 put decoy.bin --name "$jname" --publish
start_node 2 3
check "C catches up from the storage nodes alone" wait_slow "$SYNC" same_trees A C
check "... taking A's batches from its journal" above 2 from_storage 0
check_match "... and says so in its log" 'batches taken from the journals on storage nodes' \
	"$(cat n2.log)"
check_eq "... with the new file's bytes, which only the storage nodes held" "$secret_line" \
	"$(cat C/new.txt)"
check "... in sync" wait_for "$SYNC" in_sync 2
check_match "... the decoy refused: it does not open under the folder's key" \
	'cannot read a journal from the storage nodes: a pointer that does not open' "$(cat n2.log)"

# ---- A back: both agree, nothing in conflict ---------------------------------------------
start_node 1 3
check "A and C agree once A is back" wait_slow "$SYNC" same_trees A C
check "... both in sync" wait_for "$SYNC" in_sync 1
check_eq "... no conflict copy" "" "$(find A C -name '*.conflict-*')"

stop_nodes 1 2 3 4 5
done_testing
