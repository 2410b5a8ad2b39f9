#!/usr/bin/env bash
# Distributed benchmark, one run on 127.0.0.1, every figure beside baselines
# measured in the same run on the same data:
#   raw loopback TCP (bench_net raw), an rsync daemon (rsync://127.0.0.1) push and
#   pull of the same file with a fresh destination each time, and of the same
#   directory of small files;
#   shoal: put of a BIG_MIB (1024) MiB random file with R = 3 on 5 daemons, get of
#   it on a 6th daemon that joined after the put and holds nothing, put and get of
#   a directory of SMALL_FILES (1000) files of 4 KiB (files/s), and the peak RSS
#   (VmHWM) of every daemon.
# Each timed step runs after `sync`; best of RUNS (3) runs. The shoal steps use
# fresh homes in every run; when one run of them takes over 60 s, only one is made
# (the table says how many). Everything lives in a temporary directory under
# BENCH_DIR (else /tmp), removed at the end with every process started here.
#   bench/bench_dist.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
shoal="$root/$build/shoal"
runstat="$root/$build/bench/runstat"
bench_net="$root/$build/bench/bench_net"
runs=${RUNS:-3}
big_mib=${BIG_MIB:-1024}
nfiles=${SMALL_FILES:-1000}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/shoal-dist.XXXXXX")
unset SHOAL_HOME

declare -A pid=() addr=() hwm=()
rsync_pid=

alive() {
	local st
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# stop_all: SIGTERM to every process started here, SIGKILL after 10 s.
stop_all() {
	local n p
	[ -n "$rsync_pid" ] && kill -TERM "$rsync_pid" 2>/dev/null
	for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
	for _ in $(seq 100); do
		p=0
		for n in "${!pid[@]}"; do alive "${pid[$n]}" && p=1; done
		[ -n "$rsync_pid" ] && alive "$rsync_pid" && p=1
		[ "$p" -eq 0 ] && break
		sleep 0.1
	done
	for n in "${!pid[@]}"; do kill -KILL "${pid[$n]}" 2>/dev/null || true; done
	[ -n "$rsync_pid" ] && kill -KILL "$rsync_pid" 2>/dev/null
	wait 2>/dev/null || true
	pid=()
	rsync_pid=
}
cleanup() {
	local rc=$?
	trap "" INT TERM HUP
	trap - EXIT
	stop_all
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/n?.log "$work"/rsyncd.log; do
			[ -s "$f" ] || continue
			echo "--- last lines of $(basename "$f")" >&2
			tail -n 6 "$f" >&2
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

die() {
	echo "bench_dist: $*" >&2
	exit 1
}
# shl ARGS...: shoal, killed after 600 s so that a hang fails the benchmark.
shl() { timeout -s KILL 600 "$shoal" "$@"; }
wait_until() { # SECONDS CMD...
	local t=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || return 1
		sleep 0.1
	done
}
best_time() { sort -n "$1" | head -n 1 | cut -d' ' -f1; }
count() { wc -l <"$1" | tr -d ' '; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
fps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# met VALUE OP LIMIT: "met" or "MISSED".
met() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = op == ">=" ? v >= l : v < l
	print ok ? "met" : "MISSED" }'; }
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }

cd "$work"
big_bytes=$((big_mib * 1024 * 1024))
echo "making the data: a $big_mib MiB random file and $nfiles files of 4 KiB" >&2
head -c "$big_bytes" /dev/urandom >big
mkdir small
for i in $(seq -w 1 "$nfiles"); do head -c 4096 /dev/urandom >"small/f$i"; done

# ---- raw loopback TCP ------------------------------------------------------------------
raw=$(RUNS="$runs" BENCH_DIR="$work" "$bench_net" raw | awk '/^ *raw TCP/ { print $(NF - 2) }')
[ -n "$raw" ] || die "no raw TCP figure from bench_net"

# ---- rsync daemon ------------------------------------------------------------------------
mkdir mod
cat >rsyncd.conf <<EOF
use chroot = false
uid = $(id -u)
gid = $(id -g)
pid file = $work/rsyncd.pid
log file = $work/rsyncd.log
[mod]
path = $work/mod
read only = false
EOF
rsync_ok() { [[ $(rsync "rsync://127.0.0.1:$rport/") == mod* ]]; }
for _ in 1 2 3 4 5; do
	rport=$(free_port)
	rsync --daemon --no-detach --config="$work/rsyncd.conf" --address=127.0.0.1 \
		--port="$rport" 2>>rsyncd.log &
	rsync_pid=$!
	wait_until 5 rsync_ok && break
	kill -KILL "$rsync_pid" 2>/dev/null || true
	wait "$rsync_pid" 2>/dev/null || true
	rsync_pid=
done
[ -n "$rsync_pid" ] || die "the rsync daemon did not start (see rsyncd.log)"
url="rsync://127.0.0.1:$rport/mod"
# Shoal fsyncs what it stores; rsync does not unless told (--fsync, rsync >= 3.2.4):
# a push with it is shown for reference.
fsync_opt=
case "$(rsync --help 2>&1)" in *--fsync*) fsync_opt=--fsync ;; esac
echo "rsync: push and pull, best of $runs" >&2
for r in $(seq "$runs"); do
	rm -rf mod/big mod/small pull pulls
	mkdir pull pulls
	sync
	"$runstat" rs_push rsync big "$url/"
	if [ -n "$fsync_opt" ]; then
		rm -f mod/big
		sync
		"$runstat" rs_fpush rsync --fsync big "$url/"
	fi
	sync
	"$runstat" rs_pull rsync "$url/big" pull/
	[ "$r" -gt 1 ] || cmp -s big pull/big || die "rsync pull returned different bytes"
	sync
	"$runstat" rs_dpush rsync -r small/ "$url/small/"
	sync
	"$runstat" rs_dpull rsync -r "$url/small/" pulls/
