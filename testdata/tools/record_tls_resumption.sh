#!/bin/bash
# Records testdata/tls-resumption/capture.pcap (classic pcap, EN10MB on lo).
# Run as root from /work/main. Needs python3, openssl and tcpdump.
set -eu
OUT=testdata/tls-resumption/capture.pcap
rm -f "$OUT"
tcpdump -i lo -U -w "$OUT" "tcp portrange 8443-8445" 2>/tmp/smtest-tcpdump.log &
TD=$!
trap 'kill -INT $TD 2>/dev/null || true' EXIT
for i in $(seq 1 50); do grep -q "listening on" /tmp/smtest-tcpdump.log && break; sleep 0.1; done
sleep 0.5
python3 testdata/tools/tls_resumption.py
sleep 1
kill -INT $TD; wait $TD || true
trap - EXIT
cat /tmp/smtest-tcpdump.log
