#!/usr/bin/env bash
# Files across a network of real daemons: a put replicated on R homes surviving
# the SIGKILL of its uploader; a holder dying in the middle of a get; a file
# sent to a node that then reads it alone; the catalog (publish, list, get by
# name, a late joiner catching up); a tree of 1,000 small files; rm releasing
# the chunks on the holders; a member that serves wrong bytes; hostile storage
# requests (wrong bytes, oversized frames, forged catalog entries).
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
# Fast failure detection on every node: down within ~peer_timeout + a tick.
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5)
TESTCERT=$(tool testcert)
CATSIGN=$(tool catsign)
MKBADTREE=$(tool mkbadtree)
HOMES=(n1 n2 n3 n4 n5 n6)

declare -A home_of
lists_name() { # HOME NAME CAP: `ls --network` on HOME has NAME with capability CAP
	"$SHOAL" --home "$1" ls --network 2>/dev/null | awk -F'\t' -v n="$2" -v c="$3" '$1 == n && $3 == c {f = 1} END {exit !f}'
}
status_ok() { "$SHOAL" --home "$1" status >/dev/null 2>&1; }

check "testcert is built ($TESTCERT)" test -x "$TESTCERT"
make_nodes 1 2 3 4 5 6
for i in 1 2 3 4 5 6; do home_of[${node_id[$i]}]=n$i; done
# Node 5 shares node 2's convergence secret: the same file put on both is the
# same chunks, which both then need (section 6).
cp n2/secret n5/secret
CA=n1/ca.crt

# ---- 1. four nodes, R = 3, the uploader SIGKILLed ------------------------------------------
start_node 1
for i in 2 3 4; do start_node "$i" 1; done
check "four daemons form a full mesh" wait_for 15 mesh_up 1 2 3 4
gen_data big1 $((20 * MiB)) dist-one
cap1=$(shoal --home n1 put big1 --replicas 3 2>put1.err)
check_eq "put --replicas 3 of 20 MiB on node 1 exits 0" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$cap1"
check_eq "... with nothing on stderr (4 live nodes, R = 3)" "" "$(cat put1.err)"
locate_chunks n1 "$cap1" loc1
check_eq "locate on node 1 exits 0" 0 $?
nloc1=$(wc -l <loc1.ids)
check "... lists the file's chunks (at least 6 for 20 MiB: $nloc1)" test "$nloc1" -ge 6
bad=$(grep -cvE "^[0-9a-f]{64}	[0-9]+	$ID_RE(,$ID_RE)*	[a-z0-9._,-]+\$" loc1)
check_eq "... every line is: 64-hex id, stored bytes, holders, their nicknames" 0 "$bad"
check_eq "... each chunk once" "$nloc1" "$(sort -u loc1.ids | wc -l)"
read -r min _ _ <<<"$(copy_range good_copies loc1.ids n1 n2 n3 n4)"
check "every chunk is on at least 3 of the 4 homes, bytes hashing to its id (fewest: $min)" \
	test "$min" -ge 3
wrong=() sizes=()
while IFS=$'\t' read -r h size holders _; do
	IFS=, read -ra hs <<<"$holders"
	[ "${#hs[@]}" -ge 3 ] || wrong+=("$h: ${#hs[@]} holders listed")
	for x in "${hs[@]}"; do
		f=$(obj "${home_of[$x]:-nowhere}" "$h")
		[ -f "$f" ] || { wrong+=("$h: listed on ${x:0:16}, no file there"); continue; }
		[ "$(stat -c %s "$f")" == "$size" ] || sizes+=("$h on ${home_of[$x]}: $size bytes listed, $(stat -c %s "$f") on disk")
	done
done <loc1
check_eq "locate lists at least 3 holders per chunk, each holding it" "" "${wrong[*]:0:5}"
check_eq "... with the size of the stored object" "" "${sizes[*]:0:3}"
shoal --home n1 locate "$cap1" --json >loc1.json 2>/dev/null
check "locate --json lists the same chunks, each with 3 holders or more" json_ok loc1.json \
	'sorted(c["id"] for c in j) == sorted(open(a[0]).read().split()) and all(len(set(c["holders"])) >= 3 for c in j)' \
	loc1.ids
