#!/usr/bin/env bash
# Network faults between real daemons, and a frozen holder.
#
# Faults: the test runs itself inside a network namespace of its own (root and
# `ip netns` needed) where only its four daemons talk, over 127.0.0.1. There it
# adds packet loss, delay with jitter (which reorders) and connection resets to
# the loopback path:
#   - with `tc qdisc ... netem` when the kernel has sch_netem (plus duplicates);
#   - else with iptables: `-m statistic` drops, and an NFQUEUE in which
#     tests/cli/netdelay.py holds each packet for the delay;
#   - resets with `ss -K` (the kernel's sock_diag destroy) in either case.
# Under 5% loss and 20 +- 10 ms delay: a 20 MiB put with --replicas 3, a tree
# put, and gets of both on other nodes succeed byte for byte; so do a put and a
# get while one member's connections are reset again and again; while every
# connection is reset they succeed or fail cleanly (exit 1..127, only "shoal: "
# lines on stderr, no output file, no name listed), and the mesh comes back.
# Under 30% loss and 50 +- 20 ms, commands may fail, but only cleanly and within
# a bound. Afterwards every store verifies, no daemon died, and gets succeed.
# Without the privilege or either tool, those cases print "# SKIP".
#
# A frozen holder (always runs): SIGSTOP a node holding chunks for longer than
# peer_timeout (and, when the build has repair, its grace_period); the others
# mark it down, a put (R capped with a warning) and a get succeed without it;
# after SIGCONT it is up again, its store is intact (what it let go has 3 good
# copies elsewhere, or was left by a put that failed), no chunk has fewer than 3
# good copies, every file comes back whole from every node and every store
# verifies. How many copies chunks end with (duplicate repairs left behind) and
# the status counters are printed as "# NOTE" lines, not asserted (yet).
# shellcheck disable=SC2317,SC2046 # helpers are called through check and wait_for; homes are words
here=$(cd "$(dirname "$0")" && pwd)

# ---- outer part: make the namespace, run this script inside it, delete it -----------
if [ -z "${SHOAL_CHAOS_NS:-}" ]; then
	ns="shoal-chaos-$$"
	if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1 &&
		ip netns add "$ns" 2>/dev/null; then
		child=
		_ns_cleanup() {
			if [ -n "$child" ]; then
				kill -TERM "$child" 2>/dev/null
				wait "$child" 2>/dev/null
			fi
			ip netns del "$ns" 2>/dev/null
		}
		trap _ns_cleanup EXIT
		trap 'exit 143' TERM INT HUP
		SHOAL_CHAOS_NS=$ns ip netns exec "$ns" bash "$0" &
		child=$!
		wait "$child"
		rc=$?
		child=
		exit "$rc"
	fi
	if [ "$(id -u)" -ne 0 ]; then
		export SHOAL_CHAOS_NS=none SHOAL_CHAOS_WHY="not root: no network namespace"
	else
		export SHOAL_CHAOS_NS=none SHOAL_CHAOS_WHY="ip netns add failed"
	fi
fi

# ---- inner part ------------------------------------------------------------------------
# shellcheck source=tests/cli/lib.sh
. "$here/lib.sh"
cd "$T" || exit 1
# Generous for a 40 ms round trip with losses; the SIGSTOP part freezes for longer.
PEER_TIMEOUT=5
NODE_OPTS=(--set "peer_timeout=$PEER_TIMEOUT" --set ping_interval=1)
# Repair (when this build has it) acts soon after a member is lost, so that the
# frozen holder's return meets the copies made without it: added to NODE_OPTS.
REPAIR_OPTS=(--set grace_period=4 --set repair_interval=1)

# ---- which faults this machine can make ----------------------------------------------------
mode=none
why=${SHOAL_CHAOS_WHY:-}
if [ "$SHOAL_CHAOS_NS" != none ]; then
	ip link set lo up
	if tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
		tc qdisc del dev lo root
		mode=netem
	elif command -v iptables >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 &&
		iptables -A OUTPUT -o lo -p tcp -m statistic --mode random --probability 0.01 \
			-j NFQUEUE --queue-num 0 --queue-bypass 2>/dev/null; then
		iptables -F OUTPUT
		mode=nfqueue
	else
		why="the kernel has no sch_netem and iptables (statistic, NFQUEUE) is not usable"
	fi
