#!/usr/bin/env bash
# CLI basics: network create, init and id; choosing the home; help and usage
# errors; put/get round trips; ls; deduplication and rm; get -o replacing a file.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# ---- network create ---------------------------------------------------------
check "network create succeeds" shoal network create net
check_eq "network file has mode 0600" 600 "$(stat -c %a net 2>&1)"
check "network file is not empty" test -s net
(umask 0 && shoal network create net-umask0)
check_eq "network file is 0600 even under umask 0" 600 "$(stat -c %a net-umask0 2>&1)"
sum=$(sha256sum <net)
shoal network create net >out 2>err
check_failed "network create refuses to overwrite" $?
check_err1 "... with a one-line error" err "already exists"
check_eq "... leaving the file unchanged" "$sum" "$(sha256sum <net)"
shoal network create >out 2>err
check_eq "network create without FILE is a usage error (2)" 2 $?

# ---- init and id --------------------------------------------------------------
shoal --home h init --network net >out 2>err
check_eq "init exits 0" 0 $?
id=$(cat out)
check_eq "init prints one line" 1 "$(wc -l <out)"
check_match "init prints a 52-char base32 node id" '^[a-z2-7]{52}$' "$id"
[[ $id =~ ^[a-z2-7]{52}$ ]] || id="(init printed no id)" # so that comparisons with it fail
check_eq "id prints the id init printed" "$id" "$(shoal --home h id 2>&1)"
shoal --home h init --network net >out 2>err
check_failed "init twice on one home fails" $?
check_err1 "... with a one-line error" err "already holds a node"
check_eq "... printing nothing on stdout" "" "$(cat out)"
check_eq "... and keeps the node id" "$id" "$(shoal --home h id 2>&1)"
id2=$(shoal --home h2 init --network net 2>&1)
check_match "a second node gets an id of its own" '^[a-z2-7]{52}$' "$id2"
[[ $id2 =~ ^[a-z2-7]{52}$ ]] || id2="(init printed no id)"
check_ne "... different from the first" "$id" "$id2"
shoal --home h9 init >out 2>err
check_eq "init without --network is a usage error (2)" 2 $?
check "... and creates no home" test ! -e h9

# ---- choosing the home --------------------------------------------------------
check_eq "SHOAL_HOME selects the home" "$id" "$(SHOAL_HOME="$T/h" shoal id 2>&1)"
check_eq "--home DIR before the command" "$id" "$(shoal --home h id 2>&1)"
check_eq "--home DIR after the command" "$id" "$(shoal id --home h 2>&1)"
check_eq "--home=DIR" "$id" "$(shoal id --home=h 2>&1)"
check_eq "--home overrides SHOAL_HOME" "$id" "$(SHOAL_HOME="$T/h2" shoal --home h id 2>&1)"
check_eq "SHOAL_HOME is used when --home is absent" "$id2" "$(SHOAL_HOME="$T/h2" shoal id 2>&1)"
hid=$(shoal init --network net 2>&1)
[[ $hid =~ ^[a-z2-7]{52}$ ]] || hid="(init printed no id)"
check_eq "without either, the home is ~/.shoal" "$hid" "$(shoal --home "$HOME/.shoal" id 2>&1)"
echo hello >hello.txt
shoal put hello.txt --home h --name "mid line" >out 2>err
check_eq "--home between put's arguments works" 0 $?
check_match "... and the file is stored in that home" $'(^|\n)mid line\t6\t' "$(shoal ls --home=h 2>&1)"
check_eq "... and not in the other one" "" "$(shoal --home h2 ls 2>&1)"
shoal id --home >out 2>err
check_eq "--home without a value is a usage error (2)" 2 $?
check_err1 "... with a one-line error" err "--home"

# ---- help and usage errors ------------------------------------------------------
shoal --help >out 2>err
check_eq "shoal --help exits 0" 0 $?
check "shoal --help prints usage:" grep -q "usage:" out
cmds=$(sed -n '/^commands:/,/^$/p' out | awk '/^  [a-z]/ {print $1}')
for want in network init id put get ls rm verify; do
	check "shoal --help lists $want" grep -qx "$want" <<<"$cmds"
done
for c in $cmds; do
	shoal "$c" --help >out 2>err
	check_eq "shoal $c --help exits 0" 0 $?
	check "shoal $c --help prints usage:" grep -q "^usage: shoal $c" out
	shoal "$c" -h >out 2>err
	check "shoal $c -h prints usage:" grep -q "^usage: shoal $c" out
done
shoal >out 2>err
check_eq "shoal without a command exits 2" 2 $?
shoal frobnicate >out 2>err
check_eq "an unknown command exits 2" 2 $?
check_err1 "... with a one-line error naming it" err "frobnicate"
check_eq "... and nothing on stdout" "" "$(cat out)"
for args in "ls --bogus" "id --bogus" "put hello.txt --bogus" "get x -o y --bogus" "rm -q x" "verify --frob" "init --network net --zzz"; do
	# shellcheck disable=SC2086
	shoal --home h $args >out 2>err
	check_eq "unknown option: 'shoal $args' exits 2" 2 $?
	check_err1 "... with a one-line error" err "unknown option"