# The getter: whichever of nodes 2-4 holds the fewest chunks (it must fetch some).
getter=$(by_missing loc1.ids 2 3 4 | head -n 1)
least=$(missing_in "n$getter" loc1.ids)
check "node $getter lacks some chunks of the file ($least)" test "$least" -ge 1
kill_daemon n1
shoal --home "n$getter" get "$cap1" -o got1 2>get1.err
check_eq "uploader SIGKILLed: get on node $getter exits 0" 0 $?
check "... and the 20 MiB come back identical" cmp -s big1 got1
check_eq "... nothing on stderr" "" "$(head -c 500 get1.err)"

# ---- 2. a holder dies in the middle of a get ------------------------------------------------
gen_data big2 $((20 * MiB)) dist-two
cap2=$(shoal --home n2 put big2 --replicas 3 2>put2.err)
check_eq "put --replicas 3 of 20 MiB on node 2 (live: 2, 3, 4) exits 0" 0 $?
locate_chunks n2 "$cap2" loc2
check "... every chunk on nodes 2, 3 and 4" each_chunk_has -ge 3 loc2.ids n2 n3 n4
start_node 5 2
check "node 5 (fresh, holds nothing) joins 2, 3, 4" wait_for 15 mesh_up 2 3 4 5
check_eq "... holds none of the file" "$(wc -l <loc2.ids)" "$(missing_in n5 loc2.ids)"
kill -STOP "${daemon_pid[n3]}"
t0=$(now_ms)
timeout -s KILL 60 "$SHOAL" --home n5 get "$cap2" -o got2 2>get2.err &
get_pid=$!
sleep 1
check "the get waits on the frozen holder (still running after 1 s)" _alive "$get_pid"
kill_daemon n3
t1=$(now_ms)
wait "$get_pid"
check_eq "holder 3 SIGKILLed mid-get: the get on node 5 exits 0" 0 $?
echo "# get finished $(($(now_ms) - t1)) ms after the kill, $(($(now_ms) - t0)) ms in all"
check "... and the output is byte-identical" cmp -s big2 got2
check "... within 15 s of the kill" test $(($(now_ms) - t1)) -lt 15000

# ---- 4. the catalog ----------------------------------------------------------------------
# (Section 3, send, needs every other node stopped: it runs last.)
printf 'quarterly numbers\n%.0s' {1..500} >report.txt
capp=$(shoal --home n2 put report.txt --publish --name q3-report 2>putp.err)
check_eq "put --publish --name q3-report on node 2 exits 0" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$capp"
check "ls --network on node 4 lists it (name, size, capability)" \
	wait_for 10 lists_name n4 q3-report "$capp"
check_eq "... with its size and owner (node 2)" "$(stat -c %s report.txt) ${node_id[2]}" \
	"$("$SHOAL" --home n4 ls --network 2>/dev/null | awk -F'\t' '$1 == "q3-report" {print $2, $4}')"
shoal --home n4 ls --network --json >lsn.json 2>lsn.err
check_eq "ls --network --json on node 4 exits 0" 0 $?
check "... lists q3-report with its size, capability and owner" json_ok lsn.json \
	'any(e["name"] == "q3-report" and e["size"] == int(a[0]) and e["capability"] == a[1] and e["owner"] == a[2] for e in j)' \
	"$(stat -c %s report.txt)" "$capp" "${node_id[2]}"
check_eq "ls (local names) on node 4 does not list it" "" "$("$SHOAL" --home n4 ls 2>&1 | grep q3-report)"
shoal --home n4 get q3-report -o gotp 2>getp.err
check_eq "get q3-report by name on node 4 exits 0" 0 $?
check "... and the file comes back identical" cmp -s report.txt gotp
start_node 6 4
check "node 6 starts after the publication (fresh home, bootstrapped from node 4)" \
	wait_for 15 mesh_up 2 4 5 6
