#!/usr/bin/env python3
"""TLS servers and clients on 127.0.0.1 for testdata/tls-resumption.

Three servers with one self-signed certificate (made with the openssl CLI
into a temporary folder):
  :8443  TLS 1.2, tickets off  -> resumption by session id
  :8444  TLS 1.2, tickets on   -> resumption by ticket
  :8445  TLS 1.3               -> resumption by PSK
Each connection sends one HTTP/1.1 request and reads the answer. The client
connections, in order (sessmap connection ids 1-8):
  1 :8443 full, SNI sid.test          2 :8443 resumes 1   3 :8443 resumes 1
  4 :8444 full, SNI ticket.test       5 :8444 resumes 4 (ticket)
  6 :8445 full, SNI tls13.test        7 :8445 resumes 6 (PSK)
  8 :8443 full again (no session offered)
Prints what Python's ssl says of each connection (session_reused).
"""
import os, socket, ssl, subprocess, sys, tempfile, threading, time

HOST = "127.0.0.1"


def cert(folder):
    key, crt = os.path.join(folder, "k.pem"), os.path.join(folder, "c.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=sessmap.test", "-keyout", key, "-out", crt],
        check=True, capture_output=True)
    return crt, key


def serve(port, ctx, stop):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, port))
    ls.listen(8)
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            s, _ = ls.accept()
        except socket.timeout:
            continue
        try:
            with ctx.wrap_socket(s, server_side=True) as t:
                t.recv(4096)
                body = b"hello over tls\n"
                t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (len(body), body))
                # A clean close (close_notify) keeps the session resumable.
                t.unwrap().close()
        except (ssl.SSLError, OSError) as e:
            print("server", port, "error", e, file=sys.stderr)
    ls.close()


def server_ctx(crt, key, version, tickets):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.minimum_version = ctx.maximum_version = version
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def client_ctx(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def connect(port, name, ctx, session=None):
    s = socket.create_connection((HOST, port))
    with ctx.wrap_socket(s, server_hostname=name, session=session) as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % name.encode())
        data = b""
        while b"hello over tls" not in data:
            chunk = t.recv(4096)
            if not chunk:
                break
            data += chunk
        print(f"port {port} sni {name} {t.version()} reused={t.session_reused} "
              f"status={data.split(b' ')[1].decode()}")
        sess = t.session
        try:
            t.unwrap().close()
        except (ssl.SSLError, OSError):
            pass
    time.sleep(0.2)
    return sess


def main():
    v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    with tempfile.TemporaryDirectory() as d:
        crt, key = cert(d)
        stop = threading.Event()
        servers = [
            threading.Thread(target=serve, args=(8443, server_ctx(crt, key, v12, False), stop)),
            threading.Thread(target=serve, args=(8444, server_ctx(crt, key, v12, True), stop)),
            threading.Thread(target=serve, args=(8445, server_ctx(crt, key, v13, True), stop)),
        ]
        for t in servers:
            t.start()
        time.sleep(0.5)
        try:
            a, b, c = client_ctx(v12), client_ctx(v12), client_ctx(v13)
            s = connect(8443, "sid.test", a)
            connect(8443, "sid.test", a, s)
            connect(8443, "sid.test", a, s)
            s = connect(8444, "ticket.test", b)
            connect(8444, "ticket.test", b, s)
            s = connect(8445, "tls13.test", c)
            connect(8445, "tls13.test", c, s)
            connect(8443, "sid.test", client_ctx(v12))
        finally:
            stop.set()
            for t in servers:
                t.join()


if __name__ == "__main__":
    main()
