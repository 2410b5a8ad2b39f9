#!/usr/bin/env bash
# Versions of a name. Offline: two puts under one name make two versions,
# newest first in `versions`; `get --version 1` and the old capability
# return version 1 byte for byte; the same content again adds no version
# (and says so); rm --version removes one, rm the name all; a home made
# before versions upgrades (its names become version 1); prune_keep_last in
# the config prunes after each put; option errors. On a mesh of three
# daemons (R = 3): the same through the daemon (and its prune_keep_last),
# then prune --dry-run changes nothing and prune --keep-last 1 removes
# version 1: its own chunks vanish from every holder while the chunks it
# shares with version 2 stay on 3.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5)

nversions() { "$SHOAL" --home "$1" versions "$2" 2>/dev/null | wc -l; }

# ---- offline: versions, get --version, the old capability -----------------------------
make_node h >/dev/null || fail "make_node h"
gen_data v1 $((3 * MiB)) versions-one
cp v1 v2 && flip_byte v2 $((3 * MiB / 2))
cap1=$(shoal --home h put v1 --name doc 2>put1.err)
check_match "put v1 as doc" "$CAP_RE" "$cap1"
cap2=$(shoal --home h put v2 --name doc 2>put2.err)
check_match "put v2 under the same name" "$CAP_RE" "$cap2"
check_ne "... another capability" "$cap1" "$cap2"
check_eq "... nothing on stderr" "" "$(cat put1.err put2.err)"
shoal --home h versions doc >out 2>err
check_eq "versions exits 0" 0 $?
check_eq "... lists 2 versions" 2 "$(wc -l <out)"
check_eq "... newest first: numbers 2 then 1" "2 1" "$(cut -f1 out | paste -sd ' ')"
check_eq "... with their capabilities" "$cap2 $cap1" "$(cut -f4 out | paste -sd ' ')"
check_eq "... their sizes" "$((3 * MiB)) $((3 * MiB))" "$(cut -f3 out | paste -sd ' ')"
check_eq "... every line: number, UTC time, size, capability, full|degraded, copies/wanted" 0 \
	"$(grep -cvE '^[0-9]+	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z	[0-9]+	shoal:[a-z2-7:]+	(full|degraded) [0-9]+/[0-9]+$' out)"
check_eq "... offline: 3 copies wanted (the default), 1 held: degraded 1/3" \
	"degraded 1/3,degraded 1/3" "$(cut -f5 out | paste -sd ,)"
shoal --home h versions doc --json >out.json 2>err
check "versions --json is a JSON array of 2" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert [x["version"] for x in v] == [2, 1], v
assert [x["capability"] for x in v] == sys.argv[2:], v
assert all(x["full"] is False and x["copies"] == 1 and x["wanted"] == 3 for x in v)
assert all(isinstance(x["created"], int) for x in v)
' out.json "$cap2" "$cap1"
check_eq "ls shows doc once, its newest, with 2 versions" "doc	$((3 * MiB))	$cap2	degraded 1/3	2" "$(shoal --home h ls)"
check "ls --json has version 2 of 2" python3 -c '
import json, sys
v = json.load(sys.stdin)
assert len(v) == 1 and v[0]["version"] == 2 and v[0]["versions"] == 2, v' < <(shoal --home h ls --json)
check "get --version 1 returns v1 byte for byte" sh -c "$SHOAL --home h get doc --version 1 -o g1 && cmp v1 g1"
check "get of the name returns v2" sh -c "$SHOAL --home h get doc -o g2 && cmp v2 g2"
check "the old capability still reads v1" sh -c "$SHOAL --home h get $cap1 -o g1c && cmp v1 g1c"
objs=$(count_objects h)
cap2b=$(shoal --home h put v2 --name doc 2>put3.err)
check_eq "the same content again: the same capability" "$cap2" "$cap2b"
check_err1 "... says no version was added" put3.err "is unchanged (the same as its version 2): no version added"
check_eq "... and adds none" 2 "$(nversions h doc)"
check_eq "... nor any object" "$objs" "$(count_objects h)"
cap1b=$(shoal --home h put v1 --name doc 2>/dev/null)
check_eq "v1's content again is version 3 (not the newest's): its capability" "$cap1" "$cap1b"
check_eq "... 3 versions" "3 2 1" "$(shoal --home h versions doc | cut -f1 | paste -sd ' ')"

