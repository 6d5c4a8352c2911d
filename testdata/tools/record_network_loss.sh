#!/bin/bash
# Records real network loss, once: FTP and HTTP session traffic through a loopback
# shaped with tc tbf (small burst and queue), so the kernel drops packets and TCP
# retransmits them. Everything runs inside a private network namespace (smloss,
# only its own loopback, 127.0.0.1, MTU 1500, no segmentation offloads); it is
# deleted at the end. tcpdump sees a packet as it leaves the qdisc, so the capture
# holds what crossed the link: the drops are holes that the retransmissions fill.
#
# Run as root from /work/main:   bash testdata/tools/record_network_loss.sh
# Writes testdata/ftp/network-loss/ and testdata/http-sessions/network-loss/:
# capture.pcap, server-log.jsonl (the server's own record = ground truth),
# client-log.txt, facts.json (ftp_facts.py / session_facts.py) and tc.txt (the
# qdisc's own counters: how many packets it dropped).
set -euo pipefail
TOOLS=$(pwd)/testdata/tools
NS=smloss
SHAPE="tbf rate 20mbit burst 6kb limit 12kb"
SRV=; TD=; WORK=

cleanup() {
  [ -n "$TD" ] && kill -INT "$TD" 2>/dev/null || true
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true
  TD=; SRV=
  sleep 0.3
  ip netns del $NS 2>/dev/null || true
}
trap cleanup EXIT

wait_for() {  # pattern file
  for i in $(seq 1 50); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  echo "timeout waiting for '$1' in $2" >&2; cat "$2" >&2; return 1
}

setup_ns() {
  ip netns del $NS 2>/dev/null || true
  ip netns add $NS
  ip -n $NS link set lo mtu 1500 up
  ip netns exec $NS ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec $NS tc qdisc add dev lo root $SHAPE
}

# start D PORT server-command...
start() {
  D=$1; PORT=$2; shift 2
  mkdir -p "$D"
  rm -f "$D/capture.pcap" "$D/server-log.jsonl" "$D/client-log.txt" "$D/facts.json" "$D/tc.txt"
  WORK=$(mktemp -d /tmp/smloss.XXXXXX)
  ip netns exec $NS "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
  SRV=$!
  wait_for "listening" "$WORK/server.out"
  ip netns exec $NS tcpdump -i lo -U -w "$D/capture.pcap" "tcp" 2>"$WORK/tcpdump.log" &
  TD=$!
  wait_for "listening on" "$WORK/tcpdump.log"
  sleep 1
}

stop() {
  sleep 1
  kill -INT "$TD"; wait "$TD" || true; TD=
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  cat "$WORK/tcpdump.log"
  chown root:root "$D/capture.pcap"   # tcpdump drops privileges to user tcpdump
  if grep -q Traceback "$WORK/server.err" "$WORK/server.out"; then cat "$WORK/server.err"; exit 1; fi
  { echo "\$ tc -s qdisc show dev lo   # after the case ($SHAPE)"
    ip netns exec $NS tc -s qdisc show dev lo; } | tee "$D/tc.txt"
  rm -rf "$WORK"
}

# --- FTP: ftplib against pyftpdlib, large PASV and PORT transfers both ways
setup_ns
start testdata/ftp/network-loss 21 python3 "$TOOLS/ftp_server.py" --bind 127.0.0.1 --port 21 \
  --passive-ports 60000-60009 --log "$(pwd)/testdata/ftp/network-loss/server-log.jsonl"
ip netns exec $NS timeout 120 python3 "$TOOLS/ftp_clients.py" network-loss 127.0.0.1 21 2>&1 \
  | tee "$D/client-log.txt"
stop
python3 "$TOOLS/ftp_facts.py" testdata/ftp/network-loss >testdata/ftp/network-loss/facts.json

# --- HTTP: two curl cookie jars (alice, bob), login rotation, parallel chunked /big downloads
setup_ns
start testdata/http-sessions/network-loss 8090 python3 "$TOOLS/session_server.py" --bind 127.0.0.1 \
  --port 8090 --log "$(pwd)/testdata/http-sessions/network-loss/server-log.jsonl"
B=http://127.0.0.1:8090
W='  curl: num_connects=%{num_connects} local_port=%{local_port} %{http_code} %{method} %{url_effective}\n'
c() { echo "\$ curl $*" | sed "s#$WORK#\$WORK#g"; ip netns exec $NS curl -sS --http1.1 "$@"; }
{ for u in alice bob; do
    J="-b $WORK/jar-$u -c $WORK/jar-$u"
    c $J -o /dev/null -w "$W" $B/
    c $J -d "user=$u&pass=pw" -o /dev/null -w "$W" $B/login
  done
  for round in 1 2; do
    for u in alice bob; do
      J="-b $WORK/jar-$u -c $WORK/jar-$u"
      # keep-alive and parallel connections, each /big is 20 KiB chunked
      c $J --parallel --parallel-max 3 -w "$W" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
        -o /dev/null -o /dev/null $B/big $B/big $B/big $B/big $B/big $B/account
    done
  done
} 2>&1 | tee "$D/client-log.txt"
stop
python3 "$TOOLS/session_facts.py" testdata/http-sessions/network-loss 8090 \
  >testdata/http-sessions/network-loss/facts.json
echo "done"
