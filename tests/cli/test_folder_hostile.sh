#!/usr/bin/env bash
# A collaborative folder among hostile peers (tests/cli/hostile.py plays them,
# tests/tools/foldersign signs their batches). Two honest members, nodes 1 and
# 2, share a folder of 125 small files and are in sync. Then:
#  - a certified node of the network that is not a member (no invite) sends a
#    FolderHello and a FolderBatches (a correctly signed batch deleting every
#    file) with wrong proofs: node 1 ignores both, keeps the link (Pong),
#    sends it no batches, and its folder (files, status, members) is as it was;
#  - a node holding the invite (so with the right proofs) gets node 1's
#    batches for a hello (the control), then sends a batch whose signature is
#    spoiled, sizes that do not add up to the payload, and a hello of 1025
#    haves (1024 is fine): node 1 hangs up on each, logs why, and its folder
#    is intact and still in sync with node 2's;
#  - the same member sends a correctly signed batch deleting every file: it is
#    taken (a member may delete), but it would delete more than the breaker
#    allows (max(100, a quarter)), so node 1 holds the deletes ("held delete")
#    and no file goes on node 1 or node 2 until `folder accept-deletes` on
#    node 1, after which the files go on node 1 only (node 2 holds them too);
#  - the same member sends rows whose version vectors are full (64 counters,
#    none of node 1's): the path they name waits on its own ("too long to
#    merge") while everything else still applies, and when node 1 removes a
#    directory so made (its tombstone has no room for node 1's counter) that
#    change alone goes unrecorded: node 1's other changes, deletes included,
#    still reach node 2;
#  - the same member sends a batch saying more follow, then nothing: node 1
#    applies it all the same once it stops waiting (5 s), not before.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
TESTCERT=$(tool testcert)
FOLDERSIGN=$(tool foldersign)
NODE_OPTS=(--set recovery_delay=0 --set peer_timeout=2 --set ping_interval=0.5
	--set handshake_timeout=2)
NFILES=125

