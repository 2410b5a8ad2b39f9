#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/fuzz_*.c) with clang, ASan and UBSan
# into build-fuzz/, against the util, crypto and proto layers compiled with the
# same instrumentation and the protobuf-c code generated from proto/shoal.proto,
# then runs each harness for SECONDS seconds on a copy of its corpus
# (build-fuzz/corpus/<target>/, seeded from fuzz/corpus/<target>/ and kept
# between runs), so normal runs never modify the committed corpus. Crash
# artifacts and logs stay in build-fuzz/. Exits non-zero if any harness
# crashes. `make fuzz FUZZ_SECONDS=N` calls it.
#   fuzz/run.sh SECONDS      build, then fuzz each target for SECONDS
#   fuzz/run.sh --build      build only
#   fuzz/run.sh --seeds      regenerate the seed files of fuzz/corpus/ (gen_corpus.c)
#   fuzz/run.sh --merge      copy fuzz/corpus/<target> to a fresh build-fuzz/merged/<target>/
#                            and merge in the build-fuzz/corpus inputs that add coverage;
#                            copy the interesting ones to fuzz/corpus/<target>/found-<what>
# FUZZ_TARGETS limits the targets (e.g. "manifest"); FUZZ_ARGS adds libFuzzer flags;
# FUZZ_JOBS sets how many targets fuzz at once (default: the number of cores).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=build-fuzz
cc=${FUZZ_CC:-clang}
max_len=65536

usage() {
	sed -n '/^#   fuzz\/run.sh SECONDS/,/^# FUZZ_TARGETS/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

[ $# -eq 1 ] || usage
mode=$1
case "$mode" in
--build | --seeds | --merge) ;;
*[!0-9]* | '' | 0) usage ;; # libFuzzer reads 0 as "no limit"
esac

if [ -n "${FUZZ_TARGETS:-}" ]; then
	targets=$FUZZ_TARGETS
else
	targets=""
	for f in fuzz/fuzz_*.c; do
		f=${f#fuzz/fuzz_}
		targets="$targets ${f%.c}"
	done
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-g -O1 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers
	-Isrc -I$out/gen $(pkg-config --cflags libevent libprotobuf-c openssl)"
libs="$(pkg-config --libs libevent libprotobuf-c openssl) -lpthread"

say() {
	printf '  %-7s %s\n' "$1" "$2"
}

build() {
	mkdir -p "$out/gen" "$out/obj" "$out/artifacts"
	if [ ! -e "$out/gen/proto/shoal.pb-c.c" ] || [ proto/shoal.proto -nt "$out/gen/proto/shoal.pb-c.c" ]; then
		say PROTOC proto/shoal.proto
		protoc-c --c_out="$out/gen" proto/shoal.proto
	fi
	# Everything is recompiled each time: a few dozen files, in parallel,
	# and no stale object can survive a header change.
	local srcs=(src/util/*.c src/crypto/*.c src/proto/*.c src/net/addr.c src/net/frame.c
		src/net/wire.c "$out/gen/proto/shoal.pb-c.c")
	say CC "util crypto proto net codecs (${#srcs[@]} files)"
	rm -f "$out"/obj/*.o
	local src pids=() failed=0
	for src in "${srcs[@]}"; do
		# shellcheck disable=SC2086
		$cc $cflags $san -fsanitize=fuzzer-no-link -c \
			-o "$out/obj/$(tr / _ <<<"${src%.c}").o" "$src" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	[ "$failed" -eq 0 ] || exit 1
	rm -f "$out/libshoal-fuzz.a"
	ar rcs "$out/libshoal-fuzz.a" "$out"/obj/*.o
	for t in $targets; do
		say LD "$out/fuzz_$t"
		# shellcheck disable=SC2086
		$cc $cflags $san -fsanitize=fuzzer -o "$out/fuzz_$t" "fuzz/fuzz_$t.c" \
			"$out/libshoal-fuzz.a" $libs
	done
}

seeds() {
	say LD "$out/gen_corpus"
	# shellcheck disable=SC2086
	$cc $cflags $san -fsanitize=fuzzer-no-link -o "$out/gen_corpus" fuzz/gen_corpus.c \
		"$out/libshoal-fuzz.a" $libs
	mkdir -p fuzz/corpus
	"$out/gen_corpus" fuzz/corpus/manifest fuzz/corpus/capability fuzz/corpus/catlog \
		fuzz/corpus/request fuzz/corpus/folder
	for t in manifest capability catlog request folder; do
		say SEEDS "fuzz/corpus/$t: $(find "fuzz/corpus/$t" -type f | wc -l) files"
	done
}

# The merged dir starts as a copy of the committed corpus, so what libFuzzer
# adds to it is exactly the inputs that reach coverage the seeds do not.
merge() {
	for t in $targets; do
		local merged="$out/merged/$t" before
		rm -rf "$merged"
		mkdir -p "$merged" "$out/corpus/$t"
		cp -R "fuzz/corpus/$t/." "$merged/"
		before=$(find "$merged" -type f | wc -l)
		"$out/fuzz_$t" -merge=1 -max_len=$max_len "$merged" "$out/corpus/$t" \
			>"$out/merge-$t.log" 2>&1
		say MERGE "$merged: $before seeds + $(($(find "$merged" -type f | wc -l) - before)) new inputs"
	done
}

# Runs one target; prints its totals, and on a crash the end of its log.
fuzz_one() {
	local t=$1 seconds=$2
	local work="$out/corpus/$t" log="$out/fuzz-$t.log" rc=0
	mkdir -p "$work" "$out/artifacts/$t"
	cp -R "fuzz/corpus/$t/." "$work/"
	say FUZZ "$t for ${seconds}s ($(find "$work" -type f | wc -l) inputs)"
	# shellcheck disable=SC2086
	"$out/fuzz_$t" -max_len=$max_len -max_total_time="$seconds" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" ${FUZZ_ARGS:-} \
		"$work" >"$log" 2>&1 || rc=$?
	local runs speed
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$log" | sed "s|^|  $t: |"
		echo "  CRASH   $t (exit $rc); reproducer in $out/artifacts/$t/, log $log" >&2
		return 1
	fi
	say OK "$t: ${runs:-?} runs, ${speed:-?} exec/s, corpus $(find "$work" -type f | wc -l)"
}

build
case "$mode" in
--build) exit 0 ;;
--seeds)
	seeds
	exit 0
	;;
--merge)
	merge
	exit 0
	;;
esac

# The targets run FUZZ_JOBS at a time (default: one per core).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
jobs_max=${FUZZ_JOBS:-$(nproc)}
status=0 running=0
for t in $targets; do
	if [ "$running" -ge "$jobs_max" ]; then
		wait -n || status=1
		running=$((running - 1))
	fi
	fuzz_one "$t" "$mode" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || status=1
	running=$((running - 1))
done
exit $status
