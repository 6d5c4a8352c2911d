#!/usr/bin/env python3
"""How much of the session map survives packet loss.

    loss_eval.py --sessmap target/release/sessmap CASE... [--rates 0,0.005,0.01]
                 [--seeds 1-20] [--misses]

A CASE is a capture with its ground truth, given as CAPTURE:TRUTH, or a
testdata folder (testdata/ftp/<case> or testdata/http-sessions/<case>,
whose capture.pcap and facts.json are used). The truth can be
- a `pcap-session-truth/1` file of ../shared/bench/gen_capture.py (the
  clients' own sockets: sessions and their connections; `http-preconnect`
  connections, which carry no request, are left out);
- an FTP facts.json of testdata/ftp (control connections and their data
  connections, from the server's own log);
- an HTTP session facts.json of testdata/http-sessions (sessions by client
  port, from the server's own log).

For each rate and seed, drop_packets.py drops records at random, sessmap
reads what is left (`--format json`), and its sessions are compared with the
truth. Connections are matched by their two endpoints (either order: a lost
SYN makes sessmap guess the roles from ports). The figures, per rate, over
all seeds and cases:
- exact sessions: truth sessions that sessmap reports as one session with
  exactly the same connections;
- pair recall: pairs of connections in one truth session that sessmap puts
  in one session;
- pair precision: pairs of connections in one sessmap session that are in
  one truth session (pairs with a connection the truth does not know are
  not counted);
- FTP data: truth data connections that sessmap lists as transfers of the
  FTP session whose control connection is the truth's control; `inferred`:
  how many of those were linked with setup "inferred".
--misses prints each truth session that was not exact, with the
connections sessmap put elsewhere.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from itertools import combinations

HERE = os.path.dirname(os.path.abspath(__file__))


def ep(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def key(a, b):
    return frozenset((a, b))


def truth_of(path):
    """[(session name, [conn keys], {data key: control key})]."""
    with open(path) as f:
        t = json.load(f)
    out = []
    if str(t.get("truth_format", "")).startswith("pcap-session-truth/1"):
        for s in t["sessions"]:
            conns, data = [], {}
            control = None
            if s["app"] == "ftp":
                c = s["control"]
                control = key(ep(c["src"], c["sport"]), ep(c["dst"], c["dport"]))
            for c in s["connections"]:
                if c["role"] == "http-preconnect":
                    continue
                k = key(ep(c["src"], c["sport"]), ep(c["dst"], c["dport"]))
                conns.append(k)
                if c["role"] == "ftp-data":
                    data[k] = control
            out.append((s["id"], conns, data))
    elif "control" in t:
        for c in t["control"]:
            control = key(c["client"], c["server"])
            data = {key(d["client"], d["server"]): control for d in c["data"]}
            out.append((f"ftp {c['client']}", [control, *data], data))
    elif "sessions" in t and "server" in t:
        server = t["server"]
        ip = server.rsplit(":", 1)[0]
        for s in t["sessions"]:
            conns = [key(ep(ip.strip("[]"), p), server) for p in s["client_ports"]]
            out.append((f"{s.get('user') or s['values'][0][:8]}", conns, {}))
    else:
        sys.exit(f"{path}: not a truth file this script knows")
    return out


def report_of(sessmap, capture):
    run = subprocess.run([sessmap, "analyze", "--format", "json", capture],
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"sessmap failed on {capture}: {run.stderr.strip()}")
    r = json.loads(run.stdout)
    by_id = {c["id"]: key(c["client"], c["server"]) for c in r["connections"]}
    sessions = []
    ftp = {}  # data key -> (control key, setup)
    for s in r["sessions"]:
        sessions.append({by_id[i] for i in s["connections"]})
        if s["kind"] == "ftp":
            control = by_id[s["control"]]
            for tr in s.get("transfers", []):
                ftp[by_id[tr["connection"]]] = (control, tr.get("setup"))
    return sessions, ftp, r


def evaluate(truth, sessions, ftp):
    where = defaultdict(set)  # conn key -> indices of sessmap sessions
    for i, s in enumerate(sessions):
        for k in s:
            where[k].add(i)
    truth_of_conn = defaultdict(set)  # one connection can carry two sessions
    for ti, (_, conns, _) in enumerate(truth):
        for k in conns:
            truth_of_conn[k].add(ti)
    m = defaultdict(int)
    misses = []
    for name, conns, data in truth:
        m["sessions"] += 1
        want = set(conns)
        if any(s == want for s in sessions):
            m["exact"] += 1
        else:
            misses.append((name, conns, where))
        for a, b in combinations(sorted(want, key=sorted), 2):
            m["pairs"] += 1
            if where[a] & where[b]:
                m["pairs_found"] += 1
        for d, control in data.items():
            m["ftp_data"] += 1
            got = ftp.get(d)
            if got and got[0] == control:
                m["ftp_right"] += 1
                if got[1] == "inferred":
                    m["ftp_inferred"] += 1
    for s in sessions:
        known = [k for k in s if k in truth_of_conn]
        for a, b in combinations(sorted(known, key=sorted), 2):
            m["our_pairs"] += 1
            if truth_of_conn[a] & truth_of_conn[b]:
                m["our_pairs_right"] += 1
    return m, misses


def seeds_of(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--sessmap", default="target/release/sessmap")
    ap.add_argument("--rates", default="0,0.005,0.01")
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--misses", action="store_true")
    a = ap.parse_args()
    cases = []
    for c in a.cases:
        if os.path.isdir(c):
            cases.append((os.path.join(c, "capture.pcap"), os.path.join(c, "facts.json")))
        else:
            cap, _, tr = c.partition(":")
            cases.append((cap, tr))
    print("| packets dropped at random | seeds | exact sessions | pair recall | pair precision "
          "| FTP data under the right control | of which inferred |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for rate in [float(x) for x in a.rates.split(",")]:
            total = defaultdict(int)
            seeds = [0] if rate == 0 else seeds_of(a.seeds)
            dropped = 0
            for capture, truth_path in cases:
                truth = truth_of(truth_path)
                for seed in seeds:
                    lossy = os.path.join(tmp, "lossy.pcap")
                    if rate == 0:
                        lossy = capture
                    else:
                        log = os.path.join(tmp, "dropped.txt")
                        subprocess.run([sys.executable, os.path.join(HERE, "drop_packets.py"),
                                        capture, lossy, "--rate", str(rate), "--seed", str(seed),
                                        "--log", log], check=True, capture_output=True)
                        with open(log) as f:
                            dropped += sum(1 for line in f if not line.startswith("#"))
                    sessions, ftp, _ = report_of(a.sessmap, lossy)
                    m, misses = evaluate(truth, sessions, ftp)
                    for k, v in m.items():
                        total[k] += v
                    if a.misses:
                        for name, conns, where in misses:
                            parts = ", ".join(
                                f"{'/'.join(sorted(k))}->{sorted(where[k]) or '-'}" for k in conns)
                            print(f"  miss rate={rate} seed={seed} {capture} {name}: {parts}",
                                  file=sys.stderr)
            label = f"{rate * 100:g} %" + (f" ({dropped} packets)" if rate else "")
            print(f"| {label} | {len(seeds)} | {ratio(total['exact'], total['sessions']) * 100:.1f} % "
                  f"| {ratio(total['pairs_found'], total['pairs']):.3f} "
                  f"| {ratio(total['our_pairs_right'], total['our_pairs']):.3f} "
                  f"| {ratio(total['ftp_right'], total['ftp_data']) * 100:.1f} % "
                  f"| {total['ftp_inferred']} |", flush=True)


if __name__ == "__main__":
    main()
