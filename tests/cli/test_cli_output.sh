#!/usr/bin/env bash
# What get writes and what the transfer commands report, offline and through
# real daemons. get -o onto an existing file or directory is refused and
# leaves it untouched; --force replaces it (a file by a file or a tree, a
# tree by a tree). A 1 GiB sparse file holding 1 MiB of data round-trips
# identical and comes back with about 1 MiB allocated, alone and inside a
# tree. mtimes keep their nanoseconds, for a file and inside a tree. A get
# killed with kill -9 (the daemon, or an offline CLI) leaves its temporary
# tree, which the next start removes, and nothing else. put, get, verify and
# send --json print one line that parses and carries the right values. On a
# terminal (a tmux pane) the progress bar's last frame shows 100% for put,
# get, verify and send through a daemon, and for an offline put and get.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# blocks_kib FILE: the KiB FILE has allocated on disk.
blocks_kib() { echo $(($(stat -c '%b * %B' "$1") / 1024)); }
# mtime_ns FILE: its mtime, seconds and nanoseconds.
mtime_ns() { stat -c '%.9Y' "$1"; }
# temps DIR: the restore temporaries in DIR, one a line.
temps() { find "$1" -maxdepth 1 -name '.shoal-get-*' 2>/dev/null; }

make_node h >/dev/null || fail "make_node h"

# ---- data ------------------------------------------------------------------------
gen_data small.txt 5000 small
gen_data other.txt 3000 other
# A 1 GiB file whose only data is 1 MiB in the middle.
truncate -s 1G sparse.img
gen_data chunk.bin $MiB sparse
dd if=chunk.bin of=sparse.img bs=1M seek=600 conv=notrunc status=none
check "the sparse source has about 1 MiB allocated" \
	test "$(blocks_kib sparse.img)" -le $((2 * 1024))
mkdir -p tree/sub/deeper
gen_data tree/a.bin 200000 a
gen_data tree/sub/b.bin 300000 b
cp --sparse=always sparse.img tree/sub/sparse.img
touch -d '2021-03-04 05:06:07.123456789' tree/a.bin
touch -d '2019-01-01 00:00:00.000000001' tree/sub/deeper
touch -d '2018-07-08 09:10:11.999999999' tree/sub
touch -d '2017-12-13 14:15:16.500000000' tree
touch -d '2022-02-02 02:02:02.987654321' small.txt

# ---- offline -------------------------------------------------------------------------
shoal --home h put small.txt --name small >/dev/null 2>&1
shoal --home h put tree --name tree >/dev/null 2>&1

echo precious >existing
shoal --home h get small -o existing 2>exist.err
check_failed "offline: get onto an existing file is refused" $?
check_err1 "... in one line naming --force" exist.err "--force"
check_eq "... and the file is untouched" precious "$(cat existing)"
shoal --home h get small -o existing --force
check_eq "offline: get --force replaces it" 0 $?
check "... with the stored content" cmp small.txt existing
check_eq "... and its mtime to the nanosecond" "$(mtime_ns small.txt)" "$(mtime_ns existing)"

mkdir -p olddir/keep && echo old >olddir/keep/file
shoal --home h get tree -o olddir 2>dir.err
check_failed "offline: a tree onto an existing directory is refused" $?
check_eq "... which is untouched" old "$(cat olddir/keep/file)"
shoal --home h get tree -o olddir --force
check_eq "offline: get --force replaces the directory by the tree" 0 $?
check "... which is the stored tree" diff -r tree olddir
check "... and nothing of the old one is left" test ! -e olddir/keep
check_eq "offline: no temporary is left beside it" "" "$(temps .)"

echo "a plain file" >wasfile
shoal --home h get tree -o wasfile --force
check_eq "offline: get --force replaces a file by a tree" 0 $?
check "... which is the stored tree" diff -r tree wasfile
shoal --home h get small -o olddir --force
check_eq "offline: get --force replaces a tree by a file" 0 $?
check "... which is the stored file" cmp small.txt olddir

