#!/usr/bin/env bash
# Enrollment without the CA key on the node, certificate lifetimes, renewal and
# nicknames, between real processes: init --request writes a request and a
# pending key, network sign checks it, prints what it signs and writes the
# certificate file, init --cert completes the node, whose daemon then joins a
# mesh with a node made by init --network; neither home holds the CA key (its
# bytes or any private key but node.key). Refused, each in one line and writing
# nothing: a tampered or garbage request, a certificate for another key, an
# expired one, a second request, init --cert with no request, bad nicknames. A
# node certified by another network's CA is never up with the mesh; a daemon
# whose own certificate expired does not start, and a peer presenting an
# expired one is refused. network sign --days 10 gives a certificate of ten
# days; renew, in place and for another machine (then init --cert), keeps the
# node id and nickname, extends the expiry, and the node joins the mesh again
# after a restart.
# shellcheck disable=SC2317 # helpers are called through check and wait_for
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
NODE_OPTS=(--set peer_timeout=2 --set ping_interval=0.5 --set backoff_max=0.5)
TESTCERT=$(tool testcert)
NET=$T/network
DAY=86400

# not_after FILE: the first certificate's notAfter in FILE, as Unix seconds.
not_after() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
# subject FILE: the first certificate's subject, as openssl prints it.
subject() { openssl x509 -in "$1" -noout -subject; }
# mode FILE: its permission bits in octal.
mode() { stat -c %a "$1"; }
# ca_key_absent HOME: neither the base64 body of the CA key in $NET nor its raw
# 32 bytes occur in any file under HOME (binary files included).
ca_key_absent() {
	python3 - "$NET" "$1" <<'PY'
import base64, os, re, sys
net, home = sys.argv[1], sys.argv[2]
pem = open(net).read()
body = re.search(r"-----BEGIN PRIVATE KEY-----\n(.*?)-----END PRIVATE KEY-----", pem, re.S).group(1)
body = body.replace("\n", "")
raw = base64.b64decode(body)[-32:]  # PKCS#8 Ed25519: the key is the last 32 bytes
found = []
for d, _, files in os.walk(home):
    for f in files:
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        data = open(p, "rb").read()
        if body.encode() in data or raw in data:
            found.append(p)
print(" ".join(found))
sys.exit(1 if found else 0)
PY
}
# private_blocks HOME: the files under HOME holding a "PRIVATE KEY" PEM block.
private_blocks() { grep -rlF -- "PRIVATE KEY-----" "$1" | sort | tr '\n' ' '; }

check "testcert is built ($TESTCERT)" test -x "$TESTCERT"
check "network create" shoal network create "$NET"

# ---- --help of every form ------------------------------------------------------------
for sub in create sign renew; do
	shoal network "$sub" --help >help.out 2>&1
	check_eq "network $sub --help exits 0" 0 $?
	check "... and shows its usage" grep -q "^usage: shoal network $sub" help.out
done
# lists_all WORD...: help.out has a synopsis "shoal WORD" for each WORD.
lists_all() {
	local w
	for w; do grep -q "shoal $w" help.out || return 1; done
}
shoal network --help >help.out 2>&1
check "network --help lists every subcommand" \
	lists_all "network create" "network sign" "network renew" "network revoke" \
	"network revocations"
check "network --help names revoke's arguments" \
	grep -qF "shoal network revoke --network NET NODE [--reason TEXT]" help.out
shoal init --help >help.out 2>&1
check "init --help shows the three forms" \
	lists_all "init --network NET" "init --request FILE" "init --cert CERT"

# ---- request, sign, init --cert ---------------------------------------------------------
make_nodes 1
id2=$(shoal --home n2 init --request req2.txt --name laptop --listen 127.0.0.1:7411 2>req.err)
check_match "init --request prints the node id" "^$ID_RE\$" "$id2"
check_eq "... the home is 0700" 700 "$(mode n2)"
check_eq "... holds a pending key, 0600" 600 "$(mode n2/node.key.pending)"
check "... and no node.key yet" test ! -e n2/node.key
check "... saves the listen address in the config" grep -q "127.0.0.1:7411" n2/config
check_eq "... writes the request as text" "-----BEGIN SHOAL NODE REQUEST-----" "$(head -n 1 req2.txt)"
check_eq "... a request holds no secret: 0644" 644 "$(mode req2.txt)"
shoal --home n2 id >/dev/null 2>id.err
check_failed "a home with only a request is no node yet (id fails)" $?

