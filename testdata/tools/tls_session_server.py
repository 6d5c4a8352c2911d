#!/usr/bin/env python3
"""session_server.py's app over TLS (HTTP/1.1), for the live HTTPS test.

Usage:
    python3 testdata/tools/tls_session_server.py --bind 10.81.0.2 --port 8443 \
        --log server-log.jsonl [--cert testdata/tools/tls/cert.pem --key testdata/tools/tls/key.pem]

The same endpoints and JSON log as session_server.py. The default
certificate and key in testdata/tools/tls/ are a throwaway self-signed pair
made for these tests only (`openssl req -x509 -newkey rsa:2048 -nodes -days
36500 -subj "/CN=sessmap test server"`); clients use `-k`. TLS versions and
suites are Python's defaults (TLS 1.3 with a current OpenSSL).
"""
import argparse
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import session_server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert", default=os.path.join(HERE, "tls", "cert.pem"))
    ap.add_argument("--key", default=os.path.join(HERE, "tls", "key.pem"))
    a = ap.parse_args()
    session_server.LOG = open(a.log, "a")

    class Server(session_server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
        daemon_threads = True

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server((a.bind, a.port), session_server.Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening on %s:%d (TLS)" % (a.bind, a.port), flush=True)
    try:
        srv.serve_forever()
    finally:
        session_server.LOG.close()


if __name__ == "__main__":
    main()
