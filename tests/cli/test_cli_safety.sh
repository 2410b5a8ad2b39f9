#!/usr/bin/env bash
# What a restore may do to the machine it runs on, offline and through the
# daemon: a stored tree holding a setuid-root binary, a 0666 file, a 0777 and
# a sticky directory comes back under the asking CLI's umask, with no setuid,
# setgid or sticky bit (the binary, run as nobody, is not root), whatever the
# daemon's own umask; --preserve-mode gives the stored bits back (setuid and
# setgid only to root); an existing file or directory is kept unless
# --force, which replaces either. A directory put through the daemon warns of what it skipped in the
# same words as offline. The node's home is private: init makes it 0700 (an
# existing empty one tightened), every file in it is 0600 or tighter, nobody
# else can read the index, and the daemon refuses a home others may enter.
# A file written to while a put reads it (at its start and its end, as a
# program saving it would) is read again once, then the put fails with
# "changed while being read" and stores nothing, never a mix.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

mode_of() { stat -c %a "$1"; }

# ---- the stored tree --------------------------------------------------------------------
mkdir -p src/bin src/open src/tmp
cp /bin/id src/bin/id
chmod 4755 src/bin/id
echo "anyone may write me" >src/open/shared.txt
chmod 0666 src/open/shared.txt
echo "group id" >src/bin/sgid
chmod 2755 src/bin/sgid
chmod 0777 src/open
chmod 1777 src/tmp
echo data >src/tmp/f
check_eq "the source has a setuid binary" 4755 "$(mode_of src/bin/id)"
make_node home >/dev/null
cap=$(shoal --home home put src 2>put.err)
check_match "a tree with setuid, setgid, sticky and 0666 entries is stored" "$CAP_RE" "$cap"

# restored_modes DIR: "id sgid shared.txt open tmp" modes, in one line
restored_modes() {
	echo "$(mode_of "$1/bin/id") $(mode_of "$1/bin/sgid") $(mode_of "$1/open/shared.txt")" \
		"$(mode_of "$1/open") $(mode_of "$1/tmp")"
}
# runs_as_root BINARY: the restored id, run as nobody, reports euid 0
runs_as_root() {
	[ "$(id -u)" -eq 0 ] || return 1
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$1" -u 2>/dev/null | grep -qx 0
}

# check_restores WHERE: the checks of a restore through WHERE ("offline" or "daemon")
check_restores() {
	local where=$1
	(umask 022 && shoal --home home get "$cap" -o "pub/$where-022" 2>/dev/null)
	check_eq "$where, umask 022: no setuid, setgid or sticky bit; 0666 becomes 0644" \
		"755 755 644 755 755" "$(restored_modes "pub/$where-022")"
	if [ "$(id -u)" -eq 0 ]; then
		check_fails "$where: the restored id, run as nobody, is not root" \
			runs_as_root "pub/$where-022/bin/id"
	fi
	(umask 077 && shoal --home home get "$cap" -o "pub/$where-077" 2>/dev/null)
	check_eq "$where, umask 077: the umask applies to every entry" \
		"700 700 600 700 700" "$(restored_modes "pub/$where-077")"
	(umask 022 && shoal --home home get "$cap" -o "pub/$where-keep" --preserve-mode 2>/dev/null)
	if [ "$(id -u)" -eq 0 ]; then
		check_eq "$where, --preserve-mode as root: the stored bits exactly" \
			"4755 2755 666 777 1777" "$(restored_modes "pub/$where-keep")"
	else
		check_eq "$where, --preserve-mode: the stored bits but setuid and setgid" \
			"755 755 666 777 1777" "$(restored_modes "pub/$where-keep")"
	fi

	# An existing file is kept; --force replaces it, and a directory too.
	echo "precious" >"pub/$where-existing"
	shoal --home home get shared.txt -o "pub/$where-existing" 2>exist.err
	check_failed "$where: get onto an existing file is refused" $?
	check_err1 "... in one line naming --force" exist.err "--force"
	check_eq "... and the file is untouched" precious "$(cat "pub/$where-existing")"
	shoal --home home get shared.txt -o "pub/$where-existing" --force 2>force.err
	check_eq "$where: get --force replaces it" 0 $?
	check_eq "... with the stored content" "anyone may write me" "$(cat "pub/$where-existing")"
	mkdir -p "pub/$where-dir/sub"
	echo old >"pub/$where-dir/sub/old"
	shoal --home home get shared.txt -o "pub/$where-dir" 2>dir.err
	check_failed "$where: get onto a directory is refused" $?
	check_eq "... leaving it a directory" directory "$(stat -c %F "pub/$where-dir" | cut -d' ' -f1)"
	shoal --home home get shared.txt -o "pub/$where-dir" --force 2>dir.err
	check_eq "$where: get --force onto a directory replaces it" 0 $?
	check_eq "... by the file" "anyone may write me" "$(cat "pub/$where-dir")"
	ls -A pub | grep -q '^\.shoal-get-' && fail "$where: a temp file was left behind" ||
		ok "$where: no temp file is left behind"
}

# Files restored where nobody can reach them.
chmod 0711 "$T"
mkdir -m 0755 pub
shoal --home home put src/open/shared.txt >/dev/null 2>&1
check_restores offline

