# Helpers for the CLI test scripts (sourced, bash). Each script gets:
#   $T                a fresh temp dir, removed on exit (with any process we started,
#                     also when the script is killed by SIGTERM, SIGINT or SIGHUP)
#   _track PID...     a process of the script's the exit kills too (daemons are tracked)
#   shoal ARGS...     runs $SHOAL (killed after $SHOAL_TIMEOUT s, so a hang shows as a crash)
#   check DESC CMD...        ok when CMD exits 0
#   check_fails DESC CMD...  ok when CMD exits non-zero without crashing (1..127)
#   check_failed DESC RC     the same for an exit status already collected
#   check_eq DESC EXPECTED ACTUAL, check_ne DESC A B, check_match DESC REGEX ACTUAL
#   check_err1 DESC ERRFILE [SUBSTRING]: ERRFILE is one line "shoal: ...", containing SUBSTRING
#   done_testing      prints the plan and exits non-zero when anything failed
#   CAP_RE, ID_RE     a capability (anchored), a node id (not anchored); KiB and MiB
# and make_node, gen_data, flip_byte, count_objects, json_ok, tool, $HOSTILE; the
# daemon helpers (start_daemon, wait_daemon, daemon_ready, stop_daemon, ...) and
# store_audit, each described where it is defined. TAP lines go to stdout.
# Numbered nodes (network tests): node N has the home nN and the log nN.log, its id
# is ${node_id[N]}, its daemon's address ${node_addr[N]}; NODE_OPTS (the script
# sets them) are daemon arguments every node gets.
#   make_nodes N...                  inits each node, its id into ${node_id[N]}
#   start_node N [BOOT_N] [ARGS...]  starts node N's daemon; checks that it answers
#   stop_nodes N...                  SIGTERM to each daemon; checks that each exits 0
#   mesh_up N...                     every listed node shows every other listed node up
#   all_see STATE NODE_ID N...       every listed node shows NODE_ID in STATE
#   homes N...                       the homes of the listed nodes (nN ...), as words
# Chunks on disk (HEX: a chunk id; IDS_FILE: chunk ids, one a line):
#   obj HOME HEX                     the path of chunk HEX in HOME
#   good_copy HOME HEX               HOME has chunk HEX and its bytes hash to HEX
#   copies HEX HOME...               how many HOMEs have a file for chunk HEX
#   good_copies HEX HOME...          how many HOMEs have a good_copy of chunk HEX
#   locate_chunks HOME TARGET OUT    `shoal locate` into OUT, the chunk ids into OUT.ids
#   missing_in HOME IDS_FILE         how many chunks of IDS_FILE HOME has no file for
#   by_missing IDS_FILE N...         the nodes, those lacking the most chunks first
#   copy_range COUNT IDS_FILE HOME...     "FEWEST MOST CHUNK" counting with COUNT
#                                         (copies or good_copies)
#   each_chunk_has OP K IDS_FILE HOME...  every chunk has OP K files and OP K good
#                                         copies on the HOMEs (OP: -ge, -eq)
set -u

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHOAL=${SHOAL:-$(cd "$_lib_dir/../.." && pwd)/build/shoal}
SHOAL_TIMEOUT=${SHOAL_TIMEOUT:-300}
# A sanitizer report exits 1 by default, which would look like an ordinary
# failure; make it look like a crash (>= 128) instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=199"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=199:print_stacktrace=1"

# shellcheck disable=SC2034 # used by the scripts
{
	CAP_RE='^shoal:[a-z2-7]{52}:[a-z2-7]{52}$'
	ID_RE='[a-z2-7]{52}'
	KiB=1024
	MiB=1048576
}

T=$(mktemp -d "${TMPDIR:-/tmp}/shoal-cli.XXXXXX") || exit 1
# Never touch the real ~/.shoal.
export HOME="$T/user"
mkdir "$HOME"
unset SHOAL_HOME

