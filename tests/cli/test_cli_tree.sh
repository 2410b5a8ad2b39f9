#!/usr/bin/env bash
# Directory trees through the CLI, offline: a tree of nested folders with
# 1,000 small files, empty folders and files, a 5 MiB file and unusual modes
# round-trips byte for byte (diff -r, then modes and mtimes) and costs a
# handful of chunks; links and FIFOs are kept (tests/cli/test_cli_links.sh
# covers them), invalid names and the node's own home are skipped with a
# warning; an existing
# output is refused and left alone; a damaged chunk leaves no output and no
# temporary tree; hostile directory manifests (made by tests/tools/mkbadtree:
# "../x", "/x", "a/../../x" and more) are refused with one clear line and
# write nothing anywhere. Then the option errors of the distributed commands:
# --replicas, --publish, send, locate and ls --network without a daemon.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
outer="$T/outer" # the canary: must end up holding only work/
W="$outer/work"
mkdir -p "$W" && cd "$W" || exit 1
TOOLS="$(dirname "$SHOAL")/tests/tools"
MKBADTREE="$TOOLS/mkbadtree"

make_node h >/dev/null || fail "make_node"

# listing DIR: every entry below DIR with its type, mode, size (files) and
# mtime (whole seconds: what a manifest keeps).
listing() {
	(cd "$1" && find . -mindepth 1 \( -type f -printf '%P f %m %s %T@\n' \) -o \
		\( -type d -printf '%P d %m - %T@\n' \) | sed 's/\.[0-9]*$//' | LC_ALL=C sort)
}

# ---- a tree of 1,000 small files ------------------------------------------------
python3 - tree <<'EOF'
import os, random, sys
root, r = sys.argv[1], random.Random(7)
dirs = []
for i in range(10):
    for j in range(4):
        d = os.path.join(root, "dir %d" % i, "sub%d" % j, *(["deep", "er"] if j % 2 else []))
        os.makedirs(d, exist_ok=True)
        dirs.append(d)
os.makedirs(os.path.join(root, "empty", "dir"))
for k in range(1000):
    size = 0 if k % 97 == 0 else r.randint(1, 6000)
    p = os.path.join(dirs[r.randrange(len(dirs))], "f%04d.bin" % k)
    with open(p, "wb") as f:
        f.write(r.randbytes(size))
    os.chmod(p, [0o644, 0o600, 0o755, 0o444, 0o640][k % 5])
    os.utime(p, (1500000000 + k, 1500000000 + k))
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(r.randbytes(5 * 1024 * 1024))
with open(os.path.join(root, "caf\u00e9 \u2603.txt"), "w") as f:
    f.write("unicode name\n")
os.chmod(os.path.join(root, "dir 3"), 0o700)
os.chmod(os.path.join(root, "dir 4", "sub1"), 0o555)
for d in sorted(dirs, key=len, reverse=True) + [os.path.join(root, "empty")]:
    os.utime(d, (1400000000, 1400000000))
os.utime(root, (1300000000, 1300000000))
EOF
check_eq "the tree has 1,002 files" 1002 "$(find tree -type f | wc -l)"
objs0=$(count_objects h)
t0=$(now_ms)
shoal --home h put tree --no-progress >out 2>err
rc=$?
t1=$(now_ms)
check_eq "put of the tree exits 0" 0 "$rc"
cap=$(cat out)
check_match "... and prints one capability" "$CAP_RE" "$cap"
check_eq "... on one line" 1 "$(wc -l <out)"
check_eq "... with nothing on stderr" "" "$(cat err)"
added=$(($(count_objects h) - objs0))
# About 8.5 MiB of data: a few chunks of at least 256 KiB each, and the manifest.
check "... storing a handful of chunks, not one per file ($added)" test "$added" -le 40
echo "# put of 1,002 files: $((t1 - t0)) ms"
check_match "ls lists the tree under its directory's name with its total size" \
	$'(^|\n)tree\t'"$(find tree -type f -printf '%s\n' | awk '{s += $1} END {print s}')"$'\t' \
	"$(shoal --home h ls 2>&1)"

t0=$(now_ms)
shoal --home h get "$cap" -o got >out 2>err
rc=$?
t1=$(now_ms)
check_eq "get of the tree exits 0" 0 "$rc"
check_eq "... printing nothing" "" "$(cat out err)"
echo "# get of 1,002 files: $((t1 - t0)) ms"
check "... diff -r finds the trees identical" diff -r tree got
check_eq "... with the same modes and mtimes (files and folders)" "$(listing tree)" "$(listing got)"
check_eq "... the root folder's too" "$(stat -c '%a %Y' tree)" "$(stat -c '%a %Y' got)"
check_eq "... the empty folders too" "" "$(find got/empty/dir -mindepth 1 2>&1)"
check_eq "... and no temporary tree is left" "" "$(find . -maxdepth 1 -name '.shoal-get-*')"
shoal --home h get tree -o got-by-name >out 2>err
check_eq "get by name works too" 0 $?
check "... identical" diff -r tree got-by-name
chmod -R u+w got got-by-name && rm -rf got got-by-name

