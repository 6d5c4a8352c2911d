#!/usr/bin/env python3
"""facts.json of a testdata/ftp case -> Markdown table (for the case README).

Usage: python3 testdata/tools/ftp_table.py testdata/ftp/<case>/facts.json
"""
import json
import sys

f = json.load(open(sys.argv[1]))
nd = sum(len(c["data"]) for c in f["control"])
print("**%d TCP connections** = %d control + %d data, unlinked: %d; %d packets; tcp.analysis.flags: %d\n"
      % (f["connections"], len(f["control"]), nd, len(f["unlinked"]), f["packets"], f["tcp_analysis_flags"]))
print("| stream | role | client (SYN sender) | server | user / command | mode | setup → announced | direction | bytes |")
print("|---|---|---|---|---|---|---|---|---|")
for c in f["control"]:
    print("| %d | **control** | `%s` | `%s` | %s%s | | | | |" % (
        c["stream"], c["client"], c["server"], c["user"] or "–", " (AUTH TLS)" if c.get("auth_tls") else ""))
    for d in c["data"]:
        ann = d["announced"]
        a = ("%s:%d" % (ann["ip"], ann["port"]) if ann["ip"] and ":" not in ann["ip"]
             else "[%s]:%d" % (ann["ip"], ann["port"]) if ann["ip"] else "port %d" % ann["port"])
        print("| %d | ↳ data of %d | `%s` | `%s` | %s %s | %s | %s → `%s` | %s | %d%s |" % (
            d["stream"], c["stream"], d["client"], d["server"], d["command"], d["argument"] or "",
            d["mode"], d["setup"], a, d["direction"], d["bytes"], " (TLS)" if d["tls"] else ""))
for u in f["unlinked"]:
    print("| %d | unlinked | `%s` | `%s` | | | | | |" % (u["stream"], u["client"], u["server"]))
