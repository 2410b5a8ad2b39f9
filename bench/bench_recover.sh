#!/usr/bin/env bash
# Recovery of a lost node's names: how long `shoal recover` takes for NAMES
# (1000) names, beside the time the same node took to put them.
#
# Three daemons on 127.0.0.1 (kernel-chosen ports, temporary homes), n2 and n3
# bootstrapped from n1. n1 puts NAMES files of 4 KiB of random bytes, each
# under its own name, one `shoal put` each (timed in all: the baseline). Once
# n1's name table is placed (`recovery-key --json` says nothing is pending and
# the table holds NAMES versions), n1 is killed (SIGKILL) and a fresh node n4
# of the same network starts, bootstrapped from n2, and waits for both peers;
# `shoal recover KEY` is then timed, wall clock, from the command's start to
# its exit 0: finding the record, fetching the table and every version's
# chunks into n4's store, and binding every name. Afterwards `shoal ls` on n4
# must list NAMES names. Daemons run with peer_timeout=2, ping_interval=0.5,
# repair_interval=1, scrub_rate=0.
#   bench/bench_recover.sh [SHOAL_BINARY | BUILD_DIR]   (else $SHOAL, else build/shoal)
# Everything lives in a temporary directory under BENCH_DIR (else /tmp), removed
# at the end (unless KEEP=1) with every process started here.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
arg=${1:-${SHOAL:-build}}
. "$root/bench/lib.sh"
shoal=$(bench_shoal bench_recover "$arg") || exit 1
names=${NAMES:-1000}
opts=(--set peer_timeout=2 --set ping_interval=0.5 --set repair_interval=1 --set scrub_rate=0)
bench_daemons bench_recover
shl() { timeout -s KILL 600 "$shoal" "$@"; }
up() { # HOME N: HOME sees N peers up
	[ "$(shl --home "$1" peers | awk '$3 == "up"' | wc -l)" -ge "$2" ]
}
placed() {
	shl --home n1 recovery-key --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if not d["pending"] and d["versions"] == int(sys.argv[1]) else 1)' "$names"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

cd "$work"
shl network create net.pem
for h in n1 n2 n3 n4; do shl --home "$h" init --network net.pem >/dev/null; done
bench_start n1
bench_start n2 n1
bench_start n3 n1
bench_until 30 up n1 2 || bench_die "the peers do not meet"
mkdir files
for i in $(seq "$names"); do head -c 4096 /dev/urandom >"files/f$i"; done
t0=$(now)
for i in $(seq "$names"); do
	shl --home n1 put "files/f$i" --name "name-$i" --no-progress >/dev/null
done
t1=$(now)
bench_until 120 placed || bench_die "the name table is not placed"
key=$(shl --home n1 recovery-key 2>/dev/null)
kill -KILL "${pid[n1]}"
wait "${pid[n1]}" 2>/dev/null || true
unset "pid[n1]"
bench_start n4 n2
bench_until 30 up n4 2 || bench_die "n4 does not meet n2 and n3"
t2=$(now)
shl --home n4 recover --no-progress "$key" >/dev/null 2>"$work/recover.err" || bench_die "recover failed: $(cat "$work/recover.err")"
t3=$(now)
got=$(shl --home n4 ls | wc -l)
[ "$got" -eq "$names" ] || bench_die "n4 lists $got names, not $names"
put_s=$(secs "$t0" "$t1")
rec_s=$(secs "$t2" "$t3")
printf '%-40s %10s s  (%s ms a name)\n' "put of $names names, one put each" "$put_s" \
	"$(awk -v s="$put_s" -v n="$names" 'BEGIN { printf "%.1f", s * 1000 / n }')"
printf '%-40s %10s s  (%s ms a name)\n' "recover of $names names" "$rec_s" \
	"$(awk -v s="$rec_s" -v n="$names" 'BEGIN { printf "%.1f", s * 1000 / n }')"
