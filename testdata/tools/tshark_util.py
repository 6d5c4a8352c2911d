"""Helpers shared by the facts scripts: running tshark, and ip:port text."""
import re
import subprocess


def tshark(args):
    return subprocess.run(["tshark"] + args, check=True, capture_output=True, text=True).stdout


def tshark_version():
    m = re.search(r"TShark \(Wireshark\) (\d[\w.]*\d)", tshark(["--version"]))
    return "tshark " + (m.group(1) if m else "?")


def addr(ip, port):
    return "[%s]:%s" % (ip, port) if ":" in ip else "%s:%s" % (ip, port)


def split_addr(a):
    ip, _, port = a.rpartition(":")
    return ip.strip("[]"), int(port)
