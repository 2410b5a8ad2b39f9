#!/usr/bin/env bash
# What one certified member can do to the others' catalog, between real
# daemons: publishing a name another member published makes a second entry,
# not a takeover (get NAME refuses with one line naming both owners, and
# NAME@OWNER chooses); an entry dated in the year 2100 is refused, so the
# owner's republication and removal still win; a member flooding the catalog
# fills its own budget (catalog_per_member) and no more, with one log line,
# and an honest put --publish past its budget exits non-zero saying so.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set gossip_interval=0.5)
TESTCERT=$(tool testcert)
CATSIGN=$(tool catsign)
BUDGET=200

owners_listed() { # HOME NAME: how many entries of NAME ls --network lists
	"$SHOAL" --home "$1" ls --network 2>/dev/null | awk -F'\t' -v n="$2" '$1 == n' | wc -l
}
entries_of() { # HOME OWNER_ID: how many entries of OWNER ls --network lists
	"$SHOAL" --home "$1" ls --network 2>/dev/null | awk -F'\t' -v o="$2" '$4 == o' | wc -l
}
has_entry() { # HOME NAME OWNER_ID
	"$SHOAL" --home "$1" ls --network 2>/dev/null |
		awk -F'\t' -v n="$2" -v o="$3" '$1 == n && $4 == o {f = 1} END {exit !f}'
}

check "testcert and catsign are built" test -x "$TESTCERT" -a -x "$CATSIGN"
make_nodes 1 2 3
start_node 1 "" --set catalog_per_member="$BUDGET"
start_node 2 1 --set catalog_per_member="$BUDGET"
start_node 3 1 --set catalog_per_member=4
check "three daemons form a full mesh" wait_for 15 mesh_up 1 2 3
CA=n1/ca.crt

# ---- 1. a name belongs to its owner --------------------------------------------------------
echo "node 1's quarterly report" >a.txt
echo "node 3's other content" >b.txt
capa=$(shoal --home n1 put a.txt --name q3-report --publish 2>puta.err)
check_match "node 1 publishes q3-report" "$CAP_RE" "$capa"
check "... node 2 sees it" wait_for 10 has_entry n2 q3-report "${node_id[1]}"
shoal --home n2 get q3-report -o got1 2>/dev/null
check "... and gets it by name (one owner)" cmp -s a.txt got1
capb=$(shoal --home n3 put b.txt --name q3-report --publish 2>putb.err)
check_match "node 3 publishes q3-report too" "$CAP_RE" "$capb"
check "... node 2 lists both entries" wait_for 10 eval '[ "$(owners_listed n2 q3-report)" -eq 2 ]'
shoal --home n2 get q3-report -o got2 2>get2.err
check_failed "get q3-report on node 2 now refuses to choose" $?
check_err1 "... in one line" get2.err "publish q3-report"
check "... naming node 1" grep -q "${node_id[1]:0:16}" get2.err
check "... and node 3" grep -q "${node_id[3]:0:16}" get2.err
check "... and how to choose (NAME@OWNER)" grep -q "q3-report@OWNER" get2.err
check "... writing nothing" test ! -e got2
shoal --home n2 get "q3-report@${node_id[1]:0:8}" -o got3 2>get3.err
check "get q3-report@<8 characters of node 1's id> is node 1's" cmp -s a.txt got3
up=$(tr '[:lower:]' '[:upper:]' <<<"${node_id[3]}")
shoal --home n2 get "q3-report@$up" -o got4 2>get4.err
check "get q3-report@<node 3's id, upper case> is node 3's" cmp -s b.txt got4
shoal --home n2 get "q3-report@${node_id[1]:0:7}" -o got5 2>get5.err
check_failed "an owner of 7 characters is refused" $?
check_err1 "... in one line saying 8 are needed" get5.err "8 or more characters"
shoal --home n1 get q3-report -o got6 2>/dev/null
check "node 1's own q3-report comes first on node 1" cmp -s a.txt got6
shoal --home n2 locate "q3-report@${node_id[3]:0:12}" >loc.out 2>loc.err
check_eq "locate takes NAME@OWNER too" 0 $?

