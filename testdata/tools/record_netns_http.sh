#!/bin/bash
# Records testdata/netns-http/capture.pcap: two private network namespaces joined
# by a veth pair, HTTP over IPv4 and IPv6, plus one connection refused (RST).
# Run as root from /work/main.  Creates and deletes netns smtest-cli / smtest-srv.
set -eu
OUT=testdata/netns-http/capture.pcap
WWW=$(pwd)/testdata/tools/www
C=smtest-cli; S=smtest-srv
rm -f "$OUT"

cleanup() {
  [ -n "${TD:-}" ] && kill -INT "$TD" 2>/dev/null || true
  [ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null || true
  sleep 0.5
  ip netns del $C 2>/dev/null || true
  ip netns del $S 2>/dev/null || true
}
trap cleanup EXIT

ip netns add $C
ip netns add $S
ip link add smv-cli netns $C address 02:77:00:00:00:01 type veth peer name smv-srv netns $S address 02:77:00:00:00:02
ip -n $C link set lo up
ip -n $S link set lo up
ip -n $C addr add 10.77.0.1/24 dev smv-cli
ip -n $S addr add 10.77.0.2/24 dev smv-srv
ip -n $C -6 addr add fd77::1/64 dev smv-cli nodad
ip -n $S -6 addr add fd77::2/64 dev smv-srv nodad
ip -n $C link set smv-cli up
ip -n $S link set smv-srv up
sleep 3   # let link-local DAD / initial MLD chatter finish before capturing

# python http.server binding '::' uses DualStackServer (IPV6_V6ONLY=0): serves v4 and v6
ip netns exec $S python3 -m http.server 8080 -b :: -d "$WWW" -p HTTP/1.1 >/tmp/smtest-http.log 2>&1 &
SRV=$!
for i in $(seq 1 50); do ip netns exec $S ss -ltn | grep -q ':8080' && break; sleep 0.1; done

ip netns exec $C tcpdump -i smv-cli -U -w "$OUT" 2>/tmp/smtest-tcpdump.log &
TD=$!
for i in $(seq 1 50); do grep -q "listening on" /tmp/smtest-tcpdump.log && break; sleep 0.1; done
sleep 1

W='conn=%{num_connects} code=%{http_code} size=%{size_download} remote=%{remote_ip}:%{remote_port} local=%{local_ip}:%{local_port}\n'
ip netns exec $C curl -sS --http1.1 -o /dev/null -w "$W" http://10.77.0.2:8080/hello.txt
sleep 0.3
ip netns exec $C curl -sS --http1.1 -o /dev/null -w "$W" http://10.77.0.2:8080/a.txt
sleep 0.3
ip netns exec $C curl -sS --http1.1 -g -o /dev/null -w "$W" 'http://[fd77::2]:8080/b.txt'
sleep 0.3
ip netns exec $C curl -sS --http1.1 -g -o /dev/null -w "$W" 'http://[fd77::2]:8080/index.html'
sleep 0.3
# closed port -> SYN answered by RST/ACK (Zeek conn_state REJ)
ip netns exec $C curl -sS --http1.1 -o /dev/null -w "$W" http://10.77.0.2:9/ || echo "curl to closed port failed as expected (rc=$?)"
sleep 1
kill -INT $TD; wait $TD || true; TD=
kill $SRV; wait $SRV 2>/dev/null || true; SRV=
cat /tmp/smtest-tcpdump.log
cleanup
trap - EXIT
ip netns list
