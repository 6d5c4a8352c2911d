#!/usr/bin/env python3
"""Render a facts.json (from tshark_facts.py) as a Markdown table (used for the READMEs)."""
import json, sys
f = json.load(open(sys.argv[1]))
print("| stream | client | server | pkts c→s | pkts s→c | payload c→s | payload s→c | SYN | FIN | RST |")
print("|---|---|---|---|---|---|---|---|---|---|")
for c in f["connections"]:
    yn = lambda b: "yes" if b else "no"
    print("| %d | `%s` | `%s` | %d | %d | %d | %d | %s | %s | %s |" % (
        c["stream"], c["client"], c["server"], c["packets"]["client"], c["packets"]["server"],
        c["payload_bytes"]["client"], c["payload_bytes"]["server"], yn(c["syn"]), yn(c["fin"]), yn(c["rst"])))
print()
print("Total packets in file: %d; TCP connections: %d." % (f["packets"], f["tcp_connections"]))