shoal --home n2 init --request again.txt >again.out 2>again.err
check_failed "init --request twice is refused" $?
check_err1 "... in one line naming the pending request" again.err "pending request"
check "... writing no second request" test ! -e again.txt
shoal --home n1 init --request again.txt >/dev/null 2>again.err
check_failed "init --request on a complete node is refused" $?
check_err1 "... in one line" again.err "already holds a node"
shoal --home n2 init --network "$NET" >/dev/null 2>again.err
check_failed "init --network on a home with a request is refused" $?
check_err1 "... in one line" again.err "pending request"
check "... and the pending key is still there" test -f n2/node.key.pending

shoal network sign --network "$NET" req2.txt -o cert2.pem >sign.out 2>sign.err
check_eq "network sign succeeds" 0 $?
check "... printing the node id" grep -qE "^node +$id2\$" sign.out
check "... the nickname" grep -qE "^nickname +laptop\$" sign.out
check "... the listen address" grep -qE "^listen +127\.0\.0\.1:7411\$" sign.out
check_match "... and the end of validity, a year on by default" \
	"expires +[0-9]{4}-[0-9]{2}-[0-9]{2} .*\(in 365 days\)" "$(grep expires sign.out)"
check_eq "... writing the certificate file 0644 (no secret in it)" 644 "$(mode cert2.pem)"
check_eq "... holding two certificates, the node's and the CA's" 2 \
	"$(grep -c -- '-----BEGIN CERTIFICATE-----' cert2.pem)"
check_eq "... and no private key" 0 "$(grep -c 'PRIVATE' cert2.pem)"
end=$(not_after cert2.pem)
now=$(date +%s)
check "... valid for 365 days" test $((end - now)) -gt $((365 * DAY - 60)) -a $((end - now)) -le $((365 * DAY))
check_match "... the nickname is in the subject, as pseudonym" "pseudonym = laptop" "$(subject cert2.pem)"
check_match "... next to CN = the node id" "CN = $id2" "$(subject cert2.pem)"
shoal network sign --network "$NET" req2.txt -o cert2.pem >/dev/null 2>again.err
check_failed "network sign does not replace an existing CERT" $?
check_err1 "... in one line" again.err "already exists"

got=$(shoal --home n2 init --cert cert2.pem 2>cert.err)
check_eq "init --cert completes the node, printing its id" "$id2" "$got"
check "... node.key replaces the pending key" test -f n2/node.key -a ! -e n2/node.key.pending
check_eq "... 0600" 600 "$(mode n2/node.key)"
check_eq "shoal id agrees" "$id2" "$(shoal --home n2 id 2>&1)"
check_eq "every file in the home is for its owner only" "" \
	"$(find n2 -perm /077 ! -type s -printf '%m %p\n' | head -n 5)"
node_id[2]=$id2

# ---- no CA key in either home -------------------------------------------------------------
check "the CA key's bytes are nowhere in the enrolled home" ca_key_absent n2
check "... nor in the home made by init --network" ca_key_absent n1
check_eq "the only private key in the enrolled home is node.key" "n2/node.key " "$(private_blocks n2)"
check_eq "... and in the other home" "n1/node.key " "$(private_blocks n1)"

# ---- the enrolled node joins a mesh with the init --network node -----------------------------
start_node 1
start_node 2 1
check "both peers show each other up" wait_for 15 mesh_up 1 2

