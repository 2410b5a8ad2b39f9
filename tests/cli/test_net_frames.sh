#!/usr/bin/env bash
# Frame lengths over the cap from a certified member (tests/cli/hostile.py plays
# it): after TLS and Hello, a frame announcing a header longer than the 64 KiB
# maximum (just over it, 2^31 - 1, 2^32 - 1), its 4 length bytes split over two
# TLS records and nothing after them. The daemon drops the connection at once
# (within a second, not at the idle timeout) with one warn line naming that
# connection, keeps serving its real peer, and never crashes. The control: a
# member that sends Hello and then nothing is still connected after 1.5 s.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
TESTCERT=$(tool testcert)

# warns: how many warn lines node 1 has logged.
warns() { grep -c ' warn: ' n1.log; }

check "testcert is built ($TESTCERT)" test -x "$TESTCERT"
make_nodes 1 2
start_node 1
a1=${node_addr[1]}
pid1=${daemon_pid[n1]}
start_node 2 1
check "the two are up" wait_for 15 mesh_up 1 2
CA=n1/ca.crt
"$TESTCERT" valid network member.key member.crt || fail "testcert valid"

before=$(warns)
check "control: a member that sends Hello and then nothing is still connected after 1.5 s" \
	"${HOSTILE[@]}" idle "$a1" "$CA" member.key member.crt 1.5
check_eq "... and nothing was logged as a warning" "$before" "$(warns)"

for len in 65537 0x7fffffff 0xffffffff; do
	before=$(warns)
	desc="Hello, then a frame length of $len: the daemon hangs up within 1 s"
	if "${HOSTILE[@]}" oversize "$a1" "$CA" member.key member.crt "$len" 1.0 >oversize.out 2>&1; then
		ok "$desc ($(tail -n 1 oversize.out))"
	else
		fail "$desc" "$(cat oversize.out)"
	fi
	from=$(sed -n 's/^from //p' oversize.out)
	# The line is written before the connection is closed: no wait needed.
	check_eq "... with one warn line" $((before + 1)) "$(warns)"
	line=$(grep ' warn: ' n1.log | tail -n 1)
	check_match "... naming that connection and a malformed frame" \
		"warn: ${from:-none}: malformed frame" "$line"
done

check "node 1 never crashed" _alive "$pid1"
check_eq "... and logged no other warning" 3 "$(warns)"
check "... answers status" shoal --home n1 status
check "... and is still up with node 2" wait_for 10 mesh_up 1 2
stop_nodes 1 2
check_no_sanitizer "no daemon log has a sanitizer report" n?.log
done_testing
