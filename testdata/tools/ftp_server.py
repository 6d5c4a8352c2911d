#!/usr/bin/env python3
"""Small pyftpdlib FTP server for sessmap test captures; logs every data connection.

Usage:
    python3 testdata/tools/ftp_server.py --bind 127.0.0.1 --port 21 --log server-log.jsonl
        [--passive-ports 60000-60009] [--masquerade 10.99.99.1] [--permit-foreign]
        [--tls CERT.pem] [--root DIR]

--bind takes an IPv4 or IPv6 address (e.g. ::1, fd79::2); IPv6 = listen on IPv6.
Users: alice / secret (read + write, home = the served directory) and anonymous
(read only, same directory).  Unless --root is given the served directory is a new
temp dir (removed again on exit), filled with a few small files of fixed content and fixed mtimes
(2026-01-01 00:00 UTC) so directory listings are reproducible:

    hello.txt  28 B    a.txt  1000 B    b.bin  4096 B    pub/c.txt  300 B

Prints "listening on <addr>" on stdout once the control socket listens.

The log (--log, JSON lines) is the ground truth for the FTP session structure:

  {"ev": "listen",     "ts": ..., "server": "127.0.0.1:21", "root": "...", "options": {...}}
  {"ev": "connect",    "ts": ..., "control": "<ctl id>", "client": "ip:port", "server": "ip:port"}
  {"ev": "cmd",        "ts": ..., "control": id, "cmd": "RETR", "arg": "a.txt"|null}   (PASS arg masked)
  {"ev": "login",      "ts": ..., "control": id, "user": "alice"}
  {"ev": "data",       "ts_open": ..., "ts": <close time>, "control": id, "user": "alice",
       "mode": "passive"|"active",          # PASV/EPSV -> passive, PORT/EPRT -> active
       "setup": "PASV"|"EPSV"|"PORT"|"EPRT", "setup_arg": "<PORT/EPRT argument>"|null,
       "setup_reply": "<227/229 reply line>"|null,
       "client": "ip:port",                 # side that opened the data connection (SYN sender):
       "server": "ip:port",                 #   passive: FTP client -> FTP server, active: the reverse
       "local": "ip:port", "peer": "ip:port",   # the server's data socket getsockname()/getpeername()
       "command": "RETR"|"STOR"|"LIST"|"NLST"|"MLSD"|"APPE"|"STOU"|null,  # DTPHandler.cmd
       "argument": "<raw argument of that command as the client sent it>"|null,
       "direction": "download"|"upload", "bytes": n,   # get_transmitted_bytes()
       "completed": true|false, "hook": "on_file_sent"|"on_file_received"|
                  "on_incomplete_file_sent"|"on_incomplete_file_received"|null (listings),
       "file": "<file name relative to the served dir>"|null, "tls": true|false}
  {"ev": "disconnect", "ts": ..., "control": id}

The <ctl id> is the control connection's client address "ip:port".  The data record
is written when pyftpdlib closes the data channel (after the 226 reply).
"""
import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.servers import FTPServer

LOG = None
ROOT = None
XFER_CMDS = ("RETR", "STOR", "LIST", "NLST", "MLSD", "APPE", "STOU")
SETUP_CMDS = ("PASV", "EPSV", "PORT", "EPRT")
FIXED_MTIME = 1767225600  # 2026-01-01T00:00:00Z


def addr(sa):
    ip, port = sa[0], sa[1]
    return "[%s]:%d" % (ip, port) if ":" in ip else "%s:%d" % (ip, port)


def write(rec):
    LOG.write(json.dumps(rec) + "\n")
    LOG.flush()