# A trailing slash and "." name the tree after its directory.
shoal --home h put tree/ --name slashed >out 2>err
check_eq "put tree/ works" "$cap" "$(cat out)"
(cd tree && shoal --home "$W/h" put . >"$W/out" 2>"$W/err")
check_eq "put . inside the tree works, with the same capability" "$cap" "$(cat out)"
check_match "... under the directory's name" $'(^|\n)tree\t' "$(shoal --home h ls | grep -v slashed)"

# ---- existing outputs --------------------------------------------------------------
mkdir existing && echo keep >existing/file
echo keep >existing-file
for o in existing existing-file; do
	before=$(ls -lR "$o")
	shoal --home h get "$cap" -o "$o" >out 2>err
	check_failed "get of a tree onto an existing $o fails" $?
	check_err1 "... with one line saying it exists" err "already exists"
	check_eq "... leaving it untouched" "$before" "$(ls -lR "$o")"
done
check_eq "... and no temporary tree" "" "$(find . -maxdepth 1 -name '.shoal-get-*')"

# ---- links, FIFOs and names a tree cannot hold ---------------------------------------
mkdir special special/sub
echo kept >special/sub/kept
ln -s /etc/passwd special/a-link
ln -s .. special/sub/loop
mkfifo special/fifo
echo x >"special/trailing "
shoal --home h put special >out 2>err
check_eq "put of a tree with links and a FIFO exits 0" 0 $?
check_match "... and prints the capability" "$CAP_RE" "$(cat out)"
check_err1 "... with one warning line about the name it skipped" err \
	"warning: skipped 1 entry that cannot be stored"
scap=$(cat out)
shoal --home h get "$scap" -o special-got >out 2>err
check_eq "... the restored tree holds the links, the FIFO, the file and folder" \
	"a-link:l fifo:p sub/kept:f sub/loop:l sub:d" \
	"$(cd special-got && find . -mindepth 1 -printf '%P:%y\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"

# A folder holding the node's own home (say, a whole home directory): the
# store is left out, since it changes while the put runs.
mkdir homed && echo mine >homed/notes
make_node homed/.shoal >/dev/null
shoal --home homed/.shoal put homed >out 2>err
check_eq "put of a folder holding the node's home exits 0" 0 $?
check_err1 "... warning that it skipped the home" err "first '.shoal'"
shoal --home homed/.shoal get "$(cat out)" -o homed-got >out 2>err
check_eq "... and the restored folder holds the rest" "notes" "$(ls -A homed-got)"

# ---- damage: no output, no temporary tree ---------------------------------------------
mkdir small small/a
gen_data small/a/one 300000 one
gen_data small/two 400000 two
dcap=$(shoal --home h put small --name small 2>&1)
check_match "put of a small tree works" "$CAP_RE" "$dcap"
# The objects this tree alone uses (what rm releases); then damage its largest
# (a data chunk).
before_set=$(cd h/objects && find ?? -type f | sort)
shoal --home h rm small
after_set=$(cd h/objects && find ?? -type f | sort)
mine=$(comm -23 <(echo "$before_set") <(echo "$after_set"))
dcap=$(shoal --home h put small --name small 2>&1)
check "... using objects of its own ($(echo "$mine" | wc -l))" test -n "$mine"
datachunk=$(for o in $mine; do echo "$(stat -c %s "h/objects/$o") $o"; done | sort -n | tail -n 1 | cut -d' ' -f2)
flip_byte "h/objects/$datachunk" 1000
mkdir dmg
shoal --home h get "$dcap" -o dmg/out >out 2>err
check_failed "get of a tree with a damaged chunk fails" $?
check_err1 "... with one line naming the chunk" err "sha256:$(basename "$datachunk")"
check_eq "... leaving no output and no temporary tree" "" "$(ls -A dmg)"
flip_byte "h/objects/$datachunk" 1000
shoal --home h get "$dcap" -o dmg/out >out 2>err
check_eq "repaired, the same get works" 0 $?
check "... identical" diff -r small dmg/out