# ---- refusals --------------------------------------------------------------------------------
# A request with one byte of its signature flipped (the base64 re-encoded).
python3 - req2.txt tampered.txt <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
raw = bytearray(base64.b64decode("".join(lines[1:-2])))
raw[-5] ^= 1
b = base64.b64encode(bytes(raw)).decode()
body = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
open(sys.argv[2], "w").write(lines[0] + "\n" + body + "\n" + lines[-2] + "\n")
PY
shoal network sign --network "$NET" tampered.txt -o tampered.pem >tamper.out 2>tamper.err
check_failed "network sign refuses a tampered request" $?
check_err1 "... in one line saying the signature is bad" tamper.err "bad signature"
check "... and writes no CERT" test ! -e tampered.pem
check_eq "... printing nothing on stdout" "" "$(cat tamper.out)"
head -c 3000 /dev/urandom >garbage.txt
shoal network sign --network "$NET" garbage.txt -o garbage.pem >/dev/null 2>garbage.err
check_failed "network sign refuses garbage" $?
check_err1 "... in one line" garbage.err "garbage.txt: "
check "... and writes no CERT" test ! -e garbage.pem
shoal network sign --network "$NET" cert2.pem -o notreq.pem >/dev/null 2>notreq.err
check_failed "network sign refuses a certificate given as the request" $?
check_err1 "... in one line" notreq.err "not a shoal node request"
shoal network sign --network n2/ca.crt req2.txt -o noca.pem >/dev/null 2>noca.err
check_failed "network sign refuses a file without the CA key as network" $?
check_err1 "... in one line" noca.err "not a network file"
shoal network sign --network "$NET" req2.txt -o d.pem --days 36501 >/dev/null 2>days.err
check_eq "--days past 36500 is a usage error" 2 $?
check_err1 "... in one line" days.err "--days"

id6=$(shoal --home n6 init --request req6.txt 2>/dev/null)
check_match "another request (node 6)" "^$ID_RE\$" "$id6"
shoal --home n6 init --cert cert2.pem >/dev/null 2>other.err
check_failed "init --cert with a certificate for another key is refused" $?
check_err1 "... in one line" other.err "another key"
check "... the home still waits with its pending key" test -f n6/node.key.pending -a ! -e n6/node.key
shoal --home n7 init --cert cert2.pem >/dev/null 2>none.err
check_failed "init --cert on a home without a request is refused" $?
check_err1 "... in one line" none.err "no pending request"
check "... creating no home" test ! -e n7
mkdir -m 700 n7
shoal --home n7 init --cert cert2.pem >/dev/null 2>none.err
check_failed "... nor in an empty one" $?
check_eq "... which stays empty" "" "$(ls -A n7)"
shoal --home n1 init --cert cert2.pem >/dev/null 2>node.err
check_failed "init --cert of another node's certificate on a complete node is refused" $?
check_err1 "... in one line" node.err "another key"

# ---- bad nicknames ------------------------------------------------------------------------------
for nick in Laptop -x "a b" "$(printf 'x%.0s' {1..33})" "caf$(printf '\303\251')" ""; do
	shoal --home n9 init --request req9.txt --name "$nick" >/dev/null 2>nick.err
	check_eq "--name '$nick' is refused as a usage error" 2 $?
	check_err1 "... in one line" nick.err "--name"
done
check "... writing no request and no home" test ! -e req9.txt -a ! -e n9
shoal --home n9 init --network "$NET" --name "No Good" >/dev/null 2>nick.err
check_eq "init --network --name with a bad nickname is refused too" 2 $?
check "... creating no home" test ! -e n9
check_match "init --network --name puts the nickname in the certificate" "^$ID_RE\$" \
	"$(shoal --home n9 init --network "$NET" --name nas.2_b-c 2>&1)"
check_match "... as pseudonym" "pseudonym = nas.2_b-c" "$(subject n9/node.crt)"
end=$(not_after n9/node.crt)
check "... valid for a year by default" test $((end - $(date +%s))) -le $((365 * DAY)) \
	-a $((end - $(date +%s))) -gt $((364 * DAY))

