#!/usr/bin/env python3
"""Writes the adversarial captures of issue 13 (raw-IP classic pcap,
link type 101), each one shape of hostile traffic at a chosen size.

usage: python3 benches/adversarial.py CASE N OUT.pcap

CASE:
  syns        N connections of one SYN each, never answered
  holes       N connections, each sending 2000 bytes with a 1000-byte hole
  http        N HTTP/1.1 connections, each with its own PHPSESSID
  stillclock  N connections (handshake, one request) that all share one
              timestamp
  ticketchain N TLS 1.2 connections, each resuming the ticket the previous
              one got (the first is a full handshake)
  tls         N full TLS 1.2 handshakes (ClientHello .. Finished)

Each connection uses its own client address and port, so none collide.
The facts each case must give are checked by benches/adversarial.sh.
"""

import struct
import sys

BASE_TS = 1_700_000_000


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 20)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 101))
        self.usec = 0

    def packet(self, data, tick=True):
        if tick:
            self.usec += 10
        sec, usec = divmod(self.usec, 1_000_000)
        self.f.write(struct.pack("<IIII", BASE_TS + sec, usec, len(data), len(data)))
        self.f.write(data)

    def close(self):
        self.f.close()


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def segment(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def addr(i):
    """A distinct client (address, port) for connection i."""
    return bytes([10, 64 + (i >> 16) % 64, (i >> 8) & 0xFF, i & 0xFF]), 1024 + i % 60000


SERVER = bytes([192, 0, 2, 1])


class Conn:
    """One connection's sequence numbers, written to `out`."""

    def __init__(self, out, i, dport, tick=True):
        self.out, self.tick = out, tick
        self.c, self.cp = addr(i)
        self.dport = dport
        self.cseq, self.sseq = 1000, 5000

    def syn(self):
        self.out.packet(segment(self.c, SERVER, self.cp, self.dport, self.cseq, 0, SYN), self.tick)
        self.cseq += 1

    def handshake(self):
        self.syn()
        self.out.packet(segment(SERVER, self.c, self.dport, self.cp, self.sseq, self.cseq, SYN | ACK), self.tick)
        self.sseq += 1
        self.out.packet(segment(self.c, SERVER, self.cp, self.dport, self.cseq, self.sseq, ACK), self.tick)

    def send(self, client, payload, skip=0):
        if client:
            self.cseq += skip
            p = segment(self.c, SERVER, self.cp, self.dport, self.cseq, self.sseq, ACK | PSH, payload)
            self.cseq += len(payload)
        else:
            self.sseq += skip
            p = segment(SERVER, self.c, self.dport, self.cp, self.sseq, self.cseq, ACK | PSH, payload)
            self.sseq += len(payload)
        self.out.packet(p, self.tick)

    def close(self):
        self.out.packet(segment(self.c, SERVER, self.cp, self.dport, self.cseq, self.sseq, FIN | ACK), self.tick)
        self.cseq += 1
        self.out.packet(segment(SERVER, self.c, self.dport, self.cp, self.sseq, self.cseq, FIN | ACK), self.tick)
        self.sseq += 1
        self.out.packet(segment(self.c, SERVER, self.cp, self.dport, self.cseq, self.sseq, ACK), self.tick)


def record(kind, body):
    return struct.pack("!BHH", kind, 0x0303, len(body)) + body


def hs(kind, body):
    return struct.pack("!B", kind) + len(body).to_bytes(3, "big") + body


def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(i, ticket):
    sni = b"chain.example"
    sni_ext = ext(0, struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni)
    exts = sni_ext + ext(0x0023, ticket)
    sid = struct.pack("!I", i) * 8 if ticket else b""
    body = (struct.pack("!H", 0x0303) + bytes(32) + bytes([len(sid)]) + sid
            + struct.pack("!HH", 2, 0xC02F) + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    return record(22, hs(1, body))


def server_flight(i, full, sid):
    hello = (struct.pack("!H", 0x0303) + bytes(32) + bytes([len(sid)]) + sid
             + struct.pack("!H", 0xC02F) + b"\x00")
    exts = ext(0x0023, b"")
    hello += struct.pack("!H", len(exts)) + exts
    msgs = hs(2, hello)
    if full:
        cert = bytes(64)
        msgs += hs(11, (len(cert) + 3).to_bytes(3, "big") + len(cert).to_bytes(3, "big") + cert)
        msgs += hs(14, b"")
    ticket = b"T" + struct.pack("!I", i) + bytes(27)
    msgs += hs(4, struct.pack("!IH", 7200, len(ticket)) + ticket)
    return record(22, msgs) + record(20, b"\x01") + record(22, bytes(40)), ticket


def main():
    case, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    p = Pcap(out)
    if case == "syns":
        for i in range(n):
            Conn(p, i, 80).syn()
    elif case == "holes":
        for i in range(n):
            c = Conn(p, i, 80)
            c.handshake()
            c.send(True, b"a" * 500)
            c.send(True, b"b" * 500, skip=1000)
    elif case == "http":
        for i in range(n):
            c = Conn(p, i, 80)
            c.handshake()
            c.send(True, b"GET /page HTTP/1.1\r\nHost: app.example\r\nCookie: PHPSESSID=%032x\r\n\r\n" % i)
            c.send(False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            c.close()
    elif case == "stillclock":
        for i in range(n):
            c = Conn(p, i, 80, tick=False)
            c.handshake()
            c.send(True, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    elif case in ("ticketchain", "tls"):
        ticket = b""
        for i in range(n):
            c = Conn(p, i, 443)
            c.handshake()
            offered = ticket if case == "ticketchain" else b""
            full = not offered
            c.send(True, client_hello(i, offered))
            sid = struct.pack("!I", i) * 8 if offered else bytes([i & 0xFF]) * 32
            flight, ticket = server_flight(i, full, sid)
            c.send(False, flight)
            c.send(True, record(20, b"\x01") + record(22, bytes(40)))
            c.close()
    else:
        sys.exit("unknown case " + case)
    p.close()


if __name__ == "__main__":
    main()
