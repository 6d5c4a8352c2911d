#!/usr/bin/env python3
"""Drop packets from a classic pcap at random, as a lossy capture point would.

    drop_packets.py IN.pcap OUT.pcap --rate 0.005 --seed 1 [--log DROPPED.txt]
    drop_packets.py IN.pcap OUT.pcap --drop 13,57 [--log DROPPED.txt]

Each record is skipped with probability RATE, decided by Python's Mersenne
Twister seeded with SEED (random.Random(seed).random() per record, in file
order), so one (capture, rate, seed) always gives the same file. --drop
drops the records with these indices (0-based) instead. The global
header and every kept record are copied byte for byte.

With --log, one line per dropped record: its index (0-based), time, the TCP
endpoints and flags, the payload length and the payload's first bytes, so a
lossy test case can say which facts the loss can and cannot cost.

Only classic pcap (any byte order, µs or ns) is read: the recorded captures
in testdata/ are classic pcap.
"""
import argparse
import random
import struct
import sys

MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}


def records(data, path):
    if len(data) < 24 or data[:4] not in MAGICS:
        sys.exit(f"{path}: not a classic pcap file (pcapng is not read by this script)")
    endian = MAGICS[data[:4]]
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    pos = 24
    index = 0
    while pos + 16 <= len(data):
        ts_s, ts_frac, incl, orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        end = pos + 16 + incl
        if end > len(data):
            sys.exit(f"{path}: record {index} is cut short")
        yield index, ts_s, ts_frac, data[pos:end], data[pos + 16:end], linktype
        pos = end
        index += 1
    if pos != len(data):
        sys.exit(f"{path}: {len(data) - pos} stray bytes after the last record")


def describe(frame, linktype):
    """'a:p > b:p FLAGS len N "first bytes"' for IPv4/IPv6 TCP over Ethernet,
    Linux SLL/SLL2 or raw IP; '?' otherwise."""
    try:
        if linktype == 1:
            ethertype, ip = struct.unpack(">H", frame[12:14])[0], frame[14:]
            while ethertype in (0x8100, 0x88A8):
                ethertype, ip = struct.unpack(">H", ip[2:4])[0], ip[4:]
        elif linktype == 113:
            ethertype, ip = struct.unpack(">H", frame[14:16])[0], frame[16:]
        elif linktype == 276:
            ethertype, ip = struct.unpack(">H", frame[0:2])[0], frame[20:]
        elif linktype in (12, 101):
            ip = frame
            ethertype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
        else:
            return "?"
        if ethertype == 0x0800:
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6:
                return f"IPv4 proto {ip[9]}"
            total = struct.unpack(">H", ip[2:4])[0]
            src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
            tcp, end = ip[ihl:], total - ihl
            fmt = "{}:{}"
        elif ethertype == 0x86DD:
            if ip[6] != 6:
                return f"IPv6 next header {ip[6]}"
            import ipaddress
            src = str(ipaddress.IPv6Address(ip[8:24]))
            dst = str(ipaddress.IPv6Address(ip[24:40]))
            tcp, end = ip[40:], struct.unpack(">H", ip[4:6])[0]
            fmt = "[{}]:{}"
        else:
            return f"ethertype 0x{ethertype:04x}"
        sport, dport = struct.unpack(">HH", tcp[0:4])
        off = (tcp[12] >> 4) * 4
        flags = tcp[13]
        names = "".join(n for bit, n in zip(range(6), "FSRPAU") if flags & (1 << bit))
        payload = tcp[off:end]
        head = payload[:40].decode("latin-1").encode("unicode_escape").decode()
        return f'{fmt.format(src, sport)} > {fmt.format(dst, dport)} {names} len {len(payload)} "{head}"'
    except (IndexError, struct.error):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--rate", type=float, default=0.0, help="probability of dropping each record")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--drop", help="comma-separated record indices to drop (instead of --rate)")
    ap.add_argument("--log", help="write the dropped records here, one line each")
    a = ap.parse_args()
    if not 0.0 <= a.rate <= 1.0:
        sys.exit("--rate must be between 0 and 1")
    with open(a.input, "rb") as f:
        data = f.read()
    rng = random.Random(a.seed)
    chosen = {int(i) for i in a.drop.split(",")} if a.drop else None
    kept, dropped = [data[:24]], []
    total = 0
    for index, ts_s, ts_frac, record, frame, linktype in records(data, a.input):
        total += 1
        if (index in chosen) if chosen is not None else (rng.random() < a.rate):
            dropped.append(f"{index} {ts_s}.{ts_frac:06d} {describe(frame, linktype)}")
        else:
            kept.append(record)
    with open(a.output, "wb") as f:
        f.write(b"".join(kept))
    if a.log:
        with open(a.log, "w") as f:
            how = f"records {a.drop}" if chosen is not None else f"rate {a.rate}, seed {a.seed}"
            f.write(f"# {a.input}: {len(dropped)} of {total} records dropped ({how})\n")
            f.writelines(line + "\n" for line in dropped)
    print(f"{a.output}: dropped {len(dropped)} of {total} records", file=sys.stderr)


if __name__ == "__main__":
    main()