# ---- another network's node is never up ------------------------------------------------------------
shoal network create other
shoal --home n3 init --request req3.txt >/dev/null 2>&1
shoal network sign --network other req3.txt -o cert3.pem >/dev/null 2>&1
node_id[3]=$(shoal --home n3 init --cert cert3.pem 2>&1)
check_match "a node enrolled with another network's CA" "^$ID_RE\$" "${node_id[3]}"
refusals() { grep -cE "TLS handshake failed|node from another network|refused by the peer" n1.log; }
before=$(refusals)
start_node 3 1
seen_up=0
deadline=$(($(now_ms) + 5000))
while [ "$(now_ms)" -lt "$deadline" ]; do
	[ "$(peer_state n1 "${node_id[3]}")" == up ] && seen_up=1
	[ "$(peer_state n2 "${node_id[3]}")" == up ] && seen_up=1
	[ "$(peers_up n3)" -ne 0 ] && seen_up=1
	sleep 0.25
done
check_eq "... is never up on either side (5 s of handshakes)" 0 "$seen_up"
check "... node 1 logged refusing its handshakes" test "$(refusals)" -gt "$before"
check "... and the mesh stays up" mesh_up 1 2
stop_nodes 3

# ---- expired certificates ---------------------------------------------------------------------------
shoal --home n4 init --request req4.txt >/dev/null 2>&1
"$TESTCERT" expired-for "$NET" n4/node.key.pending exp4.pem || fail "testcert expired-for"
shoal --home n4 init --cert exp4.pem >/dev/null 2>exp.err
check_failed "init --cert with an expired certificate is refused" $?
check_err1 "... in one line saying it expired" exp.err "expired"
check "... the home still waits with its pending key" test -f n4/node.key.pending -a ! -e n4/node.key
make_node n5 >/dev/null
"$TESTCERT" expired-for "$NET" n5/node.key exp5.pem || fail "testcert expired-for"
cp exp5.pem n5/node.crt
timeout -s KILL 20 "$SHOAL" --home n5 daemon --listen 127.0.0.1:0 >/dev/null 2>n5.log
check_failed "a node whose own certificate expired cannot start its daemon" $?
check "... saying its certificate has expired" grep -q "has expired" n5.log
"$TESTCERT" expired "$NET" expired.key expired.crt || fail "testcert expired"
check "a peer presenting an expired certificate is refused" \
	"${HOSTILE[@]}" refused "${node_addr[1]}" n1/ca.crt expired.key expired.crt
check_fails "... (control: a valid one is accepted)" \
	"${HOSTILE[@]}" refused "${node_addr[1]}" n1/ca.crt n2/node.key n2/node.crt

# ---- --days and the daemon's status ------------------------------------------------------------------
id8=$(shoal --home n8 init --request req8.txt --name short 2>/dev/null)
shoal network sign --network "$NET" req8.txt -o cert8.pem --days 10 >sign8.out 2>&1
check "network sign --days 10 prints ten days" grep -q "(in 10 days)" sign8.out
end=$(not_after cert8.pem)
check "... and the certificate ends in ten days" \
	test $((end - $(date +%s))) -le $((10 * DAY)) -a $((end - $(date +%s))) -gt $((10 * DAY - 60))
node_id[8]=$(shoal --home n8 init --cert cert8.pem 2>/dev/null)
check_eq "node 8 is enrolled" "$id8" "${node_id[8]}"
start_node 8 1
check "node 8 joins the mesh" wait_for 15 mesh_up 1 2 8
# Its nickname, from its certificate, wherever a node is shown or named.
check_eq "peers on node 1 shows node 8's nickname" short \
	"$("$SHOAL" --home n1 peers | awk -F'\t' -v id="${node_id[8]}" '$1 == id {print $5}')"
