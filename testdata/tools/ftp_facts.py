#!/usr/bin/env python3
"""Ground-truth FTP control/data facts for a testdata/ftp/<case> capture.

Usage:
    python3 testdata/tools/ftp_facts.py CASE_DIR [--ftp-port N] [--keylog FILE] > CASE_DIR/facts.json

Reads CASE_DIR/server-log.jsonl (written by tools/ftp_server.py: every control
connection, login, command and every data connection with the server's own
getsockname()/getpeername(), command, argument, byte count) and CASE_DIR/capture.pcap,
and prints

  {"capture": "capture.pcap", "connections": N,
   "control": [{"client": "127.0.0.1:40000", "server": "127.0.0.1:21", "user": "alice",
                "data": [{"client": "ip:port", "server": "ip:port", "command": "RETR",
                          "argument": "a.txt", "mode": "passive", "extended": false,
                          "direction": "download", "bytes": 1000,
                          -- extras --
                          "stream": 2, "setup": "PASV",
                          "announced": {"ip": "127.0.0.1", "port": 60000},
                          "completed": true, "tls": false}, ...],     # in time order (SYN)
                -- extras --
                "stream": 0, "auth_tls": false}, ...],                 # in time order (SYN)
   "unlinked": [],
   -- extras --
   "tool": "tshark 4.0.17", "packets": P, "tcp_analysis_flags": 0, "ftp_port": 21,
   "streams": [{"stream": 0, "client": ..., "server": ..., "role": "control"|"data"|"unlinked",
                "payload_bytes": {"client": n, "server": n},
                "first_time": "1795861750.574370000", "last_time": "..."}, ...]}   # frame.time_epoch

"client" of a data connection = the side that sent the SYN (active mode: the FTP
server).  "announced" = address from the 227 reply (PASV), port from the 229 reply
(EPSV; ip null), or the address in the PORT / EPRT argument.  "bytes" = bytes the
server's data channel sent/received (get_transmitted_bytes(); for a TLS data channel
that is plaintext, the TCP payload is larger).

Cross-checks (stderr; exit 1 on any disagreement):
  * the number of tcp.stream values equals the lines of `tshark -z conv,tcp`;
  * every logged control / data connection is a captured TCP connection with the same
    endpoints, and its SYN came from the logged "client";
  * every captured connection is a logged control or data connection (else "unlinked");
  * (cleartext data) payload in the transfer direction == logged bytes, other direction 0;
  * (control readable by tshark, i.e. cleartext or decrypted with --keylog) on each
    control connection the setup command (PASV/EPSV/PORT/EPRT) and the transfer command
    with its argument appear in order for every data connection; the port in the 227/229
    reply (passive) or the ip:port in PORT/EPRT (active) equals the data connection's
    server side;
  * where tshark itself links a data connection (ftp-data.setup-frame), the setup frame
    lies on the logged control connection (reported only: tshark cannot link when the 227
    address is a masquerade address).
"""
import argparse
import json
import os
import re
import sys


from tshark_util import addr, split_addr, tshark, tshark_version


def announced(rec):
    s, a, r = rec["setup"], rec["setup_arg"], rec["setup_reply"]
    if s == "PASV" and r:
        m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", r)
        n = [int(x) for x in m.groups()]
        return {"ip": "%d.%d.%d.%d" % tuple(n[:4]), "port": n[4] * 256 + n[5]}
    if s == "EPSV" and r:
        m = re.search(r"\(\|\|\|(\d+)\|\)", r)
        return {"ip": None, "port": int(m.group(1))}
    if s == "PORT" and a:
        n = [int(x) for x in a.split(",")]
        return {"ip": "%d.%d.%d.%d" % tuple(n[:4]), "port": n[4] * 256 + n[5]}
    if s == "EPRT" and a:
        d = a[0]
        _, af, ip, port, _ = a.split(d)
        return {"ip": ip, "port": int(port)}
    return None


