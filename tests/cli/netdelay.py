#!/usr/bin/env python3
"""Delays packets by holding them in an NFQUEUE (a netem stand-in for kernels
built without sch_netem). Used by tests/cli/test_net_chaos.sh inside a network
namespace of its own, behind a rule such as

    iptables -A OUTPUT -o lo -p tcp -j NFQUEUE --queue-num 0 --queue-bypass

Each queued packet is released (NF_ACCEPT) DELAY_MS +- JITTER_MS after it was
queued, drawn uniformly per packet, so jitter also reorders packets. LOSS (a
fraction, default 0) of them are dropped instead. Only metadata is copied to
user space (the payload stays in the kernel), so the cost is a few system calls
per packet.

    netdelay.py QUEUE DELAY_MS JITTER_MS [LOSS] [SECONDS]

Prints "ready" once bound; exits after SECONDS (default 600) or on SIGTERM,
printing how many packets it delayed and dropped. The kernel drops whatever
is still queued when the socket closes; with --queue-bypass, packets are then
let through undelayed.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_GSO = 1 << 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_DROP = 0
NF_ACCEPT = 1


def attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def message(mtype, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | mtype, flags, seq, 0) + body


def config(sock, queue, attrs, seq):
    sock.send(message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
    data = sock.recv(65536)
    _, mtype, _, _, _ = struct.unpack_from("=IHHII", data, 0)
    if mtype == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", data, 16)
        if err:
            raise OSError(-err, "nfqueue config: " + os.strerror(-err))


def verdict(queue, pid, v):
    return message(NFQNL_MSG_VERDICT, queue, [attr(NFQA_VERDICT_HDR, struct.pack("!II", v, pid))])


def packet_ids(data):
    """The packet ids of every NFQNL_MSG_PACKET in one recv()."""
    off = 0
    while off + 16 <= len(data):
        n, mtype, _, _, _ = struct.unpack_from("=IHHII", data, off)
        if n < 16:
            break
        if mtype == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = off + 20
            while a + 4 <= off + n:
                alen, akind = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if akind & 0x3FFF == NFQA_PACKET_HDR:
                    yield struct.unpack_from("!I", data, a + 4)[0]
                    break
                a += (alen + 3) & ~3
        off += (n + 3) & ~3


def main():
    queue = int(sys.argv[1])
    delay = float(sys.argv[2]) / 1000
    jitter = float(sys.argv[3]) / 1000
    loss = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 600.0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    config(sock, queue, [attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))], 1)
    config(sock, queue, [attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))], 2)
    config(sock, queue, [attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 16384))], 3)
    config(sock, queue, [attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_GSO)),
                         attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_GSO))], 4)
    sock.setblocking(False)
    print("ready", flush=True)

    rng = random.Random()
    held = []  # (release time, seq, packet id)
    seq = delayed = dropped = 0
    end = time.monotonic() + seconds
    while not stop and time.monotonic() < end:
        now = time.monotonic()
        out = []
        while held and held[0][0] <= now:
            _, _, pid = heapq.heappop(held)
            out.append(verdict(queue, pid, NF_ACCEPT))
        if out:
            try:
                sock.send(b"".join(out))
            except OSError:
                pass  # a packet the kernel already let go (bypass): nothing to do
        timeout = min(0.05, max(0.0, held[0][0] - now)) if held else 0.05
        try:
            ready, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            continue
        while True:
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                break
            now = time.monotonic()
            for pid in packet_ids(data):
                if loss and rng.random() < loss:
                    dropped += 1
                    sock.send(verdict(queue, pid, NF_DROP))
                    continue
                seq += 1
                delayed += 1
                heapq.heappush(held, (now + max(0.0, delay + rng.uniform(-jitter, jitter)), seq, pid))
    # Let go of what is held (the kernel would drop it on close).
    for _, _, pid in held:
        try:
            sock.send(verdict(queue, pid, NF_ACCEPT))
        except OSError:
            pass
    print("delayed %d dropped %d" % (delayed, dropped), flush=True)


if __name__ == "__main__":
    main()
