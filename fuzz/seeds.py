#!/usr/bin/env python3
"""Builds the fuzz targets' seed inputs from captures.

usage: python3 fuzz/seeds.py OUT [CAPTURE_DIR...]

OUT/<target>/ gets, for each target of sessmap::fuzzing:
  capture        the capture files themselves (up to 256 KiB), and a gzip of
                 the smallest ones
  decode         [link pick] + (u16 length, frame) for a classic pcap's first
                 frames
  http1, http2,  each TCP stream as a conversation (one byte: direction in
  ftp,           bit 0, length - 1 above it; then that many bytes), by what
  tls_handshake  the stream starts with; tshark's follow,tcp,raw reads them
  tls_records    [suite pick, version pick] + the server's TLS records
  keylog         key log files (up to 8 KiB)
  reassembly     a few byte strings (the target builds segments from any)

The committed corpus (fuzz/corpus) is this, run over testdata/ and the
permissively licensed sources of ../shared/corpus (PcapPlusPlus, Zeek,
tcpdump, Arkime), then minimised as fuzz/corpus/README.md says.
"""

import gzip
import hashlib
import os
import random
import struct
import subprocess
import sys

MAX_CAPTURE = 256 * 1024
MAX_STREAM = 16 * 1024
# sessmap::fuzzing::decode's LINKS, by pcap link type.
LINKS = [0, 1, 12, 14, 101, 108, 113, 228, 229, 239, 276]


def put(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def captures(dirs):
    for top in dirs:
        for root, _, files in os.walk(top):
            for f in sorted(files):
                if f.endswith((".pcap", ".pcapng", ".cap", ".pcap.gz", ".trace")):
                    yield os.path.join(root, f)


def pcap_frames(data):
    """(linktype, frames) of a classic pcap, else None."""
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    frames, at = [], 24
    while at + 16 <= len(data) and len(frames) < 64:
        caplen = struct.unpack(e + "I", data[at + 8 : at + 12])[0]
        frames.append(data[at + 16 : at + 16 + caplen])
        at += 16 + caplen
    return link, frames


def conversation(chunks):
    out = bytearray()
    for to_client, data in chunks:
        for i in range(0, len(data), 128):
            piece = data[i : i + 128]
            out.append(((len(piece) - 1) << 1) | (1 if to_client else 0))
            out += piece
            if len(out) >= MAX_STREAM:
                return bytes(out)
    return bytes(out)


def streams(path):
    """Each TCP stream of `path` as [(to_client, bytes)], via tshark."""
    try:
        n = subprocess.run(
            ["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream"],
            capture_output=True, text=True, timeout=60,
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return
    ids = sorted({int(x) for x in n if x.isdigit()})[:12]
    for sid in ids:
        try:
            text = subprocess.run(
                ["tshark", "-r", path, "-q", "-z", f"follow,tcp,raw,{sid}"],
                capture_output=True, text=True, timeout=60,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        chunks = []
        body = text.split("===================================================================")
        lines = body[1].splitlines() if len(body) > 1 else []
        for line in lines:
            hexed = line.strip()
            if not hexed or len(hexed) % 2 or any(c not in "0123456789abcdef" for c in hexed):
                continue
            chunks.append((line.startswith("\t"), bytes.fromhex(hexed)))
        if chunks:
            yield chunks


def kind(chunks):
    first = chunks[0][1]
    client = b"".join(d for c, d in chunks if not c)[:24]
    server = b"".join(d for c, d in chunks if c)[:4]
    if client.startswith(b"PRI * HTTP/2.0"):
        return "http2"
    if first[:1] == b"\x16" or client[:1] == b"\x16":
        return "tls_handshake"
    if server.startswith(b"220") or server.startswith(b"120"):
        return "ftp"
    if client.split(b" ")[0] in (b"GET", b"POST", b"HEAD", b"PUT", b"OPTIONS", b"DELETE", b"CONNECT"):
        return "http1"
    return None


def h2_frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def http2_seeds():
    """Cleartext HTTP/2 conversations (no permissive capture has one): the
    preface, SETTINGS both ways, and the header blocks of RFC 7541 C.4.1
    (a GET of www.example.com, Huffman-coded) and C.6.1 (its 302)."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    settings = h2_frame(4, 0, 0, b"")
    ack = h2_frame(4, 1, 0, b"")
    request = bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff")
    response = bytes.fromhex(
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff"
        "6e919d29ad171863c78f0b97c8e9ae82ae43d3"
    )
    cookie = b"\x40\x06cookie\x0dSID=abc123def"
    client = preface + settings + ack + h2_frame(1, 5, 1, request)
    server = settings + ack + h2_frame(1, 4, 1, response) + h2_frame(0, 1, 1, b"moved")
    yield conversation([(False, client), (True, server)])
    # The same request carrying a cookie (a literal with incremental
    # indexing, new name), split over HEADERS and CONTINUATION.
    block = request + cookie
    client = preface + settings + h2_frame(1, 1, 3, block[:9]) + h2_frame(9, 4, 3, block[9:])
    yield conversation([(False, client), (True, server.replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x03"))])


def main():
    out = sys.argv[1]
    dirs = sys.argv[2:] or ["testdata"]
    rng = random.Random(1)
    for path in captures(dirs):
        data = open(path, "rb").read()
        if len(data) <= MAX_CAPTURE:
            put(out, "capture", data)
            if len(data) <= 16 * 1024 and not path.endswith(".gz"):
                put(out, "capture", gzip.compress(data, mtime=0))
        pf = pcap_frames(data[: 4 << 20])
        if pf and pf[0] in LINKS:
            link, frames = pf
            seed = bytes([LINKS.index(link)]) + b"".join(
                struct.pack(">H", len(f)) + f for f in frames
            )
            put(out, "decode", seed[:MAX_STREAM])
        if len(data) > 4 << 20 or path.endswith(".gz"):
            continue
        for chunks in streams(path):
            k = kind(chunks)
            if k is None:
                continue
            put(out, k, conversation(chunks))
            if k == "tls_handshake":
                records = b"".join(d for c, d in chunks if c)[:MAX_STREAM]
                put(out, "tls_records", bytes([rng.randrange(256), 3]) + records)
    for root, _, files in os.walk("testdata"):
        for f in files:
            if "keylog" in f or f.endswith((".keylog", "keys.log")):
                put(out, "keylog", open(os.path.join(root, f), "rb").read()[:8192])
    for seed in http2_seeds():
        put(out, "http2", seed)
    for _ in range(8):
        put(out, "reassembly", bytes(rng.randrange(256) for _ in range(rng.randrange(16, 512))))


if __name__ == "__main__":
    main()