done
[ "$(find pulls -type f | wc -l)" -eq "$nfiles" ] || die "rsync pull of the directory lost files"
rm -rf mod pull pulls
kill -TERM "$rsync_pid"
wait "$rsync_pid" 2>/dev/null || true
rsync_pid=

# ---- shoal: five daemons, then a sixth --------------------------------------------------
shl network create net.pem
start() { # start N [ARGS...]
	local n=$1
	shift
	"$shoal" --home "n$n" daemon --listen 127.0.0.1:0 "$@" 2>>"n$n.log" &
	pid[$n]=$!
	wait_until 15 "$shoal" --home "n$n" status || die "daemon n$n did not start (see n$n.log)"
	addr[$n]=$(shl --home "n$n" status --json | sed -n 's/^ *"listen": *"\([^"]*\)".*$/\1/p')
	[ -n "${addr[$n]}" ] || die "no listen address from n$n"
}
ups() { shl --home "n$1" peers | awk -F'\t' '$3 == "up"' | wc -l; }
all_up() { # COUNT N...
	local want=$1 n
	shift
	for n in "$@"; do [ "$(ups "$n")" -ge "$want" ] || return 1; done
}
holds_nothing() {
	[[ $(shl --home "n$1" status --json) =~ \"chunks\":\ *0[^0-9] ]]
}

shoal_runs=0
for r in $(seq "$runs"); do
	echo "shoal: run $r of at most $runs" >&2
	t0=$(now)
	rm -rf n? n?.log out outd
	for n in 1 2 3 4 5 6; do shl --home "n$n" init --network net.pem >/dev/null; done
	start 1
	for n in 2 3 4 5; do start "$n" --bootstrap "${addr[1]}"; done
	wait_until 30 all_up 4 1 2 3 4 5 || die "the five daemons did not form a full mesh"
	sync
	"$runstat" sh_put "$shoal" --home n1 put big --replicas 3 --no-progress >cap ||
		die "shoal put of the big file failed (n1.log)"
	sync
	"$runstat" sh_dput "$shoal" --home n1 put small --replicas 3 --no-progress >dcap ||
		die "shoal put of the directory failed (n1.log)"
	start 6 --bootstrap "${addr[1]}"
	wait_until 30 all_up 5 6 || die "the sixth daemon did not see the five others up"
	holds_nothing 6 || die "the sixth node holds chunks before its get"
	sync
	"$runstat" sh_get "$shoal" --home n6 get "$(cat cap)" -o out --no-progress ||
		die "shoal get of the big file on n6 failed (n6.log)"
	sync
	"$runstat" sh_dget "$shoal" --home n6 get "$(cat dcap)" -o outd --no-progress ||
		die "shoal get of the directory on n6 failed (n6.log)"
	cmp -s big out || die "shoal get returned different bytes"
	diff -r -q small outd >/dev/null || die "shoal get of the directory differs"
	for n in 1 2 3 4 5 6; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/${pid[$n]}/status")
		[ "${hwm[$n]:-0}" -ge "$v" ] || hwm[$n]=$v
	done
	stop_all
	shoal_runs=$r
	rm -rf out outd
	awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 60) }' && break
