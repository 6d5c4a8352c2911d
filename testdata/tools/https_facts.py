#!/usr/bin/env python3
"""Facts of one testdata/https/<scenario>/ capture, from three independent views.

Usage:
    python3 testdata/tools/https_facts.py testdata/https/<scenario> > .../facts.json
    python3 testdata/tools/https_facts.py --table testdata/https/<scenario>/facts.json

1. tshark 4.0 decrypting with the scenario's key log (`-o tls.keylog_file:keylog.txt`):
   per TCP stream the TLS version, cipher suite and ALPN of the ServerHello /
   EncryptedExtensions, and the HTTP/1.x or HTTP/2 requests inside (method, path,
   status, PHPSESSID carried in Cookie, PHPSESSID set by Set-Cookie, Authorization user).
2. nginx's access log (nginx-access.jsonl): client port, ssl_protocol, ssl_cipher,
   ALPN and HTTP version of every request it answered.
3. The backend's log (server-log.jsonl, tools/session_server.py): which session id each
   request carried or was given, logins (rotations), logouts, users = ground truth.

Every tshark request must match exactly one nginx record (port, method, path, status,
TLS parameters) and one backend record (method, path, status, carried and issued id);
any disagreement is printed on stderr and the exit status is 1.

Sessions (as in http-sessions/README.md): ids linked by a login that carried V1 and
issued V2 are one session; a request belongs to the session of the PHPSESSID it carried,
else of the one its response issued; a logout belongs to the id it carried.  A session's
"user" is the backend's (the form login); "auth_users" are the users of Authorization:
Basic headers its requests sent (the only users visible on the wire).
"""
import base64
import json
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tshark_util import tshark, tshark_version  # noqa: E402

SERVER_PORTS = {8443, 8080}
COOKIE = "PHPSESSID"

# ServerHello cipher suite -> IANA name, and OpenSSL's (nginx's $ssl_cipher) name for it.
SUITES = {
    0x1301: ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    0x1302: ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    0x1303: ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    0xCCA8: ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
}
VERSIONS = {0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
NGINX_VERSIONS = {"TLS 1.2": "TLSv1.2", "TLS 1.3": "TLSv1.3"}

ERRORS = []


def err(msg):
    ERRORS.append(msg)
    print("DISAGREE: " + msg, file=sys.stderr)


def walk(node, key=None):
    """Yields (key, value) for every leaf and every dict under node (tshark -T json)."""
    if isinstance(node, dict):
        yield key, node
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)
    else:
        yield key, node


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def cookie_value(headers, name):
    """The first NAME=value in any Cookie header (HTTP/2 may split them into crumbs)."""
    for h in headers:
        for part in h.split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
    return None


def set_cookie_value(headers, name):
    for h in headers:
        k, _, rest = h.partition("=")
        if k.strip() == name:
            return rest.split(";", 1)[0]
    return None


def basic_user(auth):
    for a in auth:
        if a.lower().startswith("basic "):
            try:
                return base64.b64decode(a[6:].strip()).decode().split(":", 1)[0]
            except ValueError:
                return None
    return None


