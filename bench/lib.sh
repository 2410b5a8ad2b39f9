# Helpers for the benchmark scripts (sourced, bash).
#   bench_shoal NAME ARG   prints the absolute path of the shoal binary that ARG
#                          names (the binary itself, or a build directory, relative
#                          to the working directory or to the repo root); says
#                          "NAME: no shoal binary at ARG" and fails otherwise
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_shoal() {
	local name=$1 arg=$2 root=$bench_root
	if [ -f "$arg" ] && [ -x "$arg" ]; then
		echo "$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"
	elif [ -x "$arg/shoal" ]; then
		echo "$(cd "$arg" && pwd)/shoal"
	elif [ -x "$root/$arg/shoal" ]; then
		echo "$root/$arg/shoal"
	else
		echo "$name: no shoal binary at $arg" >&2
		return 1
	fi
}

# For the benchmarks that run daemons:
#   bench_daemons NAME     makes $work (a temporary directory under BENCH_DIR,
#                          else /tmp) and the tables pid and addr, and sets the
#                          EXIT trap that stops every daemon started here and
#                          removes $work (unless KEEP=1); bench_die and the
#                          daemons' logs then say NAME
#   bench_die MESSAGE      prints "NAME: MESSAGE" and exits 1
#   bench_until SECONDS CMD...   polls CMD every 0.1 s; fails at the deadline
#   bench_start HOME [BOOT_HOME] starts HOME's daemon (relative to the working
#                          directory) on a port the kernel chooses, bootstrapped
#                          from BOOT_HOME's, with the options in ${opts[@]} and
#                          its log in HOME.log; waits until it answers and notes
#                          ${pid[HOME]} and ${addr[HOME]}
bench_daemons() {
	bench_name=$1
	work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-$1.XXXXXX")
	unset SHOAL_HOME
	declare -gA pid=() addr=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	local h
	for h in "${!pid[@]}"; do kill -TERM "${pid[$h]}" 2>/dev/null || true; done
	for h in "${!pid[@]}"; do wait "${pid[$h]}" 2>/dev/null || true; done
	if [ "${KEEP:-}" = 1 ]; then echo "$bench_name: kept $work" >&2; else rm -rf "$work"; fi
}

bench_die() {
	echo "$bench_name: $*" >&2
	exit 1
}

bench_until() {
	local t=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || return 1
		sleep 0.1
	done
}

bench_start() {
	local boot=()
	[ -n "${2:-}" ] && boot=(--bootstrap "${addr[$2]}")
	"$shoal" --home "$1" daemon --listen 127.0.0.1:0 "${boot[@]}" "${opts[@]}" \
		2>"$1.log" &
	pid[$1]=$!
	bench_until 20 "$shoal" --home "$1" status || bench_die "the daemon of $1 does not answer"
	addr[$1]=$("$shoal" --home "$1" status --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["listen"])')
}