# Sparse, alone and inside a tree.
shoal --home h put sparse.img --name sparse >/dev/null 2>&1
check_eq "offline: a 1 GiB sparse file is stored" 0 $?
shoal --home h get sparse -o sparse.out
check "offline: it comes back identical" cmp sparse.img sparse.out
kib=$(blocks_kib sparse.out)
check "offline: ... with about 1 MiB allocated ($kib KiB)" test "$kib" -le $((2 * 1024))
shoal --home h get tree -o tree.out
check "offline: the tree comes back identical" diff -r tree tree.out
kib=$(blocks_kib tree.out/sub/sparse.img)
check "offline: ... its sparse file with about 1 MiB allocated ($kib KiB)" \
	test "$kib" -le $((2 * 1024))
for p in "" /a.bin /sub /sub/deeper /sub/sparse.img; do
	check_eq "offline: mtime of tree$p to the nanosecond" "$(mtime_ns "tree$p")" \
		"$(mtime_ns "tree.out$p")"
done
objects_kib=$(du -sk h/objects | cut -f1)
check "the holes cost (next to) nothing to store ($objects_kib KiB of objects)" \
	test "$objects_kib" -le $((24 * 1024))

# --json, offline.
shoal --home h put other.txt --name other --json >put.json
check "offline: put --json is one line of JSON" test "$(wc -l <put.json)" -eq 1
check "... with the capability, name, size and counts" json_ok put.json \
	"j['name'] == 'other' and j['size'] == 3000 and j['files'] == 1 and j['dirs'] == 0 \
	 and not j['directory'] and j['copies'] == 1 and j['capability'].startswith('shoal:') \
	 and isinstance(j['seconds'], (int, float))"
cap_other=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["capability"])' put.json)
shoal --home h get "$cap_other" -o other.out --json >get.json
check "offline: get --json parses, with the file's size" json_ok get.json \
	"j['size'] == 3000 and j['files'] == 1 and j['out'] == 'other.out' and not j['directory']"
shoal --home h get tree -o tree2.out --json >gettree.json
check "offline: get --json of a tree counts its files and directories" json_ok gettree.json \
	"j['directory'] and j['files'] == 3 and j['dirs'] == 2 and j['size'] == 500000 + 2**30"
shoal --home h verify --json >verify.json
check_eq "offline: verify --json exits 0 on a sound store" 0 $?
check "... and says so" json_ok verify.json \
	"j['ok'] and j['checked'] == int(a[0]) and j['corrupt'] == 0 and j['missing'] == 0" \
	"$(count_objects h)"

# A killed offline get: its temporary is noted, and the next command removes it.
mkdir big && for i in $(seq 1 200); do gen_data "big/f$i" $MiB "big$i"; done
shoal --home h put big >/dev/null 2>&1
mkdir dest
killed_temp() { # DIR: a restore temporary appeared in DIR
	[ -n "$(temps "$1")" ]
}
"$SHOAL" --home h get big -o dest/big 2>/dev/null &
getpid=$!
if wait_for 30 killed_temp dest; then
	kill -9 "$getpid" 2>/dev/null
	wait "$getpid" 2>/dev/null
	if [ -e dest/big ]; then
		skip "offline: a killed get leaves its temporary" "the get finished first"
	else
		check "offline: a killed get leaves its temporary" killed_temp dest
		check "... noted in the home" test -n "$(ls h/restores)"
		shoal --home h ls >/dev/null
		check_eq "offline: the next command removes it" "" "$(temps dest)"
		check_eq "... and its note" "" "$(ls h/restores)"
	fi
else
	fail "offline: the get made its temporary"
fi
check_eq "... and nothing else: the directory holds nothing more" "" "$(ls -A dest)"

# ---- through daemons -------------------------------------------------------------------
make_nodes 1 2
start_node 1
start_node 2 1
wait_for 20 mesh_up 1 2 || fail "the two nodes see each other"

cp small.txt n1small.txt
touch -d '2023-05-06 07:08:09.000000042' n1small.txt
shoal --home n1 put n1small.txt --name small --json >dput.json 2>/dev/null
check "daemon: put --json carries the copies kept and the chunks" json_ok dput.json \
	"j['copies'] == 2 and j['chunks'] >= 2 and j['size'] == 5000 and j['files'] == 1"