# ---- 2. the year 2100 ----------------------------------------------------------------------
"$TESTCERT" valid network h.key h.crt || fail "testcert h"
hid=$(cd "$(dirname "${HOSTILE[-1]}")" && python3 -c 'import hostile, sys; print(hostile.node_id_b32(sys.argv[1]))' "$T/h.crt")
check_match "the hostile member's id" "^$ID_RE\$" "$hid"
"$CATSIGN" h.key h.crt q3-report --time 4102444800000000 >future.hex
"$CATSIGN" h.key h.crt soon --time $((($(date +%s) + 60) * 1000000)) >>future.hex
"${HOSTILE[@]}" catalog-send "${node_addr[2]}" "$CA" h.key h.crt future.hex >future.out 2>&1
check_eq "a member sends an entry dated 2100 and one a minute ahead; the link stays" 0 $?
check "... node 2 takes the one a minute ahead" wait_for 10 eval \
	'[ "$(owners_listed n2 soon)" -eq 1 ]'
check_eq "... and refuses the one dated 2100" 2 "$(owners_listed n2 q3-report)"
check "... saying why in its log" grep -q 'dropped catalog entry "q3-report": dated in the future' n2.log
echo "node 1's corrected report" >a2.txt
capa2=$(shoal --home n1 put a2.txt --name q3-report --publish 2>/dev/null)
check_match "node 1 republishes q3-report" "$CAP_RE" "$capa2"
_newer() {
	"$SHOAL" --home n2 get "q3-report@${node_id[1]}" -o got7 2>/dev/null && cmp -s a2.txt got7
}
check "... node 2 gets the new content from node 1's entry" wait_for 10 _newer
shoal --home n1 rm q3-report 2>/dev/null
check_eq "node 1 removes q3-report" 0 $?
check "... node 2 sees one owner left" wait_for 10 eval '[ "$(owners_listed n2 q3-report)" -eq 1 ]'
rm -f got8
shoal --home n2 get q3-report -o got8 2>/dev/null
check "... and get q3-report resolves to node 3's again" cmp -s b.txt got8

# ---- 3. a catalog flood --------------------------------------------------------------------
"$CATSIGN" h.key h.crt flood --count 3000 >flood.hex
check_eq "catsign signs 3000 entries in frames of 64" 47 "$(wc -l <flood.hex)"
"${HOSTILE[@]}" catalog-send "${node_addr[2]}" "$CA" h.key h.crt flood.hex >flood.out 2>&1
check_eq "a member floods node 2 with 3000 entries; the link stays" 0 $?
_flooded() { [ "$(entries_of n2 "$hid")" -ge "$BUDGET" ]; }
check "... node 2 takes its budget" wait_for 10 _flooded
check_eq "... and no more ($BUDGET, with the one a minute ahead)" "$BUDGET" "$(entries_of n2 "$hid")"
check_eq "... logging it once" 1 "$(grep -c 'catalog_per_member' n2.log)"
check "... node 1 holds no more of it either" \
	test "$(entries_of n1 "$hid")" -le "$BUDGET"
echo "an honest file" >c.txt
capc=$(shoal --home n2 put c.txt --name honest --publish 2>putc.err)
check_match "an honest member still publishes on node 2" "$CAP_RE" "$capc"
check "... and node 1 lists it" wait_for 10 has_entry n1 honest "${node_id[2]}"
for i in 1 2 3; do
	echo "$i" >"n3-$i.txt"
	shoal --home n3 put "n3-$i.txt" --name "n3-file-$i" --publish >/dev/null 2>&1 ||
		fail "node 3 publishes n3-file-$i"
done
check_eq "node 3 (catalog_per_member=4) publishes 3 more names" 4 \
	"$(entries_of n3 "${node_id[3]}")"
echo 5 >n3-5.txt
shoal --home n3 put n3-5.txt --name n3-file-5 --publish >put5.out 2>put5.err
check_failed "... a fifth put --publish fails" $?
check_err1 "... in one line, saying it was not published and why" put5.err \
	"was not published (this node has as many entries"
check "... naming the capability it was stored as" grep -qE "shoal:[a-z2-7]+:[a-z2-7]+" put5.err
check_eq "... nothing on stdout" "" "$(cat put5.out)"

stop_nodes 1 2 3
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
