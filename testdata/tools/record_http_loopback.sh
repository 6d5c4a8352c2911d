#!/bin/bash
# Records testdata/http-loopback/capture.pcap (classic pcap, DLT EN10MB on lo, usec).
# Run as root from /work/main.
set -eu
OUT=testdata/http-loopback/capture.pcap
WWW=testdata/tools/www
PORT=8765
rm -f "$OUT"
python3 -m http.server "$PORT" -b 127.0.0.1 -d "$WWW" -p HTTP/1.1 >/tmp/smtest-http.log 2>&1 &
SRV=$!
tcpdump -i lo -U -w "$OUT" "tcp port $PORT" 2>/tmp/smtest-tcpdump.log &
TD=$!
trap 'kill $SRV 2>/dev/null || true; kill -INT $TD 2>/dev/null || true' EXIT
for i in $(seq 1 50); do grep -q "listening on" /tmp/smtest-tcpdump.log && break; sleep 0.1; done
sleep 1
# 3 separate connections
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:$PORT/hello.txt
sleep 0.3
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:$PORT/a.txt
sleep 0.3
curl -sS --http1.1 -o /dev/null -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' http://127.0.0.1:$PORT/b.txt
sleep 0.3
# one invocation, 3 URLs, one keep-alive connection
curl -sS --http1.1 -o /dev/null -o /dev/null -o /dev/null \
  -w 'conn=%{num_connects} code=%{http_code} size=%{size_download}\n' \
  http://127.0.0.1:$PORT/hello.txt http://127.0.0.1:$PORT/a.txt http://127.0.0.1:$PORT/index.html
sleep 1
kill -INT $TD; wait $TD || true
kill $SRV; wait $SRV 2>/dev/null || true
trap - EXIT
cat /tmp/smtest-tcpdump.log
