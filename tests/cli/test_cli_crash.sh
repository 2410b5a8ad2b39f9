#!/usr/bin/env bash
# Crash safety: kill -9 a put of a large file at several points of its run; after
# each, the store opens, holds no temp files, its index and object files agree,
# the killed name is absent or intact, and putting the file again works.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
SIZE=$((${SHOAL_CRASH_MIB:-300} * MiB))

make_node h >/dev/null
gen_data keep.bin 777777 keep
shoal --home h put keep.bin --name keep >/dev/null
base=$(count_objects h)
gen_data big.bin "$SIZE" crash
mkdir out

# The index and the object files agree: every chunk row has its file, every
# ref names a chunk row, every file has its row.
store_consistent() {
	local h=$1 rows files id
	sqlite3 "$h/index.sqlite" 'SELECT lower(hex(id)) FROM chunks' >"$T/rows" || return 1
	while read -r id; do
		[ -f "$h/objects/${id:0:2}/$id" ] || { echo "row without file: $id"; return 1; }
	done <"$T/rows"
	rows=$(sqlite3 "$h/index.sqlite" \
		'SELECT count(*) FROM refs WHERE chunk NOT IN (SELECT id FROM chunks)') || return 1
	[ "$rows" = 0 ] || { echo "$rows refs name absent chunks"; return 1; }
	files=$(count_objects "$h")
	rows=$(wc -l <"$T/rows")
	[ "$files" = "$rows" ] || { echo "$files files but $rows chunk rows"; return 1; }
}
check "the store starts consistent" store_consistent h

# One normal put, timed.
t0=$(date +%s%N)
shoal --home h put big.bin --name victim >out/cap 2>err
rc=$?
t1=$(date +%s%N)
check_eq "a normal put of $((SIZE / MiB)) MiB works" 0 $rc
ms=$(((t1 - t0) / 1000000))
echo "# a normal put took $ms ms"
shoal --home h get victim -o out/big && cmp -s big.bin out/big
check_eq "... and reads back identical" 0 $?
rm -f out/big
check "... rm works" shoal --home h rm victim
check_eq "... and leaves the objects as they were" "$base" "$(count_objects h)"

killed=0
for pct in 5 20 40 65 90; do
	at=$((ms * pct / 100))
	"$SHOAL" --home h put big.bin --name victim >out/cap 2>/dev/null &
	pid=$!
	_track "$pid"
	sleep "$(printf '%d.%03d' $((at / 1000)) $((at % 1000)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	[ "$rc" -eq 137 ] && killed=$((killed + 1))
	echo "# kill at $pct% ($at ms): put exit status $rc;" \
		"left $(count_objects h) object files, $(find h/objects/tmp -type f | wc -l) temp files"
	p="kill at $pct%:"

	shoal --home h verify >out/verify 2>err
	check_eq "$p verify opens the store and passes" 0 $?
	check_match "$p ... and counts 0 corrupt, 0 missing" ': 0 corrupt, 0 missing$' "$(cat out/verify)"
	check_eq "$p no file remains under objects/tmp" "" "$(ls -A h/objects/tmp 2>&1)"
	check_eq "$p sqlite integrity_check says ok" ok "$(sqlite3 h/index.sqlite 'PRAGMA integrity_check' 2>&1)"
	check "$p index rows and object files agree" store_consistent h
	shoal --home h ls >out/ls 2>err
	check_eq "$p ls works" 0 $?
	if grep -q $'^victim\t' out/ls; then
		check_eq "$p the killed put's name lists the full size" "$SIZE" "$(awk -F'\t' '$1 == "victim" {print $2}' out/ls)"
		shoal --home h get victim -o out/big && cmp -s big.bin out/big
		check_eq "$p the killed put's name reads back intact" 0 $?
		rm -f out/big
	else
		check_eq "$p the killed name is absent and no object is left over" "$base" "$(count_objects h)"
	fi
	shoal --home h get keep -o out/keep && cmp -s keep.bin out/keep
	check_eq "$p the earlier file still reads back" 0 $?
	rm -f out/keep

	shoal --home h put big.bin --name victim >out/cap 2>err
	check_eq "$p putting the file again works" 0 $?
	shoal --home h get victim -o out/big && cmp -s big.bin out/big
	check_eq "$p ... and it reads back identical" 0 $?
	rm -f out/big
	check "$p ... rm works" shoal --home h rm victim
	check_eq "$p ... and leaves the objects as they were" "$base" "$(count_objects h)"
done
check "at least 2 of the 5 kills interrupted a running put ($killed did)" test "$killed" -ge 2
check_eq "after all the kills, sqlite integrity_check says ok" ok "$(sqlite3 h/index.sqlite 'PRAGMA integrity_check' 2>&1)"
check "... and verify passes" shoal --home h verify

done_testing
