#!/usr/bin/env bash
# send gives the recipient its own copy, between real daemons. Node 1
# (alpha) puts a file on three nodes and sends it to node 3 (charlie): the
# sender says so on stderr, node 3 lists it as received from alpha. Node 1
# removes it; once its unpins have reached node 3 (no pin of node 1's left
# there), node 3 still reads the file byte for byte, lists it as received and
# holds every chunk on disk; node 3's own rm then lets it go. A file sent
# wants node 3's default copies, which its repair makes once it is the only
# holder (the sender removed it). A name node 3
# already has is left alone: the file sent goes to "NAME (from alpha)", a
# second send becomes its version 2, a sender without a nickname is named by
# its id. A bare capability is filed as received-ID. An index of schema 5
# (no sender column) upgrades.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set grace_period=3
	--set repair_interval=1 --set scrub_rate=0)

# ls_line N NAME: node N's ls line for NAME.
ls_line() { "$SHOAL" --home "n$1" ls 2>/dev/null | awk -F'\t' -v n="$2" '$1 == n'; }
# ls_field N NAME COLUMN: one column of it.
ls_field() { ls_line "$1" "$2" | cut -f"$3"; }
# pins_of HOME NODE_ID IDS_FILE: how many chunks of IDS_FILE (hex ids, one a
# line) HOME keeps pinned for that node (its other pins, such as its name
# table's, are not counted).
pins_of() {
	python3 - "$1/index.sqlite" "$2" "$3" <<'EOF'
import base64, sqlite3, sys
node = base64.b32decode(sys.argv[2].upper() + "====")
ids = [bytes.fromhex(l.strip()) for l in open(sys.argv[3]) if l.strip()]
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(sum(db.execute("SELECT count(*) FROM pins WHERE node = ? AND chunk = ?",
                     (node, i)).fetchone()[0] for i in ids))
EOF
}
no_pins_of() { [ "$(pins_of "$1" "$2" "$3")" == 0 ]; }
# gone_from IDS_FILE HOME...: no HOME has a file for any chunk of IDS_FILE.
gone_from() {
	local ids=$1 home
	shift
	for home; do [ "$(missing_in "$home" "$ids")" -eq "$(wc -l <"$ids")" ] || return 1; done
}

# ---- an index of schema 5 upgrades -----------------------------------------------------
gen_data old $((300 * KiB)) send-old
make_node h >/dev/null 2>&1
capo=$(shoal --home h put old --name old 2>/dev/null)
check_match "offline put on a fresh home" "$CAP_RE" "$capo"
python3 - h/index.sqlite <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
# versions as schema 5 had it: no sender column.
db.executescript("""
CREATE TABLE versions5(name TEXT NOT NULL, version INTEGER NOT NULL, cap TEXT NOT NULL,
  manifest BLOB NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,
  PRIMARY KEY(name, version));
INSERT INTO versions5 SELECT name, version, cap, manifest, size, created FROM versions;
DROP TABLE versions;
ALTER TABLE versions5 RENAME TO versions;
CREATE INDEX versions_by_manifest ON versions(manifest);
PRAGMA user_version = 5;
""")
db.commit()
EOF
check_eq "an index of schema 5 (no sender): ls shows the name, 5 columns" \
	"old	$((300 * KiB))	$capo	degraded 1/3	1" "$(shoal --home h ls)"
shoal --home h ls --json >old.json
check "... ls --json: not received, no sender" json_ok old.json \
	'j[0]["received"] is False and j[0]["sender"] is None and j[0]["sender_nickname"] == ""'
check_eq "... the index is at schema 10 with a sender column" "10 1" \
	"$(python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); print(d.execute("PRAGMA user_version").fetchone()[0], sum(1 for r in d.execute("PRAGMA table_info(versions)") if r[1] == "sender"))' h/index.sqlite)"
check "... and the file reads back" sh -c "$SHOAL --home h get old -o gold && cmp old gold"

# ---- three daemons -----------------------------------------------------------------------
node_id[1]=$(shoal --home n1 init --network network --name alpha 2>&1)
node_id[2]=$(shoal --home n2 init --network network 2>&1)
node_id[3]=$(shoal --home n3 init --network network --name charlie 2>&1)
check_match "node 1 (alpha), node 2 (no nickname), node 3 (charlie)" \
	"^$ID_RE $ID_RE $ID_RE\$" "${node_id[1]} ${node_id[2]} ${node_id[3]}"
