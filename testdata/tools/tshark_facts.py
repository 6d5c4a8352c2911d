#!/usr/bin/env python3
"""Derive ground-truth TCP connection facts for a capture file using tshark.

Usage:
    python3 testdata/tools/tshark_facts.py CAPTURE > facts.json

Prints JSON of the form

    {"capture": "capture.pcap", "tool": "tshark 4.0.17", "packets": N,
     "tcp_connections": K,
     "connections": [
        {"stream": 0, "client": "127.0.0.1:41234", "server": "127.0.0.1:8765",
         "packets": {"client": 6, "server": 5},
         "payload_bytes": {"client": 80, "server": 1200},
         "syn": true, "fin": true, "rst": false,
         "first_time": "1795858695.744324000",
         "last_time": "1795858695.748466000"}, ...]}

Definitions
  * one connection per tshark tcp.stream index, ordered by tcp.stream
    (= order of the connection's first packet in the file);
  * client = sender of the first SYN-without-ACK in the stream, otherwise
    the sender of the stream's first packet; server = the other endpoint;
  * addresses are "ip:port", IPv6 as "[addr]:port";
  * packets = number of TCP packets per direction;
  * payload_bytes = sum of tcp.len per direction (equals unique bytes only
    when the capture has no retransmissions; see tcp.analysis check below);
  * syn / fin / rst = a packet with that flag was seen in either direction;
  * first_time / last_time = frame.time_epoch (string, as printed by tshark,
    always 9 decimals) of the stream's first and last packet (extra fields
    beyond the minimal schema; ignore them if not needed).

Besides printing the JSON, the script cross-checks the connection list
against `tshark -q -z conv,tcp` (endpoint pairs and per-direction frame
counts) and counts packets matching the display filter `tcp.analysis.flags`
(retransmissions, lost segments, dup acks, ...).  Results go to stderr; the
exit status is 1 if the conversation table disagrees.
"""
import json
import os
import re
import sys

FIELDS = [
    "frame.number",
    "tcp.stream",
    "frame.time_epoch",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.fin",
    "tcp.flags.reset",
]


from tshark_util import tshark


def tshark_version():
    first = tshark(["--version"]).splitlines()[0]
    m = re.search(r"TShark \(Wireshark\) (\S+?)(?:\s|\.?$)", first)
    ver = m.group(1) if m else first
    ver = ver.rstrip(".")
    return "tshark " + ver


def flag(v):
    v = v.strip()
    return v in ("1", "True", "true")


def endpoint(ip4, ip6, port):
    if ip4:
        return "%s:%s" % (ip4, port)
    return "[%s]:%s" % (ip6, port)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    path = sys.argv[1]

    cmd = ["-r", path, "-n",
           "-o", "tcp.relative_sequence_numbers:FALSE",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = tshark(cmd)

    total_packets = 0
    streams = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        total_packets += 1
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        rec = dict(zip(FIELDS, cols))
        if rec["tcp.stream"] == "":
            continue  # not TCP
        sid = int(rec["tcp.stream"])
        src = endpoint(rec["ip.src"], rec["ipv6.src"], rec["tcp.srcport"])
        dst = endpoint(rec["ip.dst"], rec["ipv6.dst"], rec["tcp.dstport"])
        pkt = {
            "src": src,
            "dst": dst,
            "time": rec["frame.time_epoch"],
            "len": int(rec["tcp.len"] or 0),
            "syn": flag(rec["tcp.flags.syn"]),
            "ack": flag(rec["tcp.flags.ack"]),
            "fin": flag(rec["tcp.flags.fin"]),
            "rst": flag(rec["tcp.flags.reset"]),
        }
        streams.setdefault(sid, []).append(pkt)

    conns = []
    for sid in sorted(streams):
        pkts = streams[sid]
        client = None
        for p in pkts:
            if p["syn"] and not p["ack"]:
                client, server = p["src"], p["dst"]
                break
        if client is None:
            client, server = pkts[0]["src"], pkts[0]["dst"]
        c = {
            "stream": sid,
            "client": client,
            "server": server,
            "packets": {"client": 0, "server": 0},
            "payload_bytes": {"client": 0, "server": 0},
            "syn": any(p["syn"] for p in pkts),
            "fin": any(p["fin"] for p in pkts),
            "rst": any(p["rst"] for p in pkts),
            "first_time": pkts[0]["time"],
            "last_time": pkts[-1]["time"],
        }
        for p in pkts:
            if p["src"] == client and p["dst"] == server:
                d = "client"
            elif p["src"] == server and p["dst"] == client:
                d = "server"
            else:
                raise SystemExit("stream %d: unexpected endpoints %s -> %s"
                                 % (sid, p["src"], p["dst"]))
            c["packets"][d] += 1
            c["payload_bytes"][d] += p["len"]
        conns.append(c)

    facts = {
        "capture": os.path.basename(path),
        "tool": tshark_version(),
        "packets": total_packets,
        "tcp_connections": len(conns),
        "connections": conns,
    }
    print(json.dumps(facts, indent=2))

    ok = cross_check(path, conns)
    analysis = tshark(["-r", path, "-n", "-Y", "tcp.analysis.flags"])
    n_analysis = len([l for l in analysis.splitlines() if l.strip()])
    sys.stderr.write("tcp.analysis.flags packets: %d\n" % n_analysis)
    if n_analysis:
        sys.stderr.write(analysis)
    sys.exit(0 if ok else 1)


def norm_conv_addr(a):
    """conv,tcp prints 'addr:port' (IPv6 without brackets)."""
    host, port = a.rsplit(":", 1)
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "%s:%s" % (host, port)


def cross_check(path, conns):
    out = tshark(["-r", path, "-n", "-q", "-z", "conv,tcp"])
    rows = []
    for line in out.splitlines():
        if "<->" not in line:
            continue
        left, right = line.split("<->", 1)
        a = norm_conv_addr(left.strip())
        parts = right.split()
        b = norm_conv_addr(parts[0])
        # columns after B: <- frames, bytes[, unit], -> frames, bytes[, unit]...
        nums = []
        i = 1
        while i < len(parts) and len(nums) < 2:
            nums.append(int(parts[i]))
            i += 1
            # skip "bytes" or value+unit ("1234 bytes" / "1,2 kB")
            i += 1
            if i < len(parts) and parts[i] in ("bytes", "kB", "MB", "GB"):
                i += 1
        b_to_a, a_to_b = nums
        rows.append((a, b, a_to_b, b_to_a))

    conv = {}
    for a, b, ab, ba in rows:
        conv[frozenset((a, b))] = {a: ab, b: ba}
    mine = {}
    for c in conns:
        mine[frozenset((c["client"], c["server"]))] = {
            c["client"]: c["packets"]["client"],
            c["server"]: c["packets"]["server"],
        }
    ok = True
    if len(rows) != len(conns):
        sys.stderr.write("conv,tcp: %d conversations, facts: %d connections\n"
                         % (len(rows), len(conns)))
        ok = False
    if conv != mine:
        sys.stderr.write("conv,tcp disagrees:\n  conv=%r\n  mine=%r\n"
                         % (conv, mine))
        ok = False
    if ok:
        sys.stderr.write("conv,tcp agrees: %d conversations, same endpoints "
                         "and per-direction frame counts\n" % len(rows))
    return ok


if __name__ == "__main__":
    main()