done

# ---- healing and scrub ---------------------------------------------------------------------
# Five daemons that call a member lost after 3 s down and scan every 0.5 s; the big
# file put with R = 3 from n1; two other nodes SIGKILLed; the time until every chunk
# has 3 live holders again (n1's locate asks the live members). Then the re-hash
# rate of `verify` (what the scrub does, unthrottled) beside openssl on the file.
echo "shoal: heal after losing 2 of 5 nodes" >&2
rm -rf n? n?.log
for n in 1 2 3 4 5; do shl --home "n$n" init --network net.pem >/dev/null; done
HEAL=(--set peer_timeout=1 --set ping_interval=0.25 --set grace_period=3 --set repair_interval=0.5
	--set repair_rate=100000 --set scrub_rate=0)
start 1 "${HEAL[@]}"
for n in 2 3 4 5; do start "$n" --bootstrap "${addr[1]}" "${HEAL[@]}"; done
wait_until 30 all_up 4 1 2 3 4 5 || die "the five daemons did not form a full mesh"
shl --home n1 put big --replicas 3 --no-progress >cap || die "shoal put for the heal test failed"
healed() { shl --home n1 locate "$(cat cap)" | awk -F'\t' 'split($3, h, ",") < 3 { bad = 1 } END { exit bad }'; }
healed || die "not every chunk had 3 holders after the put"
t_kill=$(now)
kill -KILL "${pid[2]}" "${pid[3]}"
wait_until 600 healed || die "the chunks did not get 3 live copies back"
heal_s=$(awk -v a="$t_kill" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
repaired=$(shl --home n1 status --json | sed -n 's/^ *"repaired": *\([0-9]*\).*$/\1/p')
sync
"$runstat" sh_verify "$shoal" --home n1 verify >/dev/null || die "verify found damage"
"$runstat" ssl_sha openssl dgst -sha256 big >/dev/null
stop_all
rm -rf n? n?.log

# ---- the table -----------------------------------------------------------------------------
rs_push=$(best_time rs_push)
rs_pull=$(best_time rs_pull)
rs_dpush=$(best_time rs_dpush)
rs_dpull=$(best_time rs_dpull)
sh_put=$(best_time sh_put)
sh_get=$(best_time sh_get)
sh_dput=$(best_time sh_dput)
sh_dget=$(best_time sh_dget)
push_r=$(div "$rs_push" "$sh_put")
pull_r=$(div "$rs_pull" "$sh_get")
row() { printf '  %-50s %8s %14s %7s  %s\n' "$@"; }
echo "127.0.0.1, $(nproc) CPUs; a $big_mib MiB random file and $nfiles files of 4 KiB; MB/s = 10^6 bytes/s"
echo "shoal: 5 daemons, put on node 1 with R = 3; the gets on a 6th daemon started after the puts"
row step seconds rate ratio aim
row "raw loopback TCP, bench_net (best of $runs)" - "$raw MB/s" - ""
row "rsync push to rsync://127.0.0.1 (best of $(count rs_push))" "$rs_push" \
	"$(mbps "$big_bytes" "$rs_push") MB/s" 1.00 ""
[ -z "$fsync_opt" ] || row "rsync --fsync push, for reference (best of $(count rs_fpush))" \
	"$(best_time rs_fpush)" "$(mbps "$big_bytes" "$(best_time rs_fpush)") MB/s" \
	"$(div "$rs_push" "$(best_time rs_fpush)")" ""
row "rsync pull from rsync://127.0.0.1 (best of $(count rs_pull))" "$rs_pull" \
	"$(mbps "$big_bytes" "$rs_pull") MB/s" 1.00 ""
row "shoal put, R = 3 (best of $(count sh_put))" "$sh_put" "$(mbps "$big_bytes" "$sh_put") MB/s" \
	"$push_r" ">= 0.50 x rsync push: $(met "$push_r" ">=" 0.5)"
row "shoal get on a node holding nothing (best of $(count sh_get))" "$sh_get" \
	"$(mbps "$big_bytes" "$sh_get") MB/s" "$pull_r" ">= 1.00 x rsync pull: $(met "$pull_r" ">=" 1)"
row "rsync -r push, $nfiles files (best of $(count rs_dpush))" "$rs_dpush" \
	"$(fps "$nfiles" "$rs_dpush") files/s" 1.00 ""
row "rsync -r pull, $nfiles files (best of $(count rs_dpull))" "$rs_dpull" \
	"$(fps "$nfiles" "$rs_dpull") files/s" 1.00 ""
f=$(fps "$nfiles" "$sh_dput")
row "shoal put of the directory, R = 3 (best of $(count sh_dput))" "$sh_dput" "$f files/s" \
	"$(div "$rs_dpush" "$sh_dput")" ">= 2000 files/s: $(met "$f" ">=" 2000)"
f=$(fps "$nfiles" "$sh_dget")
row "shoal get of the directory (best of $(count sh_dget))" "$sh_dget" "$f files/s" \
	"$(div "$rs_dpull" "$sh_dget")" ">= 2000 files/s: $(met "$f" ">=" 2000)"
line="  peak RSS (VmHWM) of each daemon, MiB (n1 put, n6 got):"
max=0
for n in 1 2 3 4 5 6; do
	line+=" n$n $(awk -v k="${hwm[$n]}" 'BEGIN { printf "%.1f", k / 1024 }')"
	[ "${hwm[$n]}" -le "$max" ] || max=${hwm[$n]}
done
echo "$line  (aim < 64 each: $(met "$max" "<" 65536))"
echo "ratio = rsync seconds / shoal seconds (higher is better); the shoal steps: $shoal_runs run(s)"
echo
echo "healing: 5 daemons, $big_mib MiB put with R = 3, 2 nodes SIGKILLed; grace period 3 s, scans every 0.5 s"
row step seconds rate ratio ""
row "time until every chunk has 3 live copies again" "$heal_s" "$repaired copies" - \
	"(of which 3 s is the grace period)"
sv=$(best_time sh_verify)
ss=$(best_time ssl_sha)
row "openssl dgst -sha256 of the file" "$ss" "$(mbps "$big_bytes" "$ss") MB/s" 1.00 ""
row "shoal verify (the scrub's re-hash, unthrottled)" "$sv" "$(mbps "$big_bytes" "$sv") MB/s" \
	"$(div "$ss" "$sv")" "(the background scrub is throttled: scrub_rate, default 8 MiB/s)"
