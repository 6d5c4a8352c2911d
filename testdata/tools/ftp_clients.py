#!/usr/bin/env python3
"""Python ftplib clients for the testdata/ftp/ captures (see record_ftp.sh).

Usage:
    python3 testdata/tools/ftp_clients.py CASE HOST PORT [extra]

CASE is one of: passive-active, ipv6, odd-port, nat-pasv,
many-transfers, two-sessions, auth-tls (extra = CA cert PEM and TLS key log file).

Every control line sent / received is printed as "[tag local-port] > CMD" / "< reply"
(PASS masked), and every data connection as
"[tag] DATA <cmd> local=ip:port remote=ip:port bytes=n".  Talks only to HOST.  All
waits are bounded (socket timeouts 20 s, events 20 s).

Transfers use ftplib's own machinery: voidcmd('TYPE A'|'TYPE I') then
transfercmd(cmd) (= ntransfercmd: PASV/EPSV + connect, or PORT/EPRT + accept),
read/write the data socket, close it, voidresp() -- exactly what
FTP.retrlines/retrbinary/storbinary do, but it lets the script print the data
socket's addresses and hold a data connection open (two-sessions).
"""
import ftplib
import io
import socket
import ssl
import sys
import threading

PRINT_LOCK = threading.Lock()
TIMEOUT = 20


def out(*a):
    with PRINT_LOCK:
        print(*a, flush=True)


def fmt(sa):
    return "[%s]:%d" % sa[:2] if ":" in sa[0] else "%s:%d" % sa[:2]


class Verbose:
    """Mixin printing the control dialogue with a tag."""
    tag = "ftp"

    def putline(self, line):
        shown = line if not line.upper().startswith("PASS ") else "PASS ******"
        out("[%s %s] > %s" % (self.tag, self.lport(), shown))
        return super().putline(line)

    def getline(self):
        line = super().getline()
        out("[%s %s] < %s" % (self.tag, self.lport(), line))
        return line

    def lport(self):
        try:
            return self.sock.getsockname()[1]
        except Exception:
            return "-"


class VFTP(Verbose, ftplib.FTP):
    pass


class VFTP_TLS(Verbose, ftplib.FTP_TLS):
    pass


def connect(host, port, tag, user="alice", passwd="secret", cls=VFTP, **kw):
    f = cls(timeout=TIMEOUT, **kw)
    f.tag = tag
    f.connect(host, port)
    out("[%s] control local=%s remote=%s" % (tag, fmt(f.sock.getsockname()), fmt(f.sock.getpeername())))
    f.login(user, passwd)
    return f


def xfer(f, cmd, data=None, ascii=False, hold=None):
    """One data transfer: download (data None) or upload (data bytes)."""
    f.voidcmd("TYPE A" if ascii else "TYPE I")
    conn = f.transfercmd(cmd)
    loc, rem = fmt(conn.getsockname()), fmt(conn.getpeername())
    if hold:
        hold()
    n = 0
    if data is None:
        while True:
            b = conn.recv(8192)
            if not b:
                break
            n += len(b)
    else:
        conn.sendall(data)
        n = len(data)
    if isinstance(conn, ssl.SSLSocket):
        conn.unwrap()
    conn.close()
    f.voidresp()
    out("[%s] DATA %s %s local=%s remote=%s bytes=%d%s" % (
        f.tag, "PASV" if f.passiveserver else "PORT", cmd, loc, rem, n,
        " (tls)" if isinstance(conn, ssl.SSLSocket) else ""))
    return n


def payload(n, seed):
    return bytes((i * 31 + seed) % 251 for i in range(n))


# ---------------------------------------------------------------------------
def passive_active(host, port):
    f = connect(host, port, "A")
    f.set_pasv(True)                    # IPv4: PASV
    xfer(f, "LIST", ascii=True)
    xfer(f, "RETR a.txt")
    f.set_pasv(False)                   # IPv4: PORT
    xfer(f, "LIST", ascii=True)
    xfer(f, "RETR b.bin")
    f.quit()


def ipv6(host, port):
    f = connect(host, port, "6")        # af = AF_INET6 -> EPSV / EPRT
    f.set_pasv(True)
    xfer(f, "LIST", ascii=True)
    xfer(f, "RETR a.txt")
    f.set_pasv(False)
    xfer(f, "RETR b.bin")
    xfer(f, "STOR up6.bin", data=payload(1500, 6))
    f.quit()


def odd_port(host, port):
    f = connect(host, port, "D", user="anonymous", passwd="guest@example.org")
    f.set_pasv(True)
    xfer(f, "NLST", ascii=True)
    xfer(f, "RETR hello.txt")
    xfer(f, "RETR pub/c.txt")
    f.quit()


def nat_pasv(host, port):
    out("ftplib.FTP.trust_server_pasv_ipv4_address = %s" % ftplib.FTP.trust_server_pasv_ipv4_address)
    f = connect(host, port, "N")
    f.set_pasv(True)
    xfer(f, "LIST", ascii=True)
    xfer(f, "RETR a.txt")
    f.quit()


