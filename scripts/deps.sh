#!/bin/sh
# Installs the Debian packages Shoal needs, when any is missing. Runs apt-get
# as root, through sudo otherwise, or prints the command.
#   scripts/deps.sh build   what building the daemon and the CLI needs
#   scripts/deps.sh test    that, and what the tests, fuzzers and benchmarks
#                           drive (cmocka, clang for libFuzzer, the sqlite3
#                           shell, rsync, iproute2, iptables, python3, procps,
#                           tmux for the progress bar on a terminal, time
#                           for peak RSS)
set -eu

build="build-essential pkg-config libevent-dev libssl-dev openssl libsqlite3-dev
libprotobuf-c-dev protobuf-c-compiler libinih-dev libjansson-dev"
test="libcmocka-dev clang libclang-rt-14-dev clang-format sqlite3 rsync iproute2 iptables
python3 procps tmux time"

case "${1:-build}" in
build) pkgs=$build ;;
test) pkgs="$build $test" ;;
*)
	echo "usage: scripts/deps.sh build|test" >&2
	exit 2
	;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "shoal: installing missing packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "shoal: run as root: apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