t0=$(now_ms)
check "... lists q3-report in ls --network within 10 s" wait_for 10 lists_name n6 q3-report "$capp"
echo "# node 6 listed it after $(($(now_ms) - t0)) ms"
shoal --home n6 get q3-report -o gotp6 2>/dev/null
check "... and gets it by name" cmp -s report.txt gotp6

# ---- 4b. an interrupted get, run again, fetches only what it lacks -------------------------
gen_data big4 $((200 * MiB)) dist-resume
capr=$(shoal --home n2 put big4 --replicas 1 2>putr.err)
check_eq "put --replicas 1 of 200 MiB on node 2 (it alone holds it) exits 0" 0 $?
# Node 6 may meanwhile take repair copies of other files (nodes were lost
# above): count big4's own chunks on it.
locate_chunks n2 "$capr" locr
nr=$(wc -l <locr.ids)
check "... node 2 locates its $nr chunks" test "$nr" -gt 8
# One find per poll: the get must still be running when it is seen growing.
big4_on_n6() { find n6/objects/?? -type f -printf '%f\n' | grep -cxFf locr.ids; }
check_eq "... none of which is on node 6 yet" 0 "$(big4_on_n6)"
"$SHOAL" --home n6 get "$capr" -o gotr 2>getr.err &
get_pid=$!
grown() { [ "$(big4_on_n6)" -ge 8 ]; }
check "node 6's get stores fetched chunks as they arrive" wait_for 30 grown
kill -INT "$get_pid"
wait "$get_pid"
check_failed "... interrupted (SIGINT), the get fails" $?
check "... and writes no output" test ! -e gotr
partial_logged() { grep -q "get [a-z0-9]*: [0-9]* chunks, [0-9]* fetched[^;]*; failed" n6.log; }
check "node 6 ends the cancelled get soon" wait_for 30 partial_logged
first=$(grep -o "get [a-z0-9]*: [0-9]* chunks, [0-9]* fetched[^;]*; failed" n6.log | tail -n 1)
check_match "node 6 logs the partial get" '[0-9]+ chunks, [1-9][0-9]* fetched' "$first"
shoal --home n6 get "$capr" -o gotr 2>getr2.err
check_eq "the same get run again exits 0" 0 $?
check "... and the 200 MiB come back identical" cmp -s big4 gotr
second=$(grep -o 'get [a-z0-9]*: [0-9]* chunks, [0-9]* fetched from other nodes$' n6.log | tail -n 1)
read -r total1 fetched1 <<<"$(echo "$first" | awk '{print $3, $5}')"
read -r total2 fetched2 <<<"$(echo "$second" | awk '{print $3, $5}')"
check_eq "... the second get sees the same chunks" "$total1" "$total2"
check "... and fetches only what the first did not ($fetched2 of $total2 after $fetched1)" \
	test "$((fetched1 + fetched2))" -le "${total2:-0}" -a "${fetched2:-0}" -lt "${total2:-0}"
check "... then lets the cached chunks go (none of big4's left on node 6)" \
	wait_for 10 eval '[ "$(big4_on_n6)" -eq 0 ]'
rm -f big4 gotr

# ---- 5. a tree of 1,000 small files --------------------------------------------------------
python3 - tree <<'EOF'
import os, random, sys
root, r = sys.argv[1], random.Random(5)
dirs = []
for i in range(8):
    for j in range(5):
        d = os.path.join(root, "d%d" % i, "s%d" % j, *(["deep", "er"] if j % 2 else []))
        os.makedirs(d, exist_ok=True)
        dirs.append(d)
os.makedirs(os.path.join(root, "empty", "dir"))
for k in range(1000):
    size = 0 if k % 97 == 0 else r.randint(0, 8192)
    with open(os.path.join(dirs[r.randrange(len(dirs))], "f%04d.bin" % k), "wb") as f:
        f.write(r.randbytes(size))
