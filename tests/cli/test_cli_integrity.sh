#!/usr/bin/env bash
# Integrity: no plaintext reaches the node home; a flipped byte in any stored
# object makes get fail cleanly (no output, no temp file) and verify name the
# chunk; a missing object is reported too; restoring the bytes heals the store.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# ---- no plaintext under the home -------------------------------------------------
marker='SHOAL-MARKER-4q7z:plaintext!0x5E' # 32 bytes
check_eq "the marker is 32 bytes" 32 "${#marker}"
make_node h >/dev/null
yes "$marker" | tr -d '\n' | head -c $((6 * MiB)) >marked.bin
printf '%s' "$marker" >marker.txt
gen_data mixed.bin $((3 * MiB)) mixed
{ head -c 1000000 mixed.bin && printf '%s' "$marker" && tail -c +1000001 mixed.bin; } >mixed-marked.bin
check "grep finds the marker in the plaintext (the probe works)" grep -q -a -F "$marker" marked.bin
check "put of a 6 MiB file of repeated markers" shoal --home h put marked.bin --name big
check "put of a file that is just the marker" shoal --home h put marker.txt --name small
check "put of random data with one marker inside" shoal --home h put mixed-marked.bin --name mixed
grep -r -a -F -l "$marker" h >found 2>&1
check_eq "the marker appears nowhere under the home" 1 $?
grep -r -a -F -l "${marker:0:16}" h >>found 2>&1
check_eq "half the marker appears nowhere under the home" 1 $?
check_eq "(files naming it)" "" "$(cat found)"
check "the home has its index" test -f h/index.sqlite
# Also look while the index is open mid-write: copy the home during a put.
gen_data slow.bin $((64 * MiB)) slow
{ cat marked.bin slow.bin; } >marked2.bin
"$SHOAL" --home h put marked2.bin --name big2 >/dev/null 2>&1 &
_track "$!"
sleep 0.05
cp -a h h-copy 2>/dev/null
wait
grep -r -a -F -l "$marker" h h-copy >found 2>&1
check_eq "the marker appears nowhere, also in a copy taken during a put (WAL included)" 1 $?
check_eq "(files naming it)" "" "$(cat found)"
shoal --home h get big -o got.bin && cmp -s got.bin marked.bin
check_eq "big reads back identical" 0 $?
shoal --home h get small -o got.txt && cmp -s got.txt marker.txt
check_eq "small reads back identical" 0 $?
rm -rf h-copy got.* slow.bin marked2.bin

# ---- a flipped byte in each object in turn ------------------------------------------
make_node h2 >/dev/null
gen_data data.bin $((5 * MiB + 12345)) flip
cap=$(shoal --home h2 put data.bin --name data 2>&1)
mkdir out
mapfile -t objs < <(find h2/objects/?? -type f | sort)
check "the file is stored as several objects" test "${#objs[@]}" -ge 4
i=0
for obj in "${objs[@]}"; do
	i=$((i + 1))
	hex=${obj##*/}
	size=$(stat -c %s "$obj")
	case $((i % 3)) in
	0) off=0 ;;
	1) off=$((size / 2)) ;;
	2) off=$((size - 1)) ;;
	esac
	before=$(sha256sum <"$obj")
	flip_byte "$obj" "$off"
	check_ne "object $i: byte $off of $size flipped" "$before" "$(sha256sum <"$obj")"
	for what in data "$cap"; do
		label=$([ "$what" = data ] && echo "by name" || echo "by capability")
		shoal --home h2 get "$what" -o out/data >stdout 2>err
		check_failed "object $i: get $label fails" $?
		check_err1 "object $i: ... with a one-line error mentioning corrupt" err corrupt
		check_eq "object $i: ... leaving no OUT and no temp file" "" "$(ls -A out)"
	done
	shoal --home h2 verify >stdout 2>err
	check_failed "object $i: verify fails" $?
	check "object $i: ... naming the chunk $hex" grep -q "$hex" err
	check "object $i: ... and calling it corrupt" grep -q "corrupt" err
	check_match "object $i: ... summary counts 1 corrupt" ': 1 corrupt, 0 missing$' "$(cat stdout)"
	flip_byte "$obj" "$off"
	check_eq "object $i: restored" "$before" "$(sha256sum <"$obj")"
	shoal --home h2 verify >stdout 2>err
	check_eq "object $i: after restoring, verify passes" 0 $?
done
shoal --home h2 get data -o out/data && cmp -s data.bin out/data
check_eq "after all that, the file reads back identical" 0 $?
rm -f out/data

# ---- a missing object --------------------------------------------------------------
obj=${objs[1]}
hex=${obj##*/}
mv "$obj" moved-away
shoal --home h2 get data -o out/data >stdout 2>err
check_failed "with one object missing, get fails" $?
check_err1 "... with a one-line error" err "$hex"
check_eq "... leaving no OUT and no temp file" "" "$(ls -A out)"
shoal --home h2 verify >stdout 2>err
check_failed "... verify fails" $?
check "... naming the chunk as missing" grep -q "$hex.*missing" err
check_match "... summary counts 1 missing" ': 0 corrupt, 1 missing$' "$(cat stdout)"
mv moved-away "$obj"
check "after putting it back, verify passes" shoal --home h2 verify
shoal --home h2 get data -o out/data && cmp -s data.bin out/data
check_eq "... and the file reads back identical" 0 $?

done_testing
