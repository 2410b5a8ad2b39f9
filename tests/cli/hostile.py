#!/usr/bin/env python3
"""Hostile and minimal peers for tests/cli/test_net_hostile.sh (standard library only).

    hostile.py refused ADDR CA KEY CERT [tls12]   exit 0 when the daemon refuses the client
    hostile.py MODE ADDR CA KEY CERT              MODE: garbage hugelen truncated junkproto,
                                                  or hello-MODE (after a proper Hello);
                                                  exit 0 when the daemon disconnects in time
    hostile.py version2 ADDR CA KEY CERT          Hello with version 2: exit 0 on Error VERSION + close
    hostile.py getchunk ADDR CA KEY CERT ID_HEX   unknown id: Error NOT_FOUND, then ID: its Chunk
    hostile.py hog ADDR CA KEY CERT ID_HEX SECS   floods GetChunk for ID, never reads, holds SECS
    hostile.py flood ADDR N SECS                  N idle TCP sockets; exit 0 when all are closed
    hostile.py catalog-forged ADDR CA KEY CERT [HEX...]
                                                  as a member, sends a CatalogDelta whose entry has a
                                                  wrong signature, then each HEX as a frame (an
                                                  Envelope in hex, e.g. from tests/tools/catsign: an
                                                  entry named "../x" correctly signed with KEY), then
                                                  CatalogRequest and Ping; exit 0 when the daemon
                                                  stays connected, answers Pong, and none of the
                                                  forged entries is in the catalog it sends back
    hostile.py catalog-send ADDR CA KEY CERT FILE  as a member, sends each line of FILE (an Envelope
                                                  in hex, from catsign [--count N]) as a frame,
                                                  then Ping; exit 0 when Pong comes back (the
                                                  daemon kept the link through all of it)
    hostile.py liar ADDR CA KEY CERT SECS         a member that claims every chunk and serves wrong bytes
    hostile.py staller ADDR CA KEY CERT SECS      a member that claims every chunk and never sends one
    hostile.py putbad ADDR CA KEY CERT            PutChunk with wrong bytes: Error CORRUPT; right: PutAck
    hostile.py putbig ADDR CA KEY CERT            PutChunk of 4 MiB + 16: PutAck; of 4 MiB + 17: hung up
    hostile.py putflood ADDR CA KEY CERT COUNT SIZE REPLICAS IDSFILE
                                                  COUNT PutChunks of SIZE random bytes asking
                                                  REPLICAS copies; prints how they were answered
    hostile.py oversize ADDR CA KEY CERT LEN SECS after Hello, a frame length of LEN (over the
                                                  64 KiB maximum; decimal or 0x...) in two TLS
                                                  records, then nothing: exit 0 when the daemon
                                                  hangs up within SECS (tests/cli/test_net_frames.sh)
    hostile.py idle ADDR CA KEY CERT SECS         after Hello, nothing: exit 0 when the daemon is
                                                  still connected SECS later (the control)
    hostile.py gossip ADDR CA KEY CERT COUNT SECS as a member, gossips COUNT random node ids (Peers
                                                  frames of at most 256 members, the protocol's
                                                  cap), each at a random one of 16 addresses
                                                  127.0.0.1:PORT where this script listens (the
                                                  sinks), then Ping; waits for Pong, then counts
                                                  for SECS seconds the connections the daemon
                                                  makes to the sinks ("dials N"); exit 0 when
                                                  Pong came back (tests/cli/test_net_gossip.sh)
    hostile.py revoke-forged ADDR CA KEY CERT NODE_ID_B32
                                                  as a member, sends a Revocations frame naming
                                                  NODE_ID_B32 with a signature the CA never made;
                                                  exit 0 when the daemon hangs up on it
                                                  (tests/cli/test_net_revoke.sh)
    hostile.py no-hello ADDR CA KEY CERT          a node the daemon must refuse after the TLS
                                                  handshake (revoked): sends Hello, reads what
                                                  comes; exit 0 when the daemon closes without
                                                  ever saying Hello
    hostile.py forget-up ADDR CA KEY CERT NODE_ID_B32
                                                  as a member, sends Forget of NODE_ID_B32 (a member
                                                  that is up), then Ping; exit 0 when Pong comes back
    hostile.py getchunk-expect ADDR CA KEY CERT ID_HEX WANT
                                                  GetChunk for ID_HEX; exit 0 when the answer is WANT:
                                                  not_found (Error NOT_FOUND) or chunk (a Chunk whose
                                                  bytes hash to the id) (tests/cli/test_net_repair.sh)
    hostile.py folder-stranger ADDR CA KEY CERT FOLDER_ID HEXFILE
                                                  a node of the network without the folder's
                                                  secret: FolderHello for FOLDER_ID (base32) with a
                                                  wrong proof, then FolderBatches with a wrong proof
                                                  carrying the batch in HEXFILE (foldersign's first
                                                  line), then Ping; exit 0 when Pong comes back,
                                                  no FolderBatches arrives in the 2 s after it, and
                                                  the daemon's FolderHellos were probes naming no
                                                  folder and no author (at least one came)
    hostile.py folder-member ADDR CA KEY CERT INVITE HOW [HEXFILE]
                                                  holding the invite (so with the right proofs):
                                                  HOW is hello (a hello holding nothing: exit 0 when
                                                  FolderBatches with A's right proof come back),
                                                  haves-N (a hello naming N random authors, then
                                                  Ping: exit 0 on Pong), send (FolderBatches of the
                                                  batch in HEXFILE, then Ping: exit 0 on Pong),
                                                  stall (as send, saying more batches follow; then
                                                  nothing but Pongs for 12 s: exit 0 if connected),
                                                  or, each wanting the daemon to hang up (exit 0),
                                                  forged (FolderBatches of HEXFILE, made with
                                                  foldersign --bad-sig), badsizes (the batch in
                                                  HEXFILE, or random bytes, and 16 bytes more than
                                                  sizes say), bighello (1025 haves)
                                                  (tests/cli/test_folder_hostile.sh)

Frames are a 4-byte big-endian length, an Envelope (proto/shoal.proto), then
Envelope.payload_len raw bytes. Protobuf is encoded and decoded by hand. For
catalog-forged, make the correctly signed entry with
    build/tests/tools/catsign KEY CERT ../x     (prints the Envelope in hex)
since Ed25519 signing is not in Python's standard library.
"""
import base64
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import sys
import time