done
shoal --home h ls -xy >out 2>err
check_eq "an unknown short option in a cluster exits 2" 2 $?
check_err1 "... with an error naming it" err "unknown option '-x"
shoal --home h put hello.txt --name >out 2>err
check_eq "an option missing its value exits 2" 2 $?
check_err1 "... with a one-line error" err "needs a value"
shoal --home h put >out 2>err
check_eq "put without FILE exits 2" 2 $?
shoal --home h ls extra >out 2>err
check_eq "ls with an extra argument exits 2" 2 $?

# ---- put / get round trips -------------------------------------------------------
mkdir in got
declare -A caps sizes
put_one() { # FILE NAME: puts, checks the output, records the capability
	local rc
	shoal --home h put "$1" --name "$2" >out 2>err
	rc=$?
	caps[$2]=$(cat out)
	sizes[$2]=$(stat -c %s "$1")
	if [ "$rc" -eq 0 ] && [ "$(wc -l <out)" -eq 1 ] && [[ ${caps[$2]} =~ $CAP_RE ]]; then
		ok "put $2 prints exactly one capability line"
	else
		fail "put $2 prints exactly one capability line" "exit $rc" "$(cat out err)"
	fi
}
get_cmp() { # DESC SRC CAP_OR_NAME OUT [GET ARGS...]
	local rc
	shoal --home h get "$3" -o "$4" "${@:5}" >out 2>err
	rc=$?
	if [ "$rc" -eq 0 ] && cmp -s "$2" "$4" && [ ! -s out ]; then
		ok "$1"
	else
		fail "$1" "exit $rc" "$(cat out err; cmp "$2" "$4" 2>&1)"
	fi
}
for size in 0 1 4095 262143 262144 262145 4194303 4194304 4194305; do
	gen_data "in/$size" "$size" "seed$size"
	put_one "in/$size" "s$size"
	get_cmp "size $size: get by capability reads back identical" "in/$size" "${caps[s$size]}" "got/$size.c"
	get_cmp "size $size: get by name reads back identical" "in/$size" "s$size" "got/$size.n"
