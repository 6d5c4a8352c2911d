#!/bin/bash
# Records the testdata/https/<scenario>/ captures: real HTTPS on lo (127.0.0.1 only),
# clients -> nginx (Debian package, TLS 1.2/1.3, HTTP/2 and HTTP/1.1) on 127.0.0.1:8443
# -> proxy_pass http://127.0.0.1:8765 -> tools/session_server.py (PHPSESSID cookies).
# Only the client <-> nginx hop is captured (tcp port 8443, plus the cleartext nginx
# port 8080 in mixed-cleartext); the nginx -> backend hop on 8765 is not.
#
# Run as root from /work/main:   bash testdata/tools/record_https.sh [scenario ...]
# (no argument = all five: curl-h2-tls13 curl-h1-tls12 python-ssl chromium-two-profiles
# mixed-cleartext).  Needs nginx, openssl, tcpdump, curl, python3, editcap, tshark and
# (for chromium-two-profiles) chromium.  Per scenario it writes capture.pcap, keylog.txt
# (the clients' NSS key log), server-log.jsonl (the backend's record of every request =
# ground truth for sessions), nginx-access.jsonl (nginx's record: client port, TLS
# version and cipher, ALPN, HTTP version of every request), client-log.txt (what the
# clients printed) and facts.json (tools/https_facts.py; exits 1 on any disagreement
# between tshark, nginx's log and the backend's log).  curl-h2-tls13 also gets
# capture-dsb.pcapng (editcap --inject-secrets: the key log inside the capture).
# The self-signed RSA certificate, the nginx config, cookie jars and browser profiles
# live in a temporary directory that is deleted afterwards.
# Re-recording gives new ports/ids/timestamps/keys: testdata/https/README.md must then
# be updated (sha256 sums; facts via https_facts.py --table).
set -eu
[ "$(id -u)" = 0 ] || { echo "run as root (tcpdump)" >&2; exit 1; }
ROOT=$(pwd)/testdata/https
TOOLS=$(pwd)/testdata/tools
TLS=https://127.0.0.1:8443
CLEAR=http://127.0.0.1:8080
W='  curl: num_connects=%{num_connects} local_port=%{local_port} http=%{http_version} %{http_code} %{method} %{url_effective}\n'
WORK=$(mktemp -d /tmp/smhttps.XXXXXX)
SRV=; TD=