WAIT = 8.0  # seconds the daemon gets to answer or hang up

# Envelope fields
REQUEST_ID, PAYLOAD_LEN, HELLO, PING, PONG, PEERS, GET_CHUNK, CHUNK, ERROR = 1, 2, 10, 11, 12, 13, 14, 15, 16
NOT_FOUND, VERSION = 3, 2
CATALOG_DELTA, CATALOG_DIGEST, CATALOG_REQUEST = 24, 25, 26
REVOCATIONS, LEAVE, FORGET = 27, 28, 29


# ---- protobuf, by hand ------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_int(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def decode(buf):
    """A message as {field number: [values]}: ints for varints, bytes for the rest."""
    out, i = {}, 0

    def read_varint():
        nonlocal i
        v = shift = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(buf):
        key = read_varint()
        num, wtype = key >> 3, key & 7
        if wtype == 0:
            v = read_varint()
        elif wtype == 2:
            n = read_varint()
            v, i = bytes(buf[i:i + n]), i + n
        elif wtype in (1, 5):
            n = 8 if wtype == 1 else 4
            v, i = bytes(buf[i:i + n]), i + n
        else:
            raise ValueError("wire type %d" % wtype)
        out.setdefault(num, []).append(v)
    return out


def first(msg, num, default=0):
    return msg.get(num, [default])[0]


def frame(env, payload=b""):
    return struct.pack(">I", len(env)) + env + payload


def hello(node_id, version=1):
    return field_bytes(HELLO, field_int(1, version) + field_bytes(2, node_id))


def get_chunk(request_id, chunk_id):
    return field_int(REQUEST_ID, request_id) + field_bytes(GET_CHUNK, field_bytes(1, chunk_id))


def pong(nonce):
    return field_bytes(PONG, field_int(1, nonce) if nonce else b"")


def ping(nonce):
    return field_bytes(PING, field_int(1, nonce))


def catalog_entry(cert_der, name, size, cap, time_us, sig):
    """A live CatalogEntry (proto/shoal.proto)."""
    return (field_bytes(1, cert_der) + field_bytes(2, name.encode()) + field_int(3, size) +
            field_bytes(4, cap.encode()) + field_int(5, time_us) + field_bytes(7, sig))


def catalog_delta(entries):
    return field_bytes(CATALOG_DELTA, b"".join(field_bytes(1, e) for e in entries))


def random_capability():
    """A well-formed capability (shoal:<52 base32>:<52 base32>) that names nothing."""
    def b32(b):
        return base64.b32encode(b).decode().rstrip("=").lower()
    return "shoal:%s:%s" % (b32(os.urandom(32)), b32(os.urandom(32)))


def delta_names(env):
    """The names of the entries of an Envelope's CatalogDelta."""
    entries = decode(env[CATALOG_DELTA][0]).get(1, [])
    return [first(decode(e), 2, b"").decode(errors="replace") for e in entries]


# ---- connections ------------------------------------------------------------------
def split_addr(addr):
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def node_id(cert_path):
    """SHA-256 of the raw Ed25519 public key: the last 32 bytes of its SubjectPublicKeyInfo."""
    der = ssl.PEM_cert_to_DER_cert(open(cert_path).read())
    spki = bytes.fromhex("302a300506032b6570032100")
    at = der.find(spki)
    if at < 0 or der.find(spki, at + 1) >= 0:
        sys.exit("hostile: no single Ed25519 key in " + cert_path)
    return hashlib.sha256(der[at + len(spki):at + len(spki) + 32]).digest()


