#!/usr/bin/env bash
# Runs every test of a build: the include order of the code
# (scripts/check-layers), the cmocka unit tests (build/tests/*/test_*), the
# CLI and integration scripts (tests/cli/test_*.sh, given the shoal binary in
# $SHOAL) and the fuzz corpus replays. Each speaks TAP; this script counts
# "ok" and "not ok" lines, counts a program that dies without reporting as a
# failure, and ends with the line "N passed, N failed".
#
# The scripts and unit tests run SHOAL_TEST_JOBS at a time (default 2: the
# scripts mostly wait on daemons and timers; each test uses its own temp tree
# and kernel-chosen ports), the longest scripts first and the unit tests
# last; each one's result is printed when it ends.
#   tests/run.sh BUILD_DIR [FILTER]   (FILTER: substring of test paths to run)
set -u
build=${1:-build}
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
export SHOAL="$root/$build/shoal"
export SHOAL_TEST_ROOT="$root"
export CMOCKA_MESSAGE_OUTPUT=TAP
jobs_max=${SHOAL_TEST_JOBS:-2}
# The scripts' temporary trees go to a tmpfs when there is a roomy one
# (/dev/shm with 8 GiB free): they write gigabytes and fsync often, and on a
# shared machine a contended disk, not the code, would set the pace. A set
# TMPDIR is kept.
if [ -z "${TMPDIR:-}" ]; then
	shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
	[ "${shm_free:-0}" -ge $((8 * 1024 * 1024)) ] && export TMPDIR=/dev/shm
fi
passed=0
failed=0
failures=()
outdir=$(mktemp -d "${TMPDIR:-/tmp}/shoal-run.XXXXXX") || exit 1
trap 'rm -rf "$outdir"' EXIT

# report NAME RC OUTFILE SECONDS: counts one finished test and prints its line.
report() {
	local name=$1 rc=$2 out=$3 secs=$4
	local ok notok
	ok=$(grep -cE '^ok [0-9]+' "$out")
	notok=$(grep -cE '^not ok [0-9]+' "$out")
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$notok" -gt 0 ]; then
		failures+=("$name")
		grep -vE '^ok [0-9]+' "$out" | sed "s|^|  $name: |"
	elif [ "$rc" -ne 0 ]; then
		# Died (or failed) without saying which case: one more failure.
		failed=$((failed + 1))
		failures+=("$name (exit $rc)")
		tail -n 20 "$out" | sed "s|^|  $name: |"
	fi
	printf '%-44s %3d passed, %d failed (%d s)\n' "$name" "$ok" "$notok" "$secs"
}

# run_one NAME CMD...: runs one test now.
run_one() {
	local name=$1 start=$SECONDS rc
	shift
	"$@" >"$outdir/one" 2>&1
	rc=$?
	report "$name" "$rc" "$outdir/one" $((SECONDS - start))
}

if [[ -z "$filter" || "scripts/check-layers" == *"$filter"* ]]; then
	run_one "scripts/check-layers" "$root/scripts/check-layers"
fi

# The scripts, the slowest first so that the lanes end together; then the
# unit tests, which fill the lanes at the end.
slow=(test_folder_scale test_net_repair test_folder_sync test_net_defaults test_net_chaos
	test_folder_crash test_net_budget test_fault_crash test_net_hostile test_cli_output
	test_fault_disk)
jobs=()
for s in "${slow[@]}"; do
	[ -f "$root/tests/cli/$s.sh" ] && jobs+=("$root/tests/cli/$s.sh")
done
for t in "$root"/tests/cli/test_*.sh; do
	[[ " ${jobs[*]} " == *" $t "* ]] || jobs+=("$t")
done
for t in "$root/$build"/tests/*/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o | *.d) continue ;; esac
	jobs+=("$t")
done
declare -A job_name=() job_start=() job_out=()
running=0
seq=0
# reap: waits for one job to end and reports it.
reap() {
	local pid rc
	wait -n -p pid
	rc=$?
	report "${job_name[$pid]}" "$rc" "${job_out[$pid]}" $((SECONDS - ${job_start[$pid]}))
	running=$((running - 1))
}
for t in "${jobs[@]}"; do
	case "$t" in
	"$root/$build/"*) name=${t#"$root/$build/"} ;;
	*) name=${t#"$root/"} ;;
	esac
	[[ -n "$filter" && "$name" != *"$filter"* ]] && continue
	[ "$running" -ge "$jobs_max" ] && reap
	seq=$((seq + 1))
	case "$t" in
	*.sh) bash "$t" >"$outdir/$seq" 2>&1 & ;;
	*) "$t" >"$outdir/$seq" 2>&1 & ;;
	esac
	pid=$!
	job_name[$pid]=$name
	job_start[$pid]=$SECONDS
	job_out[$pid]=$outdir/$seq
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done

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