EOF
check_eq "the tree has 1,000 files" 1000 "$(find tree -type f | wc -l)"
capt=$(shoal --home n4 put tree 2>putt.err)
check_eq "put of the tree on node 4 exits 0" 0 $?
check_match "... and prints a capability" "$CAP_RE" "$capt"
shoal --home n6 get "$capt" -o gottree 2>gett.err
check_eq "get of the tree on node 6 exits 0" 0 $?
check "... diff -r finds the trees identical" diff -r tree gottree
check_eq "... the empty directory too" "" "$(find gottree/empty/dir -mindepth 1 2>&1)"
# Hostile directory manifests, made in node 6's store while its daemon is stopped.
stop_nodes 6 # for mkbadtree
declare -A badcap
for k in valid v2-valid dotdot inner-dotdot absolute v2-link-escape v2-hardlink-to-link; do
	badcap[$k]=$("$MKBADTREE" n6 "$k" 2>&1)
	check_match "mkbadtree stores a '$k' tree manifest in node 6's home" "$CAP_RE" "${badcap[$k]}"
done
start_node 6 4
check "node 6 restarts and rejoins" wait_for 15 mesh_up 2 4 5 6
slash_x=$([ -e /x ] && echo before || echo none)
mkdir w6 w4
for k in dotdot inner-dotdot absolute v2-link-escape v2-hardlink-to-link; do
	shoal --home n6 get "bad-$k" -o w6/out >out 2>bad.err
	check_failed "get of the '$k' tree on node 6 (through its daemon) fails" $?
	check_err1 "... with one 'shoal: ' line about the manifest" bad.err manifest
	shoal --home n4 get "${badcap[$k]}" -o w4/out >out 2>bad.err
	check_failed "get of the '$k' tree on node 4 (fetched from node 6) fails" $?
	check_err1 "... with one 'shoal: ' line about the manifest" bad.err manifest
done
check_eq "... and nothing was written: not in the output directories, not beside them" "" \
	"$(find w6 w4 -mindepth 1; ls -d x 2>/dev/null)"
check_eq "... nor at /x" "$slash_x" "$([ -e /x ] && echo before || echo none)"
shoal --home n4 get "${badcap[valid]}" -o w4/valid 2>/dev/null
check_eq "control: the 'valid' tree from node 6 is restored on node 4" hello "$(cat w4/valid/a/x 2>&1)"
shoal --home n4 get "${badcap[v2-valid]}" -o w4/v2-valid 2>/dev/null
check_eq "... and the 'v2-valid' one, its listing chunk fetched too, with its link" \
	"hello ../../x" "$(cat w4/v2-valid/a/x 2>&1) $(readlink w4/v2-valid/a/l)"

# ---- 6. rm releases chunks on the holders ------------------------------------------------------
gen_data fone $((6 * MiB)) dist-rm
gen_data shared $((6 * MiB)) dist-shared
touch -d @1700000000 shared
capf=$(shoal --home n2 put fone --name fone 2>/dev/null)
check_match "put of fone on node 2" "$CAP_RE" "$capf"
caps=$(shoal --home n2 put shared --name shared 2>/dev/null)
check_match "put of shared on node 2" "$CAP_RE" "$caps"
caps5=$(shoal --home n5 put shared --name shared 2>/dev/null)
check_eq "the same file on node 5 (same convergence secret): the same capability" "$caps" "$caps5"
locate_chunks n2 fone locf
locate_chunks n5 shared locs
check "fone's chunks are on 3 homes" each_chunk_has -ge 3 locf.ids "${HOMES[@]}"
check "shared's chunks are on 3 homes" each_chunk_has -ge 3 locs.ids "${HOMES[@]}"
check "rm shared on node 2 exits 0" shoal --home n2 rm shared
check "rm fone on node 2 exits 0" shoal --home n2 rm fone
t0=$(now_ms)
check "fone's chunks vanish from every home within 10 s" wait_for 10 each_chunk_has -eq 0 locf.ids "${HOMES[@]}"
echo "# gone after $(($(now_ms) - t0)) ms"
sleep 1 # give a wrong unpin of shared the time to land
left=()
while IFS=$'\t' read -r h _ holders _; do
	IFS=, read -ra hs <<<"$holders"
	[ "${#hs[@]}" -ge 3 ] || left+=("${h:0:16} on ${#hs[@]} nodes")
	for x in "${hs[@]}"; do
		[ -f "$(obj "${home_of[$x]:-nowhere}" "$h")" ] || left+=("${h:0:16} gone from ${home_of[$x]:-?}")
	done
