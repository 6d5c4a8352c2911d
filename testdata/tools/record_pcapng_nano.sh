#!/bin/bash
# Records testdata/pcapng-nano/capture.pcapng (dumpcap, pcapng, 2 connections, port 8767)
# and testdata/pcapng-nano/capture-nano.pcap (tcpdump, nanosecond classic pcap,
# 1 connection, port 8768).  Run as root from /work/main.
set -eu
D=testdata/pcapng-nano
WWW=testdata/tools/www
rm -f "$D/capture.pcapng" "$D/capture-nano.pcap"

wait_for() { for i in $(seq 1 50); do grep -q "$1" "$2" && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; return 1; }

# ---- part 1: dumpcap -> pcapng ----
python3 -m http.server 8767 -b 127.0.0.1 -d "$WWW" -p HTTP/1.1 >/tmp/smtest-http.log 2>&1 &
SRV=$!
dumpcap -i lo -f 'tcp port 8767' -w "$D/capture.pcapng" 2>/tmp/smtest-dumpcap.log &
DC=$!
trap 'kill $SRV 2>/dev/null || true; kill -INT $DC 2>/dev/null || true' EXIT
wait_for "Capturing on" /tmp/smtest-dumpcap.log
sleep 1
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:8767/index.html
sleep 0.3
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:8767/b.txt
sleep 1
kill -INT $DC; wait $DC || true
kill $SRV; wait $SRV 2>/dev/null || true
trap - EXIT
cat /tmp/smtest-dumpcap.log

# ---- part 2: tcpdump --time-stamp-precision=nano -> classic pcap (nsec magic) ----
python3 -m http.server 8768 -b 127.0.0.1 -d "$WWW" -p HTTP/1.1 >/tmp/smtest-http.log 2>&1 &
SRV=$!
tcpdump --time-stamp-precision=nano -i lo -U -w "$D/capture-nano.pcap" 'tcp port 8768' 2>/tmp/smtest-tcpdump.log &
TD=$!
trap 'kill $SRV 2>/dev/null || true; kill -INT $TD 2>/dev/null || true' EXIT
wait_for "listening on" /tmp/smtest-tcpdump.log
sleep 1
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:8768/a.txt
sleep 1
kill -INT $TD; wait $TD || true
kill $SRV; wait $SRV 2>/dev/null || true
trap - EXIT
cat /tmp/smtest-tcpdump.log
