#!/bin/bash
# Records testdata/sll2-any/capture.pcap (classic pcap, DLT LINUX_SLL2 = 276, usec)
# with tcpdump -i any.  Run as root from /work/main.
set -eu
OUT=testdata/sll2-any/capture.pcap
WWW=testdata/tools/www
rm -f "$OUT"
python3 -m http.server 8765 -b 127.0.0.1 -d "$WWW" -p HTTP/1.1 >/tmp/smtest-http1.log 2>&1 &
SRV1=$!
python3 -m http.server 8766 -b 127.0.0.1 -d "$WWW" -p HTTP/1.1 >/tmp/smtest-http2.log 2>&1 &
SRV2=$!
tcpdump -i any -y LINUX_SLL2 -U -w "$OUT" 'tcp port 8765 or tcp port 8766' 2>/tmp/smtest-tcpdump.log &
TD=$!
trap 'kill $SRV1 $SRV2 2>/dev/null || true; kill -INT $TD 2>/dev/null || true' EXIT
for i in $(seq 1 50); do grep -q "listening on" /tmp/smtest-tcpdump.log && break; sleep 0.1; done
sleep 1
# connection 1: one request to port 8765
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:8765/hello.txt
sleep 0.3
# connection 2: two requests over one keep-alive connection to port 8766
curl -sS --http1.1 -o /dev/null -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' \
  http://127.0.0.1:8766/a.txt http://127.0.0.1:8766/b.txt
sleep 1
kill -INT $TD; wait $TD || true
kill $SRV1 $SRV2; wait $SRV1 $SRV2 2>/dev/null || true
trap - EXIT
cat /tmp/smtest-tcpdump.log