start_node 1
start_node 2 1
start_node 3 1
check "the three meet" wait_for 20 mesh_up 1 2 3

# ---- send, then the sender removes it ------------------------------------------------------
gen_data doc $((3 * MiB)) send-doc
cap=$(shoal --home n1 put doc --name doc --replicas 3 2>/dev/null)
check_match "node 1 puts doc on 3 nodes" "$CAP_RE" "$cap"
locate_chunks n1 doc loc
nchunks=$(wc -l <loc.ids)
check "... a file of several chunks ($nchunks)" test "$nchunks" -ge 3
check "... node 3 holds every chunk (pinned for node 1)" each_chunk_has -ge 1 loc.ids n3
check "... so node 3 keeps pins of node 1's" test "$(pins_of n3 "${node_id[1]}" loc.ids)" -gt 0
shoal --home n1 send doc --to charlie >send.out 2>send.err
check_eq "send doc --to charlie exits 0" 0 $?
check_eq "... nothing on stdout" "" "$(cat send.out)"
check_eq "... one line on stderr" "sent doc to charlie ($nchunks chunks, 0 fetched)" \
	"$(cat send.err)"
line=$(ls_line 3 doc)
check_eq "node 3 lists doc: name, size, cap, health, versions, from alpha" \
	"doc	$((3 * MiB))	$cap	full 3/3	1	from alpha" "$line"
shoal --home n3 ls --json >ls3.json
check "... ls --json: received, sender node 1, sender_nickname alpha" json_ok ls3.json \
	'[(e["received"], e["sender"], e["sender_nickname"]) for e in j if e["name"] == "doc"] == [(True, a[0], "alpha")]' \
	"${node_id[1]}"
check "... created is the time it was received" json_ok ls3.json \
	'abs([e["created"] for e in j if e["name"] == "doc"][0] - int(a[0])) < 120' "$(date +%s)"
check_eq "node 1's own ls has 5 columns for doc" "5" \
	"$(ls_line 1 doc | awk -F'\t' '{print NF}')"

check "node 1 removes doc" shoal --home n1 rm doc
check_eq "... node 1 no longer lists it" "" "$(ls_line 1 doc)"
check "node 1's unpins reach node 3: no pin of node 1's left there" \
	wait_for 30 no_pins_of n3 "${node_id[1]}" loc.ids
check "... nor on node 2" wait_for 30 no_pins_of n2 "${node_id[1]}" loc.ids
shoal --home n1 verify >/dev/null 2>&1
check_eq "node 3 still lists doc as received from alpha" \
	"doc	$((3 * MiB))	$cap	from alpha" "$(ls_line 3 doc | cut -f1-3,6)"
check "... holds every chunk, each hashing to its id" each_chunk_has -ge 1 loc.ids n3
shoal --home n3 get doc -o got3 2>get3.err
check_eq "... get doc on node 3 exits 0" 0 $?
check "... byte for byte" cmp doc got3

check "node 3 removes doc" shoal --home n3 rm doc
check_eq "... no longer lists it" "" "$(ls_line 3 doc)"
check "... and every copy goes, on every node" wait_for 30 gone_from loc.ids n1 n2 n3

# ---- the copies a received file wants ----------------------------------------------------
gen_data solo $((2 * MiB)) send-solo
caps=$(shoal --home n1 put solo --name solo --replicas 1 2>/dev/null)
check_match "node 1 puts solo with --replicas 1 (node 1 alone holds it)" "$CAP_RE" "$caps"
locate_chunks n1 solo sloc
ns=$(wc -l <sloc.ids)
shoal --home n1 send solo --to charlie >send1.out 2>send1.err
check_eq "send solo: node 3 fetched every chunk" "sent solo to charlie ($ns chunks, $ns fetched)" \
	"$(cat send1.err)"
check_match "node 3's solo wants 3 copies, its default, not node 1's 1" '^(full|degraded) [0-9]/3$' \
	"$(ls_field 3 solo 4)"
check_eq "node 1's own solo still wants 1" "full 1/1" "$(ls_field 1 solo 4)"
# While node 1 holds its copy, rendezvous hashing may make node 1 the chunk's
# lead holder, which wants 1 copy: node 3 then waits (plan.h). Once node 1's
# copy is gone, node 3 is the only holder and leads.
check "node 1 removes solo" shoal --home n1 rm solo
check "... node 3's repair makes its 3 copies: every chunk on 3 nodes" \
	wait_for 30 each_chunk_has -eq 3 sloc.ids n1 n2 n3
