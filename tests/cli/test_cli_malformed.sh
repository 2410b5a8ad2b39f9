#!/usr/bin/env bash
# Malformed input: bad capabilities, bad names, missing files and directories,
# options only a daemon can honour, homes that are not nodes. Each gets one clear "shoal: " line, a non-zero exit
# that is not a crash, and changes nothing; nothing is written outside the test
# directory.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
outer="$T/outer" # the canary: must end up holding only work/
W="$outer/work"
mkdir -p "$W" && cd "$W" || exit 1

make_node h >/dev/null
gen_data f.bin 300000 f
cap=$(shoal --home h put f.bin --name f 2>&1)
check_match "setup: put works" '^shoal:[a-z2-7]{52}:[a-z2-7]{52}$' "$cap"
mkdir out
snapshot() { shoal --home h ls && find h/objects -type f | sort; }
before=$(snapshot)

# refused CMD_DESC [SUBSTRING] -- CMD...: a clean refusal that changes nothing.
refused() {
	local desc=$1 want=$2 rc
	shift 3
	"$@" >stdout 2>err
	rc=$?
	check_failed "$desc: exits non-zero without crashing" $rc
	check_err1 "$desc: one-line error" err "$want"
	LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' err
	check_eq "$desc: the error holds no control bytes" 1 $?
	check_eq "$desc: nothing on stdout, nothing written" "" "$(cat stdout; ls -A out)"
	check_eq "$desc: store unchanged" "$before" "$(snapshot)"
}

# ---- bad capabilities for get ---------------------------------------------------------
id=${cap:6:52}
key=${cap:59:52}
b32=abcdefghijklmnopqrstuvwxyz234567
# the last character of a 52-character spelling carries 1 bit and 4 zero padding bits
pad() { local i=${b32%%"${1: -1}"*}; echo "${1:0:51}${b32:$(((${#i}) ^ 1)):1}"; }
other() { [ "${1:10:1}" = a ] && echo "${1:0:10}b${1:11}" || echo "${1:0:10}a${1:11}"; }
zeros=$(printf 'a%.0s' {1..52})
declare -A bad=(
	["wrong prefix"]="shaol:$id:$key"
	["bad base32 char in the id"]="shoal:1${id:1}:$key"
	["bad base32 char in the key"]="shoal:$id:${key:0:25}0${key:26}"
	["non-alphabet byte"]="shoal:$id:${key:0:25}!${key:26}"
	["short key"]="shoal:$id:${key:0:51}"
	["short id"]="shoal:${id:0:51}:$key"
	["extra character"]="${cap}a"
	["extra field"]="$cap:$key"
	["trailing newline"]="$cap"$'\n'
	["no key"]="shoal:$id"
	["empty key"]="shoal:$id:"
	["empty string"]=""
	["shoal: alone"]="shoal:"
	["10 KB capability"]="shoal:$(head -c 10000 /dev/zero | tr '\0' a)"
	["non-canonical key padding"]="shoal:$id:$(pad "$key")"
	["non-canonical id padding"]="shoal:$(pad "$id"):$key"
	["wrong key"]="shoal:$id:$(other "$key")"
	["unknown id"]="shoal:$zeros:$key"
)
for what in "${!bad[@]}"; do
	refused "get, $what" "" -- shoal --home h get "${bad[$what]}" -o out/x
done
check "the good capability still works" shoal --home h get "$cap" -o out/ok
check "... and reads back identical" cmp f.bin out/ok
rm -f out/ok

# ---- bad names ------------------------------------------------------------------------
long4k=$(printf 'n%.0s' {1..4096})
n255=$(printf 'n%.0s' {1..255})
declare -A badname=(
	["slash"]="a/b"
	["dot-dot"]=".."
	["dot"]="."
	["control byte"]=$'a\x01b'
	["newline"]=$'a\nb'
	["tab"]=$'a\tb'
	["DEL"]=$'a\x7fb'
	["escape sequence"]=$'\e[31mred'
	["invalid UTF-8"]=$'a\xff\xfeb'
	["leading space"]=" a"
	["trailing space"]="a "
	["empty"]=""
	["4 KiB"]="$long4k"
	["256 bytes"]="${n255}n"
)
for what in "${!badname[@]}"; do
	refused "put --name ($what)" "invalid name" -- shoal --home h put f.bin --name "${badname[$what]}"
	check_eq "put --name ($what): no temp file left" "" "$(ls -A h/objects/tmp)"