done < <("$SHOAL" --home n5 locate shared 2>&1)
check_eq "shared, still needed by node 5: node 5 locates each chunk on 3 holders or more, on disk" "" "${left[*]:0:5}"
check "... at least 3 copies of each" each_chunk_has -ge 3 locs.ids "${HOMES[@]}"
check "an unrelated file's chunks (big2) stay on node 2" test "$(missing_in n2 loc2.ids)" -eq 0
check_eq "ls on node 2 no longer lists fone nor shared" "" \
	"$("$SHOAL" --home n2 ls 2>&1 | grep -E '^(fone|shared)	')"

# ---- 7. a member that serves wrong bytes ---------------------------------------------------
"$TESTCERT" valid network liar.key liar.crt || fail "testcert liar"
gen_data lied $((20 * MiB)) dist-lied
capl=$(shoal --home n4 put lied --replicas 1 2>/dev/null)
check_match "put --replicas 1 on node 4 (only node 4 holds it)" "$CAP_RE" "$capl"
locate_chunks n4 "$capl" locl
check_eq "... node 6 holds none of it" "$(wc -l <locl.ids)" "$(missing_in n6 locl.ids)"
"${HOSTILE[@]}" liar "${node_addr[6]}" "$CA" liar.key liar.crt 40 >liar.out 2>&1 &
liar_pid=$!
check "a liar joins node 6" wait_for 10 grep -q '^id ' liar.out
liar_id=$(sed -n 's/^id //p' liar.out)
check "... and is up in node 6's peers" wait_peer_state 10 up n6 "$liar_id"
shoal --home n6 get "$capl" -o gotl 2>getl.err
check_eq "get on node 6 with the liar connected exits 0" 0 $?
check "... and the output is intact" cmp -s lied gotl
lies=$(grep -c '^lied about' liar.out)
check "... the liar was asked for chunks and lied ($lies times)" test "$lies" -ge 1
check "... node 6's log names the mismatch" grep -q 'do not match' n6.log
check "... shoal verify on node 6 finds every stored chunk good" shoal --home n6 verify
kill "$liar_pid" 2>/dev/null
wait "$liar_pid" 2>/dev/null

# ---- 8. hostile storage requests ----------------------------------------------------------------
for c in h1 h2 h3 h4 h5; do
	"$TESTCERT" valid network "$c.key" "$c.crt" || fail "testcert $c"
done
a4=${node_addr[4]}
some=$(head -n 1 locl.ids)
check "GetChunk of an id never stored: Error NOT_FOUND (then a stored one is served)" \
	"${HOSTILE[@]}" getchunk "$a4" "$CA" h1.key h1.crt "$some"
