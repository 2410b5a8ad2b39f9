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

Frames are a 4-byte big-endian length, an Envelope (proto/shoal.proto), then
Envelope.payload_len raw bytes. Protobuf is encoded and decoded by hand.
"""
import hashlib
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
             CHUNK: "Chunk", ERROR: "Error"}
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
    """Sends Hello; reads the daemon's Hello (it speaks first)."""
    s.sendall(frame(hello(node_id(cert), version)))
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


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd.replace("hello-", "") in MISBEHAVIOURS:
        return cmd_misbehave(cmd, *args)
    fn = globals().get("cmd_" + cmd)
    if not fn:
        sys.exit(__doc__)
    return fn(*args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
