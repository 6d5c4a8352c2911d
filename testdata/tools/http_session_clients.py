#!/usr/bin/env python3
"""Python HTTP clients for the http-sessions test captures (see record_http_sessions.sh).

Usage:
    python3 testdata/tools/http_session_clients.py keepalive-parallel   HOST PORT WORKDIR
    python3 testdata/tools/http_session_clients.py two-sessions-one-conn HOST PORT
    python3 testdata/tools/http_session_clients.py raw                  HOST PORT

Every step prints one line "local-port  METHOD path -> status [cookie info]" so the
recording log shows which connection did what.  Talks only to HOST (127.0.0.1 in the
recordings).  All loops are bounded.
"""
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time


def sid_from(set_cookie_values):
    for v in set_cookie_values or []:
        m = re.match(r"\s*PHPSESSID=([^;]*)", v)
        if m:
            return m.group(1)
    return None


# --------------------------------------------------------------------------
# b. keepalive-parallel: requests.Session (one keep-alive connection) + curl
#    --parallel + 3 threads, all with the same cookies -> one session.
# --------------------------------------------------------------------------
def keepalive_parallel(host, port, workdir):
    import requests

    base = "http://%s:%d" % (host, port)
    s = requests.Session()

    def show(r, tag=""):
        # requests were made with stream=True so the connection is still attached here
        lp = "?"
        try:
            lp = r.raw._connection.sock.getsockname()[1]
        except Exception:
            pass
        r.content   # read the body; the connection goes back to the session's pool
        print("%-6s %s %s -> %d %s %s" % (lp, r.request.method, r.request.path_url, r.status_code,
                                          r.headers.get("Set-Cookie", ""), tag), flush=True)

    show(s.get(base + "/", stream=True), "(main session, bootstrap)")
    show(s.post(base + "/login", data={"user": "carol", "pass": "c4r0l"}, stream=True), "(rotation)")
    show(s.get(base + "/account", stream=True))
    show(s.get(base + "/static/app.js", stream=True))

    # same cookie jar, as a Netscape file for curl
    jar = os.path.join(workdir, "jar-b.txt")
    # (written by hand: MozillaCookieJar leaves the expiry of session cookies empty,
    # and curl 7.88 silently skips such lines; curl itself writes 0)
    with open(jar, "w") as f:
        f.write("# Netscape HTTP Cookie File\n")
        for c in s.cookies:
            dom = ("#HttpOnly_" if c.has_nonstandard_attr("HttpOnly") else "") + c.domain
            f.write("\t".join([dom, "TRUE" if c.domain.startswith(".") else "FALSE", c.path,
                               "TRUE" if c.secure else "FALSE", str(c.expires or 0),
                               c.name, c.value]) + "\n")
    print("cookie jar:", open(jar).read().strip().splitlines()[-2:], flush=True)

    # curl --parallel: 4 transfers, 4 concurrent connections (HTTP/1.1 cannot multiplex)
    w = "curl local_port=%{local_port} num_connects=%{num_connects} %{http_code} %{url_effective}\\n"
    curl = subprocess.Popen(
        ["curl", "-sS", "--no-progress-meter", "--http1.1", "--parallel", "--parallel-immediate", "--parallel-max", "4",
         "-b", jar, "-w", w,
         "-o", "/dev/null", base + "/static/p1.css?delay=0.4",
         "-o", "/dev/null", base + "/static/p2.js?delay=0.4",
         "-o", "/dev/null", base + "/account?delay=0.4",
         "-o", "/dev/null", base + "/big?delay=0.4"])

    # 3 threads, each its own requests.Session (own connection) with the same cookies
    def worker(i):
        t = requests.Session()
        t.cookies.update(s.cookies)
        show(t.get(base + "/static/t%d.css?delay=0.3" % i, stream=True), "(thread %d)" % i)
        show(t.get(base + "/account", stream=True), "(thread %d)" % i)
        t.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    # meanwhile the main connection keeps working too
    show(s.get(base + "/static/main.css?delay=0.2", stream=True), "(main, concurrent)")
    for th in threads:
        th.join(10)
    curl.wait(20)
    show(s.get(base + "/logout", stream=True), "(main, logout)")
    s.close()


# --------------------------------------------------------------------------
# c. two-sessions-one-connection
# --------------------------------------------------------------------------
def two_sessions_one_conn(host, port):
    def req(conn, method, path, cookie=None, body=None, tag=""):
        headers = {"User-Agent": "sessmap-test/1.0"}
        if cookie:
            headers["Cookie"] = cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        sc = r.msg.get_all("Set-Cookie") or []
        print("%-6s %s %s cookie=%r -> %d set=%s %s" % (conn.sock.getsockname()[1], method, path,
                                                      cookie, r.status, sc, tag), flush=True)
        return sid_from(sc)

    # connection 1: session A is created
    c1 = http.client.HTTPConnection(host, port, timeout=10)
    A = req(c1, "GET", "/", tag="(conn1: A issued)")
    c1.close()
    time.sleep(0.2)

    # connection 2: A, login (A -> A2), then a cookie-less GET / creates B on this
    # same connection, B logs in (B -> B2), then A2 again: two sessions, one connection
    c2 = http.client.HTTPConnection(host, port, timeout=10)
    req(c2, "GET", "/account", "PHPSESSID=%s; lang=en" % A)
    req(c2, "GET", "/static/a.css", "PHPSESSID=%s; lang=en" % A)
    A2 = req(c2, "POST", "/login", "PHPSESSID=%s; lang=en" % A, "user=alice&pass=wonderland",
             "(A rotated)")
    req(c2, "GET", "/account", "PHPSESSID=%s; lang=en" % A2)
    B = req(c2, "GET", "/", "lang=en", tag="(B issued on the same connection)")
    req(c2, "GET", "/static/b.js", "PHPSESSID=%s; lang=en" % B)
    B2 = req(c2, "POST", "/login", "PHPSESSID=%s; lang=en" % B, "user=bob&pass=builder",
             "(B rotated)")
    req(c2, "GET", "/account", "PHPSESSID=%s; lang=en" % B2)
    req(c2, "GET", "/static/c.css", "PHPSESSID=%s; lang=en" % A2, tag="(back to A)")
    c2.close()
    time.sleep(0.2)

    # connection 3: B only
    c3 = http.client.HTTPConnection(host, port, timeout=10)
    req(c3, "GET", "/account", "PHPSESSID=%s; lang=en" % B2, tag="(conn3: B only)")
    c3.close()
    print("A=%s A2=%s B=%s B2=%s" % (A, A2, B, B2))