def first(v):
    if isinstance(v, list):
        return v[0] if v else None
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--ftp-port", type=int, default=21,
                    help="control port; if not 21, tshark gets -d tcp.port==N,ftp")
    ap.add_argument("--keylog", help="TLS key log file (relative to CASE) for tshark")
    a = ap.parse_args()
    cap = os.path.join(a.case, "capture.pcap")
    topts = ["-r", cap]
    if a.ftp_port != 21:
        topts += ["-d", "tcp.port==%d,ftp" % a.ftp_port]
    if a.keylog:
        topts += ["-o", "tls.keylog_file:" + os.path.join(a.case, a.keylog)]
    log = [json.loads(l) for l in open(os.path.join(a.case, "server-log.jsonl")) if l.strip()]
    ok = True

    def bad(msg):
        nonlocal ok
        ok = False
        print("MISMATCH: " + msg, file=sys.stderr)

    # ---- TCP connections in the capture ------------------------------------
    rows = tshark(topts + ["-Y", "tcp", "-T", "fields", "-E", "separator=\t",
                           "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                           "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport",
                           "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.len",
                           "-e", "frame.time_epoch"]).splitlines()
    packets = len(tshark(["-r", cap, "-T", "fields", "-e", "frame.number"]).split())
    streams = {}
    for r in rows:
        st, s4, s6, sp, d4, d6, dp, syn, ack, ln, t = r.split("\t")
        src, dst = addr(s4 or s6, sp), addr(d4 or d6, dp)
        st = int(st)
        if st not in streams:
            streams[st] = {"first": (src, dst), "client": None, "server": None, "bytes": {},
                           "first_time": t}
        s = streams[st]
        s["last_time"] = t
        s["bytes"][src] = s["bytes"].get(src, 0) + int(ln or 0)
        if syn in ("1", "True") and ack not in ("1", "True") and s["client"] is None:
            s["client"], s["server"] = src, dst
    for s in streams.values():
        if s["client"] is None:
            s["client"], s["server"] = s["first"]
    conv = [l for l in tshark(["-r", cap, "-q", "-z", "conv,tcp"]).splitlines() if "<->" in l]
    if len(conv) != len(streams):
        bad("conv,tcp has %d lines, tcp.stream count %d" % (len(conv), len(streams)))
    by_pair = {}
    for i, s in streams.items():
        by_pair[frozenset((s["client"], s["server"]))] = i
    flags = tshark(["-r", cap, "-Y", "tcp.analysis.flags", "-T", "fields", "-e", "frame.number",
                    "-e", "_ws.expert.message"]).splitlines()
    for f in flags:
        print("tcp.analysis.flags: frame " + f, file=sys.stderr)

    # ---- FTP as tshark sees it ------------------------------------------------
    req_fields = ["tcp.stream", "frame.number", "ftp.request.command", "ftp.request.arg",
                  "ftp.active.cip", "ftp.active.port", "ftp.eprt.ip", "ftp.eprt.ipv6", "ftp.eprt.port"]
    resp_fields = ["tcp.stream", "frame.number", "ftp.response.code", "ftp.response.arg",
                   "ftp.passive.ip", "ftp.passive.port", "ftp.passive.nat", "ftp.epsv.port"]
    ev = {}   # stream -> list of (frame, kind, dict)
    for kind, flt, fields in (("req", "ftp.request", req_fields), ("resp", "ftp.response", resp_fields)):
        out = tshark(topts + ["-Y", flt, "-T", "json"] + sum((["-e", f] for f in fields), []))
        for pkt in json.loads(out or "[]"):
            L = pkt["_source"]["layers"]
            st = int(first(L["tcp.stream"]))
            ev.setdefault(st, []).append((int(first(L["frame.number"])), kind, L))
    frame_stream = {}
    for st, lst in ev.items():
        lst.sort(key=lambda x: x[0])
        for fr, _, _ in lst:
            frame_stream[fr] = st
    dlink = {}   # data stream -> (setup frame, command)
    out = tshark(topts + ["-Y", "ftp-data", "-T", "json", "-e", "tcp.stream", "-e", "ftp-data.setup-frame",
                          "-e", "ftp-data.setup-method", "-e", "ftp-data.command"])
    for pkt in json.loads(out or "[]"):
        L = pkt["_source"]["layers"]
        st = int(first(L["tcp.stream"]))
        if st not in dlink and "ftp-data.setup-frame" in L:
            dlink[st] = (int(first(L["ftp-data.setup-frame"])), first(L.get("ftp-data.setup-method")),
                         first(L.get("ftp-data.command")))
    all_frames = {}
    if dlink:
        out = tshark(topts + ["-T", "fields", "-e", "frame.number", "-e", "tcp.stream"])
        for l in out.splitlines():
            fr, st = l.split("\t")
            if st:
                all_frames[int(fr)] = int(st)

    # ---- server log ----------------------------------------------------------
    controls = {}     # ctl id -> dict
    order = []
    for rec in log:
        e = rec["ev"]
        if e == "connect":
            controls[rec["control"]] = {"client": rec["client"], "server": rec["server"], "user": None,
                                        "data": [], "auth_tls": False}
            order.append(rec["control"])
        elif e == "login":
            controls[rec["control"]]["user"] = rec["user"]
        elif e == "cmd" and rec["cmd"] == "AUTH":
            controls[rec["control"]]["auth_tls"] = True
        elif e == "data":
            controls[rec["control"]]["data"].append(rec)

    role = {}
    out_ctl = []
    for cid in order:
        c = controls[cid]
        st = by_pair.get(frozenset((c["client"], c["server"])))
        if st is None:
            bad("control %s -> %s not in capture" % (c["client"], c["server"]))
            continue
        if streams[st]["client"] != c["client"]:
            bad("control stream %d: SYN from %s, log says client %s" % (st, streams[st]["client"], c["client"]))
        role[st] = "control"
        datas = []
        for rec in c["data"]:
            dst = by_pair.get(frozenset((rec["client"], rec["server"])))
            if dst is None:
                bad("data %s -> %s (%s %s) not in capture" % (rec["client"], rec["server"], rec["command"],
                                                             rec["argument"]))
                continue
            if streams[dst]["client"] != rec["client"]:
                bad("data stream %d: SYN from %s, log says %s" % (dst, streams[dst]["client"], rec["client"]))
            role[dst] = "data"
            b = streams[dst]["bytes"]
            # the FTP server's end of the data connection is rec["local"] in both modes
            sender, other = rec["local"], rec["peer"]
            if rec["direction"] == "upload":
                sender, other = other, sender
            if not rec["tls"]:
                if b.get(sender, 0) != rec["bytes"] or b.get(other, 0) != 0:
                    bad("data stream %d: payload %s, log bytes %d from %s" % (dst, b, rec["bytes"], sender))
            datas.append((dst, rec))
        datas.sort(key=lambda x: x[0])

        # ---- compare with the control channel as tshark decodes it ----------
        evs = ev.get(st, [])
        reqs = [(fr, L) for fr, k, L in evs if k == "req"]
        readable = bool(reqs) and any(first(L.get("ftp.request.command")) == "USER" for _, L in reqs)
        if readable:
            pos = 0
            # data records in the order the server logged their setup: by ts_open
            for dst, rec in sorted(datas, key=lambda x: x[1]["ts_open"]):
                # setup command
                while pos < len(reqs) and first(reqs[pos][1].get("ftp.request.command")) != rec["setup"]:
                    pos += 1
                if pos == len(reqs):
                    bad("control stream %d: setup %s for data stream %d not found" % (st, rec["setup"], dst))
                    break
                sfr, L = reqs[pos]
                ann = announced(rec)
                if rec["mode"] == "active":
                    if rec["setup"] == "PORT":
                        ip, port = first(L.get("ftp.active.cip")), first(L.get("ftp.active.port"))
                    else:
                        ip = first(L.get("ftp.eprt.ip")) or first(L.get("ftp.eprt.ipv6"))
                        port = first(L.get("ftp.eprt.port"))
                    if addr(ip, port) != rec["server"] or (ann["ip"], ann["port"]) != (ip, int(port)):
                        bad("stream %d %s %s:%s != data server %s" % (st, rec["setup"], ip, port, rec["server"]))
                else:
                    resp = [L2 for fr2, k2, L2 in evs if k2 == "resp" and fr2 > sfr and
                            first(L2.get("ftp.response.code")) in ("227", "229")]
                    if not resp:
                        bad("stream %d: no 227/229 after frame %d" % (st, sfr))
                    else:
                        R = resp[0]
                        port = first(R.get("ftp.passive.port") or R.get("ftp.epsv.port"))
                        if int(port) != split_addr(rec["server"])[1] or int(port) != ann["port"]:
                            bad("stream %d: %s reply port %s != data server %s" % (st, rec["setup"], port,
                                                                                  rec["server"]))
                        if rec["setup"] == "PASV" and first(R.get("ftp.passive.ip")) != ann["ip"]:
                            bad("stream %d: 227 ip %s != log %s" % (st, first(R.get("ftp.passive.ip")), ann["ip"]))
                # transfer command
                while pos < len(reqs) and first(reqs[pos][1].get("ftp.request.command")) != rec["command"]:
                    pos += 1
                if pos == len(reqs):
                    bad("control stream %d: %s for data stream %d not found" % (st, rec["command"], dst))
                    break
                arg = first(reqs[pos][1].get("ftp.request.arg"))
                if (arg or None) != rec["argument"]:
                    bad("control stream %d: %s arg %r != log %r" % (st, rec["command"], arg, rec["argument"]))
                pos += 1
        else:
            print("note: control stream %d not readable by tshark (TLS), command order not checked" % st,
                  file=sys.stderr)
        for dst, rec in datas:
            if dst in dlink:
                sfr, meth, cmd = dlink[dst]
                where = all_frames.get(sfr)
                if where != st:
                    print("note: tshark links data stream %d to frame %d (stream %s), log: control stream %d"
                          % (dst, sfr, where, st), file=sys.stderr)
            else:
                print("note: tshark has no ftp-data link for data stream %d (%s %s)" % (
                    dst, rec["command"], rec["argument"]), file=sys.stderr)

        out_ctl.append({
            "client": c["client"], "server": c["server"], "user": c["user"],
            "data": [{
                "client": rec["client"], "server": rec["server"], "command": rec["command"],
                "argument": rec["argument"], "mode": rec["mode"],
                "extended": rec["setup"] in ("EPSV", "EPRT"), "direction": rec["direction"],
                "bytes": rec["bytes"],
                "stream": dst, "setup": rec["setup"], "announced": announced(rec),
                "completed": rec["completed"], "tls": rec["tls"],
            } for dst, rec in datas],
            "stream": st, "auth_tls": c["auth_tls"],
        })
    out_ctl.sort(key=lambda c: c["stream"])

    unlinked = [{"stream": i, "client": s["client"], "server": s["server"]}
                for i, s in sorted(streams.items()) if i not in role]
    for u in unlinked:
        bad("captured connection not in the server log: %s" % u)
    ndata = sum(len(c["data"]) for c in out_ctl)
    facts = {
        "capture": "capture.pcap",
        "connections": len(streams),
        "control": out_ctl,
        "unlinked": unlinked,
        "tool": tshark_version(),
        "packets": packets,
        "tcp_analysis_flags": len(flags),
        "ftp_port": a.ftp_port,
        "streams": [{"stream": i, "client": s["client"], "server": s["server"],
                     "role": role.get(i, "unlinked"),
                     "payload_bytes": {"client": s["bytes"].get(s["client"], 0),
                                       "server": s["bytes"].get(s["server"], 0)},
                     "first_time": s["first_time"], "last_time": s["last_time"]}
                    for i, s in sorted(streams.items())],
    }
    print(json.dumps(facts, indent=2))
    print("checked: %d connections = %d control + %d data + %d unlinked (conv,tcp agrees: %s); "
          "all checks passed: %s; tcp.analysis.flags packets: %d"
          % (len(streams), len(out_ctl), ndata, len(unlinked), len(conv) == len(streams), ok, len(flags)),
          file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