done
rm -f got/*
check_eq "distinct contents get distinct capabilities" 9 "$(printf '%s\n' "${caps[@]}" | sort -u | wc -l)"

gen_data in/big $((100 * MiB)) big
put_one in/big big
get_cmp "100 MiB: get by capability reads back identical" in/big "${caps[big]}" got/big
rm -f got/big
get_cmp "100 MiB: get by name reads back identical" in/big big got/big
rm -f got/big in/big

gen_data in/m640 5000 mode
chmod 0640 in/m640
put_one in/m640 m640
get_cmp "mode 0640 file reads back" in/m640 m640 got/m640
check_eq "get keeps the input's mode (0640)" 640 "$(stat -c %a got/m640 2>&1)"
chmod 0755 in/m640
put_one in/m640 m755
(umask 077 && shoal --home h get m755 -o got/m755)
check_eq "get applies the umask to the input's mode (0755 under 077)" 700 "$(stat -c %a got/m755 2>&1)"
rm -f got/*

# ---- ls ----------------------------------------------------------------------------
sizes["mid line"]=6
caps["mid line"]=$(shoal --home h ls | awk -F'\t' '$1 == "mid line" {print $3}')
for n in "${!caps[@]}"; do printf '%s\t%s\t%s\tdegraded 1/3\t1\n' "$n" "${sizes[$n]}" "${caps[$n]}"; done | sort >want.ls
shoal --home h ls >out 2>err
check_eq "ls exits 0" 0 $?
check_eq "ls prints one line per name" "$(wc -l <want.ls)" "$(wc -l <out)"
check_eq "every ls line is name, size, capability, health, versions separated by tabs" 0 \
	"$(awk -F'\t' 'NF != 5 || $2 !~ /^[0-9]+$/ || $3 !~ /^shoal:/ || $4 !~ /^(full|degraded) [0-9]+\/[0-9]+$/ || $5 !~ /^[0-9]+$/' out | wc -l)"
check_eq "ls shows each name with its size, capability, health and 1 version" "$(cat want.ls)" "$(sort out)"
check_match "ls shows s4095 exactly" $'(^|\n)s4095\t4095\t'"${caps[s4095]}"$'\tdegraded 1/3\t1(\n|$)' "$(cat out)"
shoal --home h ls --json >out 2>err
check_eq "ls --json exits 0" 0 $?
check "ls --json parses as JSON" python3 -c 'import json,sys; json.load(sys.stdin)' <out
python3 -c '
import json, sys
for e in json.load(sys.stdin):
    print("%s\t%d\t%s\t%s %d/%d\t%d" % (e["name"], e["size"], e["capability"],
        "full" if e["full"] else "degraded", e["copies"], e["wanted"], e["versions"]))
' <out >json.ls 2>&1
check_eq "ls --json has name, size, capability, health and versions of each entry" "$(cat want.ls)" "$(sort json.ls)"
check_eq "ls --json entries have a creation time" 0 \
	"$(python3 -c 'import json,sys; print(sum(not isinstance(e.get("created"), int) for e in json.load(sys.stdin)))' <out 2>&1)"
shoal --home h2 ls --json >out 2>err
check_eq "ls --json of an empty node is []" "[]" "$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' <out 2>&1)"

# ---- deduplication and rm ------------------------------------------------------------
make_node h3 >/dev/null
make_node h4 >/dev/null
check_eq "a new node stores no objects" 0 "$(count_objects h3)"
gen_data a.bin $((8 * MiB)) A
gen_data tail.bin $((2 * MiB)) B
{ head -c $((6 * MiB)) a.bin && cat tail.bin; } >b.bin
shoal --home h3 put a.bin --name a >/dev/null
n1=$(count_objects h3)
check "put stores objects" test "$n1" -gt 2
shoal --home h3 put a.bin --name a-again >out 2>err
check_eq "the same file under a second name: exit 0" 0 $?
check_eq "... adds no object file" "$n1" "$(count_objects h3)"
shoal --home h4 put b.bin --name b >/dev/null
nb=$(count_objects h4)
shoal --home h3 put b.bin --name b >/dev/null
n2=$(count_objects h3)
check "a file sharing 6 MiB with another shares chunk objects" test $((n1 + nb)) -gt "$n2"
check "rm of a second name: exit 0" shoal --home h3 rm a-again
check_eq "... removes no object (the other name needs them)" "$n2" "$(count_objects h3)"
get_cmp_h3() { shoal --home h3 get "$1" -o "$2" && cmp "$3" "$2"; }
check "... and the other name still reads back" get_cmp_h3 a got/a a.bin
check "rm a (sharing chunks with b): exit 0" shoal --home h3 rm a
check_eq "... leaves exactly b's objects" "$nb" "$(count_objects h3)"
check "... b still reads back identical" get_cmp_h3 b got/b b.bin
shoal --home h3 verify >out 2>err
check_eq "... verify passes" 0 $?
check_match "... verify prints its summary" '^verified [0-9]+ chunks .*: 0 corrupt, 0 missing$' "$(cat out)"
check_eq "... ls lists only b" b "$(shoal --home h3 ls | cut -f1)"
check "rm of the last name: exit 0" shoal --home h3 rm b
check_eq "... removes every object file" 0 "$(count_objects h3)"
check_eq "... ls is empty" "" "$(shoal --home h3 ls 2>&1)"
check "... verify passes on the empty store" shoal --home h3 verify
shoal --home h3 get b -o got/b2 >out 2>err
check_failed "... get of the removed name fails" $?
check_err1 "... with a one-line error" err "no file named 'b'"
shoal --home h3 rm nosuch >out 2>err
check_failed "rm of an unknown name fails" $?
check_err1 "... with a clear one-line error" err "no file named 'nosuch'"
shoal --home h3 rm >out 2>err
check_eq "rm without NAME is a usage error (2)" 2 $?
rm -f a.bin b.bin tail.bin got/*

# ---- get -o replacing an existing file; get without -o --------------------------------
echo old >got/existing
ln got/existing got/existing.link
ino=$(stat -c %i got/existing)
shoal --home h get s4095 -o got/existing >out 2>err
check_failed "get -o onto an existing file is refused" $?
check_err1 "... in one line naming --force" err "already exists (--force replaces it"
check_eq "... leaving it as it was" old "$(cat got/existing)"
get_cmp "get -o --force onto an existing file replaces its content" in/4095 s4095 got/existing \
	--force
check_eq "... by renaming a new file over it (the old inode keeps the old bytes)" old "$(cat got/existing.link)"
check_ne "... the new file is a new inode" "$ino" "$(stat -c %i got/existing)"
check_eq "... leaving no temp file" "existing existing.link" "$(cd got && ls -A | paste -sd ' ')"
shoal --home h get "shoal:$(printf 'a%.0s' {1..52}):$(printf 'a%.0s' {1..52})" -o got/existing --force >out 2>err
check_failed "a failing get onto an existing file fails" $?
check "... and leaves that file untouched" cmp in/4095 got/existing
check_eq "... leaving no temp file" "existing existing.link" "$(cd got && ls -A | paste -sd ' ')"
shoal --home h get s1 >out 2>err
check_eq "get without -o is a usage error (2)" 2 $?
check_err1 "... with a one-line error" err "-o"
shoal --home h get s1 -o "" >out 2>err
check_eq "get -o '' is a usage error (2)" 2 $?
shoal --home h get -o got/x >out 2>err
check_eq "get without CAP_OR_NAME is a usage error (2)" 2 $?
check "... writing nothing" test ! -e got/x

done_testing