fi
echo "# faults: $mode${why:+ ($why)}"
can_reset=0
[ "$mode" != none ] && command -v ss >/dev/null 2>&1 && can_reset=1

delay_pid=
# faults LOSS% DELAY_MS JITTER_MS: every TCP packet on lo is lost with LOSS%
# chance, else delayed DELAY +- JITTER ms (both directions: one way each).
faults() {
	local loss=$1 delay=$2 jitter=$3
	faults_off
	case $mode in
	netem)
		tc qdisc add dev lo root netem delay "${delay}ms" "${jitter}ms" loss "${loss}%" duplicate 1%
		;;
	nfqueue)
		python3 "$here/netdelay.py" 0 "$delay" "$jitter" 0 300 >"delay.$loss.out" 2>&1 &
		delay_pid=$!
		_track "$delay_pid"
		wait_for 10 grep -q '^ready' "delay.$loss.out" || return 1
		iptables -A OUTPUT -o lo -p tcp -m statistic --mode random \
			--probability "$(awk -v l="$loss" 'BEGIN {printf "%.4f", l / 100}')" -j DROP &&
			iptables -A OUTPUT -o lo -p tcp -j NFQUEUE --queue-num 0 --queue-bypass
		;;
	esac
}
faults_off() {
	case $mode in
	netem) tc qdisc del dev lo root 2>/dev/null ;;
	nfqueue)
		iptables -F OUTPUT
		if [ -n "$delay_pid" ]; then
			kill -TERM "$delay_pid" 2>/dev/null
			wait "$delay_pid" 2>/dev/null
			delay_pid=
		fi
		;;
	esac
	return 0
}
# resets [PID]: aborts the established TCP connections in the namespace: all of
# them, or those of process PID (the kernel sends RST to the other end; the
# owner sees ECONNABORTED). Prints how many sockets it aborted.
resets() {
	local f
	if [ -n "${1:-}" ]; then
		f=$(ss -tnpH state established 2>/dev/null | awk -v p="pid=$1," \
			'index($0, p) {n = split($3, a, ":"); printf "%s sport = :%s", (c++ ? " or" : ""), a[n]}')
		[ -n "$f" ] || { echo 0; return; }
		ss -K -tnH state established "( $f )" 2>/dev/null | wc -l
	else
		ss -K -tnH state established 2>/dev/null | wc -l
	fi
}