def read_capture(d):
    cap = os.path.join(d, "capture.pcap")
    out = tshark(["-r", cap, "-o", "tls.keylog_file:" + os.path.join(d, "keylog.txt"),
                  "-T", "json", "--no-duplicate-keys", "-J", "frame tcp tls http http2"])
    packets = json.loads(out)
    streams = OrderedDict()
    for p in packets:
        l = p["_source"]["layers"]
        tcp = l["tcp"]
        sid = int(tcp["tcp.stream"])
        sport, dport = int(tcp["tcp.srcport"]), int(tcp["tcp.dstport"])
        from_client = dport in SERVER_PORTS
        cport, srv = (sport, dport) if from_client else (dport, sport)
        st = streams.setdefault(sid, {
            "stream": sid, "client": "127.0.0.1:%d" % cport, "server": "127.0.0.1:%d" % srv,
            "tls": None, "http_version": None, "requests": [], "_h2": {}, "_h1_open": [],
            "_packets": 0})
        st["_packets"] += 1
        ts = float(l["frame"]["frame.time_epoch"])
        for k, v in walk(l.get("tls")):
            if k != "tls.handshake" or not isinstance(v, dict):
                continue
            t = v.get("tls.handshake.type")
            if t == "2":
                ver = int(v["tls.handshake.version"], 16)
                for k2, v2 in walk(v):
                    if k2 == "tls.handshake.extensions.supported_version":
                        ver = int(v2, 16)
                suite = int(v["tls.handshake.ciphersuite"], 16)
                exts = {int(v2) for k2, v2 in walk(v) if k2 == "tls.handshake.extension.type"}
                st["tls"] = {"version": VERSIONS.get(ver, hex(ver)),
                             "cipher_suite": SUITES.get(suite, (hex(suite),))[0],
                             "alpn": None}
                if ver == 0x0303:   # RFC 7366 / RFC 7627, answered in the ServerHello
                    st["tls"]["encrypt_then_mac"] = 22 in exts
                    st["tls"]["extended_master_secret"] = 23 in exts
            if t in ("2", "8"):
                for k2, v2 in walk(v):
                    if k2 == "tls.handshake.extensions_alpn_str" and st["tls"] is not None:
                        st["tls"]["alpn"] = v2
        # HTTP/2: any frame makes the connection HTTP/2; HEADERS frames by stream id
        for k, v in walk(l.get("http2")):
            if k != "http2.stream" or not isinstance(v, dict):
                continue
            st["http_version"] = "2"
            if v.get("http2.type") != "1":
                continue
            hs = [(h.get("http2.header.name"), h.get("http2.header.value"))
                  for h in as_list(v.get("http2.header"))]
            x = st["_h2"].setdefault(int(v["http2.streamid"]), {})
            names = dict(hs)
            if ":method" in names:
                x["req"] = {"ts": ts, "method": names[":method"], "path": names[":path"],
                            "cookie": [val for n, val in hs if n == "cookie"],
                            "auth": [val for n, val in hs if n == "authorization"]}
            elif ":status" in names:
                x["resp"] = {"status": int(names[":status"]),
                             "set_cookie": [val for n, val in hs if n == "set-cookie"]}
        # HTTP/1.x
        for k, v in walk(l.get("http"), "http"):
            if k != "http" or not isinstance(v, dict):
                continue
            if "http.request.method" in v or "http.response.code" in v:
                pass
            else:
                # the fields sit one level down, under the request/response line key
                flat = {}
                for k2, v2 in walk(v):
                    if isinstance(k2, str) and k2.startswith("http.") and not isinstance(v2, dict):
                        flat.setdefault(k2, v2)
                v = {**flat, **{kk: vv for kk, vv in v.items() if not isinstance(vv, dict)}}
            if "http.request.method" in v:
                st["http_version"] = st["http_version"] or v.get("http.request.version", "")[5:]
                st["_h1_open"].append({
                    "ts": ts, "method": v["http.request.method"], "path": v["http.request.uri"],
                    "cookie": as_list(v.get("http.cookie")),
                    "auth": as_list(v.get("http.authorization"))})
            elif "http.response.code" in v:
                if not st["_h1_open"]:
                    err("stream %d: response without request" % sid)
                    continue
                req = st["_h1_open"].pop(0)
                st["requests"].append(finish(req, {
                    "status": int(v["http.response.code"]),
                    "set_cookie": as_list(v.get("http.set_cookie"))}))
    for st in streams.values():
        for h2id in sorted(st["_h2"]):
            x = st["_h2"][h2id]
            if "req" not in x or "resp" not in x:
                err("stream %d h2 stream %d: request or response missing" % (st["stream"], h2id))
                continue
            r = finish(x["req"], x["resp"])
            r["h2_stream"] = h2id
            st["requests"].append(r)
        for req in st["_h1_open"]:
            err("stream %d: request %s %s unanswered" % (st["stream"], req["method"], req["path"]))
        st["requests"].sort(key=lambda r: r["_ts"])
        st["packets"] = st.pop("_packets")
        for k in ("_h2", "_h1_open"):
            del st[k]
    return list(streams.values()), len(packets)


