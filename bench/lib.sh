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