# _track PID...: the EXIT trap kills each PID, as long as it is the same
# process: its start time is kept with it, so a PID the kernel has given to
# another process since (pid_max wraps) is left alone.
_pids=()
_started() { # PID: the process's start time (field 22 of /proc/PID/stat)
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	read -ra s <<<"$s"
	echo "${s[19]}"
}
_track() {
	local p
	for p; do _pids+=("$p:$(_started "$p")"); done
}
_cleanup() {
	local e p
	for e in "${_pids[@]}"; do
		p=${e%%:*}
		[ -n "${e#*:}" ] && [ "$(_started "$p")" == "${e#*:}" ] && kill -9 "$p" 2>/dev/null
	done
	for p in $(jobs -p); do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	chmod -R u+w "$T" 2>/dev/null
	# SHOAL_KEEP=1 keeps the temp tree (homes, daemon logs) for a look.
	if [ "${SHOAL_KEEP:-}" = 1 ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}
trap _cleanup EXIT
# Killed (say by a runner's timeout): exit, so that the EXIT trap still stops every daemon.
trap 'exit 143' TERM INT HUP

_n=0
_nfail=0
ok() {
	_n=$((_n + 1))
	echo "ok $_n - $1"
}
fail() { # DESC [DIAGNOSTIC LINES...]
	_n=$((_n + 1))
	_nfail=$((_nfail + 1))
	echo "not ok $_n - $1"
	shift
	local l
	for l in "$@"; do
		printf '%s\n' "$l" | head -c 2000 | sed 's/^/#   /'
	done
	_daemons_gone
}
# _daemons_gone: names each daemon that died without being stopped (once),
# with the end of its log: the first failure after it says why.
declare -A _gone_told=()
_daemons_gone() {
	local home pid
	for home in "${!daemon_pid[@]}"; do
		pid=${daemon_pid[$home]}
		[ -n "${_gone_told[$pid]:-}" ] && continue
		_alive "$pid" && continue
		_gone_told[$pid]=1
		echo "#   the daemon of $home (pid $pid) is gone; the end of its log:"
		tail -n 12 "${daemon_log[$home]:-/dev/null}" 2>/dev/null | sed 's/^/#     /'
	done
}
_last_out() { head -c 2000 "$T/.check" 2>/dev/null; }

check() {
	local desc=$1 rc
	shift
	"$@" >"$T/.check" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then ok "$desc"; else fail "$desc" "exit $rc: $*" "$(_last_out)"; fi
}
check_fails() {
	local desc=$1 rc
	shift
	"$@" >"$T/.check" 2>&1
	rc=$?
	if [ "$rc" -gt 0 ] && [ "$rc" -lt 128 ]; then
		ok "$desc"
	else
		fail "$desc" "exit $rc (wanted 1..127): $*" "$(_last_out)"
	fi
}
check_failed() { # DESC RC: ok when RC (an exit status) is 1..127
	if [ "$2" -gt 0 ] && [ "$2" -lt 128 ]; then ok "$1"; else fail "$1" "exit $2 (wanted 1..127)"; fi
}
check_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "expected: $2" "actual:   $3"; fi
}
check_ne() {
	if [ "$2" != "$3" ]; then ok "$1"; else fail "$1" "both: $2"; fi
}
check_match() {
	if [[ "$3" =~ $2 ]]; then ok "$1"; else fail "$1" "wanted match for: $2" "actual: $3"; fi
}
check_err1() {
	local lines first
	lines=$(wc -l <"$2")
	first=$(head -n 1 "$2")
	if [ "$lines" -eq 1 ] && [[ "$first" == "shoal: "* ]] && [[ "$first" == *"${3:-}"* ]]; then
		ok "$1"
	else
		fail "$1" "wanted one line 'shoal: ...${3:+$3...}', got $lines lines:" "$(head -c 2000 "$2")"
	fi
}
done_testing() {
	echo "1..$_n"
	[ "$_nfail" -eq 0 ]
	exit
}

shoal() { timeout -s KILL "$SHOAL_TIMEOUT" "$SHOAL" "$@"; }

# make_node HOME: makes $T/network (once) and a node in HOME; prints its id.
make_node() {
	[ -f "$T/network" ] || shoal network create "$T/network" || return 1
	shoal --home "$1" init --network "$T/network"
}

# gen_data FILE BYTES [SEED]: deterministic pseudo-random bytes, streamed.
gen_data() {
	openssl enc -aes-128-ctr -pass "pass:${3:-seed}" -nosalt -pbkdf2 </dev/zero 2>/dev/null |
		head -c "$2" >"$1"
}

