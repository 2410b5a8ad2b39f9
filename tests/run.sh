#!/usr/bin/env bash
# Runs every test of a build: the include order of the code
# (scripts/check-layers), the cmocka unit tests (build/tests/*/test_*), the
# CLI and integration scripts (tests/cli/test_*.sh, given the shoal binary in
# $SHOAL) and the fuzz corpus replays. Each speaks TAP; this script counts
# "ok" and "not ok" lines, counts a program that dies without reporting as a
# failure, and ends with the line "N passed, N failed".
#   tests/run.sh BUILD_DIR [FILTER]   (FILTER: substring of test paths to run)
set -u
build=${1:-build}
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
export SHOAL="$root/$build/shoal"
export SHOAL_TEST_ROOT="$root"
export CMOCKA_MESSAGE_OUTPUT=TAP
passed=0
failed=0
failures=()

run_one() {
	local name=$1
	shift
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	local ok notok
	ok=$(grep -cE '^ok [0-9]+' <<<"$out")
	notok=$(grep -cE '^not ok [0-9]+' <<<"$out")
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		failures+=("$name")
		printf '%s\n' "$out" | grep -vE '^ok [0-9]+' | sed "s|^|  $name: |"
	elif [ "$rc" -ne 0 ]; then
		# Died (or failed) without saying which case: one more failure.
		failed=$((failed + 1))
		failures+=("$name (exit $rc)")
		printf '%s\n' "$out" | tail -n 20 | sed "s|^|  $name: |"
	fi
	printf '%-44s %3d passed, %d failed\n' "$name" "$ok" "$notok"
}

if [[ -z "$filter" || "scripts/check-layers" == *"$filter"* ]]; then
	run_one "scripts/check-layers" "$root/scripts/check-layers"
fi

for t in "$root/$build"/tests/*/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o | *.d) continue ;; esac
	name=${t#"$root/$build/"}
	[[ -n "$filter" && "$name" != *"$filter"* ]] && continue
	run_one "$name" "$t"
done

for t in "$root"/tests/cli/test_*.sh; do
	[ -f "$t" ] || continue
	name=${t#"$root/"}
	[[ -n "$filter" && "$name" != *"$filter"* ]] && continue
	run_one "$name" bash "$t"
done

for r in "$root/$build"/fuzz/replay_*; do
	[ -x "$r" ] || continue
	case "$r" in *.o | *.d) continue ;; esac
	target=${r##*/replay_}
	name="fuzz/corpus/$target"
	[[ -n "$filter" && "$name" != *"$filter"* ]] && continue
	run_one "$name" "$r" "$root/fuzz/corpus/$target"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
