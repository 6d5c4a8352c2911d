#!/usr/bin/env python3
"""Tiny HTTP/1.1 web app that issues session cookies, for sessmap test captures.

Usage:
    python3 testdata/tools/session_server.py --bind 127.0.0.1 --port 8765 --log server-log.jsonl

Every request handled is appended to the log as one JSON line:

    {"ts": 1795858675.549, "client": "127.0.0.1:40220", "method": "GET",
     "path": "/", "status": 200,
     "session": "<id the request carried, else the id it was given, else null>",
     "mode": "cookie" | "url" | null,
     "carried": "<PHPSESSID / jsessionid the request carried, or null>",
     "issued": "<new id set by the response (Set-Cookie or Location), or null>",
     "deleted": true if the response deletes the session cookie,
     "set_cookie": [all Set-Cookie header values sent] or null,
     "user": "<user the session belongs to after this request, or null>",
     "req_cookie": "<raw Cookie header, or null>"}

Endpoints (cookie mode, cookie name PHPSESSID):
  GET /              no valid PHPSESSID -> new random 32-hex id,
                     "Set-Cookie: PHPSESSID=<id>; Path=/; HttpOnly" (session cookie);
                     no lang cookie -> also "Set-Cookie: lang=en; Path=/; Max-Age=63072000"
  POST /login        form body user=...&pass=...; ROTATES the id: new PHPSESSID (Set-Cookie),
                     the old id is forgotten; the session remembers the user
  GET /account       small page naming the user (or "anonymous")
  GET /static/<name> small body (css/js/txt by extension), never sets cookies
  GET /big           20480 B body, Transfer-Encoding: chunked, 5 chunks (4096, 1000, 6000,
                     5000, 4384 B; one write() each) + trailer X-Body-Sha256
  GET /logout        "Set-Cookie: PHPSESSID=; Max-Age=0; Path=/" and forgets the id
  GET /login-form?user=U[&next=/PATH]
                     HTML form (user=U, pass=x) posting to /login, for browsers driven with
                     --dump-dom (which only GET); never sets cookies.  Without next a script
                     submits the form; with next the script fetch()es GET / (the pre-login id),
                     then POSTs the form with fetch() (the rotation), then submits an emptied
                     GET form to /PATH (request "/PATH?"), all in one browser run (session
                     cookies do not survive a restart of headless Chromium)
URL mode (no cookies at all, id in the path like a servlet container):
  GET /url-login[?user=U]  302, Location: /app;jsessionid=<newid>/home (+ small HTML link)
  GET /app;jsessionid=X/... attributed to session X; small page
Any path accepts ?delay=S (0 < S <= 2, float) to sleep before answering (to force overlap
between concurrent connections).  All responses use Content-Length except /big.
"""
import argparse
import hashlib
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SESSIONS = {}          # id -> {"user": str|None, "mode": "cookie"|"url"}
LOCK = threading.Lock()
LOG = None


def new_id():
    return secrets.token_hex(16)   # 32 hex chars


def parse_cookies(header):
    out = {}
    if not header:
        return out
    for part in header.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out.setdefault(k.strip(), v.strip())
    return out