def make_files(root):
    os.makedirs(os.path.join(root, "pub"), exist_ok=True)
    files = {
        "hello.txt": b"hello from sessmap ftp test\n",
        "a.txt": b"".join(b"line %03d of a.txt, the quick brown fox.\n" % i for i in range(25)),
        "b.bin": bytes((i * 7 + 3) % 256 for i in range(4096)),
        "pub/c.txt": (b"c" * 59 + b"\n") * 5,
    }
    for name, data in files.items():
        p = os.path.join(root, name)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (FIXED_MTIME, FIXED_MTIME))
    os.utime(os.path.join(root, "pub"), (FIXED_MTIME, FIXED_MTIME))


class LoggingDTPMixin:
    """Records the data connection's endpoints when it is created and writes one
    "data" log record when pyftpdlib closes it."""

    def __init__(self, sock, cmd_channel):
        ctl = cmd_channel
        try:
            self._sm_local = addr(sock.getsockname())
            self._sm_peer = addr(sock.getpeername())
        except OSError:
            self._sm_local = self._sm_peer = None
        setup, setup_arg = ctl._sm_setup or (None, None)
        self._sm_setup = setup
        self._sm_setup_arg = setup_arg
        self._sm_setup_reply = ctl._sm_setup_reply
        self._sm_tls = bool(getattr(ctl, "_prot", False))   # PROT P in effect -> TLS data channel
        self._sm_open = time.time()
        self._sm_logged = False
        ctl._sm_hook = None
        super().__init__(sock, cmd_channel)

    def close(self):
        first = not self._closed and not self._sm_logged
        super().close()          # may call log_transfer() and the on_*file* hooks
        if first and self._sm_local is not None:
            self._sm_logged = True
            ctl = self.cmd_channel
            passive = self._sm_setup in ("PASV", "EPSV")
            cmd = self.cmd
            arg = None
            if ctl._sm_xfer and ctl._sm_xfer[0] == cmd:
                arg = ctl._sm_xfer[1]
            fname = None
            if self.file_obj is not None:
                fname = os.path.relpath(self.file_obj.name, ROOT)
            write({
                "ev": "data", "ts_open": round(self._sm_open, 6), "ts": round(time.time(), 6),
                "control": ctl._sm_id, "user": ctl.username or None,
                "mode": "passive" if passive else "active",
                "setup": self._sm_setup, "setup_arg": self._sm_setup_arg,
                "setup_reply": self._sm_setup_reply if passive else None,
                "client": self._sm_peer if passive else self._sm_local,
                "server": self._sm_local if passive else self._sm_peer,
                "local": self._sm_local, "peer": self._sm_peer,
                "command": cmd, "argument": arg,
                "direction": "upload" if self.receive else "download",
                "bytes": self.get_transmitted_bytes(),
                "completed": bool(self.transfer_finished), "hook": ctl._sm_hook,
                "file": fname, "tls": self._sm_tls,
            })
            ctl._sm_hook = None


class LoggingDTPHandler(LoggingDTPMixin, DTPHandler):
    pass


class LoggingHandlerMixin:
    """FTPHandler hooks: remembers the last data-setup command (PASV/EPSV/PORT/EPRT,
    and the 227/229 reply it produced) and the last transfer command with its raw
    argument, logs every command, logins, connects and disconnects."""

    _sm_id = None

    def on_connect(self):
        self._sm_setup = None
        self._sm_setup_reply = None
        self._sm_xfer = None
        self._sm_hook = None
        self._sm_id = addr(self.socket.getpeername())
        write({"ev": "connect", "ts": round(time.time(), 6), "control": self._sm_id,
               "client": self._sm_id, "server": addr(self.socket.getsockname())})

    def on_disconnect(self):
        write({"ev": "disconnect", "ts": round(time.time(), 6), "control": self._sm_id})

    def on_login(self, username):
        write({"ev": "login", "ts": round(time.time(), 6), "control": self._sm_id, "user": username})

    def pre_process_command(self, line, cmd, arg):
        write({"ev": "cmd", "ts": round(time.time(), 6), "control": self._sm_id, "cmd": cmd,
               "arg": ("******" if cmd == "PASS" else arg) or None})
        if cmd in SETUP_CMDS:
            self._sm_setup = (cmd, arg or None)
            self._sm_setup_reply = None
        elif cmd in XFER_CMDS:
            self._sm_xfer = (cmd, arg or None)
        return super().pre_process_command(line, cmd, arg)

    def respond(self, resp, *a, **kw):
        if resp[:4] in ("227 ", "229 "):
            self._sm_setup_reply = resp
        return super().respond(resp, *a, **kw)

    def on_file_sent(self, file):
        self._sm_hook = "on_file_sent"

    def on_file_received(self, file):
        self._sm_hook = "on_file_received"

    def on_incomplete_file_sent(self, file):
        self._sm_hook = "on_incomplete_file_sent"

    def on_incomplete_file_received(self, file):
        self._sm_hook = "on_incomplete_file_received"