full_3() { [ "$(ls_field 3 solo 4)" == "full 3/3" ]; }
check "... and its ls says full 3/3" wait_for 10 full_3

# ---- name clashes --------------------------------------------------------------------------
gen_data mine $((500 * KiB)) send-mine
gen_data theirs $((600 * KiB)) send-theirs
gen_data theirs2 $((700 * KiB)) send-theirs2
gen_data other $((400 * KiB)) send-other
capm=$(shoal --home n3 put mine --name report 2>/dev/null)
check_match "node 3 puts its own report" "$CAP_RE" "$capm"
capt=$(shoal --home n1 put theirs --name report 2>/dev/null)
shoal --home n1 send report --to "${node_id[3]}" >send2.out 2>send2.err
check_eq "node 1 sends its report to node 3 (by id): exits 0" 0 $?
check_match "... warning that node 3 keeps it as 'report (from alpha)'" \
	"^shoal: warning: node [a-z2-7]{16} already has a file named 'report': it keeps this one as 'report \(from alpha\)'" \
	"$(head -n 1 send2.err)"
check_match "... then the sent line" "^sent report to ${node_id[3]} \\([0-9]+ chunks?, [0-9]+ fetched\\)\$" \
	"$(tail -n 1 send2.err)"
check_eq "node 3's own report is untouched: its cap, 1 version, 5 columns (no sender)" \
	"$capm 1 5" "$(ls_line 3 report | awk -F'\t' '{print $3, $5, NF}')"
shoal --home n3 get report -o gotm 2>/dev/null
check "... and reads back as its own content" cmp mine gotm
check_eq "the sent one is 'report (from alpha)', from alpha" "$capt	1	from alpha" \
	"$(ls_line 3 'report (from alpha)' | cut -f3,5,6)"
shoal --home n3 get 'report (from alpha)' -o gott 2>/dev/null
check "... and reads back as node 1's" cmp theirs gott
capt2=$(shoal --home n1 put theirs2 --name report 2>/dev/null)
shoal --home n1 send report --to charlie >send3.out 2>send3.err
check_eq "node 1 sends report again (its version 2)" 0 $?
check_eq "... node 3 files it as version 2 of 'report (from alpha)'" "$capt2	2	from alpha" \
	"$(ls_line 3 'report (from alpha)' | cut -f3,5,6)"
check_eq "... node 3's own report still has 1 version" "$capm	1" \
	"$(ls_line 3 report | cut -f3,5)"
shoal --home n3 versions 'report (from alpha)' >vers 2>&1
check_eq "... whose version 1 is the first one sent" "$capt" "$(awk -F'\t' '$1 == 1 {print $4}' vers)"
capo2=$(shoal --home n2 put other --name report 2>/dev/null)
shoal --home n2 send report --to charlie >send4.out 2>send4.err
check_eq "node 2 (no nickname) sends its report too" 0 $?
n2short=${node_id[2]:0:16}
check_eq "... node 3 files it as 'report (from ${n2short})', from that id" \
	"$capo2	from $n2short" "$(ls_line 3 "report (from $n2short)" | cut -f3,6)"
check_eq "... node 3 then has three reports" 3 \
	"$("$SHOAL" --home n3 ls | cut -f1 | grep -c '^report')"

# ---- a bare capability --------------------------------------------------------------------
capb=$(shoal --home n1 put other --name plain 2>/dev/null)
hex=$(python3 -c 'import base64, sys; print(base64.b32decode(sys.argv[1].split(":")[1].upper() + "====").hex()[:16])' "$capb")
shoal --home n1 send "$capb" --to charlie >send5.out 2>send5.err
check_eq "send of a bare capability exits 0" 0 $?
check_eq "... node 3 files it as received-ID (16 hex digits of the manifest id)" \
	"$capb	from alpha" "$(ls_line 3 "received-$hex" | cut -f3,6)"

# ---- usage ----------------------------------------------------------------------------------
shoal --home n1 send doc --to charlie >out 2>err
check_failed "send of a name node 1 no longer has fails" $?
check_err1 "... in one line" err
help_has() { "$SHOAL" "$1" --help | grep -q "$2"; } # COMMAND TEXT
check "send --help says the node files it as its own" help_has send "its own copy"
check "ls --help describes the from column" help_has ls "from SENDER"

stop_nodes 1 2 3
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
