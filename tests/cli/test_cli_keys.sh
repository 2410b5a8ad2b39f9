#!/usr/bin/env bash
# A capability that names a real, intact stored chunk but carries the wrong
# key (another file's key, a random key, a data chunk's id with the file's
# key, a tree's manifest with a file's key): get fails with one line saying
# that decryption failed, prints nothing on stdout, writes nothing (no output,
# no temp file beside it) and leaves the store as it was: the chunk is not
# taken for damaged (nothing moved aside, verify clean, index rows unchanged)
# and the right capability still reads. Offline, then through a daemon
# running on the home.
# shellcheck disable=SC2317 # helpers are called through check
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
DECRYPT='decryption failed (wrong key or tampered data)'

# b32 HEX: bytes as a capability spells them (base32, lower case, no padding).
b32() {
	python3 -c 'import base64, sys; print(base64.b32encode(bytes.fromhex(sys.argv[1])).decode().lower().rstrip("="))' "$1"
}
# hex_of B32: the bytes of a capability field in hex.
hex_of() {
	python3 -c 'import base64, sys; s = sys.argv[1].upper(); print(base64.b32decode(s + "=" * (-len(s) % 8)).hex())' "$1"
}
# objects_state: every file under the home's objects/ (chunks, temp files,
# chunks moved aside) with its size.
objects_state() { (cd h/objects && find . -type f -printf '%p %s\n' | sort); }
# index_chunks: the chunks table (offline only: the daemon holds the index).
index_chunks() { sqlite3 h/index.sqlite 'SELECT hex(id), size FROM chunks ORDER BY 1'; }
verify_clean() { shoal --home h verify 2>&1 | grep -q ': 0 corrupt, 0 missing$'; }

make_node h >/dev/null || fail "make a node"
gen_data file.bin $((3 * MiB + 777)) keys-file
gen_data other.bin $((200 * KiB)) keys-other
mkdir -p tree/sub
gen_data tree/a.bin $((1 * MiB)) keys-a
gen_data tree/sub/b.bin $((300 * KiB)) keys-b
capf=$(shoal --home h put file.bin --name file 2>&1)
check_match "put file.bin" "$CAP_RE" "$capf"
# A data chunk of file.bin: the largest object while the home holds only that file.
data_hex=$(find h/objects/?? -type f -printf '%s %f\n' | sort -n | tail -n 1 | cut -d' ' -f2)
capo=$(shoal --home h put other.bin --name other 2>&1)
check_match "put other.bin" "$CAP_RE" "$capo"
capt=$(shoal --home h put tree --name tree 2>&1)
check_match "put a tree" "$CAP_RE" "$capt"

# The wrong pairings. Each id is a chunk stored (intact) in h.
f_id=${capf#shoal:} && f_id=${f_id%:*}
f_key=${capf##*:}
manifest_hex=$(hex_of "$f_id")
check "the file's manifest is a stored object" test -f "h/objects/${manifest_hex:0:2}/$manifest_hex"
check "a data chunk of the file is a stored object, not the manifest" \
	test -n "$data_hex" -a "$data_hex" != "$manifest_hex"
random_key=$(b32 "$(openssl rand -hex 32)")
wrong_labels=(
	"the file's manifest with another file's key"
	"the file's manifest with a random key"
	"a data chunk of the file with the file's key"
	"the tree's manifest with the file's key"
)
wrong_caps=(
	"shoal:$f_id:${capo##*:}"
	"shoal:$f_id:$random_key"
	"shoal:$(b32 "$data_hex"):$f_key"
	"${capt%:*}:$f_key"
)
mkdir out

# try_wrong MODE: each wrong capability in turn.
try_wrong() {
	local mode=$1 i label before
	for i in "${!wrong_caps[@]}"; do
		label="$mode, ${wrong_labels[$i]}"
		before=$(objects_state)
		shoal --home h get "${wrong_caps[$i]}" -o out/got >get.out 2>get.err
		check_failed "$label: get fails" $?
		check_err1 "... with one line saying decryption failed" get.err "$DECRYPT"
		check_eq "... prints nothing on stdout" "" "$(head -c 500 get.out)"
		check_eq "... writes nothing (no output, no temp file beside it)" "" "$(ls -A out)"
		check_eq "... leaves every object as it was (none moved aside or added)" \
			"$before" "$(objects_state)"
	done
}
# reads_right MODE: the right capabilities still read back.
reads_right() {
	shoal --home h get "$capf" -o out/f >/dev/null 2>&1 && cmp -s file.bin out/f
	check_eq "$1: the file's right capability still reads it back" 0 $?
	shoal --home h get "$capt" -o out/t >/dev/null 2>&1 && diff -r -q tree out/t >/dev/null
	check_eq "$1: the tree's right capability still restores it" 0 $?
	rm -rf out/f out/t
}

# ---- offline ---------------------------------------------------------------------------
rows_before=$(index_chunks)
check "the index lists the stored chunks" test -n "$rows_before"
try_wrong offline
check_eq "offline: the index's chunk rows are unchanged" "$rows_before" "$(index_chunks)"
check "offline: verify finds nothing damaged" verify_clean
reads_right offline

# ---- through a daemon --------------------------------------------------------------------
start_daemon h h.log --listen 127.0.0.1:0 --set recovery_delay=0
check "a daemon starts on the home" wait_daemon h
check "... with its control socket" test -S h/ctl.sock
try_wrong "through the daemon"
check "through the daemon: it still answers status" shoal --home h status
reads_right "through the daemon"
stop_daemon h
check_eq "SIGTERM stops the daemon with exit 0" 0 $?
check_eq "after the daemon: the index's chunk rows are unchanged" "$rows_before" "$(index_chunks)"
check "after the daemon: verify finds nothing damaged" verify_clean
check_no_sanitizer "no sanitizer report in the daemon's log" h.log
done_testing
