#!/usr/bin/env bash
# Disk faults (issue 5, item 3), through the SHOAL_FAULTS hook (src/util/fault.h)
# and a real full disk:
#  - offline put with the Nth write, fsync or rename failing, for every N the put
#    reaches (the first chunk, chunks in the middle of a multi-chunk file, the
#    manifest, the batched syncfs, ...): a non-zero exit with one "shoal: " line
#    naming the error, the name not bound, no temp file, verify clean, the index
#    naming no missing or bad chunk; the same put then works;
#  - the same through a daemon, which stays up and stores the file once the
#    (bounded) fault has passed (its name table upload off, recovery_delay=0,
#    so that every write counted is the test's);
#  - get with a failing write of its output (a file, a tree; offline and through
#    a daemon): a clean error, OUT not created, nothing left beside it;
#  - a full disk (a 64 MiB tmpfs home, offline and with a daemon): the put that
#    does not fit fails with "No space left on device" and binds nothing; with
#    the last bytes then taken by another file, what was stored still reads back,
#    verify and ls work, a put fails saying there is no space, rm works; once
#    there is space again a put succeeds.
# shellcheck disable=SC2317,SC2016 # helpers are called through check; eval strings
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
mkdir out

make_node h >/dev/null || fail "make a node"
gen_data keep.bin $((700 * KiB)) keep
gen_data small.bin $((300 * KiB)) small
gen_data multi.bin $((9 * MiB)) multi # several chunks (avg 1 MiB, max 4 MiB)
mkdir -p tree/sub
gen_data tree/a.bin $((2 * MiB)) ta
gen_data tree/sub/b.bin $((1500 * KiB)) tb
shoal --home h put keep.bin --name keep >/dev/null || fail "put keep.bin"
base=$(count_objects h)
check "the store starts sound" store_audit h strict

# name_bound HOME NAME: `shoal ls` lists NAME.
name_bound() { shoal --home "$1" ls 2>/dev/null | awk -F'\t' -v n="$2" '$1 == n {f = 1} END {exit !f}'; }
# reads_back HOME NAME FILE: get NAME and compare it with FILE (or folder).
reads_back() {
	rm -rf "$T/out/rb"
	shoal --home "$1" get "$2" -o "$T/out/rb" >/dev/null && diff -r -q "$3" "$T/out/rb"
	local rc=$?
	rm -rf "$T/out/rb"
	return "$rc"
}
verify_clean() { shoal --home "$1" verify 2>&1 | grep -q ': 0 corrupt, 0 missing$'; }

# ---- 1. offline put, every failure point ----------------------------------------------
# sweep OP FILE NAME [ERRNO MESSAGE]: puts FILE with SHOAL_FAULTS=OP:N for N = 1, 2,
# ... until a put succeeds; each put before must fail cleanly and leave the store
# as it was.
sweep() {
	local op=$1 file=$2 name=$3 errno=${4:-} msg=${5:-Input/output error}
	local n rc fails=0 first_ok=0 bad=() spec
	for n in $(seq 1 60); do
		spec="$op:$n${errno:+:$errno}"
		SHOAL_FAULTS=$spec shoal --home h put "$file" --name "$name" >out/put 2>out/err
		rc=$?
		if [ "$rc" -eq 0 ]; then
			first_ok=$n
			break
		fi
		fails=$((fails + 1))
		local p="put with $spec:"
		[ "$rc" -lt 128 ] || bad+=("$p exit $rc")
		[ -s out/put ] && bad+=("$p printed on stdout: $(head -c 200 out/put)")
		{ [ "$(wc -l <out/err)" -eq 1 ] && grep -q "^shoal: .*$msg" out/err; } ||
			bad+=("$p stderr is not one line naming '$msg': $(head -c 300 out/err)")
		[ -z "$(ls -A h/objects/tmp)" ] || bad+=("$p temp files left: $(ls -A h/objects/tmp)")
		name_bound h "$name" && bad+=("$p the name is bound")
		store_audit h >out/audit || bad+=("$p before reopening: $(cat out/audit)")
		verify_clean h || bad+=("$p verify is not clean: $(shoal --home h verify 2>&1)")
		store_audit h strict >out/audit || bad+=("$p after verify: $(cat out/audit)")
		[ "$(count_objects h)" = "$base" ] || bad+=("$p $(count_objects h) objects, not $base")
	done
	echo "# $op: $fails puts failed (N = 1..$fails), N = $first_ok went through"
	check_eq "$op:N for every N a put of $file reaches: each fails cleanly" "" "${bad[*]:-}"
	check "$op:N: a put succeeds once N is past what it does" test "$first_ok" -gt 0
	grep -qE "$CAP_RE" out/put
	check_eq "... printing its capability" 0 $?
	check "... and it reads back identical" reads_back h "$name" "$file"
	check "... verify passes and the store is sound" eval 'verify_clean h && store_audit h strict'
	check "... rm works" shoal --home h rm "$name"
	check_eq "... and leaves the objects as they were" "$base" "$(count_objects h)"
	SWEPT=$fails
}