# flip_byte FILE OFFSET: inverts every bit of one byte (doing it twice restores the file).
flip_byte() {
	local b mode
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || return 1
	mode=$(stat -c %a "$1")
	chmod u+w "$1"
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
	chmod "$mode" "$1"
}

# count_objects HOME: the number of chunk files in HOME/objects/??/.
count_objects() { find "$1"/objects/?? -type f 2>/dev/null | wc -l; }

# json_ok FILE PYTHON_EXPR ARGS...: the expression is true, with j = FILE's JSON and
# a = ARGS (FILE may be a <(command)).
json_ok() {
	local f=$1 expr=$2
	shift 2
	python3 -c "import json, sys; j = json.load(open(sys.argv[1])); a = sys.argv[2:]; sys.exit(0 if ($expr) else 1)" "$f" "$@"
}

# tool NAME: the path of the test tool NAME of this build, else of the default build
# (they only write files; any build's will do).
tool() {
	local t
	t="$(dirname "$SHOAL")/tests/tools/$1"
	[ -x "$t" ] || t="$_lib_dir/../../build/tests/tools/$1"
	echo "$t"
}

# "${HOSTILE[@]}" MODE ARGS...: a hostile peer or client (tests/cli/hostile.py),
# killed after 60 s.
# shellcheck disable=SC2034 # used by the scripts
HOSTILE=(timeout -s KILL 60 python3 "$_lib_dir/hostile.py")

# ---- daemons (network tests) ---------------------------------------------------
# start_daemon HOME LOG [DAEMON ARGS...]: runs `shoal daemon` for HOME in the
#   background, stderr appended to LOG (noted in ${daemon_log[HOME]}); its pid goes
#   to DAEMON_PID, to ${daemon_pid[HOME]} and to the list the EXIT trap kills.
# wait_daemon HOME [SECONDS]: polls `shoal status` every 50 ms until it answers;
#   fails at the deadline (default 15 s) or as soon as the daemon has died.
# daemon_ready DESC HOME [SECONDS]: wait_daemon; when it fails, "not ok DESC" with the
#   end of the daemon's log, and status 1. Prints nothing when the daemon answers.
# stop_daemon HOME [SECONDS]: SIGTERM, then waits; returns the daemon's exit
#   status (SIGKILL and 124 when it is still running at the deadline, default 15 s).
# kill_daemon HOME: SIGKILL and reap.
# wait_for SECONDS CMD...: polls CMD every 50 ms, quietly, until it succeeds (0); at the
#   deadline it runs CMD once more with its output shown and returns its status.
# wait_slow SECONDS CMD...: the same every 0.3 s, for a CMD that costs (tree compares).
# wait_every SECONDS PERIOD CMD...: the same every PERIOD seconds.
# daemon_addr HOME: the address the daemon listens on (from status --json).
# peer_state HOME NODE_ID: up, down, or none (not in `shoal peers`).
# peers_up HOME: how many members `shoal peers` shows up.
# wait_peer_state SECONDS STATE HOME NODE_ID: wait_for until peer_state is STATE.
# rss_kb PID: resident set size of PID in KiB (0 when it is gone).
# now_ms: milliseconds on a monotonic-enough clock (EPOCHREALTIME).
declare -A daemon_pid=() daemon_log=()
DAEMON_PID=
start_daemon() {
	local home=$1 log=$2
	shift 2
	"$SHOAL" --home "$home" daemon "$@" 2>>"$log" &
	DAEMON_PID=$!
	daemon_pid[$home]=$DAEMON_PID
	daemon_log[$home]=$log
	_track "$DAEMON_PID"
}

# _alive PID: the process exists and is not a zombie.
_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	local st
	st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# _secs_ms SECONDS: "2", "2.5", "0.25" as milliseconds.
