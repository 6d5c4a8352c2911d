#!/usr/bin/env python3
"""facts.json of an http-sessions case -> Markdown tables (for the case README).

Usage: python3 testdata/tools/session_table.py testdata/http-sessions/<case>/facts.json
"""
import json
import sys

f = json.load(open(sys.argv[1]))
print("**%d TCP connections**, %d HTTP requests, %d session(s), server `%s`, %d packets, "
      "tcp.analysis.flags: %d\n" % (f["connections"], f["http_requests"], len(f["sessions"]),
                                     f["server"], f["packets"], f["tcp_analysis_flags"]))
print("| # | cookie | values (first → after rotation) | user | client ports | requests | per port |")
print("|---|---|---|---|---|---|---|")
for i, s in enumerate(f["sessions"]):
    print("| %d | `%s` | %s | %s | %s | %d | %s |" % (
        i, s["cookie"], " → ".join("`%s`" % v for v in s["values"]), s["user"] or "–",
        ", ".join(map(str, s["client_ports"])), s["requests"],
        ", ".join("%s: %d" % kv for kv in s["requests_per_port"].items())))
print("\nno-session connections (client ports): %s; hosts: %s\n" % (
    ", ".join(map(str, f["no_session_ports"])) or "none",
    "; ".join("%s: %d connections, %d sessions" % (h["address"], h["connections"], h["sessions"])
              for h in f["hosts"])))
print("| stream | client | requests in order (session #, – = none) |")
print("|---|---|---|")
for st in f["streams"]:
    reqs = ", ".join("%s %s [%s]" % (r["method"], r["path"].replace("|", "\\|"),
                                     "–" if r["session"] is None else r["session"])
                     for r in st["requests"])
    print("| %d | `%s` | %s |" % (st["stream"], st["client"], reqs))
