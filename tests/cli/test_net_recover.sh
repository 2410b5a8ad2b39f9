#!/usr/bin/env bash
# A lost node's names come back with its recovery key. Node 1 puts files
# under names (one with two versions) and a tree with two peers up; its name
# table and record are placed. Node 1 is killed and its home removed; a new
# node of the same network recovers with the key: ls lists every name with
# its versions, every file and the tree read back identical, and the copies
# stay at 3; a name the new node had already is left as it was. A wrong key and a malformed key fail in one line; records that
# members altered are refused.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set grace_period=3
	--set repair_interval=1 --set scrub_rate=0)

# key_field N FIELD: a field of `recovery-key --json` on node N.
key_field() {
	"$SHOAL" --home "n$1" recovery-key --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2" 2>/dev/null
}
# placed N VERSIONS: node N's table of VERSIONS versions is placed, nothing pending.
placed() { [ "$(key_field "$1" pending) $(key_field "$1" versions)" == "False $2" ]; }
# held_of HOME N: HOME keeps node N's record (the file is named by its id in hex).
held_of() {
	[ -f "$1/records/$(python3 -c 'import base64, sys
print(base64.b32decode(sys.argv[1].upper() + "====")[:32].hex())' "${node_id[$2]}")" ]
}
ls_health() { "$SHOAL" --home "n$1" ls 2>/dev/null | awk -F'\t' -v n="$2" '$1 == n {print $4}'; }
all_full() {
	local n
	for n in alpha beta gamma tree; do
		[ "$(ls_health 4 "$n")" == "full 3/3" ] || return 1
	done
}

make_nodes 1 2 3
start_node 1
start_node 2 1
start_node 3 1
check "three nodes meet" wait_for 20 mesh_up 1 2 3

gen_data a1 300000 1
gen_data a2 2500000 2
gen_data b 70000 3
gen_data c 1 4
mkdir -p tree/sub/deep
gen_data tree/one 5000 5
gen_data tree/sub/two 900000 6
gen_data tree/sub/deep/three 12 7
check "put alpha (version 1)" shoal --home n1 put a1 --name alpha
check "put alpha (version 2)" shoal --home n1 put a2 --name alpha
check "put beta" shoal --home n1 put b --name beta
check "put gamma" shoal --home n1 put c --name gamma
check "put a tree" shoal --home n1 put tree --name tree
check "the name table (5 versions) is placed" wait_for 30 placed 1 5
check "... and its record is held by both peers" wait_for 10 held_of n2 1
check "... (node 3 too)" wait_for 10 held_of n3 1
make_nodes 6
start_node 6 1
check "a member joining later gets the record as its link comes up" wait_for 15 held_of n6 1
stop_nodes 6

shoal --home n1 recovery-key >key 2>key.err
check_eq "recovery-key exits 0" 0 $?
check_match "... prints one key" '^shoal-recovery:[a-z2-7]{52}$' "$(cat key)"
check_match "... and says to keep it offline" 'offline' "$(cat key.err)"
check_match "... that the CA file is needed to enroll a replacement" 'CA file' "$(cat key.err)"
check_eq "... the same key each time" "$(cat key)" "$(shoal --home n1 recovery-key 2>/dev/null)"
check_eq "home/recovery.key is mode 600" 600 "$(stat -c %a n1/recovery.key)"

# ---- the node is lost --------------------------------------------------------------------
kill_daemon n1
rm -rf n1
make_nodes 4
start_node 4 2
check "a new node joins nodes 2 and 3" wait_for 20 mesh_up 2 3 4
gen_data mine 5000 8
check "the new node has a name beta of its own" shoal --home n4 put mine --name beta

shoal --home n4 recover "shoal-recovery:$(head -c 52 /dev/zero | tr '\0' a)" >out 2>err
check_failed "a wrong key fails" $?
check_err1 "... in one line: no member has a record for it" err "has a recovery record"
shoal --home n4 recover "nonsense" >out 2>err
check_failed "a malformed key fails" $?
check_err1 "... in one line: not a recovery key" err "not a recovery key"

shoal --home n4 recover --json "$(cat key)" >rec.json 2>rec.err
check_eq "recover with the key exits 0" 0 $?
check_eq "... takes over 3 names, 4 versions, leaving beta alone" "3 4 1" \
	"$(python3 -c 'import json,sys; d=json.load(open("rec.json")); print(d["names"], d["versions"], d["skipped"])')"
check_eq "ls lists the names" "alpha beta gamma tree" \
	"$("$SHOAL" --home n4 ls | cut -f1 | tr '\n' ' ' | sed 's/ $//')"
check_eq "alpha has its 2 versions" 2 "$("$SHOAL" --home n4 versions alpha | wc -l)"
check_eq "... with their numbers" "2 1" "$("$SHOAL" --home n4 versions alpha --json |
	python3 -c 'import json,sys; print(*[v["version"] for v in json.load(sys.stdin)])')"
check "version 1 of alpha reads back identical" \
	sh -c "'$SHOAL' --home n4 get alpha --version 1 -o o.a1 && cmp a1 o.a1"
check "version 2 of alpha reads back identical" \
	sh -c "'$SHOAL' --home n4 get alpha -o o.a2 && cmp a2 o.a2"
check "beta is still the new node's own" sh -c "'$SHOAL' --home n4 get beta -o o.b && cmp mine o.b"
check "gamma reads back identical" sh -c "'$SHOAL' --home n4 get gamma -o o.c && cmp c o.c"
check "the tree reads back identical" sh -c "'$SHOAL' --home n4 get tree -o o.tree && diff -r tree o.tree"
check "every name keeps 3 full copies" wait_for 30 all_full
check_eq "the new node uses the same key" "$(cat key)" "$(shoal --home n4 recovery-key 2>/dev/null)"
check "... and places a table with the names taken over" wait_for 30 placed 4 5

# ---- members that alter records -----------------------------------------------------------
stop_nodes 2 3
for f in n2/records/* n3/records/*; do
	python3 - "$f" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 1  # the last byte of the signature
open(p, "wb").write(bytes(b))
PY
done
start_node 2
start_node 3 2
make_nodes 5
start_node 5 2
check "a fifth node joins nodes 2 and 3" wait_for 20 mesh_up 2 3 5
shoal --home n5 recover "$(cat key)" >out 2>err
check_failed "recover from altered records fails" $?
check_err1 "... in one line: the signature is bad" err "signature is bad"
check_eq "... and takes nothing over" "" "$("$SHOAL" --home n5 ls)"

stop_nodes 2 3 4 5
done_testing