# ---- the same through a daemon whose umask is 000 ---------------------------------------
(umask 000 && exec "$SHOAL" --home home daemon --listen 127.0.0.1:0 2>>daemon.log) &
daemon_pid[home]=$!
_track "${daemon_pid[home]}"
if daemon_ready "the daemon starts (umask 000)" home; then
	check_restores daemon
fi

# ---- warnings through the daemon -------------------------------------------------------
mkdir -p odd
echo a >odd/a
python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('odd/sock')"
echo x >"odd/trailing "
# The offline words first, with no daemon on a second home.
make_node home2 >/dev/null
shoal --home home2 put odd --name odd-offline >/dev/null 2>offline.err
check_eq "offline: a put skipping a socket and an invalid name warns in one line" 1 "$(wc -l <offline.err)"
check "... saying what it skipped" grep -q '^shoal: warning: skipped 2 entries' offline.err
shoal --home home put odd --name odd-daemon --replicas 1 >/dev/null 2>daemon.err
check_eq "through the daemon: exactly the same warning" "$(cat offline.err)" "$(cat daemon.err)"
shoal --home home put odd/a --name plain --replicas 1 >/dev/null 2>plain.err
check_eq "... and a put that skips nothing warns of nothing" 0 "$(wc -c <plain.err)"

# ---- a private home --------------------------------------------------------------------
# Everything the node wrote so far: identity, config, index and its WAL, the
# catalog, objects.
check_eq "every file in a used home is for its owner only" "" \
	"$(find home -perm /077 ! -type s -printf '%m %p\n' | head -n 5)"
if [ "$(id -u)" -eq 0 ]; then
	check_fails "nobody cannot read the index" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups cat home/index.sqlite
fi
# ---- no torn versions ------------------------------------------------------------------
BIG=$((96 * MiB))
gen_data big.bin "$BIG" torn
mkdir tree && gen_data tree/big.bin "$BIG" torn && echo small >tree/small.txt
# scribble FILE: writes one byte at the start and one at the end, again and again
scribble() {
	while :; do
		printf A | dd of="$1" bs=1 seek=0 conv=notrunc status=none
		printf Z | dd of="$1" bs=1 seek=$((BIG - 1)) conv=notrunc status=none
	done
}
# torn_put WHERE HOME SRC NAME [PATH IN MESSAGE]: the checks of a put of SRC while
# SRC's big file is scribbled on
torn_put() {
	local where=$1 home=$2 src=$3 name=$4 file=$3
	[ -d "$src" ] && file=$src/big.bin
	scribble "$file" &
	local pid=$!
	shoal --home "$home" put "$src" --name "$name" --replicas 1 --no-progress >torn.out 2>torn.err
	local rc=$?
	kill "$pid" && wait "$pid" 2>/dev/null
	check_eq "$where: a put of a file written to while it is read fails" 1 "$rc"
	check_err1 "... in one line saying it changed while being read" torn.err \
		"changed while being read"
	check_eq "... printing no capability" 0 "$(wc -c <torn.out)"
	check_eq "... and storing no version under the name" "" \
		"$(shoal --home "$home" ls | awk -F'\t' -v n="$name" '$1 == n')"
	cap=$(shoal --home "$home" put "$src" --name "$name" --replicas 1 --no-progress 2>/dev/null)
	check_match "$where: left alone, the same file is stored" "$CAP_RE" "$cap"
	rm -rf "torn-$where"
	shoal --home "$home" get "$cap" -o "torn-$where" 2>/dev/null
	check "... and reads back identical" diff -r "$src" "torn-$where"
}
torn_put daemon home big.bin torn-file
torn_put daemon-tree home tree torn-tree
check "... the tree's error names the file" grep -q "'big.bin' changed" torn.err
stop_daemon home >/dev/null
torn_put offline home2 big.bin torn-file
# Written once, early: the put reads it again and stores what is there then.
(sleep 0.05 && printf B | dd of=big.bin bs=1 seek=7 conv=notrunc status=none) &
cap=$(shoal --home home2 put big.bin --name once --no-progress 2>once.err)
wait
check_match "a file written to once during the put is stored" "$CAP_RE" "$cap"
shoal --home home2 get once -o once.out 2>/dev/null
check "... as it is after the write, never a mix" cmp big.bin once.out
mkdir -m 0755 empty
check "init into an existing empty 0755 directory" make_node empty
check_eq "... tightens it to 0700" 700 "$(mode_of empty)"
mkdir -m 0755 busy && echo mine >busy/notes
shoal --home busy init --network "$T/network" >/dev/null 2>busy.err
check_failed "init into a non-empty directory others can enter is refused" $?
check_err1 "... in one line naming the chmod" busy.err "chmod 700"
check_eq "... leaving it as it was" "755 notes" "$(mode_of busy) $(ls busy)"
chmod 0755 home
shoal --home home daemon --listen 127.0.0.1:0 >/dev/null 2>open.err
check_failed "the daemon refuses a home others can read" $?
check_err1 "... in one line naming the chmod to run" open.err "run 'chmod 700 home'"
chmod 0700 home
done_testing