def tls_connect(addr, ca, key, cert, tls12=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(split_addr(addr), timeout=WAIT)
    return ctx.wrap_socket(raw)


def recv_exact(s, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        b = s.recv(min(n - len(buf), 1 << 20))
        if not b:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)


def read_frame(s, deadline):
    n = struct.unpack(">I", recv_exact(s, 4, deadline))[0]
    env = decode(recv_exact(s, n, deadline))
    payload = recv_exact(s, first(env, PAYLOAD_LEN), deadline)
    return env, payload


def kind(env):
    names = {HELLO: "Hello", PING: "Ping", PONG: "Pong", PEERS: "Peers", GET_CHUNK: "GetChunk",
             CHUNK: "Chunk", ERROR: "Error", CATALOG_DELTA: "CatalogDelta",
             CATALOG_DIGEST: "CatalogDigest", CATALOG_REQUEST: "CatalogRequest"}
    return next((names[k] for k in env if k in names), "?")


def wait_closed(s, deadline):
    """Reads until the peer hangs up; True when it does before the deadline."""
    while time.monotonic() < deadline:
        try:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            if not s.recv(65536):
                return True
        except socket.timeout:
            return False
        except (OSError, ssl.SSLError):
            return True
    return False


def reply(s, want_id, deadline):
    """Reads frames (answering Pings) until the one for request want_id."""
    while True:
        env, payload = read_frame(s, deadline)
        if PING in env:
            s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
        elif first(env, REQUEST_ID) == want_id and (ERROR in env or CHUNK in env):
            return env, payload


def greet(s, cert, version=1):
    """Sends Hello; reads the daemon's Hello (it speaks first, after the
    revocations it knows)."""
    s.sendall(frame(hello(node_id(cert), version)))
    env, _ = read_frame(s, time.monotonic() + WAIT)
    while REVOCATIONS in env:
        env, _ = read_frame(s, time.monotonic() + WAIT)
    if HELLO not in env:
        sys.exit("hostile: first frame from the daemon is %s, not Hello" % kind(env))


# ---- commands -----------------------------------------------------------------------
def cmd_refused(addr, ca, key, cert, tls12=None):
    start = time.monotonic()
    try:
        s = tls_connect(addr, ca, key, cert, tls12 == "tls12")
        s.settimeout(WAIT)
        data = s.recv(4096)
    except (OSError, ssl.SSLError) as e:
        print("refused after %.2f s: %s" % (time.monotonic() - start, e))
        return 0
    if not data:
        print("refused after %.2f s: closed" % (time.monotonic() - start))
        return 0
    print("accepted: the daemon sent %d bytes" % len(data))
    return 1


MISBEHAVIOURS = {
    "garbage": b"GET / HTTP/1.1\r\nHost: shoal\r\n\r\n",
    "hugelen": b"\xff\xff\xff\xff" + b"\0" * 16,
    "truncated": struct.pack(">I", 100) + b"\x08\x01\x52\x10",
    "junkproto": frame(b"\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
}


def cmd_misbehave(mode, addr, ca, key, cert):
    s = tls_connect(addr, ca, key, cert)
    if mode.startswith("hello-"):
        greet(s, cert)
    start = time.monotonic()
    s.sendall(MISBEHAVIOURS[mode.replace("hello-", "")])
    if wait_closed(s, start + WAIT):
        print("%s: disconnected after %.2f s" % (mode, time.monotonic() - start))
        return 0
    print("%s: still connected after %.0f s" % (mode, WAIT))
    return 1


def cmd_version2(addr, ca, key, cert):
    s = tls_connect(addr, ca, key, cert)
    deadline = time.monotonic() + WAIT
    s.sendall(frame(hello(node_id(cert), 2)))
    seen = []
    try:
        while True:
            env, _ = read_frame(s, deadline)
            seen.append(kind(env))
            if ERROR in env:
                code = first(decode(env[ERROR][0]), 1)
                seen[-1] += "(%d)" % code
                if code != VERSION:
                    break
                closed = wait_closed(s, deadline)
                print("frames: %s; closed: %s" % (" ".join(seen), closed))
                return 0 if closed else 1
    except (EOFError, OSError, ssl.SSLError) as e:
        seen.append("end: %s" % e)
    print("frames: %s" % " ".join(seen))
    return 1


def cmd_getchunk(addr, ca, key, cert, id_hex):
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    deadline = time.monotonic() + WAIT
    s.sendall(frame(get_chunk(7, os.urandom(32))))
    env, _ = reply(s, 7, deadline)
    code = first(decode(env[ERROR][0]), 1) if ERROR in env else None
    if code != NOT_FOUND:
        print("unknown id: %s, error code %s (wanted Error %d)" % (kind(env), code, NOT_FOUND))
        return 1
    print("unknown id: Error NOT_FOUND")
    want = bytes.fromhex(id_hex)
    s.sendall(frame(get_chunk(8, want)))
    env, payload = reply(s, 8, deadline)
    if CHUNK not in env:
        print("stored id: %s, not Chunk" % kind(env))
        return 1
    got = first(decode(env[CHUNK][0]), 1, b"")
    if got != want or hashlib.sha256(payload).digest() != want:
        print("stored id: a Chunk of %d bytes that does not hash to its id" % len(payload))
        return 1
    print("stored id: Chunk of %d bytes, hash checked" % len(payload))
    return 0


def cmd_hog(addr, ca, key, cert, id_hex, hold):
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    want = bytes.fromhex(id_hex)
    s.settimeout(1.0)
    sent = 0
    try:
        while sent < 200000:  # until the daemon stops reading (a send blocks for 1 s)
            s.sendall(b"".join(frame(get_chunk(sent + i + 1, want)) for i in range(100)))
            sent += 100
    except (socket.timeout, OSError, ssl.SSLError) as e:
        print("sending stopped: %s" % (e or "timeout"))
    print("sent %d GetChunk" % sent, flush=True)
    time.sleep(float(hold))
    return 0


def cmd_flood(addr, count, secs):
    count, secs = int(count), float(secs)
    socks = []
    start = time.monotonic()  # the first sockets' handshake deadline runs from here
    for _ in range(count):
        socks.append(socket.create_connection(split_addr(addr), timeout=WAIT))
    print("open %d after %.2f s" % (len(socks), time.monotonic() - start), flush=True)
    open_ = {s.fileno(): s for s in socks}
    closed_at = []
    while open_ and time.monotonic() - start < secs:
        ready, _, _ = select.select(list(open_), [], [], 0.05)
        for fd in ready:
            s = open_.pop(fd)
            try:
                s.recv(1)
            except OSError:
                pass
            closed_at.append(time.monotonic() - start)
    closed_at.sort()
    print("closed %d of %d; first after %.2f s, last after %.2f s" % (
        len(closed_at), count, closed_at[0] if closed_at else -1, closed_at[-1] if closed_at else -1))
    return 0 if not open_ else 1


# ---- distribution peers (tests/cli/test_net_dist.sh) ----------------------------------
# Envelope fields of the storage messages, and Error codes they use.
PUT_CHUNK, PUT_ACK, HAVE, HAVE_REPLY, UNPIN, FETCH = 17, 18, 19, 20, 21, 22
TOO_BUSY, CORRUPT, NO_SPACE, REFUSED = 4, 6, 7, 8
PAYLOAD_MAX = 4 * 1024 * 1024 + 16  # a chunk's stored bytes at most


def node_id_b32(cert_path):
    """The node id as shoal prints it: base32, lower case, no padding."""
    import base64

    return base64.b32encode(node_id(cert_path)).decode().lower().rstrip("=")


def error_frame(request_id, code, text):
    return frame(field_int(REQUEST_ID, request_id) + field_bytes(ERROR, field_int(1, code) + field_bytes(2, text)))


def put_chunk_header(request_id, chunk_id, payload_len, replicas=0):
    body = field_bytes(1, chunk_id) + (field_int(3, replicas) if replicas else b"")
    return (field_int(REQUEST_ID, request_id) + field_int(PAYLOAD_LEN, payload_len) +
            field_bytes(PUT_CHUNK, body))


def answer(s, want_id, deadline):
    """Reads frames (answering Pings) until a reply (Error, PutAck, Chunk) to want_id."""
    while True:
        env, payload = read_frame(s, deadline)
        if PING in env:
            s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
        elif first(env, REQUEST_ID) == want_id and (ERROR in env or PUT_ACK in env or CHUNK in env):
            return env, payload


def describe(env):
    if ERROR in env:
        return "Error(%d)" % first(decode(env[ERROR][0]), 1)
    if PUT_ACK in env:
        return "PutAck"
    return kind(env)


def claim_all(s, rid, env):
    """Answers the Have in env with 'all of them'; returns how many ids it named."""
    n = len(decode(env[HAVE][0]).get(1, []))
    bits = bytearray(b"\xff" * ((n + 7) // 8))
    if n % 8:
        bits[-1] = (1 << (n % 8)) - 1
    s.sendall(frame(field_int(REQUEST_ID, rid) + field_bytes(HAVE_REPLY, field_bytes(1, bytes(bits)))))
    return n


def serve_as_member(addr, ca, key, cert, secs, handle):
    """Connects as a member, prints 'id NODE_ID', then for SECS seconds answers
    Pings itself and hands every other frame to handle(s, env, rid). Returns
    why it ended: 'time is up' or 'connection ended: ...'."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    print("id %s" % node_id_b32(cert), flush=True)
    end = time.monotonic() + float(secs)
    try:
        while time.monotonic() < end:
            env, _ = read_frame(s, end)
            if PING in env:
                s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
            else:
                handle(s, env, first(env, REQUEST_ID))
    except socket.timeout:
        pass
    except (EOFError, OSError, ssl.SSLError) as e:
        return "connection ended: %s" % (e or type(e).__name__)
    return "time is up"


def cmd_liar(addr, ca, key, cert, secs):
    """A member that lies: every Have is answered 'all of them', every GetChunk
    with a Chunk of the right id and wrong bytes, PutChunk and Fetch with Error.
    Prints 'id NODE_ID' once in, then one line per lie; ends after SECS seconds
    (or when the daemon hangs up) with a summary; exit 0 when it got in."""
    n = {"lies": 0, "haves": 0, "refused": 0}

    def handle(s, env, rid):
        if GET_CHUNK in env:
            cid = first(decode(env[GET_CHUNK][0]), 1, b"")
            junk = os.urandom(4096)
            s.sendall(frame(field_int(REQUEST_ID, rid) + field_int(PAYLOAD_LEN, len(junk)) +
                            field_bytes(CHUNK, field_bytes(1, cid)), junk))
            n["lies"] += 1
            print("lied about %s" % cid.hex(), flush=True)
        elif HAVE in env:
            print("claimed %d chunks" % claim_all(s, rid, env), flush=True)
            n["haves"] += 1
        elif PUT_CHUNK in env:
            s.sendall(error_frame(rid, NO_SPACE, b"no space here"))
            n["refused"] += 1
        elif FETCH in env:
            s.sendall(error_frame(rid, REFUSED, b"not fetching"))
            n["refused"] += 1

    why = serve_as_member(addr, ca, key, cert, secs, handle)
    print("lied %d GetChunk, %d Have, refused %d; %s" % (n["lies"], n["haves"], n["refused"], why),
          flush=True)
    return 0


def cmd_staller(addr, ca, key, cert, secs):
    """A member that claims every chunk (Have: all of them) and then never
    sends one: GetChunk goes unanswered, while Pings are answered so it stays
    up. Prints 'id NODE_ID' once in, 'stalled ID' per GetChunk; ends after SECS
    seconds (or when the daemon hangs up) with a count; exit 0 when it got in."""
    n = {"stalled": 0}

    def handle(s, env, rid):
        if GET_CHUNK in env:
            n["stalled"] += 1
            print("stalled %s" % first(decode(env[GET_CHUNK][0]), 1, b"").hex(), flush=True)
        elif HAVE in env:
            claim_all(s, rid, env)

    serve_as_member(addr, ca, key, cert, secs, handle)
    print("stalled %d GetChunk" % n["stalled"], flush=True)
    return 0


def cmd_putbad(addr, ca, key, cert):
    """PutChunk whose bytes do not hash to its id: wants Error CORRUPT; then, on the
    same connection, a right one: wants PutAck. Prints the ids involved."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    deadline = time.monotonic() + WAIT
    payload = os.urandom(1000)
    claimed = hashlib.sha256(os.urandom(1000)).digest()
    print("claimed-id %s" % claimed.hex())
    print("payload-id %s" % hashlib.sha256(payload).hexdigest(), flush=True)
    s.sendall(frame(put_chunk_header(9, claimed, len(payload)), payload))
    env, _ = answer(s, 9, deadline)
    code = first(decode(env[ERROR][0]), 1) if ERROR in env else None
    if code != CORRUPT:
        print("bad bytes: %s (wanted Error %d)" % (describe(env), CORRUPT))
        return 1
    print("bad bytes: Error CORRUPT", flush=True)
    good = os.urandom(2000)
    gid = hashlib.sha256(good).digest()
    s.sendall(frame(put_chunk_header(10, gid, len(good)), good))
    env, _ = answer(s, 10, deadline)
    if PUT_ACK not in env or first(decode(env[PUT_ACK][0]), 1, b"") != gid:
        print("right bytes: %s (wanted PutAck)" % describe(env))
        return 1
    print("stored-id %s" % gid.hex())
    print("right bytes: PutAck")
    return 0


def cmd_putbig(addr, ca, key, cert):
    """PutChunk of exactly 4 MiB + 16 bytes: wants PutAck; then a header naming
    4 MiB + 17 payload bytes: wants the daemon to hang up."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    deadline = time.monotonic() + 2 * WAIT
    big = os.urandom(PAYLOAD_MAX)
    bid = hashlib.sha256(big).digest()
    s.sendall(frame(put_chunk_header(12, bid, len(big)), big))
    env, _ = answer(s, 12, deadline)
    if PUT_ACK not in env:
        print("%d bytes: %s (wanted PutAck)" % (PAYLOAD_MAX, describe(env)))
        return 1
    print("stored-id %s" % bid.hex())
    print("%d bytes: PutAck" % PAYLOAD_MAX, flush=True)
    over = os.urandom(PAYLOAD_MAX + 1)
    start = time.monotonic()
    try:
        s.sendall(frame(put_chunk_header(13, hashlib.sha256(over).digest(), len(over))) + over[:65536])
    except (OSError, ssl.SSLError):
        pass
    if wait_closed(s, start + WAIT):
        print("%d bytes: disconnected after %.2f s" % (PAYLOAD_MAX + 1, time.monotonic() - start))
        return 0
    print("%d bytes: still connected after %.0f s" % (PAYLOAD_MAX + 1, WAIT))
    return 1


def cmd_putflood(addr, ca, key, cert, count, size, replicas, idsfile):
    """Pushes COUNT chunks of SIZE random bytes, each asking for REPLICAS copies,
    one after another; writes the ids it pushed to IDSFILE (hex, one a line) and
    prints 'acked A refused R no_space S busy B other O'; exit 0 when every
    PutChunk was answered."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    tally = {"acked": 0, "refused": 0, "no_space": 0, "busy": 0, "other": 0}
    with open(idsfile, "w") as ids:
        for i in range(int(count)):
            data = os.urandom(int(size))
            cid = hashlib.sha256(data).digest()
            ids.write(cid.hex() + "\n")
            rid = 100 + i
            s.sendall(frame(put_chunk_header(rid, cid, len(data), int(replicas)), data))
            env, _ = answer(s, rid, time.monotonic() + 4 * WAIT)
            code = first(decode(env[ERROR][0]), 1) if ERROR in env else None
            key_ = ("acked" if PUT_ACK in env else "refused" if code == REFUSED else
                    "no_space" if code == NO_SPACE else "busy" if code == TOO_BUSY else "other")
            tally[key_] += 1
    print(" ".join("%s %d" % kv for kv in tally.items()), flush=True)
    return 0


def cmd_catalog_forged(addr, ca, key, cert, *signed_hex):
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    der = ssl.PEM_cert_to_DER_cert(open(cert).read())
    forged = "forged-" + os.urandom(4).hex()
    # (a) this member's own certificate, a well-formed entry, a signature of random bytes.
    wrong_sig = catalog_entry(der, forged, 1, random_capability(), int(time.time() * 1e6),
                              os.urandom(64))
    frames = [frame(catalog_delta([wrong_sig]))]
    bad = {forged}
    # (b) entries signed elsewhere (catsign), sent as they are.
    for h in signed_hex:
        env = bytes.fromhex(h)
        bad.update(delta_names(decode(env)))
        frames.append(frame(env))
    nonce = int.from_bytes(os.urandom(4), "big") | 1
    frames.append(frame(field_bytes(CATALOG_REQUEST, b"")))
    frames.append(frame(ping(nonce)))
    s.sendall(b"".join(frames))
    deadline = time.monotonic() + WAIT
    listed = []
    try:
        while True:
            env, _ = read_frame(s, deadline)
            if PING in env:
                s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
            elif ERROR in env:
                print("the daemon sent Error %d: %s" % (
                    first(decode(env[ERROR][0]), 1), first(decode(env[ERROR][0]), 2, b"")))
                return 1
            elif CATALOG_DELTA in env:
                listed += delta_names(env)
            elif PONG in env and first(decode(env[PONG][0]), 1) == nonce:
                break
    except (EOFError, OSError, ssl.SSLError) as e:
        print("sent %d forged entries; the daemon hung up: %s" % (len(bad), e))
        return 1
    taken = sorted(bad.intersection(listed))
    if taken:
        print("the daemon's catalog holds forged entries: %s" % ", ".join(taken))
        return 1
    print("sent %d forged entries (%s); still connected, Pong received; none of them among "
          "the %d entries the daemon sent back" % (len(bad), ", ".join(sorted(bad)), len(listed)))
    return 0


def cmd_catalog_send(addr, ca, key, cert, path):
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    frames = [frame(bytes.fromhex(line.strip())) for line in open(path) if line.strip()]
    nonce = int.from_bytes(os.urandom(4), "big") | 1
    start = time.monotonic()
    try:
        s.sendall(b"".join(frames) + frame(ping(nonce)))
        deadline = time.monotonic() + 4 * WAIT
        while True:
            env, _ = read_frame(s, deadline)
            if PING in env:
                s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
            elif PONG in env and first(decode(env[PONG][0]), 1) == nonce:
                break
    except (EOFError, OSError, ssl.SSLError) as e:
        print("sent %d frames; the daemon hung up: %s" % (len(frames), e))
        return 1
    print("sent %d frames; Pong after %.2f s" % (len(frames), time.monotonic() - start))
    return 0


def cmd_getchunk_expect(addr, ca, key, cert, id_hex, want):
    """As a member, GetChunk for ID_HEX; prints what came back (not_found, chunk,
    bad-chunk, error N, or how the connection ended); exit 0 when it is WANT."""
    if want not in ("not_found", "chunk"):
        sys.exit("hostile: getchunk-expect wants not_found or chunk, not " + want)
    cid = bytes.fromhex(id_hex)
    try:
        s = tls_connect(addr, ca, key, cert)
        greet(s, cert)
        s.sendall(frame(get_chunk(11, cid)))
        env, payload = reply(s, 11, time.monotonic() + WAIT)
    except (EOFError, OSError, ssl.SSLError) as e:
        print("GetChunk %s: no answer: %s" % (id_hex[:16], e or type(e).__name__))
        return 1
    if ERROR in env:
        code = first(decode(env[ERROR][0]), 1)
        got = "not_found" if code == NOT_FOUND else "error %d" % code
    elif first(decode(env[CHUNK][0]), 1, b"") == cid and hashlib.sha256(payload).digest() == cid:
        got = "chunk"
    else:
        got = "bad-chunk"
    print("GetChunk %s: %s (%d bytes); wanted %s" % (id_hex[:16], got, len(payload), want))
    return 0 if got == want else 1


# ---- peer exchange (tests/cli/test_net_gossip.sh) -------------------------------------------
PEERS_MAX = 256  # members in one Peers message (WIRE_MEMBERS_MAX, src/net/wire.h)
SINKS = 16


def peers_frame(members):
    """A Peers Envelope of (node id, address, last_seen) triples."""
    body = b"".join(field_bytes(1, field_bytes(1, nid) + field_bytes(2, addr.encode()) +
                                field_int(3, seen)) for nid, addr, seen in members)
    return field_bytes(PEERS, body)


def cmd_gossip(addr, ca, key, cert, count, secs):
    count, secs = int(count), float(secs)
    sinks = []
    for _ in range(SINKS):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(1024)
        ls.setblocking(False)
        sinks.append(ls)
    ports = [ls.getsockname()[1] for ls in sinks]
    now = int(time.time())
    members = [(os.urandom(32), "127.0.0.1:%d" % ports[i % SINKS], now) for i in range(count)]
    frames = [frame(peers_frame(members[i:i + PEERS_MAX])) for i in range(0, count, PEERS_MAX)]
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    nonce = int.from_bytes(os.urandom(4), "big") | 1
    start = time.monotonic()
    try:
        s.sendall(b"".join(frames) + frame(ping(nonce)))
        deadline = start + WAIT
        while True:
            env, _ = read_frame(s, deadline)
            if PING in env:
                s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
            elif PONG in env and first(decode(env[PONG][0]), 1) == nonce:
                break
    except (EOFError, OSError, ssl.SSLError) as e:
        print("sent %d ids in %d Peers frames; no Pong: %s" % (count, len(frames), e or type(e).__name__))
        return 1
    print("sent %d ids in %d Peers frames; Pong after %.2f s" % (count, len(frames), time.monotonic() - start),
          flush=True)
    # Counted from the first frame: the daemon may dial as soon as it reads one.
    dials, per_second = 0, [0] * (int(secs) + 1)
    while time.monotonic() - start < secs:
        ready, _, _ = select.select(sinks, [], [], 0.05)
        for ls in ready:
            while True:
                try:
                    conn, _ = ls.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.close()
                dials += 1
                per_second[min(int(time.monotonic() - start), len(per_second) - 1)] += 1
    print("dials %d in %.0f s (per second: %s)" % (dials, secs, " ".join(map(str, per_second[:int(secs)]))))
    return 0


# ---- frame lengths over the cap (tests/cli/test_net_frames.sh) ---------------------------
FRAME_HEADER_MAX = 64 * 1024  # the longest frame header (src/net/frame.h)


def cmd_oversize(addr, ca, key, cert, length, secs):
    """As a member, after Hello: the 4 bytes of a frame length LENGTH, split over two
    TLS records (so the daemon must put the length together), and nothing after them.
    Prints this end's address and how soon the daemon hung up; exit 0 when it did
    within SECS of the last byte."""
    length, secs = int(length, 0), float(secs)
    if not FRAME_HEADER_MAX < length < 1 << 32:
        sys.exit("hostile: oversize wants a length over %d that fits 32 bits" % FRAME_HEADER_MAX)
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    print("from %s:%d" % s.getsockname()[:2], flush=True)
    announced = struct.pack(">I", length)
    s.sendall(announced[:2])
    time.sleep(0.05)
    s.sendall(announced[2:])
    start = time.monotonic()
    if wait_closed(s, start + secs):
        print("length %d: disconnected after %.2f s" % (length, time.monotonic() - start))
        return 0
    print("length %d: still connected after %.2f s" % (length, secs))
    return 1


def b32_id(text):
    return base64.b32decode(text.upper() + "====")


def cmd_revoke_forged(addr, ca, key, cert, victim):
    """A member forging the CA's word: the daemon must hang up on it."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    rev = (field_bytes(1, b32_id(victim)) + field_int(2, int(time.time())) +
           field_bytes(3, b"forged") + field_bytes(4, os.urandom(64)))
    s.sendall(frame(field_bytes(REVOCATIONS, field_bytes(1, rev))))
    start = time.monotonic()
    if wait_closed(s, start + WAIT):
        print("forged revocation: disconnected after %.2f s" % (time.monotonic() - start))
        return 0
    print("forged revocation: still connected after %.0f s" % WAIT)
    return 1


def cmd_no_hello(addr, ca, key, cert):
    """Refused after the handshake: only Revocations (and an Error), then the close."""
    start = time.monotonic()
    try:
        s = tls_connect(addr, ca, key, cert)
        s.sendall(frame(hello(node_id(cert))))
        while True:
            env, _ = read_frame(s, start + WAIT)
            if HELLO in env:
                print("accepted: the daemon said Hello")
                return 1
    except (EOFError, OSError, ssl.SSLError) as e:
        print("refused after %.2f s: %s" % (time.monotonic() - start, e))
        return 0


def cmd_forget_up(addr, ca, key, cert, victim):
    """A member asking to forget a member that is up: ignored, the link kept."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    s.sendall(frame(field_bytes(FORGET, field_bytes(1, b32_id(victim)))))
    s.sendall(frame(ping(77)))
    deadline = time.monotonic() + WAIT
    try:
        while True:
            env, _ = read_frame(s, deadline)
            if PONG in env and first(decode(env[PONG][0]), 1) == 77:
                print("forget of a member up: link kept, Pong")
                return 0
    except (EOFError, OSError, ssl.SSLError) as e:
        print("forget of a member up: %s" % e)
        return 1


def cmd_idle(addr, ca, key, cert, secs):
    """As a member: Hello, then nothing. Exit 0 when the daemon is still connected
    SECS later (a member is not dropped that soon for keeping quiet)."""
    s = tls_connect(addr, ca, key, cert)
    greet(s, cert)
    start = time.monotonic()
    if wait_closed(s, start + float(secs)):
        print("silent after Hello: disconnected after %.2f s" % (time.monotonic() - start))
        return 1
    print("silent after Hello: still connected after %s s" % secs)
    return 0


# ---- collaborative folders (tests/cli/test_folder_hostile.sh) -------------------------------
FOLDER_HELLO, FOLDER_BATCHES = 32, 33
PROTOCOL = 1  # Error code
FOLDER_HAVE_MAX = 1024  # authors in one FolderHello (src/proto/folder.h)


def b32(b):
    return base64.b32encode(b).decode().rstrip("=").lower()


def b32_decode(text):
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def hkdf_sha256(ikm, info, length):
    """RFC 5869 without a salt (HashLen zeros), as src/crypto/hash.c asks OpenSSL."""
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + t, i + 1
    return out[:length]


def folder_invite(text):
    """(id, secret) of an invite: "shoal-folder:" then base32 of id || secret || label."""
    prefix = "shoal-folder:"
    if not text.startswith(prefix):
        sys.exit("hostile: not an invite: " + text)
    raw = b32_decode(text[len(prefix):])
    return raw[:16], raw[16:48]


def folder_proof(fid, secret, frm, to):
    """src/proto/folder.c: HMAC-SHA256 under the index key (HKDF of the secret,
    info "shoal folder index v1 <id as text>") of "shoal folder proof v1" || id ||
    from || to."""
    key = hkdf_sha256(secret, ("shoal folder index v1 " + b32(fid)).encode(), 32)
    return hmac.new(key, b"shoal folder proof v1" + fid + frm + to, hashlib.sha256).digest()


def folder_hello(fid, proof, haves=()):
    body = field_bytes(1, fid) + field_bytes(2, proof)
    for author, index_id, seq in haves:
        body += field_bytes(3, field_bytes(1, author) + field_int(2, index_id) + field_int(3, seq))
    return field_bytes(FOLDER_HELLO, body)


def folder_batches(fid, proof, sizes, payload_len, more=False):
    body = field_bytes(1, fid) + field_bytes(2, proof) + b"".join(field_int(3, n) for n in sizes)
    if more:
        body += field_int(4, 1)
    return field_int(PAYLOAD_LEN, payload_len) + field_bytes(FOLDER_BATCHES, body)


def greet_peer(s, cert):
    """greet(), and the daemon's node id (its certificate's)."""
    greet(s, cert)
    der = s.getpeercert(binary_form=True)
    spki = bytes.fromhex("302a300506032b6570032100")
    at = der.find(spki)
    return hashlib.sha256(der[at + len(spki):at + len(spki) + 32]).digest()


def read_hex(path):
    return bytes.fromhex(open(path).readline().strip())


def until_pong(s, nonce, deadline, seen):
    """Reads frames (answering Pings, noting each kind in seen) until Pong nonce.
    Returns the FolderBatches frames seen meanwhile."""
    got = []
    while True:
        env, payload = read_frame(s, deadline)
        seen.append(folder_kind(env))
        if PING in env:
            s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
        elif FOLDER_BATCHES in env:
            got.append((decode(env[FOLDER_BATCHES][0]), payload))
        elif ERROR in env:
            raise EOFError("Error %d: %s" % (first(decode(env[ERROR][0]), 1),
                                             first(decode(env[ERROR][0]), 2, b"").decode(errors="replace")))
        elif PONG in env and first(decode(env[PONG][0]), 1) == nonce:
            return got


def folder_kind(env):
    if FOLDER_HELLO in env:
        h = decode(env[FOLDER_HELLO][0])
        # A probe carries the proof alone; "named" when it says a folder id
        # or what its sender holds.
        return "FolderHello[named]" if first(h, 1, b"") or h.get(3) else "FolderHello[probe]"
    if FOLDER_BATCHES in env:
        return "FolderBatches"
    return kind(env)


def folder_batches_within(s, secs, seen):
    """Reads for secs seconds (answering Pings); the FolderBatches frames seen."""
    got, end = [], time.monotonic() + secs
    try:
        while True:
            env, payload = read_frame(s, end)
            seen.append(folder_kind(env))
            if PING in env:
                s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
            elif FOLDER_BATCHES in env:
                got.append((decode(env[FOLDER_BATCHES][0]), payload))
    except socket.timeout:
        pass
    return got


def hung_up(s, deadline):
    """Reads frames until the daemon hangs up: (True, what ended it), or (False, why not)."""
    seen = []
    try:
        while True:
            env, _ = read_frame(s, deadline)
            if PING in env:
                s.sendall(frame(pong(first(decode(env[PING][0]), 1))))
            if ERROR in env:
                e = decode(env[ERROR][0])
                seen.append("Error %d (%s)" % (first(e, 1), first(e, 2, b"").decode(errors="replace")))
            else:
                seen.append(folder_kind(env))
    except socket.timeout:
        return False, "still connected; frames: " + " ".join(seen[-8:])
    except (EOFError, OSError, ssl.SSLError) as e:
        errs = [x for x in seen if x.startswith("Error")]
        return True, "closed (%s)%s" % (e or type(e).__name__, "; " + errs[-1] if errs else "")


def cmd_folder_stranger(addr, ca, key, cert, folder_id, hexfile):
    fid = b32_decode(folder_id)
    batch = read_hex(hexfile)
    me = node_id(cert)
    s = tls_connect(addr, ca, key, cert)
    greet_peer(s, cert)
    nonce = int.from_bytes(os.urandom(4), "big") | 1
    # Claims to hold a lot of itself, to make the daemon ask; a proof of random bytes.
    s.sendall(frame(folder_hello(fid, os.urandom(32), [(me, 1, 1000)])) +
              frame(folder_batches(fid, os.urandom(32), [len(batch)], len(batch)), batch) +
              frame(ping(nonce)))
    seen = []
    try:
        got = until_pong(s, nonce, time.monotonic() + WAIT, seen)
        print("wrong proofs sent; Pong came back", flush=True)
        got += folder_batches_within(s, 2.0, seen)
    except (EOFError, OSError, ssl.SSLError) as e:
        print("wrong proofs sent; the daemon hung up: %s (frames: %s)" % (e or type(e).__name__, " ".join(seen)))
        return 1
    print("frames from the daemon: %s" % " ".join(seen))
    if got:
        print("the daemon sent %d FolderBatches (%d bytes) to a node without the secret" %
              (len(got), sum(len(p) for _, p in got)))
        return 1
    if "FolderHello[named]" in seen:
        print("the daemon named a folder, or what it holds, to a node without the secret")
        return 1
    if "FolderHello[probe]" not in seen:
        print("the daemon sent no probe at all")
        return 1
    print("no FolderBatches in 2 s, only probes naming nothing; still connected")
    return 0


def cmd_folder_member(addr, ca, key, cert, invite, how, hexfile=None):
    fid, secret = folder_invite(invite)
    me = node_id(cert)
    s = tls_connect(addr, ca, key, cert)
    them = greet_peer(s, cert)
    proof = folder_proof(fid, secret, me, them)
    nonce = int.from_bytes(os.urandom(4), "big") | 1
    seen = []
    start = time.monotonic()
    try:
        if how == "hello":
            s.sendall(frame(folder_hello(fid, proof)))
            got = []
            while not got and time.monotonic() < start + WAIT:
                got = folder_batches_within(s, 0.5, seen)
            want = folder_proof(fid, secret, them, me)
            good = [m for m, _ in got if first(m, 2, b"") == want]
            print("hello with the right proof: %d FolderBatches back (%d with the daemon's right "
                  "proof, %d batches)" % (len(got), len(good), sum(len(m.get(3, [])) for m in good)))
            return 0 if good else 1
        if how.startswith("haves-"):
            haves = [(os.urandom(32), 1, 1) for _ in range(int(how[6:]))]
            s.sendall(frame(folder_hello(fid, proof, haves)) + frame(ping(nonce)))
            until_pong(s, nonce, start + WAIT, seen)
            print("a hello of %d haves: still connected, Pong" % len(haves))
            return 0
        if how in ("send", "stall"):
            batch = read_hex(hexfile)
            more = how == "stall"
            s.sendall(frame(folder_batches(fid, proof, [len(batch)], len(batch), more), batch) +
                      frame(ping(nonce)))
            until_pong(s, nonce, start + WAIT, seen)
            if more:
                folder_batches_within(s, 12.0, seen)
            print("batch of %d bytes sent%s: still connected, Pong" %
                  (len(batch), ", more promised, none sent for 12 s" if more else ""))
            return 0
    except (EOFError, OSError, ssl.SSLError) as e:
        print("%s: the daemon hung up: %s (frames: %s)" % (how, e or type(e).__name__, " ".join(seen)))
        return 1
    if how == "forged":
        batch = read_hex(hexfile)
        msg = frame(folder_batches(fid, proof, [len(batch)], len(batch)), batch)
    elif how == "badsizes":
        # A batch (HEXFILE's, else random bytes) and 16 bytes more than sizes say.
        batch = read_hex(hexfile) if hexfile else os.urandom(100)
        payload = batch + os.urandom(16)
        msg = frame(folder_batches(fid, proof, [len(batch)], len(payload)), payload)
    elif how == "bighello":
        msg = frame(folder_hello(fid, proof, [(os.urandom(32), 1, 1) for _ in range(FOLDER_HAVE_MAX + 1)]))
    else:
        sys.exit("hostile: folder-member: no such HOW: " + how)
    try:
        s.sendall(msg)
    except (OSError, ssl.SSLError):
        pass
    closed, what = hung_up(s, start + WAIT)
    print("%s: %s after %.2f s" % (how, what, time.monotonic() - start))
    return 0 if closed else 1


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd.replace("hello-", "") in MISBEHAVIOURS:
        return cmd_misbehave(cmd, *args)
    fn = globals().get("cmd_" + cmd.replace("-", "_"))
    if not fn:
        sys.exit(__doc__)
    return fn(*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
