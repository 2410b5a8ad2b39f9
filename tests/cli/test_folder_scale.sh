#!/usr/bin/env bash
# A big folder between two real daemons: 10,000 small files (1 to 4 KiB) in
# 100 directories moved into A converge on B (A sending what it read every
# 2 s while it reads the rest), with both daemons' RSS staying flat; then,
# with A's inotify queue made tiny (fs.inotify.max_queued_events when A's
# watcher was made, put back at once) and A's daemon stopped (SIGSTOP)
# while 1,000 files are rewritten and 1,000 added, the queue overflows: A
# says so, scans everything, and B converges again. Then 1,000 files are
# renamed and their whole directory moved: B renames its own files and
# fetches no chunk. Trees are compared by
# path, mode and sha256 (one digest of the whole tree).
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=5 --set ping_interval=0.5 --set recovery_delay=0
	--set scrub_rate=0)
FILES=${FOLDER_SCALE_FILES:-10000}
# The sanitizer build is about ten times slower: it shows the same with
# fewer files.
grep -qa __asan_init "$SHOAL" && FILES=${FOLDER_SCALE_FILES:-2000}
SYNC=600 # seconds the big tree gets (the sanitizer build is slow)
RSS_GROWTH_MAX=$((48 * 1024)) # KiB a daemon may grow by taking the whole tree

# digest DIR: the count of files and one sha256 over every entry's path,
# mode and content (the folder's .shoal/ and apply temps left out).
digest() {
	python3 - "$1" <<'PY'
import hashlib, os, sys
root = sys.argv[1]
h, n = hashlib.sha256(), 0
for d, dirs, files in os.walk(root):
    dirs[:] = sorted(x for x in dirs if not (d == root and x == ".shoal"))
    for name in sorted(dirs) + sorted(files):
        p = os.path.join(d, name)
        st = os.lstat(p)
        h.update(os.path.relpath(p, root).encode() + b"\0" + oct(st.st_mode).encode())
        if name in files:
            if name.startswith(".shoal."):
                continue
            n += 1
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
print(n, h.hexdigest())
PY
}
same() { [ "$(digest A)" == "$(digest B)" ]; }
# make_files DIR COUNT SEED: COUNT files of 1 to 4 KiB in 100 directories.
make_files() {
	python3 - "$@" <<'PY'
import os, random, sys
root, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
for i in range(count):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(rnd.randbytes(1024 + rnd.randrange(3072)))
PY
}
counter() { # N NAME
	"$SHOAL" --home "n$1" folder status --json 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['folders'][0]['counters']['$2'])" 2>/dev/null ||
		echo -1
}
above() { [ "$(counter "$1" "$2")" -gt "$3" ]; }
# rss_flat DESC: both daemons grew by less than RSS_GROWTH_MAX since rss_a0
# and rss_b0 were taken (not measured under the sanitizer).
rss_flat() {
	local a b
	a=$(rss_kb "${daemon_pid[n1]}")
	b=$(rss_kb "${daemon_pid[n2]}")
	echo "# RSS: A $rss_a0 -> $a KiB, B $rss_b0 -> $b KiB"
	if grep -qa __asan_init "$SHOAL"; then
		skip "$1" "the sanitizer's shadow memory is no measure"
	else
		check "$1" test $((a - rss_a0)) -lt "$RSS_GROWTH_MAX" -a $((b - rss_b0)) -lt "$RSS_GROWTH_MAX"
	fi
}

make_nodes 1 2
start_node 1
start_node 2 1
check "the two daemons see each other" wait_for 20 mesh_up 1 2

# A's watcher is made with a queue of 64 events when the sysctl can be set.
queue=/proc/sys/fs/inotify/max_queued_events
small_queue=
if old_queue=$(cat "$queue" 2>/dev/null) && echo 64 2>/dev/null >"$queue"; then
	small_queue=1
fi
mkdir A
shoal --home n1 folder create A >create.out 2>create.err
[ -n "$small_queue" ] && echo "$old_queue" >"$queue"
invite=$(grep -o 'shoal-folder:[a-z2-7]*' create.out | head -n 1)
check "node 1 creates the folder" test -n "$invite"
check "node 2 joins" shoal --home n2 folder join "$invite" B
check "... and both are in sync, empty" wait_for 30 folder_in_sync 2

# ---- 10,000 files ------------------------------------------------------------------------
make_files S "$FILES" 1
rss_a0=$(rss_kb "${daemon_pid[n1]}")
rss_b0=$(rss_kb "${daemon_pid[n2]}")
t0=$(now_ms)
mv S A/S
check "$FILES files in 100 directories reach B" wait_every "$SYNC" 1 same
echo "# $FILES files converged in $(($(now_ms) - t0)) ms"
check_match "A sent its rows in slices while it read the files" 'the rest next' "$(cat n1.log)"
check "... both in sync" wait_for 60 folder_in_sync 1
check "... B in sync" wait_for 60 folder_in_sync 2
rss_flat "the daemons' RSS stays flat (each grew by less than $RSS_GROWTH_MAX KiB)"

# ---- the watcher overflows ---------------------------------------------------------------
r0=$(counter 1 rescans)
kill -STOP "${daemon_pid[n1]}"
python3 - A/S <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(2)
for i in range(0, 2000, 2):
    with open(os.path.join(root, "d%02d" % (i % 100), "f%05d" % i), "ab") as f:
        f.write(b"changed\n")
for i in range(1000):
    with open(os.path.join(root, "d%02d" % (i % 100), "new%04d" % i), "wb") as f:
        f.write(rnd.randbytes(1500))
PY
kill -CONT "${daemon_pid[n1]}"
if [ -n "$small_queue" ]; then
	check "A's watcher overflowed and A says it scans everything" wait_for 60 above 1 rescans "$r0"
	check_match "... in its log" 'the watcher may have missed changes' "$(cat n1.log)"
else
	skip "A's watcher overflowed" "cannot set $queue here"
	shoal --home n1 folder rescan A >/dev/null 2>&1
fi
check "the 2,000 changes reach B" wait_every "$SYNC" 1 same
check "... both in sync" wait_for 60 folder_in_sync 1
rss_flat "... the RSS still flat"

# ---- renames fetch nothing -------------------------------------------------------------
f0=$(counter 2 fetched)
python3 - A/S <<'PY'
import os, sys
root = sys.argv[1]
for i in range(1, 2000, 2):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.rename(os.path.join(d, "f%05d" % i), os.path.join(d, "m%05d" % i))
PY
mv A/S A/T
check "1,000 files renamed, then their directory of $((FILES + 1000)) files, reach B" \
	wait_every "$SYNC" 1 same
moved=$(($(counter 2 fetched) - f0))
echo "# chunks B fetched for the renames: $moved"
check_eq "... with no chunk fetched" 0 "$moved"
check "... both in sync" wait_for 60 folder_in_sync 1

stop_nodes 1 2
check_no_sanitizer "no sanitizer report" n1.log n2.log
done_testing