# tree_sum DIR: one line per file under DIR (.shoal left out): its SHA-256 and path.
tree_sum() {
	(cd "$1" && find . -path ./.shoal -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
nfiles() { tree_sum "$1" | wc -l; }
same_tree() { [ "$(tree_sum "$1")" == "$(tree_sum "$2")" ]; }
# fstatus N: node N's `folder status --json`.
# (What goes wrong is told on stderr, which a failed check shows.)
fstatus() {
	"$SHOAL" --home "n$1" folder status --json 2>"$T/fstatus.$1.err" ||
		sed "s/^/node $1 folder status: /" "$T/fstatus.$1.err" >&2
}
# fjson N PYTHON_EXPR: the expression holds for f, node N's (only) folder in
# `folder status --json`.
fjson() {
	python3 -c "import json, sys; f = json.load(sys.stdin)['folders'][0]; sys.exit(0 if ($2) else 1)" \
		< <(fstatus "$1")
}
# fget N PYTHON_EXPR: prints the expression's value for f (as fjson).
fget() {
	python3 -c "import json, sys; f = json.load(sys.stdin)['folders'][0]; print($2)" < <(fstatus "$1") 2>&1
}
in_sync() { fjson "$1" "f['in_sync'] and f['held'] == 0 and f['waiting'] == 0"; }
members() { fget "$1" "' '.join(sorted(m['id'] for m in f['members']))"; }
synced() { in_sync 1 && in_sync 2 && same_tree a b && [ "$(nfiles b)" -eq "$NFILES" ]; }
logged() { grep -c -- "$2" "n$1.log"; }
_logged_more() { [ "$(logged "$1" "$2")" -gt "$3" ]; }

check "testcert and foldersign are built" test -x "$TESTCERT" -a -x "$FOLDERSIGN"
make_nodes 1 2
start_node 1
a1=${node_addr[1]}
pid1=${daemon_pid[n1]}
start_node 2 1
check "the two are up" wait_for 90 mesh_up 1 2
CA=n1/ca.crt
for c in stranger m1 m2 m3 m4 m5 m6 m7 m8; do
	"$TESTCERT" valid network "$c.key" "$c.crt" || fail "testcert valid $c"
done

# ---- 1. two honest members in sync ------------------------------------------------------
mkdir -p a/many b
for i in 1 2 3 4 5; do echo "top file $i" >"a/top$i.txt"; done
for i in $(seq 1 $((NFILES - 5))); do echo "small file $i" >"a/many/f$i"; done
"$SHOAL" --home n1 folder create "$T/a" --name shared --json >create.json 2>create.err
check "node 1 creates the folder, its invite given" json_ok create.json "j['invite'].startswith('shoal-folder:')"
INVITE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["invite"])' create.json 2>/dev/null)
FID=$("$SHOAL" --home n1 folder list --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["folders"][0]["id"])' 2>/dev/null)
check_match "... folder list --json gives its id" '^[a-z2-7]{26}$' "$FID"
check "node 2 joins with the invite" shoal --home n2 folder join "$INVITE" "$T/b"
check "the two are in sync: status in_sync on both, the same $NFILES files" wait_for 90 synced
check_eq "... node 1 has $NFILES entries and files" "$NFILES $NFILES" \
	"$(fget 1 "f['entries'] - 1") $(nfiles a)" # the directory many/ is an entry too
sum_a=$(tree_sum a)
members_a=$(members 1)
check_match "... node 1 lists two members" '^[a-z2-7]{16} [a-z2-7]{16}$' "$members_a"

# A batch deleting every file, signed by whoever it names, dominating what
# both members wrote (so that, taken and released, it deletes).
mapfile -t ALL < <(cd a && find . -path ./.shoal -prune -o -type f -printf '%P\n' | sort)
deleter() { # KEY CERT OUT
	"$FOLDERSIGN" "$1" "$2" "$FID" --delete --over "${node_id[1]}" --over "${node_id[2]}" \
		"${ALL[@]}" >"$3"
}

# ---- 2. a certified node without the invite ----------------------------------------------
check "foldersign signs the stranger's deletes of all ${#ALL[@]} files" deleter stranger.key stranger.crt stranger.hex
h_before=$(logged 1 "sent a hello without the folder's secret")
b_before=$(logged 1 "sent batches without the folder's secret")
check "a stranger's hello and batches with wrong proofs: link kept (Pong), no batches back in 2 s, only probes naming nothing" \
	"${HOSTILE[@]}" folder-stranger "$a1" "$CA" stranger.key stranger.crt "$FID" stranger.hex
cp "$T/.check" stranger.out
check "... node 1 logged the hello without the secret" _logged_more 1 "sent a hello without the folder's secret" "$h_before"
check "... and the batches without the secret" _logged_more 1 "sent batches without the folder's secret" "$b_before"
sleep 1 # what would have been ingested would be by now
check "... node 1's folder is in sync, nothing waiting or held" in_sync 1
check_eq "... its members are the same two" "$members_a" "$(members 1)"
check_eq "... its files are unchanged" "$sum_a" "$(tree_sum a)"
check "... and node 2 is still in sync with it" synced

# ---- 3. a member turned hostile ------------------------------------------------------------
check "control: a hello with the right proof gets node 1's batches, with its right proof" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m1.key m1.crt "$INVITE" hello

# (a) a batch whose signature is spoiled
"$FOLDERSIGN" m2.key m2.crt "$FID" --bad-sig top1.txt many/f1 >forged.hex
check "foldersign makes a batch with a spoiled signature" test -s forged.hex
r_before=$(logged 1 "refused a batch")
check "a batch with a bad signature: node 1 hangs up" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m2.key m2.crt "$INVITE" forged forged.hex
check_match "... with Error PROTOCOL or a plain close" 'closed' "$(cat "$T/.check")"
check "... node 1 logs that it refused a batch" wait_for 90 _logged_more 1 "refused a batch" "$r_before"
check_match "... because of the signature" 'refused a batch from .*bad signature' \
	"$(grep 'refused a batch' n1.log | tail -n 1)"
check "... node 1's folder is in sync" in_sync 1
check_eq "... its members are the same two" "$members_a" "$(members 1)"
check_eq "... its files are unchanged" "$sum_a" "$(tree_sum a)"
check "... and the same as node 2's" synced

# (b) sizes that do not add up to the payload
# (a batch that would be taken, and 16 bytes beyond what sizes say)
"$FOLDERSIGN" m3.key m3.crt "$FID" extra.txt >extra.hex
m_before=$(logged 1 "malformed frame")
check "FolderBatches whose sizes do not add up to the payload: node 1 hangs up" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m3.key m3.crt "$INVITE" badsizes extra.hex
check "... the frame refused as malformed" wait_for 90 _logged_more 1 "malformed frame" "$m_before"

# (c) a hello of 1025 haves (1024 is the most)
check "control: a hello of 1024 haves keeps the link (Pong)" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m4.key m4.crt "$INVITE" haves-1024
m_before=$(logged 1 "malformed frame")
check "a hello of 1025 haves: node 1 hangs up" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m4.key m4.crt "$INVITE" bighello
check "... the frame refused as malformed" wait_for 90 _logged_more 1 "malformed frame" "$m_before"
check "after all that, node 1's folder is in sync" in_sync 1
check_eq "... its members are the same two" "$members_a" "$(members 1)"
check_eq "... its files are unchanged" "$sum_a" "$(tree_sum a)"
check "... node 2 is in sync with it" synced
check "... and the two are still up" mesh_up 1 2

# (d) a correctly signed batch deleting every file
check "foldersign signs a member's deletes of all ${#ALL[@]} files" deleter m5.key m5.crt deletes.hex
check "a member's batch deleting every file is taken (Pong)" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m5.key m5.crt "$INVITE" send deletes.hex
held_all() { fjson 1 "f['held'] == $NFILES and not f['in_sync']"; }
check "... node 1 holds the $NFILES deletes (more than the breaker allows)" wait_for 90 held_all
check_eq "... status lists each as a held delete" "$NFILES" \
	"$(fget 1 "sum(1 for i in f['items'] if i['reason'] == 'held delete')")"
check_eq "... the member is now listed among three" 3 "$(fget 1 "len(f['members'])")"
sleep 2 # node 2 hears of the batch through node 1
check_eq "... no file went on node 1" "$sum_a" "$(tree_sum a)"
check_eq "... nor on node 2 (which has not heard of it yet)" "$sum_a" "$(tree_sum b)"
check "... node 1 says to run accept-deletes" \
	grep -q "incoming deletes held.*accept-deletes" n1.log
check "accept-deletes on node 1" shoal --home n1 folder accept-deletes "$T/a"
gone_on_a() { [ "$(nfiles a)" -eq 0 ]; }
check "... the files go on node 1" wait_for 90 gone_on_a
check "... nothing held any more on node 1" wait_for 90 fjson 1 "f['held'] == 0"
# Node 1's own deletes now reach node 2 with the member's batch: its
# breaker holds them in turn.
b_holds() { fjson 2 "f['held'] >= $NFILES and not f['in_sync']"; }
check "... node 2 hears of them and holds the deletes too" wait_for 90 b_holds
check_eq "... node 2 keeps every file" "$sum_a" "$(tree_sum b)"

# (e) a row whose version vector is full (64 counters, none of the two
# members'): concurrent with what each holds, it cannot be merged with it. It
# must stay waiting on its own, not stop every other path from applying.
"$FOLDERSIGN" m6.key m6.crt "$FID" --counters 64 top2.txt >full.hex
check "foldersign signs a row of top2.txt with 64 counters" test -s full.hex
check "a member's row with a full version vector is taken (Pong)" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m6.key m6.crt "$INVITE" send full.hex
top2_waits() {
	fjson 1 "any(i['path'] == 'top2.txt' and i['reason'] == 'waiting' and 'too long' in i['detail'] for i in f['items'])"
}
check "... node 1 lists top2.txt as waiting: vectors too long to merge" wait_for 90 top2_waits
echo "made on node 2 after the full row" >b/later-b.txt
has_later() { [ -f a/later-b.txt ] && cmp -s a/later-b.txt b/later-b.txt; }
check "... and still applies what comes after it (a file made on node 2)" wait_for 90 has_later

# (f) a directory whose row has 64 counters, none of node 1's: node 1 makes
# it, and when it is removed there, node 1 cannot add its counter to the
# tombstone. That change is not recorded, but the others still are, deletes
# made in the same scan included.
"$FOLDERSIGN" m7.key m7.crt "$FID" --dir --counters 64 evil >fulldir.hex
check "foldersign signs a directory row with 64 counters" test -s fulldir.hex
check "a member's directory with a full version vector is taken (Pong)" \
	"${HOSTILE[@]}" folder-member "$a1" "$CA" m7.key m7.crt "$INVITE" send fulldir.hex
# (Removed only once node 1 has recorded it: removed before, it never was
# there as far as node 1's index knows, and the apply makes it again.)
evil_recorded() { test -d a/evil && fjson 1 "not any(i['path'] == 'evil' for i in f['items'])"; }
check "... node 1 makes the directory and records it" wait_for 90 evil_recorded
rmdir a/evil
rm a/later-b.txt
echo "made on node 1 after removing evil" >a/later-a.txt
echo "made on node 2 after node 1 removed evil" >b/later-b2.txt
has_later_a() { [ -f b/later-a.txt ] && cmp -s a/later-a.txt b/later-a.txt; }
has_later_b2() { [ -f a/later-b2.txt ] && cmp -s a/later-b2.txt b/later-b2.txt; }
check "... node 1's scans still record the rest (a file made there reaches node 2)" \
	wait_for 90 has_later_a
check "... and node 1 still applies what comes in (a file made on node 2)" wait_for 90 has_later_b2
check "... and its other deletes (a file removed there goes on node 2)" \
	wait_for 90 test ! -e b/later-b.txt
check "... node 1 logs the change it could not record" grep -q "changes not recorded" n1.log

# (g) a member's batch saying more follow, then nothing: node 1's passes wait
# for the rest (a rename's two halves are applied together), but 5 s at most
# (FOLDER_SETTLE_MAX): a member cannot hold them.
"$FOLDERSIGN" m8.key m8.crt "$FID" --dir stalled >stall.hex
check "foldersign signs a directory row" test -s stall.hex
t0=$(now_ms)
"${HOSTILE[@]}" folder-member "$a1" "$CA" m8.key m8.crt "$INVITE" stall stall.hex >stall.out 2>&1 &
stall_pid=$!
_track "$stall_pid"
check "a member's batch saying more follow, then none: node 1 makes the directory within 15 s" \
	wait_for 15 test -d a/stalled
took=$(($(now_ms) - t0))
check "... not before it stopped waiting for the rest ($took ms >= 4000)" test "$took" -ge 4000
wait "$stall_pid"
check_eq "... the member stayed connected meanwhile ($(cat stall.out))" 0 $?

# ---- the end ----------------------------------------------------------------------------
check "node 1 never crashed" _alive "$pid1"
check "... answers folder status" shoal --home n1 folder status
check "... and is up with node 2" wait_for 90 mesh_up 1 2
stop_nodes 1 2
check_no_sanitizer "no daemon log has a sanitizer report" n1.log n2.log
done_testing
