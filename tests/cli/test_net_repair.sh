#!/usr/bin/env bash
# Keeping copies across a network of real daemons: holders SIGKILLed for good
# (the uploader too) and every chunk back to three live copies within the grace
# period plus a bounded repair time; a flipped byte found by `verify`, fixed by
# `verify --repair`, another found by the scrub alone, and a corrupt copy never
# served; a corrupt copy that repair would pick first never spread; a holder
# frozen (SIGSTOP) shorter than the grace period causing no repair, and one
# frozen longer causing a repair whose surplus is let go once it is back; a chunk
# corrupt on every holder reported unrecoverable and served by no node.
# Copies are counted on disk, in the homes of the running daemons.
# shellcheck disable=SC2317,SC2046 # helpers are called through check and wait_for; homes are words
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
GRACE=3 # seconds a member may be down before its copies stop counting
# Fast failure detection, a short grace period, a scan every second; no scrub
# unless a node asks for one (a later --set wins); no name table uploads
# (recovery_delay=0), so that the copies counted are the test's files'.
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set "grace_period=$GRACE"
	--set repair_interval=1 --set scrub_rate=0 --set recovery_delay=0)
SCRUB=(--set scrub_rate=64)
TESTCERT=$(tool testcert)

live=() # the nodes whose daemons run (numbers)

# drop N: node N no longer counts as live.
drop() {
	local i keep=()
	for i in "${live[@]}"; do [ "$i" == "$1" ] || keep+=("$i"); done
	live=("${keep[@]}")
}
sha() { sha256sum <"$1" | cut -c1-64; }
# spoil HOME HEX: flips a byte in the middle of HOME's copy of chunk HEX.
spoil() {
	local f
	f=$(obj "$1" "$2")
	flip_byte "$f" $(($(stat -c %s "$f") / 2))
}
# holders HEX N...: the listed nodes that have a file for chunk HEX.
holders() {
	local h=$1 i
	shift
	for i; do [ -e "$(obj "n$i" "$h")" ] && printf '%s ' "$i"; done
}
# census IDS_FILE HOME...: "files/good" for each chunk (for diagnostics).
census() {
	local ids=$1 h
	shift
	while read -r h; do
		printf '%s:%s/%s ' "${h:0:8}" "$(copies "$h" "$@")" "$(good_copies "$h" "$@")"
	done <"$ids"
}
# under3 IDS_FILE HOME...: the chunks with fewer than 3 good copies, as census shows them.
under3() { census "$@" | tr ' ' '\n' | grep -E ':[0-9]+/[0-2]$' | head -n 8 | tr '\n' ' '; }
# not3 IDS_FILE HOME...: the chunks without exactly 3 files, all good.
not3() { census "$@" | tr ' ' '\n' | grep -vE '^$|:3/3$' | head -n 8 | tr '\n' ' '; }
# surplus IDS_FILE HOME...: how many chunks have more than 3 files.
surplus() { census "$@" | tr ' ' '\n' | grep -cE ':([4-9]|[1-9][0-9])/'; }
# bad_copies IDS_FILE HOME...: each "HOME:HEX" whose object file does not hash to HEX
# (objects/bad/, where damaged copies are put aside, is not looked at).
bad_copies() {
	local ids=$1 h home f
	shift
	while read -r h; do
		for home; do
			f=$(obj "$home" "$h")
			[ -f "$f" ] && [ "$(sha "$f")" != "$h" ] && printf '%s:%s ' "$home" "${h:0:16}"
		done
	done <"$ids"
}
# lead HEX N...: the node rendezvous hashing ranks first for chunk HEX among nodes
# N (SHA-256 of the node id's 32 bytes then the chunk id's; the first 8 bytes,
# big-endian, highest wins): the holder that repair reads from.
lead() {
	local h=$1 i args=()
	shift
	for i; do args+=("$i=${node_id[$i]}"); done
	python3 -c '
import base64, hashlib, sys
chunk, best = bytes.fromhex(sys.argv[1]), None
for a in sys.argv[2:]:
    n, b32 = a.split("=")
    raw = base64.b32decode(b32.upper() + "=" * (-len(b32) % 8))
    score = int.from_bytes(hashlib.sha256(raw + chunk).digest()[:8], "big")
    if best is None or score > best[0] or (score == best[0] and raw < best[1]):
        best = (score, raw, n)
print(best[2])' "$h" "${args[@]}"
}
# health N FIELD: a counter of the health object of `status --json` on node N (-1: none).
health() {
	"$SHOAL" --home "n$1" status --json 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["health"][sys.argv[1]])' "$2" 2>/dev/null ||
		echo -1
}
# health_sum FIELD N...: the sum over nodes N.
health_sum() {
	local f=$1 i v s=0
	shift
	for i; do
		v=$(health "$i" "$f")
		[[ $v =~ ^[0-9]+$ ]] && s=$((s + v))
	done
	echo "$s"
}
# Repair logs one info line per pass that did something (per-chunk lines are at
# debug level): "repair: scan of N chunks: K under-replicated, C copies made
# (B MiB) to P members, S surplus released, U could not be copied".
# summed FIELD: the sum of FIELD ("copies made", "surplus released") over every
# such line in every log.
summed() {
	cat n?.log | sed -nE "s/^.* info: repair: scan of .* ([0-9]+) $1[ ,(].*$/\1/p" |
		awk '{s += $1} END {print s + 0}'
}
# copied_lines: how many copies repair says it made, in every log.
copied_lines() { summed "copies made"; }
# released_lines: how many surplus copies repair says it let go, in every log.
released_lines() { summed "surplus released"; }
# getchunk N HEX WANT: a member asks node N for chunk HEX; ok when it answers
# WANT: not_found (Error NOT_FOUND) or chunk (bytes hashing to the id).
getchunk() {
	"${HOSTILE[@]}" getchunk-expect "${node_addr[$1]}" "$CA" h.key h.crt "$2" "$3"
}
elapsed() { echo $(($(now_ms) - $1)); } # T0_MS: ms since