sweep write multi.bin multi
check "write: the multi-chunk put failed at its first write and at later ones" test "$SWEPT" -ge 5
sweep fsync multi.bin multi
check "fsync: the put failed at more than one fsync" test "$SWEPT" -ge 2
sweep rename multi.bin multi
check "rename: the put failed at each chunk's rename" test "$SWEPT" -ge 5
sweep write small.bin small ENOSPC "No space left on device"
check "write:N:ENOSPC on a one-chunk file: its chunk and its manifest" test "$SWEPT" -ge 2
sweep fsync tree tree EROFS "Read-only file system"
check "fsync:N:EROFS on a tree put" test "$SWEPT" -ge 1
check "after every sweep the first file still reads back" reads_back h keep keep.bin

# "+": everything from the Nth on fails, however often the put retries.
SHOAL_FAULTS=write:3+ shoal --home h put multi.bin --name multi >out/put 2>out/err
check_failed "write:3+: the put fails" $?
check_err1 "... with one line" out/err "Input/output error"
check "... and the store is sound after it" eval 'verify_clean h && store_audit h strict'
# Reads keep working while every write and rename fails.
SHOAL_FAULTS=write:1+,rename:1+ shoal --home h verify >out/verify 2>out/err
check_eq "with every write failing, verify still works" 0 $?
check_match "... and is clean" ': 0 corrupt, 0 missing$' "$(cat out/verify)"
SHOAL_FAULTS=write:1+,rename:1+ shoal --home h ls >out/ls 2>out/err
check_eq "... and so does ls" 0 $?
check_match "... listing the stored file" $'^keep\t' "$(cat out/ls)"

# A malformed SHOAL_FAULTS injects nothing and says so.
SHOAL_FAULTS=write:often shoal --home h put small.bin --name small >out/put 2>out/err
check_eq "a malformed SHOAL_FAULTS injects nothing" 0 $?
check_match "... and warns about it" "SHOAL_FAULTS=write:often: malformed" "$(cat out/err)"
shoal --home h rm small >/dev/null 2>&1

# ---- 3. get with a failing write of its output --------------------------------------
shoal --home h put multi.bin --name multi >/dev/null 2>&1 || fail "put multi.bin"
shoal --home h put tree --name tree >/dev/null 2>&1 || fail "put tree"
for spec in write:1 write:4 write:2:ENOSPC; do
	mkdir -p out/get
	SHOAL_FAULTS=$spec shoal --home h get multi -o out/get/multi.bin >out/o 2>out/err
	check_failed "offline get with $spec fails" $?
	case $spec in *ENOSPC) msg="No space left on device" ;; *) msg="Input/output error" ;; esac
	check_err1 "... with one line naming the error" out/err "$msg"
	check_eq "... OUT is not created and nothing is left beside it" "" "$(ls -A out/get)"
done
SHOAL_FAULTS=write:2 shoal --home h get tree -o out/get/tree >out/o 2>out/err
check_failed "offline get of a tree with write:2 fails" $?
check_err1 "... with one line naming the error" out/err "Input/output error"
check_eq "... the folder is not created and nothing is left beside it" "" "$(ls -A out/get)"
check "once the fault is gone the file reads back" reads_back h multi multi.bin
check "... and the tree" reads_back h tree tree
check "... and the store is sound" eval 'verify_clean h && store_audit h strict'
shoal --home h rm multi >/dev/null 2>&1
shoal --home h rm tree >/dev/null 2>&1