# run SECONDS OUT ERR CMD...: runs CMD killed after SECONDS; sets RC and SECS.
run() {
	local secs=$1 out=$2 err=$3 t0
	shift 3
	t0=$(now_ms)
	timeout -s KILL "$secs" "$@" >"$out" 2>"$err"
	RC=$?
	SECS=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN {printf "%.1f", ms / 1000}')
}
# clean_failure DESC RC ERR [OUTPUT]: ok when RC is 1..127 (not a timeout's kill,
# not a crash), ERR holds only "shoal: " lines (at least one) and OUTPUT (if
# given) was not left behind.
clean_failure() {
	local desc=$1 rc=$2 err=$3 out=${4:-}
	local lines bad
	lines=$(wc -l <"$err")
	bad=$(grep -vc '^shoal: ' "$err")
	if [ "$rc" -gt 0 ] && [ "$rc" -lt 124 ] && [ "$lines" -ge 1 ] && [ "$bad" -eq 0 ] &&
		{ [ -z "$out" ] || [ ! -e "$out" ]; }; then
		ok "$desc: failed cleanly after ${SECS}s ($(tail -n 1 "$err" | head -c 200))"
	else
		fail "$desc: wanted success or a clean failure" "exit $rc after ${SECS}s" \
			"$(head -c 1500 "$err")" "${out:+output left behind: $([ -e "$out" ] && echo yes || echo no)}"
	fi
}
# with_resets SECONDS WHO OUT ERR CMD...: runs CMD (killed after SECONDS) while
# the connections of WHO (a pid, or "all") are reset 8 times, 0.15 s apart,
# from 0.1 s on (or until CMD ends); sets RC, SECS and KILLED (sockets aborted).
with_resets() {
	local secs=$1 who=$2 out=$3 err=$4 t0 pid
	shift 4
	[ "$who" == all ] && who=
	t0=$(now_ms)
	timeout -s KILL "$secs" "$@" >"$out" 2>"$err" &
	pid=$!
	KILLED=0
	sleep 0.1
	for _ in 1 2 3 4 5 6 7 8; do
		_alive "$pid" || break
		KILLED=$((KILLED + $(resets "$who")))
		sleep 0.15
	done
	wait "$pid"
	RC=$?
	SECS=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN {printf "%.1f", ms / 1000}')
}
# fault_stats: what the faults did so far (a comment line).
fault_stats() {
	case $mode in
	netem) echo "# netem: $(tc -s qdisc show dev lo | tr -s ' \n' ' ' | head -c 300)" ;;
	nfqueue)
		echo "# iptables dropped $(iptables -L OUTPUT -v -n -x | awk '$3 == "DROP" {print $1}') packets;" \
			"netdelay delayed $(($(iptables -L OUTPUT -v -n -x | awk '$3 == "NFQUEUE" {print $1}'))) packets"
		;;
	esac
}
# daemons_alive: every daemon still runs and answers status.
daemons_alive() {
	local i
	for i in 1 2 3 4; do
		if ! _alive "${daemon_pid[n$i]:-0}" || ! "$SHOAL" --home "n$i" status >/dev/null 2>&1; then
			echo "node $i"
			return 1
		fi
	done
}
# verify_all DESC: `shoal verify` exits 0 on every node.
verify_all() {
	local i bad=()
	for i in 1 2 3 4; do
		"$SHOAL" --home "n$i" verify >"verify.$i" 2>&1 || bad+=("node $i: $(tail -n 3 "verify.$i")")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "$1"; else fail "$1" "${bad[@]}"; fi
}
make_nodes 1 2 3 4
# Does this build know the repair settings? A daemon refuses unknown ones at once.
start_daemon n1 probe.log --listen 127.0.0.1:0 "${REPAIR_OPTS[@]}"
if wait_daemon n1; then
	stop_daemon n1
	NODE_OPTS+=("${REPAIR_OPTS[@]}")
else
	kill_daemon n1
	echo "# this build has no repair settings ($(grep -m1 -o 'unknown setting.*' probe.log))"
fi
start_node 1
for i in 2 3 4; do start_node "$i" 1; done
check "four daemons form a full mesh" wait_for 20 mesh_up 1 2 3 4

gen_data big $((20 * MiB)) chaos-big
python3 - tree <<'EOF'
import os, random, sys
root, r = sys.argv[1], random.Random(7)
dirs = [os.path.join(root, "d%d" % i, "s%d" % j) for i in range(4) for j in range(3)]
for d in dirs:
    os.makedirs(d)
for k in range(300):
    with open(os.path.join(dirs[r.randrange(len(dirs))], "f%03d" % k), "wb") as f:
        f.write(r.randbytes(r.randint(0, 16384)))
with open(os.path.join(root, "blob"), "wb") as f:
    f.write(r.randbytes(3 * 1048576))
EOF

# ---- 1. mild faults: 5% loss, 20 +- 10 ms each way ------------------------------------------
if [ "$mode" == none ]; then
	for d in "20 MiB put --replicas 3 under 5% loss and 20 ms delay" "tree put" \
		"gets of both on other nodes" "a put and a get through one member's connection resets" \
		"a put and a get through everyone's connection resets" \
		"verify everywhere under the faults" "heavy loss (30%): clean failures" \
		"after the faults: gets succeed, stores verify"; do
		skip "$d" "$why"
	done
