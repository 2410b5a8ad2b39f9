#!/usr/bin/env bash
# A member killed with SIGKILL while it applies: A holds 300 files, B joins
# and is killed four times at different moments of its apply (fetching,
# writing temp files, swapping, committing), restarted each time. After the
# last restart B converges with A; its index matches its disk (every entry
# on disk has its local row with the same size and mtime, and no row names
# a missing entry); no temp file is left; both say "in sync". Then A is
# killed in the middle of a scan of 200 changed files and restarted: the
# changes still reach B, and A's index matches A's disk. Last, B's copy of
# a file is edited while B writes A's new 160 MiB version beside it (40 MiB
# under the sanitizer): the edit is not lost (it becomes the winner or a
# conflict copy on both). Then B, killed while it wrote a new file, comes
# back while A is down, and writes the file when A is back though A has no
# new row to send.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set recovery_delay=0
	--set scrub_rate=0)
SYNC=180

tree() { folder_tree "$1"; }
in_sync() { folder_in_sync "$1"; }
converged() { [ "$(tree A)" == "$(tree B)" ] && in_sync 1 && in_sync 2; }
# index_matches N DIR: node N's local rows are what DIR holds (daemon stopped
# or not: the index is read-only here).
index_matches() {
	python3 - "n$1/index.sqlite" "$2" <<'EOF'
import os, sqlite3, stat, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
root = sys.argv[2]
rows = {p: (k, s, m) for p, k, s, m in db.execute("SELECT path, kind, size, mtime_ns FROM folder_local")}
disk = {}
for d, dirs, files in os.walk(root):
    rel = os.path.relpath(d, root)
    if rel == ".shoal" or rel.startswith(".shoal/"):
        continue
    for n in dirs + files:
        p = os.path.normpath(os.path.join(rel, n))
        if p == ".shoal":
            continue
        st = os.lstat(os.path.join(d, n))
        disk[p] = st
bad = [p for p in rows if p not in disk]
bad += [p for p in disk if p not in rows]
for p, (k, s, m) in rows.items():
    st = disk.get(p)
    if st and k == 0 and (st.st_size != s or st.st_mtime_ns != m):
        bad.append(p + " (size or mtime)")
if bad:
    print("\n".join(sorted(bad)[:20]))
    sys.exit(1)
EOF
}
no_temps() { [ -z "$(find "$1" -name '.shoal.*.tmp')" ]; }

make_nodes 1 2
start_node 1
start_node 2 1
check "the two daemons see each other" wait_for 20 mesh_up 1 2

mkdir -p A/d1 A/d2 A/d3
for i in $(seq 1 300); do gen_data "A/d$((i % 3 + 1))/f$i" $((8 * KiB + i)) "f$i"; done
invite=$(shoal --home n1 folder create A | tail -n 1)
check_match "A's folder is created" '^shoal-folder:' "$invite"
check "A's scan of 300 files ends" wait_slow $SYNC sh -c \
	"[ \"\$($SHOAL --home n1 folder status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"folders\"][0][\"entries\"])')\" -ge 303 ]"
check "B joins" shoal --home n2 folder join "$invite" B
for delay in 0.4 0.9 1.5 2.2; do
	sleep "$delay"
	kill_daemon n2
	echo "# B killed ${delay} s into its apply"
	start_node 2 1
done
check "B converges with A" wait_slow $SYNC converged
check "... no temp file is left in B" no_temps B
stop_daemon n2
check "B's index matches B's disk" index_matches 2 B
start_node 2 1

for i in $(seq 1 200); do echo "changed $i" >"A/d$((i % 3 + 1))/f$i"; done
sleep 1.2
kill_daemon n1
echo "# A killed during its scan of 200 changed files"
start_node 1
check "... the changes reach B" wait_slow $SYNC converged
stop_daemon n1
check "A's index matches A's disk" index_matches 1 A
start_node 1
check "... and they still agree" wait_slow $SYNC converged

# ---- a local edit while a remote version is being applied --------------------------------
gen_data A/big.bin $MiB big-v1
check "big.bin reaches B" wait_slow $SYNC converged
# Big enough that B takes a while to write it (the sanitizer build is slow
# enough with less).
BIG_MIB=160
grep -qa __asan_init "$SHOAL" && BIG_MIB=40
gen_data A/big.bin $((BIG_MIB * MiB)) big-v2
remote=$(sha256sum <A/big.bin | cut -c1-64)
hit=0
deadline=$(($(now_ms) + SYNC * 1000))
while [ "$(now_ms)" -lt "$deadline" ]; do
	# B restores A's version into a .shoal-get-* temp, renamed to
	# .shoal.big.bin.tmp, then swapped in: edit in that window.
	if compgen -G "B/.shoal-get-*" >/dev/null || [ -e B/.shoal.big.bin.tmp ]; then
		echo "edited on B during the apply" >B/big.bin
		hit=1
		break
	fi
	sleep 0.005
done
check_eq "B was edited while it wrote A's version beside it" 1 "$hit"
mine=$(echo "edited on B during the apply" | sha256sum | cut -c1-64)
# has DIR SHA: some file of DIR holds content SHA.
has() { find "$1" -path "$1/.shoal" -prune -o -type f -print0 | xargs -0 sha256sum | grep -q "^$2 "; }
check "... they converge" wait_slow $SYNC converged
check "... B's edit is kept on B" has B "$mine"
check "... and reaches A" has A "$mine"
check "... A's version is on both" sh -c "$(declare -f has); has A $remote && has B $remote"
check "... as one file and one conflict copy" test "$(find B -name 'big*' | wc -l)" -eq 2

# ---- waiting for the only member that has it ----------------------------------------------
# B holds A's row of a new file but not its content (killed while it
# fetched it) and comes back while A is down: the file waits. A comes back
# with no new row to send; B still applies the file.
gen_data A/late.bin $((BIG_MIB * MiB / 2)) late
hit=0
deadline=$(($(now_ms) + SYNC * 1000))
while [ "$(now_ms)" -lt "$deadline" ]; do
	if compgen -G "B/.shoal-get-*" >/dev/null || [ -e B/.shoal.late.bin.tmp ]; then
		kill_daemon n2
		hit=1
		break
	fi
	sleep 0.005
done
check_eq "B was killed while it wrote late.bin" 1 "$hit"
stop_nodes 1
start_node 2
waiting() { [ "$("$SHOAL" --home n2 folder status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["folders"][0]["waiting"])')" -gt 0 ]; }
check "... back while A is down, B has late.bin waiting" wait_for 30 waiting
start_node 1
check "... and writes it once A is back" wait_slow 60 converged
stop_nodes 2
check "B's index still matches B's disk" index_matches 2 B
stop_nodes 1
done_testing
