#!/usr/bin/env python3
"""Lossy variants of the recorded FTP and HTTP session captures.

    python3 testdata/tools/make_lossy.py [--check]     (from the repository root)

For each recorded case in CASES and each rate in RATES, drop_packets.py drops
records at random with the first seed, counting up from the CRC-32 of the
case's name (so the cases do not all lose the same record numbers), that
loses at least one packet carrying payload (a seed that loses only ACKs
would test nothing) and, at 1 %, not the same records as at 0.5 %.
Each FTP case also gets a variant `<group>-<case>-lost-announcement` that
drops exactly its first 227/229/228 reply, so that the inference of a data
connection whose announcement was lost is tested on real traffic.
Each variant goes to testdata/lossy/<group>-<case>-<rate>/:
- capture.pcap: the lossy capture;
- dropped.txt: the records dropped (drop_packets.py --log);
- facts.json: the truth of the original case (its server's own log, see
  loss_eval.py), as sessions of connections (each an unordered pair of
  endpoints) with, for FTP, the control connection and the data
  connections; and `expected`: the sessions sessmap must report on the
  lossy capture. `expected` is the truth unless `losses` (hand-written,
  kept when the script runs again) says what the dropped packets cost, and
  why: `{"session": NAME, "expected": [[conn, ...], ...], "why": TEXT}`
  replaces that session's expected partition (an empty list: no session).

--check regenerates into a temporary folder and compares, byte for byte,
with what is committed (exit 1 on a difference).

testdata/ftp/auth-tls is left out: after AUTH TLS its control channel is
opaque, so none of its data connections is linked by an announcement.
"""
import argparse
import filecmp
import json
import re
import os
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from drop_packets import describe, records  # noqa: E402
from loss_eval import truth_of  # noqa: E402

CASES = [
    "ftp/passive-active", "ftp/epsv-eprt", "ftp/ipv6", "ftp/odd-port", "ftp/nat-pasv",
    "ftp/many-transfers", "ftp/two-sessions",
    "http-sessions/two-browsers", "http-sessions/keepalive-parallel",
    "http-sessions/two-sessions-one-connection", "http-sessions/url-session",
    "http-sessions/chunked-split-pipelined",
]
RATES = [(0.005, "0.5pct"), (0.01, "1pct")]


def pair(k):
    return sorted(k)


def drop(src, capture, log, args):
    subprocess.run([sys.executable, os.path.join(HERE, "drop_packets.py"),
                    os.path.join(src, "capture.pcap"), capture, "--log", log, *args],
                   check=True, capture_output=True)
    with open(log) as f:
        return [line for line in f if not line.startswith("#")]


def first_announcement(src):
    """Index of the first 227/229/228 reply record of a capture."""
    with open(os.path.join(src, "capture.pcap"), "rb") as f:
        data = f.read()
    for index, _, _, _, frame, linktype in records(data, src):
        if re.search(r' len \d+ "22[789] ', describe(frame, linktype)):
            return index
    sys.exit(f"{src}: no 227/229/228 reply")


def make(case, rate, label, out_root, avoid=None):
    """One variant; returns its name and its dropped records."""
    src = os.path.join(ROOT, "testdata", case)
    name = case.replace("/", "-").replace("http-sessions", "http") + "-" + label
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    capture = os.path.join(out, "capture.pcap")
    log = os.path.join(out, "dropped.txt")
    seed = None
    if rate is None:
        lines = drop(src, capture, log, ["--drop", str(first_announcement(src))])
    else:
        base = zlib.crc32(case.encode()) & 0xFFFF
        for seed in range(base, base + 1000):
            lines = drop(src, capture, log, ["--rate", str(rate), "--seed", str(seed)])
            if any(" len 0 " not in line for line in lines) and lines != avoid:
                break
        else:
            sys.exit(f"{case}: no seed of 1000 tried loses a payload packet at rate {rate}")
    # The log names the input by its path from the repository root.
    with open(log) as f:
        text = f.read().replace(ROOT + "/", "")
    with open(log, "w") as f:
        f.write(text)
    sessions = []
    for sname, conns, data in truth_of(os.path.join(src, "facts.json")):
        controls = {tuple(pair(c)) for c in data.values()}
        sessions.append({
            "name": sname,
            "connections": [pair(c) for c in conns],
            "ftp_control": list(next(iter(controls))) if controls else None,
            "data": [pair(d) for d in data],
        })
    committed = os.path.join(ROOT, "testdata", "lossy", name, "facts.json")
    losses = []
    if os.path.exists(committed):
        with open(committed) as f:
            losses = json.load(f).get("losses", [])
    facts = {
        "source": f"testdata/{case}/capture.pcap",
        "made_by": "testdata/tools/make_lossy.py",
        "rate": rate,
        "seed": seed,
        "dropped": len(lines),
        "sessions": sessions,
        "losses": losses,
    }
    with open(os.path.join(out, "facts.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    return name, lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    target = os.path.join(ROOT, "testdata", "lossy")
    with tempfile.TemporaryDirectory() as tmp:
        root = tmp if a.check else target
        names = []
        for case in CASES:
            avoid = None
            for rate, label in RATES:
                name, avoid = make(case, rate, label, root, avoid)
                names.append(name)
            if case.startswith("ftp/"):
                names.append(make(case, None, "lost-announcement", root)[0])
        if a.check:
            bad = [f"{n}/{f}" for n in names for f in ("capture.pcap", "dropped.txt", "facts.json")
                   if not filecmp.cmp(os.path.join(tmp, n, f), os.path.join(target, n, f),
                                      shallow=False)]
            if bad:
                sys.exit("differs from what is committed: " + ", ".join(bad))
            print(f"{len(names)} lossy variants are as committed")
        else:
            print(f"wrote {len(names)} lossy variants under testdata/lossy/")


if __name__ == "__main__":
    main()