else
	check "$mode: 5% loss, 20 +- 10 ms delay on lo" faults 5 20 10
	run 120 cap.out put.err "$SHOAL" --home n1 put big --replicas 3
	cap=$(cat cap.out)
	check_eq "put of 20 MiB --replicas 3 on node 1 exits 0 (${SECS}s)" "0" "$RC"
	check_match "... and prints a capability" "$CAP_RE" "$cap"
	check_eq "... nothing on stderr" "" "$(head -c 500 put.err)"
	run 120 capt.out putt.err "$SHOAL" --home n2 put tree --replicas 3
	capt=$(cat capt.out)
	check_eq "put of a tree (300 files + 3 MiB) on node 2 exits 0 (${SECS}s)" "0" "$RC"
	check_match "... and prints a capability" "$CAP_RE" "$capt"
	locate_chunks n1 "$cap" big.loc
	locate_chunks n2 "$capt" tree.loc
	check "... locate lists the chunks of both" test -s big.loc.ids -a -s tree.loc.ids
	g=$(by_missing big.loc.ids 2 3 4 | head -n 1)
	lacks=$(missing_in "n$g" big.loc.ids)
	run 120 /dev/null get.err "$SHOAL" --home "n$g" get "$cap" -o got.big
	check_eq "get of the 20 MiB on node $g (lacks $lacks chunks) exits 0 (${SECS}s)" 0 "$RC"
	check "... byte-identical" cmp -s big got.big
	gt=$(by_missing tree.loc.ids 1 3 4 | head -n 1)
	run 120 /dev/null gett.err "$SHOAL" --home "n$gt" get "$capt" -o got.tree
	check_eq "get of the tree on node $gt exits 0 (${SECS}s)" 0 "$RC"
	check "... diff -r finds it identical" diff -r tree got.tree
	rm -rf got.big got.tree

	# Connection resets. One member's: a put and a get go around it and succeed.
	if [ "$can_reset" -eq 1 ]; then
		gen_data reset1 $((8 * MiB)) chaos-reset1
		with_resets 120 "${daemon_pid[n4]}" capr1.out putr1.err \
			"$SHOAL" --home n3 put reset1 --replicas 3
		capr1=$(cat capr1.out)
		check_eq "put of 8 MiB on node 3 while node 4's connections are reset ($KILLED sockets) exits 0 (${SECS}s)" \
			0 "$RC"
		check_match "... with a capability" "$CAP_RE" "$capr1"
		check "the members find each other again" wait_for 30 mesh_up 1 2 3 4
		g2=$(by_missing big.loc.ids 2 3 | head -n 1)
		with_resets 120 "${daemon_pid[n4]}" /dev/null getr1.err \
			"$SHOAL" --home "n$g2" get "$cap" -o got.reset
		check_eq "get of the 20 MiB on node $g2 while node 4's connections are reset ($KILLED sockets) exits 0 (${SECS}s)" \
			0 "$RC"
		check "... byte-identical" cmp -s big got.reset
		rm -f got.reset
		check "the members find each other again" wait_for 30 mesh_up 1 2 3 4

		# Everyone's: success or a clean failure, then all is well again.
		gen_data reset2 $((8 * MiB)) chaos-reset2
		with_resets 120 all capr2.out putr2.err "$SHOAL" --home n3 put reset2 --replicas 3
		capr2=$(cat capr2.out)
		if [ "$RC" -eq 0 ]; then
			ok "put of 8 MiB on node 3 while every connection is reset ($KILLED sockets) succeeded (${SECS}s)"
			check_match "... with a capability" "$CAP_RE" "$capr2"
		else
			clean_failure "put of 8 MiB on node 3 while every connection is reset ($KILLED sockets)" \
				"$RC" putr2.err
			check_eq "... and ls on node 3 does not list it" "" \
				"$("$SHOAL" --home n3 ls 2>&1 | grep '^reset2	')"
			capr2=
		fi
		t0=$(now_ms)
		check "after the resets the members find each other again" wait_for 30 mesh_up 1 2 3 4
		echo "# full mesh again $(($(now_ms) - t0)) ms after the last reset"
		g2=$(by_missing big.loc.ids 2 3 4 | head -n 1)
		with_resets 120 all /dev/null getr2.err "$SHOAL" --home "n$g2" get "$cap" -o got.reset
		if [ "$RC" -eq 0 ]; then
			ok "get on node $g2 while every connection is reset ($KILLED sockets) succeeded (${SECS}s)"
			check "... byte-identical" cmp -s big got.reset
		else
			clean_failure "get on node $g2 while every connection is reset ($KILLED sockets)" \
				"$RC" getr2.err got.reset
		fi
		rm -f got.reset
		t0=$(now_ms)
		check "after the resets the members find each other again" wait_for 30 mesh_up 1 2 3 4
		echo "# full mesh again $(($(now_ms) - t0)) ms after the last reset"
		run 120 /dev/null getr3.err "$SHOAL" --home "n$g2" get "$cap" -o got.reset
		check_eq "... and the get, run again, exits 0 (${SECS}s)" 0 "$RC"
		check "... byte-identical" cmp -s big got.reset
		rm -f got.reset
		for c in ${capr1:+reset1:$capr1} ${capr2:+reset2:$capr2}; do
			f=${c%%:*}
			c=${c#*:}
			locate_chunks n3 "$c" "$f.loc"
			read -r rmin _ _ <<<"$(copy_range good_copies "$f.loc.ids" n1 n2 n3 n4)"
			check "$f, put through the resets, has 3 good copies of every chunk ($rmin)" \
				test "$rmin" -ge 3
			run 60 /dev/null "get.$f.err" "$SHOAL" --home n1 get "$c" -o got.reset
			check "... and comes back identical on node 1" cmp -s "$f" got.reset
			rm -f got.reset
		done
	else
		skip "a put and a get through connection resets" "no ss(8)"
	fi
	fault_stats
	check "under 5% loss every daemon answers status" daemons_alive
	verify_all "under 5% loss shoal verify is clean on every node"

	# ---- 2. heavy faults: 30% loss, 50 +- 20 ms -------------------------------------------
	check "$mode: 30% loss, 50 +- 20 ms delay on lo" faults 30 50 20
	gen_data heavy $((2 * MiB)) chaos-heavy
	run 150 caph.out puth.err "$SHOAL" --home n3 put heavy --replicas 3
	caph=$(cat caph.out)
	if [ "$RC" -eq 0 ]; then
		ok "30% loss: put of 2 MiB --replicas 3 on node 3 succeeded (${SECS}s)"
		check_match "... with a capability" "$CAP_RE" "$caph"
	else
		clean_failure "30% loss: put of 2 MiB --replicas 3 on node 3" "$RC" puth.err
		caph=
	fi
	g3=$(by_missing big.loc.ids 2 3 4 | head -n 1)
	run 150 /dev/null geth.err "$SHOAL" --home "n$g3" get "$cap" -o got.heavy
	if [ "$RC" -eq 0 ]; then
		ok "30% loss: get of the 20 MiB on node $g3 succeeded (${SECS}s)"
		check "... byte-identical" cmp -s big got.heavy
	else
		clean_failure "30% loss: get of the 20 MiB on node $g3" "$RC" geth.err got.heavy
	fi
	rm -f got.heavy
	fault_stats
	check "under 30% loss every daemon still answers status" daemons_alive
	faults_off

	# ---- 3. faults gone ----------------------------------------------------------------------
	check "faults removed: the four are a full mesh again" wait_for 30 mesh_up 1 2 3 4
	verify_all "after the faults shoal verify is clean on every node"
	g4=$(by_missing big.loc.ids 2 3 4 | head -n 1)
	run 60 /dev/null get4.err "$SHOAL" --home "n$g4" get "$cap" -o got.after
	check_eq "after the faults a get of the 20 MiB on node $g4 exits 0" 0 "$RC"
	check "... byte-identical" cmp -s big got.after
	if [ -n "$caph" ]; then
		run 60 /dev/null get5.err "$SHOAL" --home n1 get "$caph" -o got.heavy
		check_eq "the file put under 30% loss: get on node 1 exits 0" 0 "$RC"
		check "... byte-identical" cmp -s heavy got.heavy
	fi
	rm -f got.after got.heavy
	check "every daemon answers status" daemons_alive
fi

# ---- 4. a frozen holder --------------------------------------------------------------------
faults_off
check "the four are a full mesh" wait_for 30 mesh_up 1 2 3 4
if [ -z "${cap:-}" ]; then
	# The fault phases were skipped: store the files now.
	cap=$(shoal --home n1 put big --replicas 3 2>put.err)
	check_match "put of 20 MiB --replicas 3 on node 1" "$CAP_RE" "$cap"
	capt=$(shoal --home n2 put tree --replicas 3 2>putt.err)
	check_match "put of the tree on node 2" "$CAP_RE" "$capt"
	locate_chunks n1 "$cap" big.loc
	locate_chunks n2 "$capt" tree.loc
fi
# The victim: whichever of nodes 2-4 holds the most chunks of the 20 MiB file.
v=$(by_missing big.loc.ids 2 3 4 | tail -n 1)
most=$(($(wc -l <big.loc.ids) - $(missing_in "n$v" big.loc.ids)))
check "node $v holds chunks of the 20 MiB file ($most)" test "$most" -ge 1
others=()
for i in 1 2 3 4; do [ "$i" != "$v" ] && others+=("$i"); done
(cd "n$v" && find objects/?? -type f | sort) >frozen.before
# The chunks a stored file needs. Anything else the frozen node holds is left
# from a put that failed under the faults, which its owner may let go.
[ -n "${caph:-}" ] && locate_chunks n3 "$caph" heavy.loc
cat big.loc.ids tree.loc.ids $(ls reset?.loc.ids heavy.loc.ids 2>/dev/null) | sort -u >wanted.ids
"$SHOAL" --home "n$v" status --json >status.before 2>&1

kill -STOP "${daemon_pid[n$v]}"
t0=$(now_ms)
check "SIGSTOP of node $v: the others mark it down (peer timeout ${PEER_TIMEOUT} s)" \
	wait_for $((PEER_TIMEOUT + 10)) all_see down "${node_id[$v]}" "${others[@]}"
echo "# node $v seen down everywhere after $(($(now_ms) - t0)) ms"
gen_data during $((8 * MiB)) chaos-during
run 90 capd.out putd.err "$SHOAL" --home "n${others[0]}" put during --replicas 4
capd=$(cat capd.out)
check_eq "while node $v is frozen: put --replicas 4 on node ${others[0]} exits 0 (${SECS}s)" 0 "$RC"
check_match "... with a capability" "$CAP_RE" "$capd"
check "... warning that only 3 nodes are up" grep -q '^shoal: .*only 3 nodes are up' putd.err
locate_chunks "n${others[0]}" "$capd" during.loc
gf=$(by_missing big.loc.ids "${others[@]:1}" | head -n 1)
lacks=$(missing_in "n$gf" big.loc.ids)
run 90 /dev/null getf.err "$SHOAL" --home "n$gf" get "$cap" -o got.frozen
check_eq "... get of the 20 MiB on node $gf (lacks $lacks chunks) exits 0 (${SECS}s)" 0 "$RC"
check "... byte-identical" cmp -s big got.frozen
rm -f got.frozen
# Frozen well past the peer timeout (and past grace_period, when repair has it).
while [ $(($(now_ms) - t0)) -lt $(((PEER_TIMEOUT + 5) * 1000)) ]; do sleep 0.2; done
"$SHOAL" --home "n${others[0]}" status --json >status.frozen 2>&1
kill -CONT "${daemon_pid[n$v]}"
echo "# node $v frozen for $(($(now_ms) - t0)) ms"
check "SIGCONT: node $v is up again everywhere" wait_for 30 mesh_up 1 2 3 4
check "... its daemon never died" _alive "${daemon_pid[n$v]}"
# Let repair (if any) settle: no store changes for 3 s (15 s at most). Meanwhile
# note the fewest copies (files on disk) any chunk of the three files had.
low=999
settle() {
	local last='' now stable=0 deadline=$(($(now_ms) + 15000)) f lo
	while [ "$(now_ms)" -lt "$deadline" ]; do
		for f in big tree during; do
			read -r lo _ _ <<<"$(copy_range copies "$f.loc.ids" n1 n2 n3 n4)"
			[ "$lo" -lt "$low" ] && low=$lo
		done
		now=$(for i in 1 2 3 4; do count_objects "n$i"; done | tr '\n' ' ')
		if [ "$now" == "$last" ]; then
			stable=$((stable + 1))
			[ "$stable" -ge 6 ] && return 0
		else
			stable=0
		fi
		last=$now
		sleep 0.5
	done
	return 1
}
t1=$(now_ms)
settle || echo "# NOTE: the stores were still changing 15 s after the return"
echo "# stores settled $(($(now_ms) - t1)) ms after the return"
# Its objects are all still there and hash right, except copies that repair let
# go once the chunk had its copies elsewhere (3 good ones on the other nodes).
lost=() released=0 dropped=0
while read -r f; do
	h=${f##*/}
	if [ -f "n$v/$f" ]; then
		good_copy "n$v" "$h" || lost+=("$f (damaged)")
	elif [ "$(good_copies "$h" $(homes "${others[@]}"))" -ge 3 ]; then
		released=$((released + 1))
	elif ! grep -qx "$h" wanted.ids; then
		dropped=$((dropped + 1))
	else
		lost+=("$f (gone, $(good_copies "$h" $(homes "${others[@]}")) good copies elsewhere)")
	fi
done <frozen.before
check_eq "the frozen node's store is intact: of the $(wc -l <frozen.before) objects it had, none damaged or lost ($released let go, 3 copies elsewhere; $dropped no stored file needs)" \
	"" "${lost[*]:0:5}"
check "... and shoal verify on it is clean" shoal --home "n$v" verify
read -r bmin bmax _ <<<"$(copy_range good_copies big.loc.ids n1 n2 n3 n4)"
read -r tmin tmax _ <<<"$(copy_range good_copies tree.loc.ids n1 n2 n3 n4)"
read -r dmin dmax _ <<<"$(copy_range good_copies during.loc.ids n1 n2 n3 n4)"
check "no data lost: every chunk of the 20 MiB file has 3 good copies or more ($bmin..$bmax)" \
	test "$bmin" -ge 3
check "... of the tree ($tmin..$tmax)" test "$tmin" -ge 3
check "... of the file put while node $v was frozen ($dmin..$dmax)" test "$dmin" -ge 3
# NOTE, not asserted (repair is being written): how many copies each chunk
# ends with (3 wanted: more is a duplicate repair left behind), the fewest it
# had while the stores settled, and what status says about repair.
echo "# NOTE copies per chunk after the return (min..max over the 4 nodes; 3 wanted):" \
	"big $bmin..$bmax, tree $tmin..$tmax, during $dmin..$dmax; fewest while settling: $low"
for i in 1 2 3 4; do
	echo "# NOTE status n$i after the return: $("$SHOAL" --home "n$i" status --json 2>&1 | tr -d '\n ' | head -c 600)"
done
echo "# NOTE status n${others[0]} while node $v was frozen: $(tr -d '\n ' <status.frozen | head -c 600)"
bad=()
for i in 1 2 3 4; do
	for f in big tree during; do
		case $f in big) c=$cap ;; tree) c=$capt ;; during) c=$capd ;; esac
		rm -rf "got.$f"
		if ! timeout -s KILL 60 "$SHOAL" --home "n$i" get "$c" -o "got.$f" 2>"get.$f.$i.err"; then
			bad+=("get $f on node $i failed: $(head -c 300 "get.$f.$i.err")")
		elif ! diff -r "$f" "got.$f" >/dev/null 2>&1 && ! cmp -s "$f" "got.$f"; then
			bad+=("get $f on node $i: not identical")
		fi
		rm -rf "got.$f"
	done
done
check_eq "every file comes back intact from every node" "" "${bad[*]:0:6}"
verify_all "shoal verify is clean on every node"

# ---- orderly end -----------------------------------------------------------------------
stop_nodes 1 2 3 4
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