def many_transfers(host, port):
    f = connect(host, port, "M")
    P, A = True, False
    steps = [
        (P, "LIST", None, True), (P, "NLST", None, True), (P, "MLSD", None, True),
        (P, "RETR hello.txt", None, False), (P, "RETR a.txt", None, False),
        (A, "RETR b.bin", None, False),
        (A, "STOR up1.txt", payload(600, 1), False), (A, "APPE up1.txt", payload(200, 2), False),
        (P, "RETR up1.txt", None, False), (P, "STOU", payload(300, 3), False),
        (A, "LIST pub", None, True), (A, "RETR pub/c.txt", None, False),
        (P, "STOR up2.bin", payload(2048, 4), False), (A, "NLST", None, True),
    ]
    for pasv, cmd, data, asc in steps:
        f.set_pasv(pasv)
        xfer(f, cmd, data=data, ascii=asc)
    f.quit()


def network_loss(host, port):
    """Large transfers both ways, passive and active, over a shaped link that
    drops packets (record_network_loss.sh): TCP retransmits."""
    f = connect(host, port, "L")
    f.set_pasv(True)
    xfer(f, "STOR big1.bin", data=payload(600_000, 11))
    xfer(f, "RETR big1.bin")
    xfer(f, "LIST", ascii=True)
    f.set_pasv(False)
    xfer(f, "STOR big2.bin", data=payload(300_000, 12))
    xfer(f, "RETR big2.bin")
    f.set_pasv(True)
    xfer(f, "RETR b.bin")
    f.quit()


def two_sessions(host, port):
    """Two concurrent control connections from one host (both user alice), with data
    connections that overlap in time: one session opens a data connection and keeps it
    open while the other session does a complete transfer.

        A: A1 PASV RETR a.txt  [held open .......]     A2 PORT RETR hello.txt   A3 PASV STOR a-up.txt [held ...]  A4 PORT LIST
        B:         B1 PASV RETR b.bin   B2 PORT LIST [held open ..............]       B3 PORT RETR pub/c.txt       B4 PASV NLST
    """
    names = ("a_in", "b_in", "a1_open", "b1_done", "b2_open", "a2_done", "a3_open", "b3_done", "a4_done")
    ev = {k: threading.Event() for k in names}
    errs = []

    def wait(k):
        if not ev[k].wait(TIMEOUT):
            raise RuntimeError("timeout waiting for " + k)

    def sess_a():
        try:
            f = connect(host, port, "A")
            ev["a_in"].set(); wait("b_in")
            f.set_pasv(True)
            xfer(f, "RETR a.txt", hold=lambda: (ev["a1_open"].set(), wait("b1_done")))           # A1
            wait("b2_open")
            f.set_pasv(False)
            xfer(f, "RETR hello.txt")                                                           # A2
            ev["a2_done"].set()
            f.set_pasv(True)
            xfer(f, "STOR a-up.txt", data=payload(700, 7),
                 hold=lambda: (ev["a3_open"].set(), wait("b3_done")))                           # A3
            f.set_pasv(False)
            xfer(f, "LIST", ascii=True)                                                         # A4
            ev["a4_done"].set()
            f.quit()
        except Exception as e:
            errs.append(e)
            raise

    def sess_b():
        try:
            f = connect(host, port, "B")
            ev["b_in"].set(); wait("a_in")
            wait("a1_open")
            f.set_pasv(True)
            xfer(f, "RETR b.bin")                                                               # B1
            ev["b1_done"].set()
            f.set_pasv(False)
            xfer(f, "LIST", ascii=True, hold=lambda: (ev["b2_open"].set(), wait("a2_done")))     # B2
            wait("a3_open")
            xfer(f, "RETR pub/c.txt")                                                           # B3 (PORT)
            ev["b3_done"].set()
            wait("a4_done")
            f.set_pasv(True)
            xfer(f, "NLST", ascii=True)                                                         # B4
            f.quit()
        except Exception as e:
            errs.append(e)
            raise

    ta, tb = threading.Thread(target=sess_a), threading.Thread(target=sess_b)
    ta.start(); tb.start()
    ta.join(60); tb.join(60)
    if errs or ta.is_alive() or tb.is_alive():
        sys.exit("two-sessions failed: %r" % errs)


def auth_tls(host, port, cafile, keylog):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.keylog_filename = keylog
    f = VFTP_TLS(timeout=TIMEOUT, context=ctx)
    f.tag = "T"
    f.connect(host, port)
    out("[T] control local=%s remote=%s" % (fmt(f.sock.getsockname()), fmt(f.sock.getpeername())))
    f.login("alice", "secret")          # FTP_TLS.login() sends AUTH TLS first
    out("[T] control channel: %s %s" % (f.sock.version(), f.sock.cipher()[0]))
    f.set_pasv(True)
    xfer(f, "LIST", ascii=True)         # PROT not yet set: cleartext data channel
    f.prot_p()                          # PBSZ 0 + PROT P: TLS on the data channels
    xfer(f, "RETR a.txt")
    f.set_pasv(False)
    xfer(f, "RETR b.bin")
    f.quit()


def main():
    case, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    socket.setdefaulttimeout(TIMEOUT)
    if case == "auth-tls":
        auth_tls(host, port, sys.argv[4], sys.argv[5])
    else:
        {"passive-active": passive_active, "ipv6": ipv6, "odd-port": odd_port,
         "nat-pasv": nat_pasv, "many-transfers": many_transfers,
         "two-sessions": two_sessions, "network-loss": network_loss}[case](host, port)


if __name__ == "__main__":
    main()