echo "nickname test" >pub8.txt
cap8=$(shoal --home n8 put pub8.txt --name pub8 --publish --replicas 2 2>/dev/null)
catalog_nick() { "$SHOAL" --home n1 ls --network 2>/dev/null | awk -F'\t' '$1 == "pub8" {print $5}'; }
nick_is_short() { [ "$(catalog_nick)" == short ]; }
check "ls --network on node 1 shows the owner's nickname" wait_for 15 nick_is_short
shoal --home n1 get pub8@short -o got8 2>get8.err
check "get NAME@NICKNAME takes that owner's entry" cmp -s pub8.txt got8
shoal --home n1 get pub8@nobody -o got8b 2>get8b.err
check_failed "get NAME@NICKNAME of nobody fails" $?
check_err1 "... in one line" get8b.err "nickname"
shoal --home n1 locate "$cap8" >loc8 2>/dev/null
check "locate shows the holders' nicknames" grep -qE "	([a-z0-9._-]+,)*short(,[a-z0-9._-]+)*\$" loc8
check_match "status on node 8 shows its nickname" "^node +${node_id[8]} \(short\)\$" \
	"$("$SHOAL" --home n8 status | head -n 1)"
shoal --home n1 send "$cap8" --to short 2>send8.err
check_match "send --to NICKNAME exits 0, saying so on stderr" \
	"^0 sent $cap8 to short \\([0-9]+ chunks?, [0-9]+ fetched\\)\$" "$? $(cat send8.err)"
shoal --home n8 status >status8.out 2>&1
check_match "status reports the near expiry" \
	"^cert +expires in (9|10) days \\([0-9-]+\\); renew it with 'shoal network renew'" \
	"$(grep '^cert' status8.out)"
check "... and the daemon's log warns of it" grep -q "certificate expires in .* days" n8.log

# ---- renew in place -------------------------------------------------------------------------------
stop_nodes 8
shoal --home n8 network renew --network "$NET" >renew8.out 2>renew8.err
check_eq "network renew (in place) succeeds" 0 $?
check "... saying to restart the daemon" grep -q "restart the daemon" renew8.out
check "... printing the same node id" grep -qE "^node +$id8\$" renew8.out
check_eq "... the node id stays" "$id8" "$(shoal --home n8 id 2>&1)"
check_match "... and the nickname" "pseudonym = short" "$(subject n8/node.crt)"
new_end=$(not_after n8/node.crt)
check "... the expiry moves to a year from now" \
	test "$new_end" -gt $((end + 300 * DAY)) -a $((new_end - $(date +%s))) -le $((365 * DAY))
check_eq "... node.crt stays 0600" 600 "$(mode n8/node.crt)"
start_node 8
check "the renewed node joins the mesh again after a restart" wait_for 15 mesh_up 1 2 8

# ---- renew for another machine, installed with init --cert ---------------------------------------------
cp n2/node.crt copy2.crt
end=$(not_after n2/node.crt)
shoal network renew --network other copy2.crt -o wrong.pem >/dev/null 2>wrong.err
check_failed "renew with another network's file is refused" $?
check_err1 "... in one line" wrong.err "not issued by this network"
check "... writing nothing" test ! -e wrong.pem
shoal network renew --network "$NET" copy2.crt -o renew2.pem --days 400 >renew2.out 2>&1
check_eq "network renew CERT_IN -o CERT_OUT succeeds" 0 $?
check "... printing the node id" grep -qE "^node +$id2\$" renew2.out
check "... and the nickname" grep -qE "^nickname +laptop\$" renew2.out
shoal --home n1 init --cert renew2.pem >/dev/null 2>renew.err
check_failed "another node does not take it" $?
check_err1 "... in one line" renew.err "another key"
got=$(shoal --home n2 init --cert renew2.pem 2>renew.err)
check_eq "the node takes it with init --cert, keeping its id" "$id2" "$got"
check "... saying to restart the daemon" grep -q "restart the daemon" renew.err
check_match "... keeping its nickname" "pseudonym = laptop" "$(subject n2/node.crt)"
new_end=$(not_after n2/node.crt)
check "... and extending the expiry (400 days)" \
	test "$new_end" -gt $((end + 30 * DAY)) -a $((new_end - $(date +%s))) -le $((400 * DAY))
stop_nodes 2
start_node 2 1
check "the node with its renewed certificate joins the mesh again after a restart" \
	wait_for 15 mesh_up 1 2 8
stop_nodes 1 2 8
check_no_sanitizer "no sanitizer report from the daemons" n1.log n2.log n3.log n5.log n8.log
done_testing
