#!/usr/bin/env bash
# Links, FIFOs and empty folders through a running daemon: symbolic links
# (relative, absolute, dangling, pointing outside the tree, to a folder)
# come back as links with the same targets, hard links as one inode again
# (stat %i), empty folders and a FIFO as such; sockets are skipped with a
# warning naming them. A restore never follows a link: hostile version 2
# manifests (tests/tools/mkbadtree) whose listing would lead a later entry
# through a link, or hard-link to a link, are refused with one line and
# write nothing, in or outside the output. An old (version 1) manifest
# still restores.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
outer="$T/outer" # what a restore must never write into, besides its output
W="$outer/work"
mkdir -p "$W" && cd "$W" || exit 1
MKBADTREE=$(tool mkbadtree)

make_node h >/dev/null || fail "make_node"
start_daemon h h.log --listen 127.0.0.1:0
daemon_ready "the daemon starts" h || { done_testing; exit 1; }

# ---- the tree ----------------------------------------------------------------------------
mkdir -p tree/lib/sub tree/empty/inner tree/other
echo "library" >tree/lib/libfoo.so.1.2
ln -s libfoo.so.1.2 tree/lib/libfoo.so.1       # relative
ln -s libfoo.so.1 tree/lib/libfoo.so           # a chain
ln -s /etc/hostname tree/abs                   # absolute
ln -s does/not/exist tree/dangling             # dangling
ln -s ../../../../outside/secret tree/lib/sub/out # out of the tree
ln -s ../lib tree/other/lib-dir                # to a folder
ln -s "$(printf 'odd\tname \\ %%s')" tree/odd  # a target with odd bytes
echo "shared" >tree/lib/hard-a
ln tree/lib/hard-a tree/other/hard-b           # hard links, across folders
ln tree/lib/hard-a tree/hard-c
echo "alone" >tree/alone
mkfifo -m 0640 tree/fifo
python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('tree/lib/sock')"
touch -h -d @1500000000 tree/abs

shoal --home h put tree --no-progress >out 2>err
check_eq "put of the tree exits 0" 0 $?
cap=$(cat out)
check_match "... printing a capability" "$CAP_RE" "$cap"
check_err1 "... warning once about the socket, naming it" err "first 'lib/sock'"

shoal --home h get "$cap" -o got >out 2>err
check_eq "get of the tree exits 0" 0 $?
check_eq "... printing nothing" "" "$(cat out err)"
for l in lib/libfoo.so.1 lib/libfoo.so abs dangling lib/sub/out other/lib-dir odd; do
	check "$l is a symbolic link again" test -L "got/$l"
	check_eq "... with the same target" "$(readlink "tree/$l")" "$(readlink "got/$l")"
done
check_eq "the link's own mtime is kept" 1500000000 "$(stat -c %Y got/abs)"
check_eq "the chain still reads through to the library" library "$(cat got/lib/libfoo.so)"
check_eq "nothing outside the output was created through a link" "" \
	"$(find "$outer" -mindepth 1 -maxdepth 1 ! -name work)"
inode_a=$(stat -c %i got/lib/hard-a)
check_eq "hard links are one inode again (other/hard-b)" "$inode_a" "$(stat -c %i got/other/hard-b)"
check_eq "... (hard-c)" "$inode_a" "$(stat -c %i got/hard-c)"
check_eq "... with three links" 3 "$(stat -c %h got/lib/hard-a)"
check_ne "... but not linked to the source" "$(stat -c %i tree/lib/hard-a)" "$inode_a"
check_eq "an unlinked file stays alone" 1 "$(stat -c %h got/alone)"
check_eq "the FIFO is a FIFO, mode 640" "fifo 640" "$(stat -c '%F %a' got/fifo | sed 's/^fifo.* /fifo /')"
check_eq "empty folders are kept" "inner" "$(ls -A got/empty)"
check_eq "... the innermost too" "" "$(ls -A got/empty/inner)"
check "the socket is not restored" test ! -e got/lib/sock
# The same tree again stores nothing new, and comes back the same.
objs=$(count_objects h)
cap2=$(shoal --home h put tree --name again --no-progress 2>/dev/null)
check_eq "putting the same tree again gives the same capability" "$cap" "$cap2"
check_eq "... storing nothing new" "$objs" "$(count_objects h)"

rm -f tree/lib/sock
check "diff -r --no-dereference finds the trees identical (but for the FIFO)" \
	diff -r --no-dereference --exclude=fifo tree got


# ---- hostile listings --------------------------------------------------------------------
# mkbadtree writes to the store directly: the daemon must not hold it then.
stop_daemon h
check_eq "the daemon stops" 0 $?
mkdir -p bad/sub
vcap=$("$MKBADTREE" h v2-valid 2>&1)
check_match "mkbadtree stores a valid version 2 tree (the control)" "$CAP_RE" "$vcap"
kinds=(v2-link-escape v2-link-escape-absolute v2-link-escape-nested v2-hardlink-to-link
	v2-hardlink-dangling v2-hardlink-dotdot v2-duplicate)
bcaps=()
for k in "${kinds[@]}"; do
	bcaps+=("$(MKBADTREE_ABSOLUTE="$outer" "$MKBADTREE" h "$k" 2>&1)")
done
start_daemon h h.log --listen 127.0.0.1:0
daemon_ready "the daemon starts again" h || { done_testing; exit 1; }
shoal --home h get "$vcap" -o bad/sub/out >out 2>err
check_eq "the control restores" 0 $?
check_eq "... its file" hello "$(cat bad/sub/out/a/x 2>&1)"
check_eq "... and its link" "../../x" "$(readlink bad/sub/out/a/l)"
rm -rf bad/sub/out
outside() { find "$outer" -mindepth 1 -maxdepth 1 ! -name work; }
canary_before=$(outside)
for i in "${!kinds[@]}"; do
	k=${kinds[$i]}
	check_match "mkbadtree stores a '$k' manifest" "$CAP_RE" "${bcaps[$i]}"
	shoal --home h get "${bcaps[$i]}" -o bad/sub/out >out 2>err
	check_failed "get of the '$k' tree fails" $?
	check_err1 "... with one line saying the manifest is unsafe" err "invalid or unsafe"
	check_eq "... writing nothing, in or beside the output's parent" "" \
		"$(find bad -mindepth 2; cat out)"
done
check_eq "nothing was written through a link outside the test" "$canary_before" \
	"$(outside)"
check_eq "nothing named x was made in the test directory" "" "$(find "$T" -name x)"

# ---- an old manifest ---------------------------------------------------------------------
stop_daemon h
ocap=$("$MKBADTREE" h valid 2>&1)
start_daemon h h.log --listen 127.0.0.1:0
daemon_ready "the daemon starts a third time" h || { done_testing; exit 1; }
shoal --home h get "$ocap" -o old >out 2>err
check_eq "a version 1 manifest still restores" hello "$(cat old/a/x 2>&1)"

stop_daemon h
check_eq "the daemon stops cleanly" 0 $?
check_no_sanitizer "no sanitizer report" h.log
done_testing