# ---- hostile directory manifests --------------------------------------------------------
check "mkbadtree is built ($MKBADTREE)" test -x "$MKBADTREE"
slash_x=$([ -e /x ] && echo before || echo none)
vcap=$("$MKBADTREE" h valid 2>&1)
check_match "mkbadtree stores a valid tree (the control)" "$CAP_RE" "$vcap"
mkdir -p bad/sub
shoal --home h get "$vcap" -o bad/sub/out >out 2>err
check_eq "... which get restores" hello "$(cat bad/sub/out/a/x 2>&1)"
rm -rf bad/sub/out
for k in dotdot absolute inner-dotdot dotdot-dir dot empty-component trailing-slash \
	control-char duplicate orphan late-parent file-parent size-mismatch; do
	bcap=$("$MKBADTREE" h "$k" 2>&1)
	check_match "mkbadtree stores a '$k' manifest" "$CAP_RE" "$bcap"
	for target in "$bcap" "bad-$k"; do
		shoal --home h get "$target" -o bad/sub/out >out 2>err
		check_failed "get of the '$k' tree (${target:0:8}...) fails" $?
		check_err1 "... with one 'shoal: ' line about the manifest" err "manifest"
		LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' err
		check_eq "... holding no control bytes" 1 $?
		check_eq "... writing nothing, in or beside the output's parent" "" \
			"$(find bad -mindepth 2; cat out)"
	done
done
check_eq "... nothing named x anywhere in the test directory" "" "$(find "$T" -name x)"
check_eq "... nor at /x" "$slash_x" "$([ -e /x ] && echo before || echo none)"

# ---- options of the distributed commands, offline ----------------------------------------
echo data >f.txt
for r in 0 17 -1 abc 3x "" 99999999999999999999; do
	shoal --home h put f.txt --replicas "$r" >out 2>err
	check_eq "put --replicas '$r' is a usage error (2)" 2 $?
	check_err1 "... with one line naming --replicas" err "--replicas"
done
shoal --home h put f.txt --publish >out 2>err
check_failed "put --publish without a daemon fails" $?
check_err1 "... with one line saying it needs a daemon" err "--publish needs a running daemon"
check_eq "... storing nothing" "" "$(shoal --home h ls | grep -F f.txt)"
shoal --home h put f.txt --replicas 3 >out 2>err
check_eq "put --replicas 3 without a daemon succeeds" 0 $?
check_match "... printing the capability" "$CAP_RE" "$(cat out)"
check_eq "... and one warning line" \
	"shoal: warning: no daemon running; stored on this node only until one runs with members up" "$(cat err)"
shoal --home h put f.txt --name f1.txt --replicas 1 >out 2>err
check_eq "put --replicas 1 without a daemon succeeds quietly" "0 " "$? $(cat err)"

nid=$(shoal --home h id)
shoal --home h send "$cap" >out 2>err
check_eq "send without --to is a usage error (2)" 2 $?
check_err1 "... with one line naming --to" err "--to"
for bad in "${nid}a" "a b" "x/y" ""; do
	shoal --home h send "$cap" --to "$bad" >out 2>err
	check_eq "send --to '${bad:0:12}...' (not a node id) is a usage error (2)" 2 $?
	check_err1 "... with one line" err "not a node id"
done
# A prefix or nickname is looked up in the daemon's member list.
shoal --home h send "$cap" --to abc >out 2>err
check_eq "send --to a nickname without a daemon fails (1)" 1 $?
check_err1 "... with one line naming the missing daemon" err "no daemon"
shoal --home h send --to "$nid" >out 2>err
check_eq "send without a target is a usage error (2)" 2 $?
shoal --home h send "shoal:bad" --to "$nid" >out 2>err
check_failed "send of a malformed capability fails" $?
check_err1 "... with one line" err "capability"
shoal --home h send "$cap" --to "$nid" >out 2>err
check_failed "send without a daemon fails" $?
check_err1 "... with one line saying it needs a daemon" err "needs a running daemon"
check_eq "... printing nothing on stdout" "" "$(cat out)"
shoal --home h locate "$cap" >out 2>err
check_failed "locate without a daemon fails" $?
check_err1 "... with one line saying it needs a daemon" err "needs a running daemon"
shoal --home h locate >out 2>err
check_eq "locate without a target is a usage error (2)" 2 $?
shoal --home h locate "$cap" --bogus >out 2>err
check_eq "locate --bogus is a usage error (2)" 2 $?
shoal --home h ls --network >out 2>err
check_failed "ls --network without a daemon fails" $?
check_err1 "... with one line saying it needs a daemon" err "needs a running daemon"
for c in send locate; do
	shoal "$c" --help >out 2>err
	check_eq "shoal $c --help exits 0" 0 $?
	check "... and prints its usage" grep -q "^usage: shoal $c" out
done
shoal put --help >out 2>&1
check "put --help mentions --publish and --replicas" grep -q -- "--replicas R" out

# ---- nothing outside the test directory ----------------------------------------------
check_eq "nothing was written beside the test directory" "work" "$(ls -A "$outer")"
check "the store still verifies" shoal --home h verify

done_testing