def decrypted_bytes(d, streams):
    """Application-data plaintext per side, from tshark's `-z follow,tls,raw,N`."""
    tls = [st for st in streams if st["tls"] is not None]
    if not tls:
        return
    args = ["-r", os.path.join(d, "capture.pcap"),
            "-o", "tls.keylog_file:" + os.path.join(d, "keylog.txt"), "-q"]
    for st in tls:
        args += ["-z", "follow,tls,raw,%d" % st["stream"]]
    by_stream = {st["stream"]: st for st in tls}
    cur = None
    for line in tshark(args).splitlines():
        if line.startswith("Filter: tcp.stream eq "):
            cur = by_stream[int(line.split()[-1])]
            cur["decrypted_bytes"] = {"client": 0, "server": 0}
            node0_is_server = None
        elif cur is not None and line.startswith("Node 0: "):
            # Node 0 sends the lines without a leading tab
            node0_is_server = line[8:] == cur["server"]
        elif cur is not None and line and line[0] in "\t0123456789abcdef" and \
                not line.startswith("="):
            tabbed = line.startswith("\t")
            side = "server" if tabbed != node0_is_server else "client"
            cur["decrypted_bytes"][side] += len(line.strip()) // 2
    for st in tls:
        st.setdefault("decrypted_bytes", {"client": 0, "server": 0})


def finish(req, resp):
    return {"_ts": req["ts"], "method": req["method"], "path": req["path"],
            "status": resp["status"],
            "carried": cookie_value(req["cookie"], COOKIE),
            "issued": set_cookie_value(resp["set_cookie"], COOKIE) or None,
            "deletes": any(c.startswith(COOKIE + "=;") for c in resp["set_cookie"]),
            "auth_user": basic_user(req["auth"]),
            "cookie": "; ".join(req["cookie"]) or None,
            "set_cookie": resp["set_cookie"] or None}


def check_nginx(d, streams):
    """Each tshark request = one nginx access-log record (same client port and request)."""
    recs = [json.loads(x) for x in open(os.path.join(d, "nginx-access.jsonl"))]
    by_port = {int(s["client"].rsplit(":", 1)[1]): s for s in streams}
    seen = {}
    for r in recs:
        port = int(r["remote"].rsplit(":", 1)[1])
        st = by_port.get(port)
        if st is None:
            err("nginx: request from port %d not in the capture" % port)
            continue
        i = seen.get(port, 0)
        seen[port] = i + 1
        if i >= len(st["requests"]):
            err("nginx: port %d has more requests than tshark shows" % port)
            continue
        q = st["requests"][i]
        if (q["method"], q["path"], q["status"]) != (r["method"], r["uri"], r["status"]):
            err("nginx vs tshark on port %d #%d: %s vs %s" % (port, i, r, q))
        t = st["tls"]
        if t is None:
            if r["ssl_protocol"]:
                err("nginx says TLS on port %d, tshark saw none" % port)
        else:
            names = {v[0]: v[1] for v in SUITES.values()}
            if (NGINX_VERSIONS.get(t["version"]), names.get(t["cipher_suite"]), t["alpn"] or "") != \
                    (r["ssl_protocol"], r["ssl_cipher"], r["alpn"]):
                err("nginx vs tshark TLS on port %d: %s/%s/%s vs %s" % (
                    port, r["ssl_protocol"], r["ssl_cipher"], r["alpn"], t))
        want = {"HTTP/2.0": "2", "HTTP/1.1": "1.1", "HTTP/1.0": "1.0"}[r["server_protocol"]]
        if st["http_version"] != want:
            err("nginx vs tshark HTTP version on port %d: %s vs %s" % (
                port, want, st["http_version"]))
        first = (r["set_cookie"] or None)
        if first != (q["set_cookie"] or [None])[0]:
            err("nginx vs tshark first Set-Cookie on port %d: %r vs %r" % (
                port, first, q["set_cookie"]))
    for st in streams:
        port = int(st["client"].rsplit(":", 1)[1])
        if seen.get(port, 0) != len(st["requests"]):
            err("port %d: tshark %d requests, nginx %d" % (
                port, len(st["requests"]), seen.get(port, 0)))
    return len(recs)