make_nodes 1 2 3 4 5 6 7 8 9
CA=n1/ca.crt
check "testcert is built ($TESTCERT)" test -x "$TESTCERT"
"$TESTCERT" valid network h.key h.crt || fail "testcert h"

# ---- 1. five nodes, R = 3, two holders SIGKILLed for good ---------------------------------
start_node 1
for i in 2 3 4 5; do start_node "$i" 1; done
live=(1 2 3 4 5)
check "five daemons form a full mesh" wait_for 20 mesh_up 1 2 3 4 5
gen_data big1 $((20 * MiB)) repair-one
cap1=$(shoal --home n1 put big1 --replicas 3 2>put1.err)
check_eq "put --replicas 3 of 20 MiB on node 1 exits 0" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$cap1"
locate_chunks n1 "$cap1" loc1
check_eq "locate on node 1 exits 0" 0 $?
check "... lists at least 6 chunks ($(wc -l <loc1.ids))" test "$(wc -l <loc1.ids)" -ge 6
check "every chunk has 3 good copies among the five homes" each_chunk_has -ge 3 loc1.ids $(homes 1 2 3 4 5)
# The victims: the two of nodes 2-5 holding the most chunks (not the uploader).
mapfile -t victims < <(by_missing loc1.ids 2 3 4 5 | tail -n 2)
va=${victims[1]} vb=${victims[0]}
both=0
while read -r h; do
	[ -e "$(obj "n$va" "$h")" ] && [ -e "$(obj "n$vb" "$h")" ] && both=$((both + 1))
done <loc1.ids
echo "# victims: nodes $va and $vb; $both chunks are on both"
nloc1=$(wc -l <loc1.ids)
held_a=$((nloc1 - $(missing_in "n$va" loc1.ids))) held_b=$((nloc1 - $(missing_in "n$vb" loc1.ids)))
check "nodes $va and $vb (not the uploader) hold chunks: $held_a and $held_b" \
	test "$held_a" -ge 1 -a "$held_b" -ge 1
