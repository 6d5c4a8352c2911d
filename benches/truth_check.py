#!/usr/bin/env python3
"""Checks a sessmap JSON report (made with --show-secrets) against the ground
truth of ../shared/bench/gen_capture.py (pcap-session-truth/1).

    python3 benches/truth_check.py REPORT.json TRUTH.json

Facts compared:
- TCP connections: the truth's count, and each truth connection found in the
  report by its 5-tuple (initiator as client), the one starting nearest
  the client's connect time when a tuple was reused;
- HTTP sessions: for every truth session (cookie value), the report session
  keyed or aliased by that cookie holds exactly the truth's connections
  that carried requests (pre-connected ones that never sent a request
  belong to no session), and no other HTTP session exists;
- FTP sessions: for every truth session, a report FTP session whose
  connections are exactly the truth's control and data connections.

Prints one line per fact and exits 1 on any mismatch.
"""
import bisect
import json
import sys


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def epoch(rfc3339):
    # 2026-12-03T20:08:20.872962000Z -> seconds (naive UTC arithmetic).
    import datetime

    date, frac = rfc3339.rstrip("Z").split(".")
    t = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() + int(frac) / 10 ** len(frac)


def main():
    report = json.load(open(sys.argv[1]))
    truth = json.load(open(sys.argv[2]))
    failures = 0

    def check(label, ok, detail=""):
        nonlocal failures
        failures += 0 if ok else 1
        print(f"   {label:<44} {'ok' if ok else 'MISMATCH'} {detail}")

    # Report connections by (client, server): start times sorted.
    by_tuple = {}
    for c in report["connections"]:
        by_tuple.setdefault((c["client"], c["server"]), []).append((epoch(c["start"]), c["id"]))
    for v in by_tuple.values():
        v.sort()

    def find(tc):
        key = (endpoint(tc["src"], tc["sport"]), endpoint(tc["dst"], tc["dport"]))
        starts = by_tuple.get(key, [])
        if not starts:
            return None
        # The report's start is the first packet: just after the connect.
        i = bisect.bisect_left(starts, (tc["t_connect"], 0))
        near = [starts[j] for j in (i - 1, i) if 0 <= j < len(starts)]
        return min(near, key=lambda s: abs(s[0] - tc["t_connect"]))[1]

    counts = truth["counts"]
    check(
        "TCP connections",
        len(report["connections"]) == counts["tcp_connections"],
        f"sessmap {len(report['connections'])} truth {counts['tcp_connections']}",
    )
    missing = 0
    for s in truth["sessions"]:
        for tc in s["connections"]:
            if find(tc) is None:
                missing += 1
    check("truth connections found in the report", missing == 0, f"{missing} missing")

    http = [s for s in report["sessions"] if s["kind"] == "http"]
    by_key = {}
    for s in http:
        for k in [s["key"]] + s["aliases"]:
            by_key[k] = s
    truth_http = [s for s in truth["sessions"] if s["app"] == "http"]
    bad = 0
    for t in truth_http:
        want = {find(c) for c in t["connections"] if c.get("requests", 0) > 0}
        s = by_key.get(f"{t['cookie_name']}={t['cookie']}")
        if s is None or set(s["connections"]) != want:
            bad += 1
            if bad <= 3:
                got = s and sorted(s["connections"])
                print(f"      {t['id']}: want {sorted(x for x in want if x)} got {got}")
    check("HTTP sessions exact (connections)", bad == 0, f"{len(truth_http) - bad}/{len(truth_http)}")
    check("no extra HTTP sessions", len(http) == len(truth_http), f"sessmap {len(http)} truth {len(truth_http)}")

    ftp = [s for s in report["sessions"] if s["kind"] == "ftp"]
    ftp_sets = {frozenset(s["connections"]) for s in ftp}
    truth_ftp = [s for s in truth["sessions"] if s["app"] == "ftp"]
    bad = 0
    for t in truth_ftp:
        want = frozenset(find(c) for c in t["connections"])
        if want not in ftp_sets:
            bad += 1
            if bad <= 3:
                print(f"      {t['id']}: want {sorted(x for x in want if x)}")
    check("FTP sessions exact (control + data)", bad == 0, f"{len(truth_ftp) - bad}/{len(truth_ftp)}")
    check("no extra FTP sessions", len(ftp) == len(truth_ftp), f"sessmap {len(ftp)} truth {len(truth_ftp)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