class LoggingFTPHandler(LoggingHandlerMixin, FTPHandler):
    dtp_handler = LoggingDTPHandler


def main():
    global LOG, ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2121)
    ap.add_argument("--log", required=True)
    ap.add_argument("--root", help="served directory (default: new temp dir with the sample files)")
    ap.add_argument("--passive-ports", help="A-B, e.g. 60000-60009")
    ap.add_argument("--masquerade", help="masquerade_address written into 227 replies")
    ap.add_argument("--permit-foreign", action="store_true", help="permit_foreign_addresses = True")
    ap.add_argument("--tls", metavar="CERT", help="TLS_FTPHandler with this cert+key PEM (AUTH TLS)")
    ap.add_argument("--debug", action="store_true", help="pyftpdlib DEBUG logging on stderr")
    a = ap.parse_args()

    logging.basicConfig(level=logging.DEBUG if a.debug else logging.INFO, stream=sys.stderr,
                        format="[%(asctime)s] %(message)s")
    ROOT = os.path.realpath(a.root or tempfile.mkdtemp(prefix="smftp-root."))
    if not a.root:
        make_files(ROOT)
    LOG = open(a.log, "a")

    if a.tls:
        from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

        class LoggingTLSDTPHandler(LoggingDTPMixin, TLS_DTPHandler):
            pass

        class LoggingTLSFTPHandler(LoggingHandlerMixin, TLS_FTPHandler):
            dtp_handler = LoggingTLSDTPHandler

        handler = LoggingTLSFTPHandler
        handler.certfile = a.tls
    else:
        handler = LoggingFTPHandler

    auth = DummyAuthorizer()
    auth.add_user("alice", "secret", ROOT, perm="elradfmwMT")
    auth.add_anonymous(ROOT, perm="elr")
    handler.authorizer = auth
    handler.banner = "sessmap test FTP server (pyftpdlib) ready."
    handler.timeout = 60
    if a.passive_ports:
        lo, hi = (int(x) for x in a.passive_ports.split("-"))
        handler.passive_ports = range(lo, hi + 1)
    if a.masquerade:
        handler.masquerade_address = a.masquerade
    handler.permit_foreign_addresses = a.permit_foreign

    server = FTPServer((a.bind, a.port), handler)
    server.max_cons = 64
    la = addr(server.socket.getsockname())
    write({"ev": "listen", "ts": round(time.time(), 6), "server": la, "root": ROOT,
           "options": {"passive_ports": a.passive_ports, "masquerade_address": a.masquerade,
                       "permit_foreign_addresses": a.permit_foreign, "tls": bool(a.tls),
                       "handler": "TLS_FTPHandler" if a.tls else "FTPHandler"}})
    print("listening on %s (root %s)" % (la, ROOT), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # plain `kill` -> clean exit
    try:
        server.serve_forever(timeout=0.5, handle_exit=True)
    finally:
        server.close_all()
        LOG.close()
        if not a.root:
            shutil.rmtree(ROOT, ignore_errors=True)   # the temp dir made by make_files()


if __name__ == "__main__":
    main()