copied0=$(copied_lines)
kill_daemon "n$va"
kill_daemon "n$vb"
t0=$(now_ms)
drop "$va"
drop "$vb"
wait_for $((GRACE + 20)) each_chunk_has -ge 3 loc1.ids $(homes "${live[@]}")
rc=$? heal=$(elapsed "$t0")
check_eq "holders $va and $vb SIGKILLed: every chunk has 3 good copies on the live nodes (${live[*]}) within $((GRACE + 20)) s" \
	"0 " "$rc $(under3 loc1.ids $(homes "${live[@]}"))"
echo "# heal time (two holders killed, grace ${GRACE} s): $heal ms"
check "... not before the grace period ($heal ms >= ${GRACE}000)" test "$heal" -ge $((GRACE * 1000))
check "... repair summed up its passes ('K under-replicated, C copies made')" \
	grep -qE 'info: repair: scan of [0-9]+ chunks: [1-9][0-9]* under-replicated, [1-9][0-9]* copies made \([0-9.]+ MiB\) to [1-9][0-9]* members?, ' $(for i in "${live[@]}"; do echo "n$i.log"; done)
check "... and the copies made ('C copies made')" test "$(copied_lines)" -gt "$copied0"
check_eq "... with no per-chunk line at info level" "" \
	"$(cat n?.log | grep -E ' info: repair: chunk ' | head -n 3)"
rep=$(health_sum repaired "${live[@]}")
check "status --json health.repaired > 0 on the live nodes ($rep)" test "$rep" -gt 0
lost=$("$SHOAL" --home n1 status --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["peers_lost"])' 2>&1)
check_eq "status --json on node 1: 2 peers lost" 2 "$lost"
st=$("$SHOAL" --home n1 status 2>&1)
check_match "status prints the health line" $'(^|\n)health  [0-9]+ files? \\([0-9]+ chunks?\\) under-replicated, [0-9]+ being repaired, [0-9]+ copies made; [0-9]+ corrupt found, [0-9]+ fixed, [0-9]+ unrecoverable; [0-9]+ scrubbed(\n|$)' "$st"
gnode=${live[2]}
shoal --home "n$gnode" get "$cap1" -o got1 2>get1.err
check_eq "get on node $gnode exits 0" 0 $?
check "... and the 20 MiB come back identical" cmp -s big1 got1
rm -f got1

# ---- 1b. the uploader and another holder SIGKILLed ----------------------------------------
start_node 6 1
start_node 7 1
live+=(6 7)
check "nodes 6 and 7 join: five live nodes (${live[*]})" wait_for 20 mesh_up "${live[@]}"
gen_data big2 $((20 * MiB)) repair-two
cap2=$(shoal --home n6 put big2 --replicas 3 2>put2.err)
check_eq "put --replicas 3 of 20 MiB on node 6 exits 0" 0 $?
locate_chunks n6 "$cap2" loc2
check_eq "locate on node 6 exits 0" 0 $?
check "every chunk has 3 good copies among the live homes" each_chunk_has -ge 3 loc2.ids $(homes "${live[@]}")
# The other victim: the live node (not 6) holding the most chunks of big2.
vc=$(by_missing loc2.ids $(printf '%s\n' "${live[@]}" | grep -vx 6) | tail -n 1)
echo "# victims: node 6 (the uploader) and node $vc"
kill_daemon n6
kill_daemon "n$vc"
t0=$(now_ms)
drop 6
drop "$vc"
cat loc1.ids loc2.ids >loc12.ids
wait_for $((GRACE + 20)) each_chunk_has -ge 3 loc12.ids $(homes "${live[@]}")
rc=$? heal2=$(elapsed "$t0")
check_eq "uploader 6 and holder $vc SIGKILLed: every chunk of both files has 3 good copies on the live nodes (${live[*]}) within $((GRACE + 20)) s" \
	"0 " "$rc $(under3 loc12.ids $(homes "${live[@]}"))"