# ---- 2. through a daemon ---------------------------------------------------------------
# daemon_attempts HOME NAME FILE MAX: puts FILE through the daemon until it works
#   (at most MAX times); prints the attempts that failed; checks each failure.
daemon_put_until_ok() {
	local home=$1 name=$2 file=$3 max=$4 i rc
	DFAILS=0
	DBAD=()
	for i in $(seq 1 "$max"); do
		shoal --home "$home" put "$file" --name "$name" --replicas 1 >out/put 2>out/err
		rc=$?
		[ "$rc" -eq 0 ] && return 0
		DFAILS=$((DFAILS + 1))
		[ "$rc" -lt 128 ] || DBAD+=("attempt $i: exit $rc")
		{ [ "$(wc -l <out/err)" -eq 1 ] && grep -q "^shoal: .*Input/output error" out/err; } ||
			DBAD+=("attempt $i: stderr: $(head -c 300 out/err)")
		name_bound "$home" "$name" && DBAD+=("attempt $i: the name is bound")
		store_audit "$home" >out/audit || DBAD+=("attempt $i: $(cat out/audit)")
		_alive "${daemon_pid[$home]}" || {
			DBAD+=("attempt $i: the daemon died")
			return 1
		}
	done
	return 1
}

for spec in write:1 write:4 fsync:2,fsync:3 rename:2; do
	SHOAL_FAULTS=$spec start_daemon h "$T/daemon.log" --listen 127.0.0.1:0 --set recovery_delay=0
	daemon_ready "daemon with SHOAL_FAULTS=$spec starts" h || {
		kill_daemon h
		continue
	}
	daemon_put_until_ok h multi multi.bin 6
	rc=$?
	p="daemon with $spec:"
	check_eq "$p a put eventually works" 0 $rc
	check "$p ... after failing first" test "$DFAILS" -ge 1
	check_eq "$p each failure was clean (one line, name unbound, store sound, daemon up)" "" "${DBAD[*]:-}"
	check "$p the file reads back" reads_back h multi multi.bin
	check "$p verify through the daemon is clean" verify_clean h
	check "$p the store is sound" store_audit h
	check "$p rm works" shoal --home h rm multi
	stop_daemon h
	check_eq "$p the daemon stops cleanly" 0 $?
	check "$p after reopening, the store is as it was" eval \
		'verify_clean h && store_audit h strict && [ "$(count_objects h)" = "$base" ]'
done
check_match "the daemon logged the injected faults" "fault injected: rename #2" "$(cat "$T/daemon.log")"

# get through the daemon: the daemon writes OUT, so its write fails. A one-chunk
# put takes two writes (chunk, manifest); the get's first write is the third.
SHOAL_FAULTS=write:3 start_daemon h "$T/daemon.log" --listen 127.0.0.1:0 --set recovery_delay=0
if daemon_ready "daemon with SHOAL_FAULTS=write:3 starts" h; then
	shoal --home h put small.bin --name small --replicas 1 >/dev/null 2>out/err
	check_eq "daemon: a put before the faulty write works" 0 $?
	mkdir -p out/get
	shoal --home h get small -o "$T/out/get/small.bin" >out/o 2>out/err
	check_failed "daemon: get with its output write failing fails" $?
	check_err1 "... with one line naming the error" out/err "Input/output error"
	check_eq "... OUT is not created and nothing is left beside it" "" "$(ls -A out/get)"
	check "... the daemon is still up" _alive "${daemon_pid[h]}"
	check "... and the next get works" reads_back h small small.bin
	shoal --home h rm small >/dev/null 2>&1
	stop_daemon h
else
	kill_daemon h
fi

# ---- 4. a full disk ---------------------------------------------------------------------
# fill HOME PREFIX [ARGS]: puts fresh 6 MiB files until one fails; sets FILLED
# (how many went in) and FILL_RC/out/fill.err for the failing one.
fill() {
	local home=$1 prefix=$2 i
	shift 2
	FILLED=0
	FILL_RC=0
	for i in $(seq 1 40); do
		gen_data "$T/$prefix$i.bin" $((6 * MiB)) "$prefix$i"
		shoal --home "$home" put "$T/$prefix$i.bin" --name "$prefix$i" "$@" >out/put 2>out/fill.err
		FILL_RC=$?
		[ "$FILL_RC" -eq 0 ] || return 0
		FILLED=$i
	done
}
# all_read_back HOME PREFIX FROM TO: names PREFIX<FROM>..PREFIX<TO> read back identical.
all_read_back() {
	local i
	for i in $(seq "$3" "$4"); do
		reads_back "$1" "$2$i" "$T/$2$i.bin" || { echo "$2$i differs"; return 1; }
	done
}

