#!/usr/bin/env bash
# Incremental puts of a tree, offline and through a daemon: a re-put of an
# unchanged tree reads no file (reused = every file, no version added); one
# file edited: reused = files - 1 and the new version reads back identical;
# a file rewritten with its size and mtime put back (touch -d; its ctime
# moves) is read again and the new bytes come back; --full reuses nothing;
# the first version still reads back as it was. On a mesh of two with
# R = 2, the chunks an incremental put reuses are the new version's on both
# nodes (versions full 2/2, every chunk on both homes).
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

NFILES=32

# jfield FILE KEY: one field of a put --json line.
jfield() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# make_tree DIR: NFILES files of 1 MiB of random bytes over 4 directories.
make_tree() {
	local i d
	for i in $(seq -w 1 $NFILES); do
		d="$1/d$(((10#$i - 1) / 8 + 1))"
		mkdir -p "$d"
		gen_data "$d/f$i" $MiB "incr-$i"
	done
}

# scenario LABEL HOME: the whole story on one home (a daemon runs on it or not).
scenario() {
	local m=$1 h=$2 src="$1-src" cap1 cap mt
	make_tree "$src"
	cp -a "$src" "$m-orig"
	shoal --home "$h" put "$src" --name tree --json --no-progress >"$m-p1.json" 2>"$m-p1.err"
	check_eq "$m: first put exits 0" 0 $?
	check_eq "$m: ... reuses nothing" "0 0" "$(jfield "$m-p1.json" reused) $(jfield "$m-p1.json" reused_bytes)"
	check_eq "$m: ... counts $NFILES files" $NFILES "$(jfield "$m-p1.json" files)"
	cap1=$(jfield "$m-p1.json" capability)

	shoal --home "$h" put "$src" --name tree --json --no-progress >"$m-p2.json" 2>"$m-p2.err"
	check_eq "$m: unchanged re-put exits 0" 0 $?
	check_eq "$m: ... reuses every file" $NFILES "$(jfield "$m-p2.json" reused)"
	check_eq "$m: ... and every byte" $((NFILES * MiB)) "$(jfield "$m-p2.json" reused_bytes)"
	check_eq "$m: ... the same capability" "$cap1" "$(jfield "$m-p2.json" capability)"
	check_eq "$m: ... no version added" 1 "$(shoal --home "$h" versions tree | wc -l)"

	printf 'X' | dd of="$src/d2/f12" bs=1 seek=12345 conv=notrunc 2>/dev/null
	shoal --home "$h" put "$src" --name tree --json --no-progress >"$m-p3.json" 2>"$m-p3.err"
	check_eq "$m: put after a one-byte edit exits 0" 0 $?
	check_eq "$m: ... reuses every other file" $((NFILES - 1)) "$(jfield "$m-p3.json" reused)"
	local rb
	rb=$(jfield "$m-p3.json" reused_bytes)
	check "$m: ... most bytes not read ($rb)" test "$rb" -ge $(((NFILES - 10) * MiB)) -a "$rb" -lt $((NFILES * MiB))
	check_ne "$m: ... a new capability" "$cap1" "$(jfield "$m-p3.json" capability)"
	rm -rf "$m-out2"
	shoal --home "$h" get tree -o "$m-out2"
	check "$m: ... the new version reads back identical" diff -r "$src" "$m-out2"

	# Same size, same mtime, other bytes: only the ctime tells.
	mt=$(stat -c %y "$src/d3/f20")
	gen_data "$src/d3/f20" $MiB incr-other
	touch -d "$mt" "$src/d3/f20"
	check_eq "$m: touch -d put the mtime back" "$mt" "$(stat -c %y "$src/d3/f20")"
	shoal --home "$h" put "$src" --name tree --json --no-progress >"$m-p4.json" 2>"$m-p4.err"
	check_eq "$m: put after the hidden rewrite exits 0" 0 $?
	check_eq "$m: ... the rewritten file is read again" $((NFILES - 1)) "$(jfield "$m-p4.json" reused)"
	rm -rf "$m-out3"
	shoal --home "$h" get tree -o "$m-out3"
	check "$m: ... its new bytes come back" cmp "$src/d3/f20" "$m-out3/d3/f20"
	check "$m: ... the whole tree identical" diff -r "$src" "$m-out3"

	shoal --home "$h" put "$src" --name tree --full --json --no-progress >"$m-p5.json" 2>"$m-p5.err"
	check_eq "$m: put --full exits 0" 0 $?
	check_eq "$m: ... reuses nothing" "0 0" "$(jfield "$m-p5.json" reused) $(jfield "$m-p5.json" reused_bytes)"
	# Cut without the previous version's chunk edges, the same content can
	# make another manifest, so another version: what matters is its bytes.
	rm -rf "$m-out4"
	shoal --home "$h" get tree -o "$m-out4"
	check "$m: ... the newest reads back identical" diff -r "$src" "$m-out4"

	rm -rf "$m-out1"
	shoal --home "$h" get tree --version 1 -o "$m-out1"
	check "$m: version 1 still reads back identical" diff -r "$m-orig" "$m-out1"
	shoal --home "$h" put "$src" --name tree --no-progress >"$m-p6.out" 2>"$m-p6.err"
	check_match "$m: plain put prints the capability alone" "$CAP_RE" "$(cat "$m-p6.out")"
}

make_node off >/dev/null || fail "make_node off"
scenario offline off

make_node dh >/dev/null || fail "make_node dh"
start_daemon dh dh.log --listen 127.0.0.1:0
daemon_ready "the daemon starts" dh || {
	done_testing
	exit 1
}
scenario daemon dh
stop_daemon dh
check_eq "the daemon stops cleanly" 0 $?

# ---- a mesh of two, R = 2: the reused chunks are the new version's too -------------
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5)
make_nodes 1 2
start_node 1
start_node 2 1
check "two daemons form a mesh" wait_for 15 mesh_up 1 2
make_tree mesh
shoal --home n1 put mesh --name tree --replicas 2 --no-progress >/dev/null 2>mesh1.err
check_eq "mesh: first put, R = 2, exits 0" 0 $?
printf 'Y' | dd of=mesh/d2/f12 bs=1 seek=77 conv=notrunc 2>/dev/null
shoal --home n1 put mesh --name tree --replicas 2 --json --no-progress >mesh2.json 2>mesh2.err
check_eq "mesh: put after an edit exits 0" 0 $?
check_eq "mesh: ... reuses the other files" $((NFILES - 1)) "$(jfield mesh2.json reused)"
check_eq "mesh: ... both versions full with 2 of 2 copies" "full 2/2,full 2/2" \
	"$(shoal --home n1 versions tree | cut -f5 | paste -sd ,)"
locate_chunks n1 "$(jfield mesh2.json capability)" loc2
check "mesh: every chunk of the new version is on both homes" each_chunk_has -eq 2 loc2.ids n1 n2
check "mesh: node 2 reads the new version identical" \
	sh -c "$SHOAL --home n2 get $(jfield mesh2.json capability) -o mesh-out && diff -r mesh mesh-out"
stop_nodes 1 2
done_testing