_secs_ms() {
	local s=$1 i f=
	i=${s%%.*}
	[[ $s == *.* ]] && f=${s#*.}
	f=${f}000
	echo $((10#${i:-0} * 1000 + 10#${f:0:3}))
}

wait_for() { wait_every "$1" 0.05 "${@:2}"; }
wait_slow() { wait_every "$1" 0.3 "${@:2}"; }
wait_every() {
	local deadline=$(($(now_ms) + $(_secs_ms "$1"))) period=$2
	shift 2
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		if [ "$(now_ms)" -ge "$deadline" ]; then
			# One last try, its output shown: what a failed check prints.
			"$@"
			return
		fi
		sleep "$period"
	done
}

wait_daemon() {
	local home=$1 secs=${2:-15} pid=${daemon_pid[$1]:-}
	local deadline=$(($(now_ms) + $(_secs_ms "$secs")))
	while :; do
		"$SHOAL" --home "$home" status >/dev/null 2>&1 && return 0
		if [ -n "$pid" ] && ! _alive "$pid"; then
			return 1
		fi
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

daemon_ready() {
	wait_daemon "$2" "${3:-15}" && return 0
	fail "$1" "$(tail -n 20 "${daemon_log[$2]:-/dev/null}" 2>&1)"
	return 1
}

stop_daemon() {
	local home=$1 secs=${2:-15} pid=${daemon_pid[$1]:-} rc
	[ -n "$pid" ] || return 127
	kill -TERM "$pid" 2>/dev/null
	local deadline=$(($(now_ms) + $(_secs_ms "$secs")))
	while _alive "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.05
	done
	if _alive "$pid"; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
	else
		wait "$pid" 2>/dev/null
		rc=$?
	fi
	unset "daemon_pid[$home]"
	return "$rc"
}

kill_daemon() {
	local pid=${daemon_pid[$1]:-}
	[ -n "$pid" ] || return 1
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "daemon_pid[$1]"
	return 0
}

daemon_addr() {
	"$SHOAL" --home "$1" status --json 2>/dev/null |
		sed -n 's/^ *"listen": *"\([^"]*\)".*$/\1/p'
}

peer_state() {
	local s
	s=$("$SHOAL" --home "$1" peers 2>/dev/null | awk -F'\t' -v id="$2" '$1 == id {print $3}')
	echo "${s:-none}"
}

peers_up() {
	"$SHOAL" --home "$1" peers 2>/dev/null | awk -F'\t' '$3 == "up"' | wc -l
}

_peer_state_is() { [ "$(peer_state "$2" "$3")" == "$1" ]; }
wait_peer_state() { # SECONDS STATE HOME NODE_ID
	wait_for "$1" _peer_state_is "$2" "$3" "$4"
}

rss_kb() {
	local v
	v=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null)
	echo "${v:-0}"
}

# check_no_sanitizer DESC LOG...: ok when no log holds a sanitizer report (else shows it).
check_no_sanitizer() {
	local desc=$1 hits
	shift
	hits=$(grep -h -A40 -E "ERROR: (Address|Leak)Sanitizer|runtime error" "$@" 2>/dev/null | head -n 60)
	if [ -z "$hits" ]; then ok "$desc"; else fail "$desc" "$hits"; fi
}

# skip DESC REASON: a case this machine cannot run (TAP "# SKIP"; counts as passed).
skip() {
	_n=$((_n + 1))
	echo "ok $_n - $1 # SKIP $2"
}

# ---- numbered nodes (network tests) -----------------------------------------------
# Node N: home nN, log nN.log, id ${node_id[N]}, address ${node_addr[N]} (kept
# for restarts).
declare -A node_id=() node_addr=()
NODE_OPTS=()

# make_nodes N...: makes each node's home (init); its id into ${node_id[N]}. A failure
# is one "not ok" line and the id "(none N)", which no comparison matches.
make_nodes() {
	local i
	for i; do
		node_id[$i]=$(make_node "n$i" 2>&1)
		[[ ${node_id[$i]} =~ ^$ID_RE$ ]] || {
			fail "init node $i" "${node_id[$i]}"
			node_id[$i]="(none $i)"
		}
	done
}

# start_node N [BOOT_N] [DAEMON ARGS...]: starts node N's daemon on ${node_addr[N]} (on
# its first start, a port the kernel chooses), bootstrapped from node BOOT_N when
# given (non-empty), with NODE_OPTS then ARGS; checks "daemon N starts" (it answers
# status) and notes its address in ${node_addr[N]}.
start_node() {
	local n=$1 boot=()
	shift
	[ -n "${1:-}" ] && boot=(--bootstrap "${node_addr[$1]}")
	[ $# -gt 0 ] && shift
	start_daemon "n$n" "n$n.log" --listen "${node_addr[$n]:-127.0.0.1:0}" "${boot[@]}" \
		"${NODE_OPTS[@]}" "$@"
	daemon_ready "daemon $n starts" "n$n" && ok "daemon $n starts"
	node_addr[$n]=$(daemon_addr "n$n")
}

# stop_nodes N...: SIGTERM to each node's daemon; checks that each exits 0.
stop_nodes() {
	local i
	for i; do
		stop_daemon "n$i"
		check_eq "SIGTERM stops node $i with exit 0" 0 $?
	done
}

# folder_tree DIR: a folder's tree, one line per entry (its .shoal/ left
# out): path, kind, mode, and the start of the sha256 for files. One
# process, however many files.
folder_tree() {
	python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    if d == root:
        dirs[:] = [x for x in dirs if x != ".shoal"]
        files = [x for x in files if x != ".shoal"]
    for name in dirs + files:
        p = os.path.join(d, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        kind = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l"}.get(stat.S_IFMT(st.st_mode), "?")
        line = "%s %s %o" % (rel, kind, stat.S_IMODE(st.st_mode))
        if kind == "f":
            with open(p, "rb") as f:
                line += " " + hashlib.sha256(f.read()).hexdigest()[:16]
        out.append(line)
print("\n".join(sorted(out)))
PY
}

# folder_in_sync N: every folder of node N says it is in sync.
folder_in_sync() {
	"$SHOAL" --home "n$1" folder status --json 2>/dev/null |
		python3 -c 'import json,sys; f=json.load(sys.stdin)["folders"]; sys.exit(0 if f and all(x["in_sync"] for x in f) else 1)'
}

mesh_up() { # N...
	local i j
	for i in "$@"; do
		for j in "$@"; do
			[ "$i" == "$j" ] && continue
			[ "$(peer_state "n$i" "${node_id[$j]}")" == up ] || return 1
		done
	done
}

all_see() { # STATE NODE_ID N...
	local state=$1 who=$2 i
	shift 2
	for i in "$@"; do
		[ "$(peer_state "n$i" "$who")" == "$state" ] || return 1
	done
}

homes() { # N...
	local i
	for i; do printf 'n%s ' "$i"; done
}

# ---- chunks on disk (network tests) ---------------------------------------------------
obj() { echo "$1/objects/${2:0:2}/$2"; } # HOME HEX

good_copy() { # HOME HEX
	local f
	f=$(obj "$1" "$2")
	[ -f "$f" ] && [ "$(sha256sum <"$f" | cut -c1-64)" == "$2" ]
}

copies() { # HEX HOME...
	local h=$1 home n=0
	shift
	for home; do [ -e "$(obj "$home" "$h")" ] && n=$((n + 1)); done
	echo "$n"
}

good_copies() { # HEX HOME...
	local h=$1 home n=0
	shift
	for home; do good_copy "$home" "$h" && n=$((n + 1)); done
	echo "$n"
}

# locate_chunks HOME TARGET OUT: `shoal locate TARGET` on HOME into OUT (stderr into
# OUT.err), the chunk ids alone into OUT.ids; returns locate's exit status.
locate_chunks() {
	"$SHOAL" --home "$1" locate "$2" >"$3" 2>"$3.err"
	local rc=$?
	cut -f1 "$3" >"$3.ids"
	return "$rc"
}

missing_in() { # HOME IDS_FILE (one find, so it is quick enough to poll)
	grep -vxFf <(find "$1"/objects/?? -type f -printf '%f\n' 2>/dev/null) "$2" | grep -c .
}

# by_missing IDS_FILE N...: the listed nodes, one a line, ordered by how many chunks
# of IDS_FILE their homes lack: the most first (ties in the order given).
by_missing() {
	local ids=$1 i
	shift
	for i; do echo "$(missing_in "n$i" "$ids") $i"; done | sort -s -k1,1nr | cut -d' ' -f2
}

# copy_range COUNT IDS_FILE HOME...: "FEWEST MOST CHUNK" over the chunks of IDS_FILE,
# where COUNT (copies: files; good_copies: files hashing to their id) counts each
# chunk's copies on the HOMEs, and CHUNK (8 hex) is a chunk with the fewest.
copy_range() {
	local count=$1 ids=$2 h c lo=999 hi=0 at=
	shift 2
	while read -r h; do
		c=$("$count" "$h" "$@")
		[ "$c" -lt "$lo" ] && lo=$c at=${h:0:8}
		[ "$c" -gt "$hi" ] && hi=$c
	done <"$ids"
	echo "$lo $hi $at"
}

# each_chunk_has OP K IDS_FILE HOME...: every chunk of IDS_FILE has OP K (a test(1)
# comparison: -ge, -eq) files on the HOMEs and OP K good copies (files counted
# first: cheap while copies are still missing).
each_chunk_has() {
	local op=$1 k=$2 ids=$3 h
	shift 3
	while read -r h; do
		test "$(copies "$h" "$@")" "$op" "$k" || return 1
	done <"$ids"
	while read -r h; do
		test "$(good_copies "$h" "$@")" "$op" "$k" || return 1
	done <"$ids"
}

# ---- store audits (fault and crash tests) -------------------------------------------
# store_audit HOME [strict]: checks the store in HOME as a crash or a disk fault
#   may have left it, printing each problem found; non-zero when there is one:
#   SQLite's integrity_check says ok; every chunks row has its object file and
#   that file's SHA-256 is the row's id; every chunk a named manifest refs has a
#   row and a file, and so has each named manifest. With "strict", also no temp
#   file under objects/tmp and no object file without a row (what a store that
#   has been opened since the last failure looks like).
store_audit() {
	python3 - "$1" "${2:-}" <<'PY'
import hashlib, os, re, sqlite3, sys
home, strict = sys.argv[1], sys.argv[2] == "strict"
problems = []
def obj(cid):
    h = cid.hex()
    return os.path.join(home, "objects", h[:2], h)
db = sqlite3.connect(os.path.join(home, "index.sqlite"), timeout=30)
ic = db.execute("PRAGMA integrity_check").fetchall()
if ic != [("ok",)]:
    problems.append("integrity_check: %r" % (ic[:5],))
rows = set()
for (cid,) in db.execute("SELECT id FROM chunks"):
    rows.add(bytes(cid))
for cid in sorted(rows):
    try:
        h = hashlib.sha256()
        with open(obj(cid), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.digest() != cid:
            problems.append("object file does not hash to its id: " + cid.hex())
    except FileNotFoundError:
        problems.append("chunk row without an object file: " + cid.hex())
for name, m in db.execute("SELECT name, manifest FROM names"):
    if bytes(m) not in rows:
        problems.append("name %r: its manifest %s has no chunk row" % (name, bytes(m).hex()))
q = "SELECT n.name, r.chunk FROM refs r JOIN names n ON n.manifest = r.manifest"
for name, c in db.execute(q):
    c = bytes(c)
    if c not in rows:
        problems.append("name %r refs chunk %s, which has no row" % (name, c.hex()))
    elif not os.path.exists(obj(c)):
        problems.append("name %r refs chunk %s, whose file is missing" % (name, c.hex()))
db.close()
if strict:
    tmp = os.listdir(os.path.join(home, "objects", "tmp"))
    if tmp:
        problems.append("%d temp files under objects/tmp: %s" % (len(tmp), " ".join(tmp[:5])))
    files = set()
    for sub in os.listdir(os.path.join(home, "objects")):
        if re.fullmatch(r"[0-9a-f]{2}", sub):
            for f in os.listdir(os.path.join(home, "objects", sub)):
                if re.fullmatch(r"[0-9a-f]{64}", f):
                    files.add(bytes.fromhex(f))
    orphans = files - rows
    if orphans:
        problems.append("%d object files without a chunk row, e.g. %s" %
                        (len(orphans), next(iter(orphans)).hex()))
for p in problems[:20]:
    print(p)
sys.exit(1 if problems else 0)
PY
}