# /big: 20480 B body in 5 chunks of different sizes; lines of 63 letters + LF
BIG_SIZES = [4096, 1000, 6000, 5000, 4384]
BIG_CHUNKS = [((bytes([65 + i]) * 63 + b"\n") * 100)[:n] for i, n in enumerate(BIG_SIZES)]
BIG_BODY = b"".join(BIG_CHUNKS)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sessapp/1.0"

    def log_message(self, fmt, *args):     # keep stderr quiet; we log JSON instead
        pass

    # ---- helpers -------------------------------------------------------
    def _reset(self):
        self._set_cookies = []
        self._rec = {"mode": None, "carried": None, "issued": None, "deleted": False, "user": None}

    def _cookie(self, value):
        self._set_cookies.append(value)

    def _send(self, status, body, ctype="text/plain; charset=utf-8", extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        for c in self._set_cookies:
            self.send_header("Set-Cookie", c)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._status = status

    def _log(self):
        r = self._rec
        rec = {
            "ts": round(time.time(), 6),
            "client": "%s:%d" % (self.client_address[0], self.client_address[1]),
            "method": self.command,
            "path": self.path,
            "status": getattr(self, "_status", None),
            "session": r["carried"] or r["issued"],
            "mode": r["mode"],
            "carried": r["carried"],
            "issued": r["issued"],
            "deleted": r["deleted"],
            "set_cookie": self._set_cookies or None,
            "user": r["user"],
            "req_cookie": self.headers.get("Cookie"),
        }
        with LOCK:
            LOG.write(json.dumps(rec) + "\n")
            LOG.flush()

    def _delay(self, query):
        try:
            d = float(parse_qs(query).get("delay", ["0"])[0])
        except ValueError:
            d = 0
        if 0 < d <= 2:
            time.sleep(d)

    # ---- dispatch ------------------------------------------------------
    def do_GET(self):
        self._reset()
        try:
            self._route()
        finally:
            self._log()

    def do_POST(self):
        self._reset()
        n = int(self.headers.get("Content-Length") or 0)
        self._form = parse_qs(self.rfile.read(n).decode("latin-1")) if n else {}
        try:
            self._route()
        finally:
            self._log()

    def _route(self):
        u = urlsplit(self.path)
        path = u.path
        self._delay(u.query)
        if path.startswith("/app;jsessionid="):
            return self._url_app(path)
        if path == "/url-login":
            return self._url_login(u.query)

        cookies = parse_cookies(self.headers.get("Cookie"))
        sid = cookies.get("PHPSESSID") or None
        r = self._rec
        if sid:
            r["mode"] = "cookie"
            r["carried"] = sid
        with LOCK:
            sess = SESSIONS.get(sid) if sid else None
        if sess:
            r["user"] = sess["user"]

        if self.command == "GET" and path == "/":
            if sess is None:
                nid = new_id()
                with LOCK:
                    SESSIONS[nid] = {"user": None, "mode": "cookie"}
                r["mode"] = "cookie"
                r["issued"] = nid
                self._cookie("PHPSESSID=%s; Path=/; HttpOnly" % nid)
            if "lang" not in cookies:
                self._cookie("lang=en; Path=/; Max-Age=63072000")
            body = ("<!doctype html><title>home</title><p>Welcome. "
                    "<link rel=stylesheet href=/static/a.css>"
                    "<form method=post action=/login><input name=user><input name=pass></form>\n")
            return self._send(200, body, "text/html; charset=utf-8")

        if self.command == "POST" and path == "/login":
            user = (self._form.get("user") or [None])[0]
            nid = new_id()
            with LOCK:
                if sid:
                    SESSIONS.pop(sid, None)
                SESSIONS[nid] = {"user": user, "mode": "cookie"}
            r["mode"] = "cookie"
            r["issued"] = nid
            r["user"] = user
            self._cookie("PHPSESSID=%s; Path=/; HttpOnly" % nid)
            return self._send(200, "logged in as %s\n" % user)

        if self.command == "GET" and path == "/account":
            who = r["user"] or "anonymous"
            return self._send(200, "<!doctype html><title>account</title><p>Account of %s\n" % who,
                              "text/html; charset=utf-8")

        if self.command == "GET" and path.startswith("/static/"):
            name = path[len("/static/"):]
            ctype = {"css": "text/css", "js": "application/javascript"}.get(
                name.rsplit(".", 1)[-1], "text/plain")
            return self._send(200, "/* static %s */\n" % name + "x" * 64 + "\n", ctype)

        if self.command == "GET" and path == "/login-form":
            return self._login_form(u.query)

        if self.command == "GET" and path == "/big":
            return self._big()

        if self.command == "GET" and path == "/logout":
            if sid:
                with LOCK:
                    SESSIONS.pop(sid, None)
            r["deleted"] = True
            self._cookie("PHPSESSID=; Max-Age=0; Path=/")
            return self._send(200, "bye\n")

        return self._send(404, "not found\n")

    def _login_form(self, query):
        q = parse_qs(query)
        user = "".join(ch for ch in (q.get("user") or ["user"])[0] if ch.isalnum())
        nxt = "".join(ch for ch in (q.get("next") or [""])[0] if ch.isalnum() or ch in "/._-")
        if nxt.startswith("/"):
            script = ("var f=document.forms[0];"
                      "fetch('/').then(function(){return fetch('/login',{method:'POST',"
                      "body:new URLSearchParams(new FormData(f))})})"
                      ".then(function(){f.method='get';f.action='%s';f.innerHTML='';f.submit()})" % nxt)
        else:
            script = "document.forms[0].submit()"
        body = ("<!doctype html><title>login</title>"
                "<form method=post action=/login>"
                "<input name=user value=%s><input name=pass value=x></form>"
                "<script>%s</script>\n" % (user, script))
        return self._send(200, body, "text/html; charset=utf-8")

    def _big(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Body-Sha256")
        for c in self._set_cookies:
            self.send_header("Set-Cookie", c)
        self.end_headers()
        for chunk in BIG_CHUNKS:
            self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        self.wfile.write(b"0\r\nX-Body-Sha256: %s\r\n\r\n"
                         % hashlib.sha256(BIG_BODY).hexdigest().encode())
        self._status = 200

    # ---- URL-session mode ---------------------------------------------
    def _url_login(self, query):
        user = (parse_qs(query).get("user") or [None])[0]
        nid = new_id()
        with LOCK:
            SESSIONS[nid] = {"user": user, "mode": "url"}
        r = self._rec
        r["mode"] = "url"
        r["issued"] = nid
        r["user"] = user
        loc = "/app;jsessionid=%s/home" % nid
        body = '<!doctype html><title>moved</title><a href="%s">continue</a>\n' % loc
        return self._send(302, body, "text/html; charset=utf-8", extra=[("Location", loc)])

    def _url_app(self, path):
        rest = path[len("/app;jsessionid="):]
        sid, _, sub = rest.partition("/")
        r = self._rec
        r["mode"] = "url"
        r["carried"] = sid
        with LOCK:
            sess = SESSIONS.get(sid)
        r["user"] = sess["user"] if sess else None
        base = "/app;jsessionid=%s" % sid
        body = ('<!doctype html><title>%s</title><p>page %s of %s '
                '<a href="%s/page2">next</a> <a href="%s/static/app.css">css</a>\n'
                % (sub, sub, r["user"] or "anonymous", base, base))
        return self._send(200, body, "text/html; charset=utf-8")


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    LOG = open(a.log, "a")
    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
        daemon_threads = True
    srv = Server((a.bind, a.port), Handler)
    print("listening on %s:%d" % (a.bind, a.port), flush=True)
    try:
        srv.serve_forever()
    finally:
        LOG.close()


if __name__ == "__main__":
    main()
