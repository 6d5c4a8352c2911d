#!/usr/bin/env python3
"""Ground-truth HTTP session facts for an http-sessions capture.

Usage:
    python3 testdata/tools/session_facts.py CASE_DIR SERVER_PORT > CASE_DIR/facts.json

Reads CASE_DIR/server-log.jsonl (written by session_server.py: one JSON line per
request it answered) and CASE_DIR/capture.pcap, and prints

  {"capture": "capture.pcap", "connections": N,
   "sessions": [{"cookie": "PHPSESSID" | "url:jsessionid", "values": [id1, id2...],
                 "user": "alice" | null, "client_ports": [...], "requests": n,
                 "requests_per_port": {"41000": 3, ...}}, ...],
   "no_session_ports": [...],
   "hosts": [{"address": "127.0.0.1", "connections": N, "sessions": K}],
   -- extras --
   "server": "127.0.0.1:8765", "tool": "tshark 4.0.17", "packets": P,
   "http_requests": R, "tcp_analysis_flags": 0,
   "streams": [{"stream": 0, "client": "127.0.0.1:41000",
                "requests": [{"method": "GET", "path": "/", "session": 0}, ...]}, ...]}

Session rules (from the server log, i.e. what the server actually did):
  * cookie mode: a request's session value is the PHPSESSID it carried; a request
    that carried none but got "Set-Cookie: PHPSESSID=<v>" belongs to <v> (bootstrap);
  * a request that carried V1 and was given V2 (login rotation) makes V1 and V2
    aliases of ONE session and counts once;
  * logout (carried V, response deletes the cookie) counts for V's session;
  * URL mode: the jsessionid in "/app;jsessionid=X/..." is carried; /url-login
    carries none and is given X through its Location header (bootstrap);
  * lang=en never defines a session; requests with no session id at all belong
    to no session.
  "values" are in order of first appearance; sessions are ordered by their first
  request; "session" in "streams" is an index into "sessions" (null = none).

Cross-checks (stderr; exit 1 on any disagreement): tshark's connection count
equals the `-z conv,tcp` line count; every connection's client port is unique;
per client port, the HTTP requests tshark dissects (method, URI, Cookie header, in
order) equal the server log's; every log entry maps to a captured connection;
packets flagged tcp.analysis.flags are counted (reported, not fatal).
"""
import json
import os
import re
import sys


from tshark_util import addr, split_addr, tshark, tshark_version


def walk_http(obj, out):
    """Collect one dict per HTTP request PDU from tshark -T json output."""
    if isinstance(obj, list):
        for x in obj:
            walk_http(x, out)
        return
    if not isinstance(obj, dict):
        return
    found = {}

    def grab(d):
        for k, v in d.items():
            if k in ("http.request.method", "http.request.uri", "http.cookie") and k not in found:
                found[k] = v
            elif isinstance(v, dict) and not k.startswith("http.response"):
                grab(v)

    grab(obj)
    if "http.request.method" in found:
        out.append(found)