done
refused "rm of an invalid name (..)" "invalid name" -- shoal --home h rm ..
refused "rm of an invalid name (newline)" "invalid name" -- shoal --home h rm $'f\nf'
refused "get of an invalid name (a/b)" "" -- shoal --home h get a/b -o out/x
refused "get of an invalid name (control byte)" "" -- shoal --home h get $'a\x01' -o out/x
refused "get by a name that does not exist" "no file named 'nosuch'" -- shoal --home h get nosuch -o out/x
refused "rm of a name that does not exist" "no file named 'nosuch'" -- shoal --home h rm nosuch

# Names that are fine.
for name in "$n255" "café ☃ 日本" "a:b" "with space" "-dash" ".hidden"; do
	label="${#name}-byte name ${name:0:12}"
	shoal --home h put f.bin --name "$name" >stdout 2>err
	check_eq "put --name ($label) works" 0 $?
	check_eq "... ls lists it" "$name" "$(shoal --home h ls | cut -f1 | grep -Fx -- "$name")"
	# '--' ends the options, for the name starting with '-'
	shoal --home h get -o out/named -- "$name" && cmp -s f.bin out/named
	check_eq "... get by that name reads back identical" 0 $?
	rm -f out/named
	check "... rm works" shoal --home h rm -- "$name"
done
check_eq "store back as before" "$before" "$(snapshot)"

# ---- missing files and directories --------------------------------------------------
mkdir adir
refused "put of a missing file" "no-such-file.bin" -- shoal --home h put no-such-file.bin
refused "put of a directory under an invalid name" "invalid name" -- \
	shoal --home h put adir --name "a/b"
refused "put of a directory (trailing slash) with --publish offline" "needs a running daemon" -- \
	shoal --home h put adir/ --name x --publish
refused "get -o into a missing directory" "" -- shoal --home h get f -o no-dir/x
check "... does not create the directory" test ! -e no-dir
refused "get -o onto a directory" "" -- shoal --home h get f -o adir
check_eq "... leaves the directory empty" "" "$(ls -A adir)"
check_eq "... and no temp file beside it" "" "$(find . -name '.shoal-get-*')"

# ---- homes that are not nodes ----------------------------------------------------------
mkdir empty notnode
echo hi >notnode/readme
echo hi >afile
for home in nohome empty notnode; do
	for cmdline in "id" "ls" "verify" "put f.bin" "get $cap -o out/x" "get f -o out/x" "rm f"; do
		# shellcheck disable=SC2086
		refused "home $home: ${cmdline/$cap/CAP}" "run 'shoal init'" -- \
			shoal --home "$W/$home" $cmdline
	done
done
check "nohome was not created" test ! -e nohome
check_eq "empty home stays empty" "" "$(ls -A empty)"
check_eq "a non-node directory stays as it was" "readme" "$(ls -A notnode)"
for cmdline in "id" "ls" "put f.bin"; do
	# shellcheck disable=SC2086
	refused "home is a regular file: $cmdline" "" -- shoal --home "$W/afile" $cmdline
done
check_eq "... the file is unchanged" hi "$(cat afile)"
# No --home and no SHOAL_HOME: ~/.shoal (HOME is $T/user, empty).
refused "default home missing: ls" "run 'shoal init'" -- shoal ls
refused "default home missing: put" "run 'shoal init'" -- shoal put f.bin
check_eq "... and ~ stays empty" "" "$(ls -A "$HOME")"

# ---- nothing outside the test directory ----------------------------------------------
check_eq "nothing was written beside the test directory" "work" "$(ls -A "$outer")"
check_eq "no get temp file anywhere" "" "$(find "$T" -name '.shoal-get-*')"
check "the store still verifies" shoal --home h verify

done_testing