echo "# heal time (uploader and a holder killed): $heal2 ms"
check "... not before the grace period ($heal2 ms >= ${GRACE}000)" test "$heal2" -ge $((GRACE * 1000))
gnode=${live[0]}
shoal --home "n$gnode" get "$cap2" -o got2 2>get2.err
check_eq "get of the uploader's file on node $gnode exits 0" 0 $?
check "... and the 20 MiB come back identical" cmp -s big2 got2
rm -f got2 big2

# ---- 2. a flipped byte: verify, verify --repair, the scrub; never served -------------------
start_node 8 "${live[0]}"
start_node 9 "${live[0]}" "${SCRUB[@]}" # the only node that scrubs
live+=(8 9)
check "nodes 8 and 9 join: five live nodes (${live[*]})" wait_for 20 mesh_up "${live[@]}"
gen_data f3 $((8 * MiB)) repair-three
cap3=$(shoal --home n8 put f3 --replicas 3 2>/dev/null)
check_match "put --replicas 3 of 8 MiB on node 8 (no scrub there)" "$CAP_RE" "$cap3"
locate_chunks n8 "$cap3" loc3
check "... every chunk has 3 good copies" each_chunk_has -ge 3 loc3.ids $(homes "${live[@]}")
c3=$(sed -n 2p loc3.ids) other3=$(sed -n 3p loc3.ids)
spoil n8 "$c3"
check "one byte of chunk ${c3:0:16} flipped on node 8" test "$(sha "$(obj n8 "$c3")")" != "$c3"
shoal --home n8 verify >ver.out 2>ver.err
check_failed "verify on node 8 fails" $?
check "... naming the chunk ('shoal: chunk sha256:... is corrupt')" grep -qx "shoal: chunk sha256:$c3 is corrupt" ver.err
check_match "... and sums up: 1 corrupt" '^verified [0-9]+ chunks \([^)]*\): 1 corrupt, 0 missing$' "$(cat ver.out)"
check "a member asking node 8 for the corrupt chunk gets Error NOT_FOUND" getchunk 8 "$c3" not_found
check "... and for another chunk of the file, the chunk (hash checked)" getchunk 8 "$other3" chunk
check "... twice: the corrupt one still NOT_FOUND" getchunk 8 "$c3" not_found
# A real peer lacking the chunk gets the file while node 8's copy is corrupt.
getter=
for i in "${live[@]}"; do
	[ -e "$(obj "n$i" "$c3")" ] || { getter=$i; break; }
done
shoal --home "n${getter:-1}" get "$cap3" -o got3 2>get3.err
check_eq "get on node $getter (lacks the chunk) while node 8's copy is corrupt exits 0" 0 $?
check "... and the file comes back identical" cmp -s f3 got3
check_eq "... node $getter never received bytes not matching the chunk" "" \
	"$(grep "do not match chunk ${c3:0:16}" "n${getter:-1}.log")"
check "... node 8's copy is still the corrupt one (no scrub there)" test "$(sha "$(obj n8 "$c3")")" != "$c3"
shoal --home n8 verify --repair >rep.out 2>rep.err
check_eq "verify --repair on node 8 exits 0" 0 $?
check_match "... and says: 1 corrupt, 0 missing; 1 repaired, 0 unrecoverable" \
	'^verified [0-9]+ chunks \([^)]*\): 1 corrupt, 0 missing; 1 repaired, 0 unrecoverable$' "$(cat rep.out)"
check "... node 8's copy hashes to its id again" good_copy n8 "$c3"
check "... the damaged copy is put aside in objects/bad/" test -f "n8/objects/bad/$c3"
shoal --home n8 verify >ver2.out 2>ver2.err
check_eq "verify on node 8 now exits 0" 0 $?
check_match "... 0 corrupt, 0 missing" '^verified [0-9]+ chunks \([^)]*\): 0 corrupt, 0 missing$' "$(cat ver2.out)"
check "node 8 serves the repaired chunk" getchunk 8 "$c3" chunk
check_eq "status on node 8: corrupt_found 1, corrupt_fixed 1" "1 1" \
	"$(health 8 corrupt_found) $(health 8 corrupt_fixed)"