# --------------------------------------------------------------------------
# e. raw sockets: split request, pipelining, chunked responses
# --------------------------------------------------------------------------
class Raw:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        self.port = self.s.getsockname()[1]
        self.host = "%s:%d" % (host, port)

    def request_bytes(self, method, path, cookie=None, body=None):
        h = "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sessmap-raw/1.0\r\nAccept: */*\r\n" % (
            method, path, self.host)
        if cookie:
            h += "Cookie: %s\r\n" % cookie
        if body is not None:
            h += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % len(body)
        return (h + "\r\n").encode() + (body.encode() if body else b"")

    def read_response(self):
        status = self.f.readline().decode().strip()
        headers = []
        for _ in range(100):
            line = self.f.readline().decode()
            if line in ("\r\n", "\n", ""):
                break
            headers.append(line.strip())
        hd = {}
        setc = []
        for h in headers:
            k, _, v = h.partition(":")
            hd[k.strip().lower()] = v.strip()
            if k.strip().lower() == "set-cookie":
                setc.append(v.strip())
        body = b""
        chunks = []
        trailers = []
        if hd.get("transfer-encoding", "").lower() == "chunked":
            for _ in range(1000):
                size = int(self.f.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    for _ in range(100):
                        t = self.f.readline()
                        if t in (b"\r\n", b"\n", b""):
                            break
                        trailers.append(t.decode().strip())
                    break
                data = self.f.read(size)
                self.f.read(2)
                chunks.append(size)
                body += data
        else:
            body = self.f.read(int(hd.get("content-length", "0")))
        info = "%s len=%d" % (status, len(body))
        if chunks:
            info += " chunks=%s trailers=%s" % (chunks, trailers)
        if setc:
            info += " set=%s" % setc
        print("%-6s   <- %s" % (self.port, info), flush=True)
        return sid_from(setc)

    def send(self, data, what):
        self.s.sendall(data)
        print("%-6s   -> send %d bytes: %s" % (self.port, len(data), what), flush=True)

    def close(self):
        self.f.close()
        self.s.close()


def raw(host, port):
    # conn 1: bootstrap + one chunked /big on the same keep-alive connection
    c = Raw(host, port)
    c.send(c.request_bytes("GET", "/"), "GET / (no cookie)")
    A = c.read_response()
    ck = "PHPSESSID=%s; lang=en" % A
    c.send(c.request_bytes("GET", "/big", ck), "GET /big")
    c.read_response()
    c.close()
    time.sleep(0.2)

    # conn 2: POST /login split into 12 tiny segments (TCP_NODELAY + 30 ms pauses);
    # cut points fall inside the request line, the Cookie header name, the session id
    # and the body.  Then a normal GET on the same connection.
    c = Raw(host, port)
    data = c.request_bytes("POST", "/login", ck, "user=frank&pass=fr4nk")
    i_cookie = data.index(b"Cookie:")
    i_sid = data.index(b"PHPSESSID=") + len(b"PHPSESSID=")
    i_body = data.index(b"\r\n\r\n") + 4
    cuts = sorted({3, 7, 12, 30, i_cookie + 3, i_cookie + 11, i_sid + 5, i_sid + 20,
                   i_body - 3, i_body + 6, i_body + 12})
    parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    for p in parts:
        c.send(p, repr(p.decode()))
        time.sleep(0.03)
    A2 = c.read_response()
    ck = "PHPSESSID=%s; lang=en" % A2
    c.send(c.request_bytes("GET", "/static/s.css", ck), "GET /static/s.css")
    c.read_response()
    c.close()
    time.sleep(0.2)

    # conn 3: pipelining - three complete requests in ONE send(), then the responses
    c = Raw(host, port)
    blob = (c.request_bytes("GET", "/static/p1.css", ck) + c.request_bytes("GET", "/account", ck)
            + c.request_bytes("GET", "/big", ck))
    c.send(blob, "3 pipelined requests: GET /static/p1.css, GET /account, GET /big")
    for _ in range(3):
        c.read_response()
    # and two more pipelined in one send(), the second one logs out
    blob = c.request_bytes("GET", "/static/p2.js", ck) + c.request_bytes("GET", "/logout", ck)
    c.send(blob, "2 pipelined requests: GET /static/p2.js, GET /logout")
    for _ in range(2):
        c.read_response()
    c.close()
    print("A=%s A2=%s" % (A, A2))


def main():
    mode = sys.argv[1]
    host, port = sys.argv[2], int(sys.argv[3])
    assert host in ("127.0.0.1", "::1"), "loopback only"
    if mode == "keepalive-parallel":
        keepalive_parallel(host, port, sys.argv[4])
    elif mode == "two-sessions-one-conn":
        two_sessions_one_conn(host, port)
    elif mode == "raw":
        raw(host, port)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