check "... node 4 answers status" status_ok n4
"${HOSTILE[@]}" putbad "$a4" "$CA" h2.key h2.crt >putbad.out 2>&1
check_eq "PutChunk with bytes not matching its id: Error CORRUPT (then a right one: PutAck)" 0 $?
badid=$(sed -n 's/^claimed-id //p' putbad.out)
badpl=$(sed -n 's/^payload-id //p' putbad.out)
goodid=$(sed -n 's/^stored-id //p' putbad.out)
check_match "... (the client reports the ids)" '^[0-9a-f]{64} [0-9a-f]{64} [0-9a-f]{64}$' "$badid $badpl $goodid"
check "... no object under the claimed id" test ! -e "$(obj n4 "${badid:-x}")"
check "... nor under the bytes' real hash" test ! -e "$(obj n4 "${badpl:-x}")"
check_eq "... no temp file left" "" "$(find n4/objects/tmp -type f 2>/dev/null)"
check "... while the right one is stored" test -f "$(obj n4 "${goodid:-x}")"
check "... node 4 logs the refusal" grep -q "pushed chunk ${badid:-x} does not match" n4.log
check "... node 4 answers status" status_ok n4
"${HOSTILE[@]}" putbig "$a4" "$CA" h3.key h3.crt >putbig.out 2>&1
check_eq "PutChunk of 4 MiB + 16 bytes: PutAck; of 4 MiB + 17: disconnected" 0 $?
maxid=$(sed -n 's/^stored-id //p' putbig.out)
check_eq "... the 4 MiB + 16 chunk is stored whole" $((4 * MiB + 16)) \
	"$(stat -c %s "$(obj n4 "${maxid:-x}")" 2>&1)"
check "... node 4 answers status" status_ok n4
check "... and still serves others: a chunk to a new client" \
	"${HOSTILE[@]}" getchunk "$a4" "$CA" h4.key h4.crt "$some"
check "... and node 6 still sees it up" wait_peer_state 5 up n6 "${node_id[4]}"
shoal --home n6 get "$capt" -o gottree2 2>/dev/null
check "... node 6 gets the tree again" diff -r tree gottree2
check "catsign is built ($CATSIGN)" test -x "$CATSIGN"
forged=()
for nm in ../x a/b ..; do
	forged+=("$("$CATSIGN" h5.key h5.crt "$nm")") || fail "catsign $nm"
done
"${HOSTILE[@]}" catalog-forged "$a4" "$CA" h5.key h5.crt "${forged[@]}" >forged.out 2>&1
check_eq "catalog entries with a bad signature, or named '../x', 'a/b', '..': dropped, link kept" \
	0 $?
check "... node 4 answers status" status_ok n4
check_eq "... and lists none of them in ls --network" "" \
	"$("$SHOAL" --home n4 ls --network 2>&1 | awk -F'\t' '$1 ~ /^forged-|\/|^\.\.$/')"
check "... while q3-report is still listed" lists_name n4 q3-report "$capp"
check_eq "... no file named x appeared next to node 4's home" "" "$(find . -maxdepth 2 -name x)"

# ---- 3. send, then every other node stops ----------------------------------------------------------
gen_data sent $((3 * MiB)) dist-sent
caps3=$(shoal --home n2 put sent --name sent --replicas 1 2>/dev/null)
check_match "put --replicas 1 of 3 MiB on node 2" "$CAP_RE" "$caps3"
locate_chunks n2 sent locd
check_eq "... node 6 holds none of it" "$(wc -l <locd.ids)" "$(missing_in n6 locd.ids)"
shoal --home n2 send sent --to "${node_id[6]}" >send.out 2>send.err
check_eq "send sent --to node 6 exits 0" 0 $?
check_eq "... printing nothing on stdout" "" "$(cat send.out)"
check_match "... and one line on stderr: sent, to whom, the chunks" \
	"^sent sent to ${node_id[6]} \\([0-9]+ chunks?, [0-9]+ fetched\\)\$" "$(cat send.err)"
check_eq "... node 6 now holds every chunk" 0 "$(missing_in n6 locd.ids)"
stop_nodes 2 4 5
_alone() { [ "$(peers_up n6)" -eq 0 ]; }
check "node 6 is alone (no peer up)" wait_for 5 _alone
shoal --home n6 get "$caps3" -o gotd 2>getd.err
check_eq "get on node 6 with every other node stopped exits 0" 0 $?
check "... and the file is intact" cmp -s sent gotd
stop_nodes 6
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