cleanup() {
  [ -n "$TD" ] && kill -INT "$TD" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill -QUIT "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true
  TD=; SRV=
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

# Self-signed RSA certificate, made at record time.
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 30 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

write_nginx_conf() {   # $1 = access log path
  mkdir -p "$WORK/nginx-tmp"
  cat >"$WORK/nginx.conf" <<EOF
# nginx 1.22: "listen ... ssl http2" (the "http2 on;" directive needs >= 1.25.1).
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log info;
events { worker_connections 64; }
http {
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  log_format sessmap escape=json '{"time":"\$time_iso8601","remote":"\$remote_addr:\$remote_port",'
    '"server_port":\$server_port,"connection":\$connection,"connection_requests":\$connection_requests,'
    '"ssl_protocol":"\$ssl_protocol","ssl_cipher":"\$ssl_cipher","alpn":"\$ssl_alpn_protocol",'
    '"ssl_session_reused":"\$ssl_session_reused","server_protocol":"\$server_protocol",'
    '"method":"\$request_method","uri":"\$request_uri","status":\$status,'
    '"cookie":"\$http_cookie","set_cookie":"\$upstream_http_set_cookie"}';
  server {
    listen 127.0.0.1:8443 ssl http2;
    listen 127.0.0.1:8080;
    server_name localhost;
    access_log $1 sessmap;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA;
    location / {
      proxy_pass http://127.0.0.1:8765;
      proxy_set_header Host \$host;
    }
  }
}
EOF
}

wait_port() {   # $1 = port
  for i in $(seq 1 50); do ss -ltn | grep -q "127.0.0.1:$1 " && return 0; sleep 0.1; done
  echo "port $1 not listening" >&2; return 1
}

start_scenario() {   # $1 = scenario, $2 = tcpdump filter
  SC=$1; D=$ROOT/$1; KL=$D/keylog.txt
  mkdir -p "$D"
  rm -f "$D"/capture.pcap "$D"/capture-dsb.pcapng "$D"/keylog.txt "$D"/server-log.jsonl \
        "$D"/nginx-access.jsonl "$D"/client-log.txt "$D"/facts.json
  python3 "$TOOLS/session_server.py" --bind 127.0.0.1 --port 8765 --log "$D/server-log.jsonl" \
    >"$WORK/server.out" 2>&1 &
  SRV=$!
  wait_port 8765
  write_nginx_conf "$D/nginx-access.jsonl"
  nginx -c "$WORK/nginx.conf"
  wait_port 8443
  tcpdump -i lo -U -w "$D/capture.pcap" "$2" 2>"$WORK/tcpdump.log" &
  TD=$!
  for i in $(seq 1 50); do grep -q "listening on" "$WORK/tcpdump.log" && break; sleep 0.1; done
  sleep 1
  echo "== $SC ($2)"
}

stop_scenario() {
  sleep 1
  kill -QUIT "$(cat "$WORK/nginx.pid")"          # graceful: lets open connections finish
  for i in $(seq 1 50); do [ -f "$WORK/nginx.pid" ] || break; sleep 0.1; done
  sleep 0.5
  kill -INT "$TD"; wait "$TD" || true; TD=
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  cat "$WORK/tcpdump.log"
  chown root:root "$D/capture.pcap"   # tcpdump drops privileges to user tcpdump
  if grep -q Traceback "$WORK/server.out"; then cat "$WORK/server.out"; exit 1; fi
  python3 "$TOOLS/https_facts.py" "$D" >"$D/facts.json"
}

c() {  # one curl invocation (its own process, so its own connection), logged
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
  SSLKEYLOGFILE=$KL curl -sS -k "$@"
}

jar() { echo "-b $WORK/jar-$1 -c $WORK/jar-$1"; }

# ---------------------------------------------------------------------------
# a. curl --http2 over TLS 1.3: alice (TLS_AES_128_GCM_SHA256) and bob
#    (TLS_CHACHA20_POLY1305_SHA256), interleaved, one curl per request (11 connections
#    with the extra cookie-less one on TLS_AES_256_GCM_SHA384).
scenario_curl_h2_tls13() {
  start_scenario curl-h2-tls13 "tcp port 8443"
  { local H2="--http2 --tlsv1.3"
    local A="$H2 --tls13-ciphers TLS_AES_128_GCM_SHA256 $(jar alice)"
    local B="$H2 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 $(jar bob)"
    for o in "$A" "$B"; do c $o -o /dev/null -w "$W" $TLS/; sleep 0.2; done
    c $A -d 'user=alice&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    c $B -d 'user=bob&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    for p in account static/app.css; do
      c $A -o /dev/null -w "$W" $TLS/$p; sleep 0.2
      c $B -o /dev/null -w "$W" $TLS/$p; sleep 0.2
    done
    c $H2 --tls13-ciphers TLS_AES_256_GCM_SHA384 -o /dev/null -w "$W" $TLS/static/app.css   # no cookies
    sleep 0.2
    c $A -o /dev/null -w "$W" $TLS/logout; sleep 0.2
    c $B -o /dev/null -w "$W" $TLS/logout
  } >"$D/client-log.txt" 2>&1
  stop_scenario
  editcap --inject-secrets "tls,$KL" "$D/capture.pcap" "$D/capture-dsb.pcapng"
}

# b. curl --http1.1 --tls-max 1.2, one ECDHE-RSA suite per user (GCM x2, ChaCha20, CBC);
#    frank (CBC) sends his last three requests in ONE invocation = one keep-alive connection.
scenario_curl_h1_tls12() {
  start_scenario curl-h1-tls12 "tcp port 8443"
  { local H1="--http1.1 --tlsv1.2 --tls-max 1.2"
    local C="$H1 --ciphers ECDHE-RSA-AES128-GCM-SHA256 $(jar carol)"
    local Dv="$H1 --ciphers ECDHE-RSA-AES256-GCM-SHA384 $(jar dave)"
    local E="$H1 --ciphers ECDHE-RSA-CHACHA20-POLY1305 $(jar erin)"
    local F="$H1 --ciphers ECDHE-RSA-AES128-SHA256 $(jar frank)"
    for o in "$C" "$Dv" "$E" "$F"; do c $o -o /dev/null -w "$W" $TLS/; sleep 0.2; done
    c $C -d 'user=carol&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    c $Dv -d 'user=dave&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    c $E -d 'user=erin&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    c $F -d 'user=frank&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    for p in account static/app.css logout; do
      for o in "$C" "$Dv" "$E"; do c $o -o /dev/null -w "$W" $TLS/$p; sleep 0.2; done
    done
    c $F -o /dev/null -o /dev/null -o /dev/null -w "$W" \
      $TLS/account $TLS/static/app.css $TLS/logout
  } >"$D/client-log.txt" 2>&1
  stop_scenario
}

# c. Python http.client + ssl (keylog_filename), one user (heidi), cookies kept by hand,
#    two keep-alive connections: TLS 1.3 with OpenSSL's default suites and no ALPN
#    (GET /, POST /login, GET /account with an Authorization: Basic header the app
#    ignores), then TLS 1.2 ECDHE-RSA-AES256-SHA (CBC, SHA-1 MAC) with ALPN http/1.1.
scenario_python_ssl() {
  start_scenario python-ssl "tcp port 8443"
  python3 - "$KL" >"$D/client-log.txt" 2>&1 <<'EOF'
import base64, http.client, ssl, sys

KEYLOG = sys.argv[1]
jar = {}

def context(alpn, tls12_cipher=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = KEYLOG
    if alpn:
        ctx.set_alpn_protocols(["http/1.1"])
    if tls12_cipher:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_cipher)
    return ctx

def request(conn, method, path, body=None, headers=None):
    h = dict(headers or {})
    if jar:
        h["Cookie"] = "; ".join("%s=%s" % kv for kv in jar.items())
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    resp.read()
    for v in resp.headers.get_all("Set-Cookie") or []:
        name, _, rest = v.partition("=")
        value = rest.split(";", 1)[0]
        if not value or "max-age=0" in v.lower():
            jar.pop(name, None)
        else:
            jar[name] = value
    s = conn.sock
    print("  python: local_port=%d %s %s %d %s %s alpn=%s" % (
        s.getsockname()[1], method, path, resp.status, s.version(), s.cipher()[0],
        s.selected_alpn_protocol()), flush=True)

one = http.client.HTTPSConnection("127.0.0.1", 8443, context=context(False))
request(one, "GET", "/")
request(one, "POST", "/login", "user=heidi&pass=x")
auth = "Basic " + base64.b64encode(b"heidi:x").decode()
request(one, "GET", "/account", headers={"Authorization": auth})
one.close()
two = http.client.HTTPSConnection("127.0.0.1", 8443,
                                  context=context(True, "ECDHE-RSA-AES256-SHA"))
request(two, "GET", "/static/app.css")
request(two, "GET", "/logout")
two.close()
EOF
  stop_scenario
}

# d. headless Chromium, two profiles (ivan, judy), HTTP/2 over TLS 1.3.  Run 1 per profile
#    loads /login-form?user=U&next=/account: the page fetch()es GET / (pre-login id),
#    POSTs the login (rotation) and goes to /account, in one browser run.  Run 2 per profile
#    loads /account again: PHPSESSID has no Expires, so the restarted browser no longer has
#    it (only the persistent lang=en): that connection belongs to no session.
chrome() {   # $1 = profile, $2 = URL
  echo "\$ chromium --user-data-dir=\$WORK/${1##*/} ... --dump-dom '$2'"
  timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --no-default-browser-check --disable-background-networking --disable-component-update \
    --disable-sync --disable-extensions --disable-default-apps --disable-domain-reliability \
    --disable-client-side-phishing-detection \
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
    --ignore-certificate-errors --ssl-key-log-file="$KL" --user-data-dir="$1" \
    --virtual-time-budget=5000 --dump-dom "$2" 2>>"$WORK/chromium.err" | sed 's/^/  dom: /'
}
scenario_chromium_two_profiles() {
  start_scenario chromium-two-profiles "tcp port 8443"
  { chromium --version
    for u in ivan judy; do
      chrome "$WORK/profile-$u" "$TLS/login-form?user=$u&next=/account"; sleep 0.5
    done
    for u in ivan judy; do chrome "$WORK/profile-$u" "$TLS/account"; sleep 0.5; done
  } >"$D/client-log.txt" 2>&1
  stop_scenario
}

# e. (the DSB copy of a. is made in scenario_curl_h2_tls13)

# f. one session over cleartext HTTP (nginx's port 8080) AND HTTPS (8443, HTTP/2):
#    the cookie has no Secure attribute, so curl sends it on both.
scenario_mixed_cleartext() {
  start_scenario mixed-cleartext "tcp port 8443 or tcp port 8080"
  { local K=$(jar kim)
    c --http1.1 $K -o /dev/null -w "$W" $CLEAR/; sleep 0.2
    c --http2 $K -d 'user=kim&pass=x' -o /dev/null -w "$W" $TLS/login; sleep 0.2
    c --http2 $K -o /dev/null -w "$W" $TLS/account; sleep 0.2
    c --http1.1 $K -o /dev/null -w "$W" $CLEAR/static/app.css
  } >"$D/client-log.txt" 2>&1
  stop_scenario
}

SCENARIOS=${*:-curl-h2-tls13 curl-h1-tls12 python-ssl chromium-two-profiles mixed-cleartext}
for s in $SCENARIOS; do
  "scenario_${s//-/_}"
done
ls -l "$ROOT"/*/capture*