check_eq "... and nothing scrubbed (scrub_rate=0)" 0 "$(health 8 scrubbed)"
rm -f got3
# The scrub alone, on node 9.
gen_data f4 $((6 * MiB)) repair-four
cap4=$(shoal --home n9 put f4 --replicas 3 2>/dev/null)
check_match "put --replicas 3 of 6 MiB on node 9 (scrub_rate=64)" "$CAP_RE" "$cap4"
locate_chunks n9 "$cap4" loc4
c4=$(sed -n 2p loc4.ids)
found0=$(health 9 corrupt_found) fixed0=$(health 9 corrupt_fixed)
scrubbing() { [ "$(health 9 scrubbed)" -gt 0 ]; }
check "node 9 is scrubbing (scrubbed > 0)" wait_for 5 scrubbing
spoil n9 "$c4"
t0=$(now_ms)
scrubbed() { good_copy n9 "$c4" && [ -f "n9/objects/bad/$c4" ]; }
check "a byte of chunk ${c4:0:16} flipped on node 9: the scrub replaces it within 10 s" wait_for 10 scrubbed
echo "# scrub replaced the chunk after $(elapsed "$t0") ms"
check "... logging 'is corrupt; replacing it from another node'" \
	grep -q "scrub: chunk ${c4:0:16} is corrupt; replacing it from another node" n9.log
check "... and 'replaced by a verified copy'" grep -q "scrub: chunk ${c4:0:16} replaced by a verified copy" n9.log
counted() { [ "$(health 9 corrupt_found) $(health 9 corrupt_fixed)" == "$((found0 + 1)) $((fixed0 + 1))" ]; }
check "... status: corrupt_found and corrupt_fixed grew by 1 (from $found0 and $fixed0)" wait_for 3 counted
shoal --home n9 verify >/dev/null 2>ver9.err
check_eq "verify on node 9 exits 0" 0 $?