shoal --home h get doc --version 9 -o g9 >out 2>err
check_failed "get --version of a version that does not exist fails" $?
check_err1 "... with one line" err "no version 9 of 'doc'"
check "... writing nothing" test ! -e g9
shoal --home h get "$cap1" --version 1 -o gx >out 2>err
check_failed "get CAP --version fails" $?
check_err1 "... one line" err "NAME"
shoal --home h get doc --version 0 -o gx >out 2>err
check_failed "get --version 0 fails" $?
shoal --home h get doc --version x -o gx >out 2>err
check_failed "get --version x fails" $?
check_err1 "... one line" err "--version"
shoal --home h versions nosuch >out 2>err
check_failed "versions of an unknown name fails" $?
check_err1 "... one line" err "no file named 'nosuch'"
shoal --home h versions >out 2>err
check_failed "versions without NAME fails" $?
shoal --home h prune >out 2>err
check_failed "prune without a rule fails" $?
check_err1 "... one line" err "--keep-last"
shoal --home h prune --keep-last -1 >out 2>err
check_failed "prune --keep-last -1 fails" $?
check_err1 "... one line" err "--keep-last"
check "versions --help" shoal versions --help
check "prune --help" shoal prune --help

# rm --version
check "rm --version 2 exits 0" shoal --home h rm doc --version 2
check_eq "... leaves versions 3 and 1" "3 1" "$(shoal --home h versions doc | cut -f1 | paste -sd ' ')"
shoal --home h rm doc --version 2 >out 2>err
check_failed "rm of that version again fails" $?
check_err1 "... one line" err "no version 2 of 'doc'"
check "v1 still reads (version 1)" sh -c "$SHOAL --home h get doc --version 1 -o g1d && cmp v1 g1d"
shoal --home h get "$cap2" -o g2x >out 2>err
check_failed "version 2's capability no longer reads (its own chunks went)" $?
check "rm --version 3 (the newest) exits 0" shoal --home h rm doc --version 3
check_eq "... version 1 is now the newest that ls shows" "doc	$((3 * MiB))	$cap1	degraded 1/3	1" "$(shoal --home h ls)"
cap4=$(shoal --home h put v2 --name doc 2>/dev/null)
check_eq "a put after that is version 4 (numbers are not reused while the name lives)" "4 1" \
	"$(shoal --home h versions doc | cut -f1 | paste -sd ' ')"
check "rm doc removes the name" shoal --home h rm doc
check_eq "... ls is empty" "" "$(shoal --home h ls)"
check_eq "... every object is gone" 0 "$(count_objects h)"
shoal --home h versions doc >out 2>err
check_failed "... versions doc fails" $?

# ---- a home from before versions upgrades ---------------------------------------------
capo=$(shoal --home h put v1 --name old 2>/dev/null)
python3 - h/index.sqlite <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
# The tables as schema 4 had them: names without last_version, no versions.
db.executescript("""
CREATE TABLE names4(name TEXT PRIMARY KEY, cap TEXT NOT NULL, manifest BLOB NOT NULL,
  size INTEGER NOT NULL, created INTEGER NOT NULL);
INSERT INTO names4 SELECT name, cap, manifest, size, created FROM names;
DROP TABLE names;
ALTER TABLE names4 RENAME TO names;
CREATE INDEX names_by_manifest ON names(manifest);
DROP TABLE versions;
PRAGMA user_version = 4;
""")
db.commit()
EOF
check_eq "an index of schema 4 (no versions): ls shows the name as 1 version" "old	$((3 * MiB))	$capo	degraded 1/3	1" "$(shoal --home h ls)"
check_eq "... versions lists it as version 1" "1	$capo" "$(shoal --home h versions old | cut -f1,4)"
shoal --home h put v2 --name old >/dev/null 2>&1
check_eq "... a put adds version 2" "2 1" "$(shoal --home h versions old | cut -f1 | paste -sd ' ')"
check "... and version 1 reads back" sh -c "$SHOAL --home h get old --version 1 -o go && cmp v1 go"
shoal --home h rm old

# ---- the config's retention after each put --------------------------------------------
printf 'prune_keep_last = 2\n' >>h/config
for i in 1 2 3 4; do
	gen_data "k$i" $((300 * KiB)) "keep-$i"
	shoal --home h put "k$i" --name kept >/dev/null 2>"kput$i.err"
done
check_eq "prune_keep_last = 2: after 4 puts, versions 4 and 3 are left" "4 3" \
	"$(shoal --home h versions kept | cut -f1 | paste -sd ' ')"
check_match "... the put says it pruned" "pruned 1 old version of 'kept'" "$(cat kput3.err)"
shoal --home h get kept --version 3 -o gk3 && check "... version 3 reads back" cmp k3 gk3
sed -i '/prune_keep_last/d' h/config
shoal --home h rm kept