def sessions_from_server_log(d, streams):
    """Joins each tshark request with its backend record; builds the sessions."""
    log = [json.loads(x) for x in open(os.path.join(d, "server-log.jsonl"))]
    used = [False] * len(log)
    reqs = sorted((q for st in streams for q in st["requests"]), key=lambda q: q["_ts"])
    for q in reqs:
        for i, r in enumerate(log):
            if used[i]:
                continue
            if (r["method"], r["path"], r["status"], r["carried"], r["issued"]) == \
                    (q["method"], q["path"], q["status"], q["carried"], q["issued"]):
                used[i] = True
                q["_log"] = r
                break
        else:
            err("no backend record for %s %s %s carried=%s issued=%s" % (
                q["method"], q["path"], q["status"], q["carried"], q["issued"]))
    for i, r in enumerate(log):
        if not used[i]:
            err("backend record without a request in the capture: %s" % r)
    # union the ids a login linked
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x
    for r in log:
        for v in (r["carried"], r["issued"]):
            if v:
                find(v)
        if r["carried"] and r["issued"]:
            parent[find(r["issued"])] = find(r["carried"])
    sessions = OrderedDict()   # root -> session, in order of first request
    for q in reqs:
        v = q["carried"] or q["issued"]
        if not v:
            q["session"] = None
            continue
        root = find(v)
        if root not in sessions:
            sessions[root] = {"values": [], "user": None, "auth_users": [], "ended": False,
                              "client_ports": set(), "requests": 0, "requests_per_port": {}}
        s = sessions[root]
        for x in (q["carried"], q["issued"]):
            if x and x not in s["values"]:
                s["values"].append(x)
        lg = q.get("_log") or {}
        if lg.get("user"):
            s["user"] = lg["user"]
        if q["deletes"]:
            s["ended"] = True
        if q["auth_user"] and q["auth_user"] not in s["auth_users"]:
            s["auth_users"].append(q["auth_user"])
        port = int(q["_port"])
        s["client_ports"].add(port)
        s["requests"] += 1
        s["requests_per_port"][str(port)] = s["requests_per_port"].get(str(port), 0) + 1
        q["session"] = list(sessions).index(root)
        q["user"] = lg.get("user")
    out = []
    for s in sessions.values():
        s["client_ports"] = sorted(s["client_ports"])
        out.append(s)
    return out


def build(d):
    streams, packets = read_capture(d)
    for st in streams:
        for q in st["requests"]:
            q["_port"] = st["client"].rsplit(":", 1)[1]
    decrypted_bytes(d, streams)
    nginx = check_nginx(d, streams)
    sessions = sessions_from_server_log(d, streams)
    flags = tshark(["-r", os.path.join(d, "capture.pcap"), "-Y", "tcp.analysis.flags",
                    "-T", "fields", "-e", "frame.number"]).split()
    conns = []
    for st in streams:
        for q in st["requests"]:
            for k in ("_ts", "_port", "_log"):
                q.pop(k, None)
        ss = sorted({q["session"] for q in st["requests"] if q["session"] is not None})
        conns.append({"id": st["stream"] + 1, **st, "sessions": ss})
    no_session = [c["client"] for c in conns if not c["sessions"]]
    for s in sessions:
        s["connections"] = sorted(c["id"] for c in conns
                                  if int(c["client"].rsplit(":", 1)[1]) in s["client_ports"])
    return OrderedDict([
        ("capture", "capture.pcap"), ("keylog", "keylog.txt"), ("tool", tshark_version()),
        ("packets", packets), ("tcp_analysis_flags", len(flags)),
        ("nginx_requests", nginx),
        ("connections", len(conns)), ("http_requests", sum(len(c["requests"]) for c in conns)),
        ("sessions", sessions),
        ("no_session_clients", no_session),
        ("streams", conns),
    ])


def table(facts):
    print("| conn | client | TLS | cipher suite | ALPN | plaintext c/s | HTTP "
          "| requests (method path status → session) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in facts["streams"]:
        t = c["tls"] or {}
        reqs = ", ".join("%s %s %d → %s" % (q["method"], q["path"], q["status"],
                                            "S%d" % (q["session"] + 1) if q["session"] is not None
                                            else "-") for q in c["requests"])
        b = c.get("decrypted_bytes")
        print("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
            c["id"], c["client"], t.get("version", "cleartext"), t.get("cipher_suite", "-"),
            t.get("alpn") or "-", "%d/%d" % (b["client"], b["server"]) if b else "-",
            c["http_version"] or "-", reqs or "-"))
    print()
    for i, s in enumerate(facts["sessions"]):
        print("- S%d: user %s, connections %s, %d requests, %d ids, %s" % (
            i + 1, s["user"], s["connections"], s["requests"], len(s["values"]),
            "logged out" if s["ended"] else "not logged out"))


def main():
    if sys.argv[1] == "--table":
        table(json.load(open(sys.argv[2])))
        return
    facts = build(sys.argv[1])
    json.dump(facts, sys.stdout, indent=1)
    print()
    if ERRORS:
        sys.exit(1)


if __name__ == "__main__":
    main()