shoal --home n1 put tree --name tree >/dev/null 2>&1

echo precious >d-existing
shoal --home n1 get small -o d-existing 2>exist.err
check_failed "daemon: get onto an existing file is refused" $?
check_eq "... and the file is untouched" precious "$(cat d-existing)"
shoal --home n1 get small -o d-existing --force --json >dget.json
check_eq "daemon: get --force replaces it" 0 $?
check "... with the stored content" cmp small.txt d-existing
check_eq "... and its mtime to the nanosecond" "$(mtime_ns n1small.txt)" "$(mtime_ns d-existing)"
check "daemon: get --json parses" json_ok dget.json "j['size'] == 5000 and j['files'] == 1"

mkdir -p d-olddir/keep && echo old >d-olddir/keep/file
shoal --home n1 get tree -o d-olddir 2>dir.err
check_failed "daemon: a tree onto an existing directory is refused" $?
check_eq "... which is untouched" old "$(cat d-olddir/keep/file)"
shoal --home n1 get tree -o d-olddir --force
check_eq "daemon: get --force replaces the directory by the tree" 0 $?
check "... which is the stored tree" diff -r tree d-olddir
for p in "" /a.bin /sub /sub/deeper; do
	check_eq "daemon: mtime of tree$p to the nanosecond" "$(mtime_ns "tree$p")" \
		"$(mtime_ns "d-olddir$p")"
done
kib=$(blocks_kib d-olddir/sub/sparse.img)
check "daemon: the tree's sparse file comes back with about 1 MiB allocated ($kib KiB)" \
	test "$kib" -le $((2 * 1024))

# Sparse, fetched from the other node.
shoal --home n1 put sparse.img --name sparse --replicas 1 --json >sput.json
cap_sparse=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["capability"])' sput.json)
shoal --home n2 get "$cap_sparse" -o d-sparse.out --json >sget.json
check "daemon: a sparse file fetched from another node comes back identical" \
	cmp sparse.img d-sparse.out
kib=$(blocks_kib d-sparse.out)
check "... with about 1 MiB allocated ($kib KiB)" test "$kib" -le $((2 * 1024))
check "daemon: get --json counts the chunks fetched ($(cat sget.json))" json_ok sget.json \
	"j['size'] == 2**30 and j['chunks'] >= 1 and j['fetched'] >= 1 and j['fetched'] <= j['chunks']"

# send --json
shoal --home n1 put other.txt --name other --replicas 1 >/dev/null 2>&1
shoal --home n1 send other --to "${node_id[2]}" --json >send.json
check_eq "daemon: send --json exits 0" 0 $?
check "... with the target node, the size and the chunks" json_ok send.json \
	"j['to'] == a[0] and j['size'] == 3000 and j['chunks'] >= 2 and j['target'] == 'other'" \
	"${node_id[2]}"
shoal --home n1 verify --json >dverify.json
check "daemon: verify --json parses and is sound" json_ok dverify.json \
	"j['ok'] and j['checked'] > 0 and j['bytes'] > 0 and j['repaired'] == 0"

# A killed daemon during a directory get: the restart removes the temporary.
shoal --home n1 put big --name big >/dev/null 2>&1
mkdir d-dest
shoal --home n1 get big -o d-dest/big 2>/dev/null &
getpid=$!
if wait_for 30 killed_temp d-dest; then
	kill_daemon n1
	wait "$getpid" 2>/dev/null
	if [ -e d-dest/big ]; then
		skip "daemon: kill -9 during a directory get leaves its temporary" \
			"the get finished first"
	else
		check "daemon: kill -9 during a directory get leaves its temporary tree" \
			killed_temp d-dest
		start_node 1
		check_eq "daemon: the restart removes it" "" "$(temps d-dest)"
		check_eq "... and its note" "" "$(ls n1/restores)"
	fi
else
	fail "daemon: the get made its temporary tree"