# ---- a mesh of three daemons ----------------------------------------------------------
make_nodes 1 2 3
start_node 1 "" --set prune_keep_last=2
start_node 2 1
start_node 3 1
check "three daemons form a full mesh" wait_for 15 mesh_up 1 2 3
gen_data m1 $((24 * MiB)) versions-mesh
cp m1 m2 && flip_byte m2 $((12 * MiB))
mcap1=$(shoal --home n1 put m1 --name big --replicas 3 2>/dev/null)
check_match "put m1 on node 1, R = 3" "$CAP_RE" "$mcap1"
mcap2=$(shoal --home n1 put m2 --name big --replicas 3 2>/dev/null)
check_match "put m2 (one byte changed) as its version 2" "$CAP_RE" "$mcap2"
shoal --home n1 versions big >out 2>err
check_eq "versions through the daemon lists 2" "2 1" "$(cut -f1 out | paste -sd ' ')"
check_eq "... both full with 3 of 3 copies" "full 3/3,full 3/3" "$(cut -f5 out | paste -sd ,)"
check_eq "ls through the daemon: the newest, 2 versions" "big	$((24 * MiB))	$mcap2	full 3/3	2" "$(shoal --home n1 ls)"
check "get --version 1 through the daemon returns m1 byte for byte" \
	sh -c "$SHOAL --home n1 get big --version 1 -o gm1 && cmp m1 gm1"
check "the old capability reads on node 2" sh -c "$SHOAL --home n2 get $mcap1 -o gm1b && cmp m1 gm1b"
shoal --home n1 put m2 --name big --replicas 3 >/dev/null 2>put.err
check_err1 "the same content again through the daemon: no version added" put.err "no version added"
check_eq "... still 2 versions" 2 "$(nversions n1 big)"
locate_chunks n1 "$mcap1" loc1
locate_chunks n1 "$mcap2" loc2
sort loc1.ids >l1 && sort loc2.ids >l2
comm -23 l1 l2 >only1
comm -12 l1 l2 >shared
check "m1 has chunks of its own (its manifest, the edited chunk): $(wc -l <only1)" test "$(wc -l <only1)" -ge 2
check "... and shares most with m2: $(wc -l <shared)" test "$(wc -l <shared)" -ge 10
check "every chunk of version 1 is on the 3 homes" each_chunk_has -eq 3 l1 n1 n2 n3

# A dry run changes nothing.
shoal --home n1 prune big --keep-last 1 --dry-run >out 2>err
check_eq "prune --dry-run exits 0" 0 $?
check_eq "... lists version 2 kept, version 1 to remove" \
	"keep big 2|would remove big 1|would remove 1 version" \
	"$(cut -f1-3 out | tr '\t' ' ' | paste -sd '|')"
sleep 1.5 # an unpin the dry run wrongly queued would go out within a second
check_eq "... versions still lists 2" 2 "$(nversions n1 big)"
check "... and every chunk of version 1 is still on the 3 homes" each_chunk_has -eq 3 l1 n1 n2 n3

# The prune.
shoal --home n1 prune --keep-last 1 >out 2>err
check_eq "prune --keep-last 1 (every name) exits 0" 0 $?
check_eq "... says it removed 1 version" "removed 1 version" "$(tail -n 1 out)"
check_eq "versions shows one: version 2" "2	$mcap2" "$(shoal --home n1 versions big | cut -f1,4)"
t0=$(now_ms)
check "version 1's own chunks vanish from every home" wait_for 15 each_chunk_has -eq 0 only1 n1 n2 n3
echo "# gone after $(($(now_ms) - t0)) ms"
sleep 1
check "the chunks it shared with version 2 stay on the 3 homes" each_chunk_has -eq 3 shared n1 n2 n3
check "version 2 reads back from node 3" sh -c "$SHOAL --home n3 get $mcap2 -o gm2 && cmp m2 gm2"
shoal --home n1 get big --version 1 -o gx >out 2>err
check_failed "get --version 1 now fails" $?
check_err1 "... one line" err "no version 1 of 'big'"

# The daemon's prune_keep_last = 2 after each put.
for i in 1 2 3; do
	gen_data "s$i" $((100 * KiB)) "small-$i"
	shoal --home n1 put "s$i" --name small >/dev/null 2>"sput$i.err"
done
check_eq "the daemon's prune_keep_last = 2: after 3 puts, versions 3 and 2" "3 2" \
	"$(shoal --home n1 versions small | cut -f1 | paste -sd ' ')"
check_match "... the third put says it pruned one" "pruned 1 old version of 'small'" "$(cat sput3.err)"
check "rm small" shoal --home n1 rm small

# rm --version through the daemon, and rm of the name.
mcap3=$(shoal --home n1 put m1 --name big --replicas 3 2>/dev/null)
check_eq "m1 again: version 3, m1's capability" "$mcap1" "$mcap3"
check "rm --version 2 through the daemon" shoal --home n1 rm big --version 2
check_eq "... leaves version 3" "3" "$(shoal --home n1 versions big | cut -f1)"
check "... m1 reads back" sh -c "$SHOAL --home n1 get big -o gm3 && cmp m1 gm3"
check "rm big" shoal --home n1 rm big
check "... every chunk of both versions vanishes from every home" \
	wait_for 15 each_chunk_has -eq 0 l1 n1 n2 n3
check "... and of version 2" wait_for 15 each_chunk_has -eq 0 l2 n1 n2 n3
check_eq "... ls is empty" "" "$(shoal --home n1 ls)"
stop_nodes 1 2 3
done_testing
