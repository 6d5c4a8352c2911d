#!/bin/bash
# Records the testdata/http-sessions/<case>/ captures: HTTP session traffic on lo
# (127.0.0.1 only) between curl / Python clients and tools/session_server.py.
# Run as root from /work/main:   bash testdata/tools/record_http_sessions.sh [case ...]
# (no argument = all five cases).  Per case it writes capture.pcap, server-log.jsonl
# (the server's own record of every request = ground truth), client-log.txt (what the
# clients printed) and facts.json (tools/session_facts.py, exits 1 on any mismatch).
# Re-recording gives new ports/ids/timestamps: the case READMEs must then be updated.
set -eu
ROOT=testdata/http-sessions
TOOLS=$(pwd)/testdata/tools
W='  curl: num_connects=%{num_connects} local_port=%{local_port} %{http_code} %{method} %{url_effective}\n'
SRV=; TD=

cleanup() {
  [ -n "$TD" ] && kill -INT "$TD" 2>/dev/null || true
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true
  TD=; SRV=
}
trap cleanup EXIT

start_case() {   # $1 = case dir, $2 = port
  D=$ROOT/$1; PORT=$2; B=http://127.0.0.1:$PORT
  mkdir -p "$D"
  rm -f "$D/capture.pcap" "$D/server-log.jsonl" "$D/client-log.txt" "$D/facts.json"
  WORK=$(mktemp -d /tmp/smsess.XXXXXX)
  python3 "$TOOLS/session_server.py" --bind 127.0.0.1 --port "$PORT" --log "$D/server-log.jsonl" \
    >"$WORK/server.out" 2>&1 &
  SRV=$!
  for i in $(seq 1 50); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
  tcpdump -i lo -U -w "$D/capture.pcap" "tcp port $PORT" 2>"$WORK/tcpdump.log" &
  TD=$!
  for i in $(seq 1 50); do grep -q "listening on" "$WORK/tcpdump.log" && break; sleep 0.1; done
  sleep 1
  echo "== $1 (port $PORT)"
}

stop_case() {
  sleep 1
  kill -INT "$TD"; wait "$TD" || true; TD=
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  cat "$WORK/tcpdump.log"
  chown root:root "$D/capture.pcap"   # tcpdump drops privileges to user tcpdump
  if grep -q Traceback "$WORK/server.out"; then cat "$WORK/server.out"; fi
  python3 "$TOOLS/session_facts.py" "$D" "$PORT" >"$D/facts.json"
  rm -rf "$WORK"
}

c() {  # one curl invocation, output appended to the client log
  local a; printf '$ curl'
  for a in "$@"; do
    a=${a//$WORK/\$WORK}
    case "$a" in
      "$W") printf ' "$W"' ;;
      *[!A-Za-z0-9_./:=@%\$-]*) printf " '%s'" "$a" ;;
      *) printf ' %s' "$a" ;;
    esac
  done
  echo
  curl -sS --http1.1 "$@"
}

# ---------------------------------------------------------------------------
# a. two "browsers" (two curl cookie jars), alice and bob, port 80
case_two_browsers() {
  start_case two-browsers 80
  { A="-b $WORK/jarA -c $WORK/jarA"; Bj="-b $WORK/jarB -c $WORK/jarB"
    c $A -o /dev/null -w "$W" $B/                                    # alice: bootstrap
    sleep 0.2
    # bob: bootstrap + login in ONE invocation (--next): same connection, id rotates on it
    c $Bj -o /dev/null -w "$W" $B/ --next $Bj -d 'user=bob&pass=builder' -o /dev/null -w "$W" $B/login
    sleep 0.2
    c $A -d 'user=alice&pass=wonderland' -o /dev/null -w "$W" $B/login   # alice: rotation
    sleep 0.2
    c $A -o /dev/null -w "$W" $B/account
    sleep 0.2
    c -o /dev/null -w "$W" $B/static/x                               # no cookies at all
    sleep 0.2
    c $Bj -o /dev/null -o /dev/null -o /dev/null -w "$W" $B/account $B/static/a.css $B/static/b.js
    sleep 0.2
    c $A -o /dev/null -o /dev/null -o /dev/null -w "$W" $B/static/a.css $B/static/b.js $B/account
    sleep 0.2
    c $Bj -o /dev/null -w "$W" $B/logout                             # bob: logout
    echo "jar A:"; grep -v '^# ' "$WORK/jarA" | grep . ; echo "jar B:"; grep -v '^# ' "$WORK/jarB" | grep . || true
  } 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# ---------------------------------------------------------------------------
# b. one session over a keep-alive requests.Session + curl --parallel + 3 threads, port 8765
case_keepalive_parallel() {
  start_case keepalive-parallel 8765
  timeout 60 python3 "$TOOLS/http_session_clients.py" keepalive-parallel 127.0.0.1 "$PORT" "$WORK" 2>&1 \
    | sed "s#$WORK#\$WORK#g" | tee "$D/client-log.txt"
  stop_case
}

# ---------------------------------------------------------------------------
# c. two sessions (each rotated by a login) on one keep-alive connection, port 9876
case_two_sessions_one_connection() {
  start_case two-sessions-one-connection 9876
  timeout 60 python3 "$TOOLS/http_session_clients.py" two-sessions-one-conn 127.0.0.1 "$PORT" 2>&1 \
    | tee "$D/client-log.txt"
  stop_case
}

# ---------------------------------------------------------------------------
# d. jsessionid-in-URL sessions (no cookies), port 8080
case_url_session() {
  start_case url-session 8080
  { U='%{url_effective}'
    c -L -o /dev/null -w "$W" "$B/url-login?user=dave" | tee "$WORK/d1"   # 302 -> /app;jsessionid=J1/home, same conn
    J1=$(grep -o 'jsessionid=[0-9a-f]*' "$WORK/d1" | tail -1 | cut -d= -f2)
    sleep 0.2
    c -o /dev/null -o /dev/null -w "$W" "$B/app;jsessionid=$J1/page2" "$B/app;jsessionid=$J1/static/app.css"
    sleep 0.2
    c -L -o /dev/null -w "$W" "$B/url-login?user=erin" | tee "$WORK/d2"
    J2=$(grep -o 'jsessionid=[0-9a-f]*' "$WORK/d2" | tail -1 | cut -d= -f2)
    sleep 0.2
    c -o /dev/null -w "$W" "$B/app;jsessionid=$J2/page2"
    sleep 0.2
    c -o /dev/null -w "$W" "$B/static/logo.png"                       # no session
    sleep 0.2
    c -o /dev/null -w "$W" "$B/app;jsessionid=$J1/page3"
    echo "J1=$J1 J2=$J2"
  } 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# ---------------------------------------------------------------------------
# e. raw sockets: request split into 12 segments, pipelining, chunked /big, port 5555
case_chunked_split_pipelined() {
  start_case chunked-split-pipelined 5555
  timeout 60 python3 "$TOOLS/http_session_clients.py" raw 127.0.0.1 "$PORT" 2>&1 | tee "$D/client-log.txt"
  stop_case
}

CASES=${*:-two-browsers keepalive-parallel two-sessions-one-connection url-session chunked-split-pipelined}
for k in $CASES; do
  case_${k//-/_}
done
trap - EXIT
ls -l $ROOT/*/capture.pcap