mkdir full
if ! mount -t tmpfs -o size=64m tmpfs full 2>out/mount; then
	ok "full disk # SKIP cannot mount a tmpfs: $(head -n 1 out/mount)"
else
	trap 'umount -l "$T/full" 2>/dev/null; _cleanup' EXIT
	make_node full/h >/dev/null || fail "make a node on the tmpfs"
	# free_kb: free space on the tmpfs.
	free_kb() { df -k "$T/full" | awk 'NR == 2 {print $4}'; }
	for mode in offline daemon; do
		p="full disk ($mode):"
		args=()
		if [ $mode = daemon ]; then
			start_daemon full/h "$T/full-daemon.log" --listen 127.0.0.1:0 --set recovery_delay=0
			daemon_ready "$p the daemon starts" full/h
			args=(--replicas 1)
		fi
		prefix=${mode:0:1}
		# Room that another program holds and gives back later.
		head -c $((16 * MiB)) /dev/zero >full/reserve
		fill full/h "$prefix" "${args[@]}"
		echo "# $p $FILLED puts of 6 MiB went in, then exit $FILL_RC: $(cat out/fill.err)"
		echo "# $p $(free_kb) KiB free; $(count_objects full/h) object files for" \
			"$(sqlite3 full/h/index.sqlite 'SELECT count(*) FROM chunks') chunk rows"
		check "$p some puts fit" test "$FILLED" -ge 3
		check_failed "$p the put that does not fit fails" "$FILL_RC"
		check_err1 "$p ... with one line saying so" out/fill.err "No space left on device"
		check "$p ... its name is not bound" eval "! name_bound full/h $prefix$((FILLED + 1))"
		check "$p the index names no missing or bad chunk" store_audit full/h
		# Whatever the put left, another program takes the last bytes.
		dd if=/dev/zero of=full/filler bs=64k >/dev/null 2>&1
		check_eq "$p the disk is now completely full" 0 "$(free_kb)"
		check "$p ... what was stored reads back identical" \
			all_read_back full/h "$prefix" 1 "$FILLED"
		check "$p ... verify works and is clean" verify_clean full/h
		check "$p ... ls works" eval "shoal --home full/h ls | grep -q '^${prefix}1	'"
		gen_data "$T/after.bin" $((2 * MiB)) "after-$mode"
		shoal --home full/h put "$T/after.bin" --name after "${args[@]}" >out/put 2>out/err
		check_failed "$p ... a put fails" $?
		check_err1 "$p ... saying there is no space" out/err "No space left on device"
		check "$p ... rm of a file works, to free space" shoal --home full/h rm "${prefix}1"
		rm -f full/filler full/reserve
		shoal --home full/h put "$T/after.bin" --name after "${args[@]}" >out/put 2>out/err
		check_eq "$p once there is space again a put succeeds" 0 $?
		check "$p ... and reads back" reads_back full/h after "$T/after.bin"
		check "$p ... and so does what was stored before" all_read_back full/h "$prefix" 2 "$FILLED"
		check "$p ... rm works" shoal --home full/h rm "${prefix}2"
		check "$p ... the index names no missing or bad chunk" store_audit full/h
		if [ $mode = daemon ]; then
			check "$p the daemon is still up" _alive "${daemon_pid[full/h]}"
			stop_daemon full/h
			check_eq "$p the daemon stops cleanly" 0 $?
		fi
		# Make room for the next round and check the store once more, opened afresh.
		for i in $(seq 1 "$FILLED"); do
			shoal --home full/h rm "$prefix$i" >/dev/null 2>&1
			rm -f "$T/$prefix$i.bin"
		done
		shoal --home full/h rm after >/dev/null 2>&1
		check "$p afterwards the store is sound and holds nothing stray" eval \
			'verify_clean full/h && store_audit full/h strict'
	done
	check_no_sanitizer "no sanitizer report from the daemon on the full disk" "$T/full-daemon.log"
fi
check_no_sanitizer "no sanitizer report from the fault daemons" "$T/daemon.log"

done_testing