def main():
    case, sport = sys.argv[1], int(sys.argv[2])
    cap = os.path.join(case, "capture.pcap")
    log = [json.loads(l) for l in open(os.path.join(case, "server-log.jsonl")) if l.strip()]
    ok = True

    def bad(msg):
        nonlocal ok
        ok = False
        print("MISMATCH: " + msg, file=sys.stderr)

    # ---- connections from the capture --------------------------------------
    rows = tshark(["-r", cap, "-Y", "tcp", "-T", "fields", "-E", "separator=\t",
                   "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                   "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport",
                   "-e", "tcp.flags.syn", "-e", "tcp.flags.ack"]).splitlines()
    packets = len(tshark(["-r", cap, "-T", "fields", "-e", "frame.number"]).split())
    streams = {}
    for r in rows:
        st, s4, s6, sp, d4, d6, dp, syn, ack = r.split("\t")
        src, dst = addr(s4 or s6, sp), addr(d4 or d6, dp)
        st = int(st)
        if st not in streams:
            streams[st] = {"first": (src, dst), "client": None, "server": None}
        if syn in ("1", "True") and ack not in ("1", "True") and streams[st]["client"] is None:
            streams[st]["client"], streams[st]["server"] = src, dst
    for st in streams.values():
        if st["client"] is None:
            st["client"], st["server"] = st["first"]
    conv = [l for l in tshark(["-r", cap, "-q", "-z", "conv,tcp"]).splitlines() if "<->" in l]
    if len(conv) != len(streams):
        bad("conv,tcp has %d lines, tcp.stream count %d" % (len(conv), len(streams)))
    by_client = {}
    for i, st in sorted(streams.items()):
        if st["client"] in by_client:
            bad("client address %s used by two connections" % st["client"])
        by_client[st["client"]] = i
    servers = sorted({st["server"] for st in streams.values()})
    flags = tshark(["-r", cap, "-Y", "tcp.analysis.flags", "-T", "fields", "-e", "frame.number",
                    "-e", "_ws.expert.message"]).splitlines()
    for f in flags:
        print("tcp.analysis.flags: frame " + f, file=sys.stderr)

    # ---- HTTP requests from the capture -------------------------------------
    js = json.loads(tshark(["-r", cap, "-d", "tcp.port==%d,http" % sport, "-Y", "http.request",
                            "-T", "json", "--no-duplicate-keys", "-J", "tcp http"]))
    cap_reqs = {}
    n_cap_reqs = 0
    for pkt in js:
        layers = pkt["_source"]["layers"]
        tcp = layers["tcp"]
        if isinstance(tcp, list):
            tcp = tcp[0]
        st = int(tcp["tcp.stream"])
        pdus = []
        walk_http(layers.get("http"), pdus)
        for p in pdus:
            def one(v):
                return v[0] if isinstance(v, list) else v
            cap_reqs.setdefault(st, []).append(
                (one(p["http.request.method"]), one(p["http.request.uri"]),
                 one(p.get("http.cookie"))))
            n_cap_reqs += 1

    # ---- sessions from the server log ---------------------------------------
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def key(rec, v):
        return ("url:jsessionid" if rec["mode"] == "url" else "PHPSESSID", v)

    for rec in log:
        if rec["carried"]:
            find(key(rec, rec["carried"]))
        if rec["issued"]:
            find(key(rec, rec["issued"]))
        if rec["carried"] and rec["issued"]:
            parent[find(key(rec, rec["carried"]))] = find(key(rec, rec["issued"]))

    sessions = []          # in order of first request
    sess_index = {}        # root -> index
    log_by_stream = {}
    for rec in log:
        ip, port = split_addr(rec["client"])
        st = by_client.get(addr(ip, port))
        if st is None:
            bad("log entry from %s has no captured connection" % rec["client"])
            continue
        v = rec["carried"] or rec["issued"]
        idx = None
        if v:
            k = key(rec, v)
            root = find(k)
            if root not in sess_index:
                sess_index[root] = len(sessions)
                sessions.append({"cookie": k[0], "values": [], "user": None, "ports": {},
                                 "hosts": set()})
            idx = sess_index[root]
            s = sessions[idx]
            for val in (rec["carried"], rec["issued"]):
                if val and val not in s["values"]:
                    s["values"].append(val)
            if rec["user"]:
                s["user"] = rec["user"]
            s["ports"][port] = s["ports"].get(port, 0) + 1
            s["hosts"].add(ip)
        log_by_stream.setdefault(st, []).append(
            {"method": rec["method"], "path": rec["path"], "session": idx,
             "_cookie": rec["req_cookie"]})

    # ---- compare log with capture per connection ----------------------------
    for st in sorted(set(cap_reqs) | set(log_by_stream)):
        a = [(r["method"], r["path"], r["_cookie"]) for r in log_by_stream.get(st, [])]
        b = cap_reqs.get(st, [])
        if a != b:
            bad("stream %d (%s): log %s != capture %s" % (st, streams[st]["client"], a, b))
    for st in streams:
        if st not in log_by_stream:
            bad("stream %d (%s) carries no logged request" % (st, streams[st]["client"]))

    # ---- output --------------------------------------------------------------
    no_sess = sorted(split_addr(streams[st]["client"])[1] for st in streams
                     if all(r["session"] is None for r in log_by_stream.get(st, [])))
    hosts = {}
    for st, info in streams.items():
        ip = split_addr(info["client"])[0]
        h = hosts.setdefault(ip, {"connections": 0, "sessions": set()})
        h["connections"] += 1
        for r in log_by_stream.get(st, []):
            if r["session"] is not None:
                h["sessions"].add(r["session"])
    facts = {
        "capture": "capture.pcap",
        "connections": len(streams),
        "sessions": [{
            "cookie": s["cookie"],
            "values": s["values"],
            "user": s["user"],
            "client_ports": sorted(s["ports"]),
            "requests": sum(s["ports"].values()),
            "requests_per_port": {str(p): n for p, n in sorted(s["ports"].items())},
        } for s in sessions],
        "no_session_ports": no_sess,
        "hosts": [{"address": ip, "connections": h["connections"], "sessions": len(h["sessions"])}
                  for ip, h in sorted(hosts.items())],
        "server": servers[0] if len(servers) == 1 else servers,
        "tool": tshark_version(),
        "packets": packets,
        "http_requests": len(log),
        "tcp_analysis_flags": len(flags),
        "streams": [{"stream": st, "client": streams[st]["client"],
                     "requests": [{k: v for k, v in r.items() if not k.startswith("_")}
                                  for r in log_by_stream.get(st, [])]}
                    for st in sorted(streams)],
    }
    if n_cap_reqs != len(log):
        bad("capture has %d HTTP requests, log %d" % (n_cap_reqs, len(log)))
    print(json.dumps(facts, indent=2))
    print("checked: %d connections (conv,tcp agrees: %s), %d requests log == capture: %s, "
          "tcp.analysis.flags packets: %d"
          % (len(streams), len(conv) == len(streams), len(log), ok, len(flags)), file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