fi
check_eq "... and nothing else: the directory holds nothing more" "" "$(ls -A d-dest)"
wait_for 20 mesh_up 1 2 || fail "the two nodes see each other again"

# ---- the progress bar on a terminal ------------------------------------------------------
# bar_frame LABEL CMD...: runs CMD in a tmux pane and prints the pane's last line
# starting with LABEL (the bar's last frame) once CMD has exited.
TMUX_SOCK="$T/tmux.sock"
_bars=0
bar_frame() {
	local label=$1 i s
	shift
	_bars=$((_bars + 1))
	s="bar$_bars"
	rm -f "$T/pane.done" "$T/pane.rc"
	tmux -S "$TMUX_SOCK" new-session -d -s "$s" -x 200 -y 20 \
		"cd '$T' && $* >/dev/null; echo \$? >'$T/pane.rc'; touch '$T/pane.done'; sleep 600"
	for i in $(seq 1 600); do
		[ -e "$T/pane.done" ] && break
		sleep 0.1
	done
	tmux -S "$TMUX_SOCK" capture-pane -p -t "$s" 2>/dev/null | grep "^$label " | tail -n 1
	tmux -S "$TMUX_SOCK" kill-session -t "$s" 2>/dev/null
}

if ! command -v tmux >/dev/null; then
	skip "the progress bar on a terminal" "tmux is not installed"
else
	tmux -S "$TMUX_SOCK" new-session -d -s keep -x 200 -y 20 "sleep 3600"
	_track "$(tmux -S "$TMUX_SOCK" display-message -p '#{pid}')"
	gen_data bar.bin $((300 * MiB)) bar
	frame=$(bar_frame put "$SHOAL" --home n1 put bar.bin --name bar --replicas 1)
	check_eq "tmux: put through the daemon exits 0" 0 "$(cat pane.rc)"
	check_match "tmux: put's last frame shows 100% and the time taken ($frame)" \
		'^put +\[#{30}\] 100% .*300\.0 MiB / 300\.0 MiB .* in [0-9]' "$frame"
	cap_bar=$(shoal --home n1 ls | awk -F'\t' '$1 == "bar" {print $3}')
	frame=$(bar_frame get "$SHOAL" --home n2 get "$cap_bar" -o bar.n2)
	check_eq "tmux: get through the daemon (fetching) exits 0" 0 "$(cat pane.rc)"
	check_match "tmux: get's last frame shows 100% ($frame)" \
		'^get +\[#{30}\] 100% .*300\.0 MiB / 300\.0 MiB' "$frame"
	check "... and the file is whole" cmp bar.bin bar.n2
	frame=$(bar_frame get "$SHOAL" --home n1 get bar -o bar.n1)
	check_match "tmux: a local get's last frame shows 100% ($frame)" \
		'^get +\[#{30}\] 100% .*300\.0 MiB / 300\.0 MiB' "$frame"
	frame=$(bar_frame verify "$SHOAL" --home n1 verify)
	check_match "tmux: verify's last frame shows 100% ($frame)" \
		'^verify +\[#{30}\] 100% ' "$frame"
	frame=$(bar_frame send "$SHOAL" --home n1 send bar --to "${node_id[2]}")
	check_eq "tmux: send exits 0" 0 "$(cat pane.rc)"
	check_match "tmux: send's last frame shows 100% ($frame)" \
		'^send +\[#{30}\] 100% .*300\.0 MiB / 300\.0 MiB' "$frame"
	frame=$(bar_frame put "$SHOAL" --home h put bar.bin --name bar)
	check_match "tmux: an offline put's last frame shows 100% ($frame)" \
		'^put +\[#{30}\] 100% .*300\.0 MiB / 300\.0 MiB' "$frame"
	frame=$(bar_frame get "$SHOAL" --home h get bar -o bar.h)
	check_match "tmux: an offline get's last frame shows 100% ($frame)" \
		'^get +\[#{30}\] 100% .*300\.0 MiB / 300\.0 MiB' "$frame"
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
fi

stop_nodes 1 2
done_testing