# ---- 3. the copy repair would read first is corrupt ------------------------------------------
gen_data f5 $((10 * MiB)) repair-five
cap5=$(shoal --home "n${live[0]}" put f5 --replicas 3 2>/dev/null)
check_match "put --replicas 3 of 10 MiB on node ${live[0]}" "$CAP_RE" "$cap5"
locate_chunks "n${live[0]}" "$cap5" loc5
check "... every chunk has 3 good copies" each_chunk_has -ge 3 loc5.ids $(homes "${live[@]}")
# The victim K and the chunks to spoil: for each chunk K holds, the remaining
# holders' lead (the one repair reads from) must not scrub (node 9) or the scrub
# would mend it first. K: the node (not 9) with the most such chunks.
best=0 victim=
for k in "${live[@]}"; do
	[ "$k" == 9 ] && continue
	n=0
	while read -r h; do
		hs=$(holders "$h" "${live[@]}")
		[[ " $hs" == *" $k "* ]] || continue
		# shellcheck disable=SC2086
		l=$(lead "$h" ${hs//$k /})
		[ "$l" != 9 ] && n=$((n + 1))
	done <loc5.ids
	[ "$n" -gt "$best" ] && { best=$n victim=$k; }
done
check "some chunk has a holder whose loss leaves a lead that does not scrub ($best, victim ${victim:-none})" \
	test "$best" -ge 1
: >spoiled
declare -A before5
while read -r h; do
	hs=$(holders "$h" "${live[@]}")
	before5[$h]=$hs
	[[ " $hs" == *" $victim "* ]] || continue
	# shellcheck disable=SC2086
	l=$(lead "$h" ${hs//$victim /})
	[ "$l" == 9 ] && continue
	spoil "n$l" "$h"
	echo "$h $l" >>spoiled
done <loc5.ids
cut -d' ' -f1 spoiled >spoiled.ids
echo "# node $victim killed; spoiled the lead's copy of $(wc -l <spoiled) chunks: $(awk '{printf "%s on %s, ", substr($1, 1, 8), $2}' spoiled)"
copied0=$(copied_lines)
declare -A lines0
for i in "${live[@]}"; do lines0[$i]=$(wc -l <"n$i.log"); done
kill_daemon "n$victim"
t0=$(now_ms)
drop "$victim"
wait_for $((GRACE + 15)) each_chunk_has -ge 3 loc5.ids $(homes "${live[@]}")
rc=$? heal3=$(elapsed "$t0")
echo "# waited $heal3 ms (copies made: $(($(copied_lines) - copied0)))"
spread=()
while read -r h l; do
	for i in "${live[@]}"; do
		[[ " ${before5[$h]}" == *" $i "* ]] && continue
		f=$(obj "n$i" "$h")
		[ -e "$f" ] && ! good_copy "n$i" "$h" && spread+=("${h:0:16} copied to node $i")
	done
done <spoiled
check_eq "the corruption never spread: no node that took a copy holds bad bytes" "" "${spread[*]}"
idle=$(for i in "${live[@]}"; do
	tail -n +$((lines0[$i] + 1)) "n$i.log" |
		grep -E ' info: repair: scan of .* 0 copies made .* 0 surplus released, 0 could not be copied$' |
		sed "s/^/node $i: /"
done | head -n 3)
check_eq "... no pass that did nothing is logged at info level" "" "$idle"
warned=$(for i in "${live[@]}"; do
	tail -n +$((lines0[$i] + 1)) "n$i.log" |
		grep -oE 'warn: repair: chunk [0-9a-f]{16} is damaged here' |
		sort | uniq -c | awk -v n="$i" '$1 > 1 {print "node " n ", " $1 " times: " substr($0, index($0, "repair:"))}'
done | head -n 3)
check_eq "... each damaged copy warned of once, not at every scan" "" "$warned"
check_eq "... nor any other chunk of the file" "" "$(bad_copies loc5.ids $(homes "${live[@]}") | tr ' ' '\n' | grep -vFf <(cut -c1-16 spoiled.ids) | tr '\n' ' ')"
check_eq "every chunk is back to 3 good live copies within $((GRACE + 15)) s" "0 " \
	"$rc $(under3 loc5.ids $(homes "${live[@]}"))"
check_eq "... and no live home keeps a corrupt copy (outside objects/bad)" "" \
	"$(bad_copies loc5.ids $(homes "${live[@]}"))"
if [ "$rc" -ne 0 ] || [ -n "$(bad_copies loc5.ids $(homes "${live[@]}"))" ]; then
	# Leave the next sections a sound network: mend the spoiled copies by hand.
	cut -d' ' -f2 spoiled | sort -u | while read -r l; do
		"$SHOAL" --home "n$l" verify --repair >/dev/null 2>&1
	done
	# shellcheck disable=SC2046
	wait_for 15 each_chunk_has -ge 3 loc5.ids $(homes "${live[@]}") ||
		echo "# after verify --repair on the leads: $(census loc5.ids $(homes "${live[@]}"))"
fi

# ---- 4. a holder frozen (SIGSTOP) shorter, then longer, than the grace period ----------------
S=8
[[ " ${live[*]} " == *" 8 "* ]] || S=${live[0]}
others=()
for i in "${live[@]}"; do [ "$i" == "$S" ] || others+=("$i"); done
gen_data f6 $((6 * MiB)) repair-six
cap6=$(shoal --home "n$S" put f6 --replicas 3 2>/dev/null)
check_match "put --replicas 3 of 6 MiB on node $S (live: ${live[*]})" "$CAP_RE" "$cap6"
locate_chunks "n$S" "$cap6" loc6
check "... every chunk has exactly 3 copies on the live homes, all good" each_chunk_has -eq 3 loc6.ids $(homes "${live[@]}")
# 4a. Frozen past peer_timeout (2 s), resumed well within the grace period.
copied0=$(copied_lines)
released0=$(released_lines)
pidS=${daemon_pid[n$S]}
kill -STOP "$pidS"
t0=$(now_ms)
seen_down() { local i; for i in "${others[@]}"; do [ "$(peer_state "n$i" "${node_id[$S]}")" == down ] && return 0; done; return 1; }
check "node $S frozen: another node marks it down" wait_for 6 seen_down
down_ms=$(elapsed "$t0")
while [ "$(elapsed "$t0")" -lt 2500 ]; do sleep 0.05; done
sleep 0.2
kill -CONT "$pidS"
stopped=$(elapsed "$t0")
t1=$(now_ms)
check "... resumed after $stopped ms (> peer_timeout 2 s): up again on every node within 10 s" \
	wait_for 10 mesh_up "${live[@]}"
echo "# 4a: seen down after $down_ms ms, stopped $stopped ms, back up $(elapsed "$t1") ms after SIGCONT"
# Long enough for any repair a premature decision would cause (grace + scans).
while [ "$(elapsed "$t0")" -lt $(((GRACE + 5) * 1000)) ]; do sleep 0.1; done
check_eq "... no repair copied anything" "$copied0" "$(copied_lines)"
check "... every chunk still has exactly 3 copies, all good" each_chunk_has -eq 3 loc6.ids $(homes "${live[@]}")
check_eq "... and no copy was let go" "$released0" "$(released_lines)"
# 4b. Frozen longer than the grace period: its chunks are repaired elsewhere.
kill -STOP "$pidS"
t0=$(now_ms)
check "node $S frozen again: every other node marks it down" wait_for 8 all_see down "${node_id[$S]}" "${others[@]}"
wait_for $((GRACE + 20)) each_chunk_has -ge 3 loc6.ids $(homes "${others[@]}")
rc=$? heal4=$(elapsed "$t0")
check_eq "... every chunk gets 3 good copies on the others (${others[*]}) within $((GRACE + 20)) s" "0 " \
	"$rc $(under3 loc6.ids $(homes "${others[@]}"))"
echo "# heal time (a holder frozen): $heal4 ms"
check "... not before the grace period ($heal4 ms >= ${GRACE}000)" test "$heal4" -ge $((GRACE * 1000))
check "... by repair ('C copies made' lines)" test "$(copied_lines)" -gt "$copied0"
# What node S held of the earlier files was repaired too; the same surplus follows.
cat loc1.ids loc2.ids loc3.ids loc4.ids loc5.ids loc6.ids >all.ids
check_eq "... so was every chunk of the earlier files" "" \
	"$(wait_for 10 each_chunk_has -ge 3 all.ids $(homes "${others[@]}") || under3 all.ids $(homes "${others[@]}"))"
kill -CONT "$pidS"
t1=$(now_ms)
check "node $S resumed: up again on every node within 15 s" wait_for 15 mesh_up "${live[@]}"
# Watch the copies on disk: f6 must settle to exactly 3 per chunk, and no chunk
# of any file may drop below 3 on the way (a copy let go twice); then 5 s more.
fewest=99 settled='' low=''
while [ "$(elapsed "$t1")" -lt 25000 ]; do
	read -r lo _ at <<<"$(copy_range copies all.ids $(homes "${live[@]}"))"
	[ "$lo" -lt "$fewest" ] && fewest=$lo low="chunk $at at $(elapsed "$t1") ms"
	[ -z "$settled" ] && [[ "$(copy_range copies loc6.ids $(homes "${live[@]}"))" == "3 3 "* ]] && settled=$(elapsed "$t1")
	[ -n "$settled" ] && [ "$(elapsed "$t1")" -ge $((settled + 5000)) ] && break
	sleep 0.1
done
echo "# f6 settled ${settled:-never} ms after SIGCONT; fewest copies of any chunk seen: $fewest ($low)"
echo "# surplus left: f6 $(surplus loc6.ids $(homes "${live[@]}")), all files $(surplus all.ids $(homes "${live[@]}")) chunks at more than 3 copies"
check "... the surplus copies of f6 are let go: 3 per chunk within 20 s (${settled:-never} ms)" \
	test "${settled:-99999}" -le 20000
check "... logged (the copy on the holder ranked last let go: 'S surplus released')" \
	test "$(released_lines)" -gt "$released0"
check "... and no chunk of any file fell below 3 live copies meanwhile (fewest: $fewest, $low)" test "$fewest" -ge 3
check_eq "... 5 s later f6 still has exactly 3 good copies of each chunk" "" "$(not3 loc6.ids $(homes "${live[@]}"))"
check_eq "... and so has every chunk of every earlier file: no duplicate left, none lost" "" \
	"$(not3 all.ids $(homes "${live[@]}"))"
shoal --home "n${others[0]}" get "$cap6" -o got6 2>/dev/null
check "... node ${others[0]} gets f6, identical" cmp -s f6 got6

# ---- 3b. every copy of a chunk corrupt ----------------------------------------------------
# A data chunk with 3 holders, none of them node 9, and a live node without
# it. Node 9 scrubs: its scrub would find its own flipped copy, ask the other
# holders for a good one, and they, finding theirs corrupt too, would set theirs
# aside before the verify below looks. Looked for in f5, then in the other
# files: with about ten chunks a file and node 9 holding a chunk three times
# in five, one file may have none.
cb='' getter='' verifier='' fb=''
for n in 5 6 3 1 2; do
	capn=cap$n
	manifest=$(python3 -c 'import base64, sys; b = sys.argv[1].split(":")[1].upper(); print(base64.b32decode(b + "=" * (-len(b) % 8)).hex())' "${!capn}")
	while read -r h; do
		[ "$h" == "$manifest" ] && continue
		read -ra hs <<<"$(holders "$h" "${live[@]}")"
		[ "${#hs[@]}" -eq 3 ] && [[ " ${hs[*]} " != *" 9 "* ]] || continue
		verifier=${hs[0]}
		for i in "${live[@]}"; do [ -e "$(obj "n$i" "$h")" ] || getter=$i; done
		[ -n "$getter" ] && { cb=$h fb=$n; break; }
	done <"loc$n.ids"
	[ -n "$cb" ] && break
done
check "a chunk on 3 live homes, not node 9's, and not on another (${cb:0:16} of f${fb:-?}, getter ${getter:-none})" test -n "$cb"
for i in $(holders "$cb" "${live[@]}"); do
	spoil "n$i" "$cb"
done
check_eq "every copy of it flipped" 0 "$(good_copies "$cb" $(homes "${live[@]}"))"
shoal --home "n$verifier" verify --repair >vr.out 2>vr.err
check_failed "verify --repair on node $verifier fails" $?
check_match "... and reports it unrecoverable" \
	'^verified [0-9]+ chunks \([^)]*\): 1 corrupt, 0 missing; 0 repaired, 1 unrecoverable$' "$(cat vr.out)"
check "... naming it" grep -q "shoal: chunk sha256:$cb is corrupt" vr.err
check "... status counts it unrecoverable" test "$(health "$verifier" unrecoverable)" -ge 1
capb=cap${fb:-5}
shoal --home "n$getter" get "${!capb}" -o got5 >get5.out 2>get5.err
check_failed "get of the file on node $getter fails" $?
check_err1 "... with one 'shoal: ' line naming the chunk" get5.err "${cb:0:16}"
check "... and writes no output" test ! -e got5
check_eq "... nor stores bad bytes for it" "" "$(bad_copies <(echo "$cb") "n$getter")"
for i in "${live[@]}"; do
	check "node $i does not serve it (Error NOT_FOUND)" getchunk "$i" "$cb" not_found
done
check_eq "no live home holds a good copy of it" 0 "$(good_copies "$cb" $(homes "${live[@]}"))"

stop_nodes "${live[@]}"
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
