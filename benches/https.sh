#!/usr/bin/env bash
# benches/https.sh: what decrypting costs (see BENCHMARKS.md, "HTTPS").
#
#   sudo bash benches/https.sh          # as root: it makes two namespaces
#
# Environment:
#   CLIENTS=96   client processes per protocol run (each its own cookie)
#   ROUNDS=5     timed rounds (each: the three sessmap runs, alternating)
#   CIPHER=TLS_AES_128_GCM_SHA256   the TLS 1.3 suite (curl --tls13-ciphers)
#
# Records the same traffic twice between two network namespaces joined by a
# veth pair (MTU 1500, addresses 10.98.0.1/2 only, no default route): nginx
# serves the same files and sets the same session cookie, first over TLS 1.3
# (HTTP/2 and HTTP/1.1 by ALPN, curl writing SSLKEYLOGFILE), then in
# cleartext (h2c by prior knowledge and HTTP/1.1); tcpdump captures on the
# server side. Then times, alternating within each round:
#   sessmap analyze bench-out/https.pcap --keylog bench-out/https.keylog
#   sessmap analyze bench-out/http.pcap          (the same traffic, cleartext)
#   sessmap analyze bench-out/https.pcap         (no keys: handshakes only)
# and prints medians, the ratio of the decrypting run to the cleartext one,
# and decrypted MB/s (stats.tls.bytes_decrypted / wall seconds). The reports
# are checked: every TLS connection decrypted, the same request count and
# session count as the cleartext run.
#
# Needs: nginx, curl, nghttp (nghttp2-client), tcpdump, openssl, ip
# (iproute2), ethtool, jq, GNU time.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-96}
ROUNDS=${ROUNDS:-5}
CIPHER=${CIPHER:-TLS_AES_128_GCM_SHA256}
OUT=bench-out
SESSMAP=target/release/sessmap
SV=smhs-sv
CL=smhs-cl
WORK=$(mktemp -d)

die() { echo "https.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it creates network namespaces)"
for t in nginx curl nghttp tcpdump openssl ip ethtool jq /usr/bin/time; do
    command -v "$t" >/dev/null || die "$t is missing"
done

cleanup() {
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    ip netns del $SV 2>/dev/null || true
    ip netns del $CL 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup 2>/dev/null || true
WORK=$(mktemp -d)

cargo build --release --locked -q
mkdir -p $OUT

# --- the two namespaces ------------------------------------------------------
ip netns add $SV
ip netns add $CL
ip link add smhs0 type veth peer name smhs1
ip link set smhs0 netns $SV
ip link set smhs1 netns $CL
ip -n $SV addr add 10.98.0.1/24 dev smhs0
ip -n $CL addr add 10.98.0.2/24 dev smhs1
for ns in $SV $CL; do
    ip -n $ns link set lo up
done
ip -n $SV link set smhs0 up mtu 1500
ip -n $CL link set smhs1 up mtu 1500
# Segments as on a wire: no offload merging into 64 KiB super-packets.
for pair in "$SV smhs0" "$CL smhs1"; do
    set -- $pair
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off 2>/dev/null || true
done

# --- nginx: the same files and cookie over TLS and in cleartext ------------
mkdir -p "$WORK/www"
chmod 755 "$WORK"  # nginx's workers read the files
# Files of a web page's sizes: many small, some large (same every run).
python3 - "$WORK/www" <<'EOF'
import os, random, sys
r = random.Random(7)
root = sys.argv[1]
for i in range(60):
    size = int(min(800_000, r.lognormvariate(9.0, 1.6)))
    with open(os.path.join(root, f"f{i}.bin"), "wb") as f:
        f.write(bytes(r.getrandbits(8) for _ in range(min(size, 4096))) * (size // 4096 + 1))
EOF
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=bench.test -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000;
    server {
        listen 10.98.0.1:8443 ssl http2;
        listen 10.98.0.1:8080;
        listen 10.98.0.1:8081 http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.3;
        root $WORK/www;
        location / {
            if (\$cookie_PHPSESSID = "") {
                add_header Set-Cookie "PHPSESSID=\$request_id; Path=/; HttpOnly";
            }
        }
    }
}
EOF
ip netns exec $SV nginx -c "$WORK/nginx.conf"
sleep 0.5

urls() {  # scheme port
    for i in $(seq 0 59); do
        echo "url = \"$1://10.98.0.1:$2/f$i.bin\""
        echo 'output = "/dev/null"'
    done
}

# One run: every client fetches every file, in parallel connections, with
# its own cookie jar (first request gets the cookie, the rest send it).
clients() {  # scheme port curl-options...
    local scheme=$1 port=$2; shift 2
    urls "$scheme" "$port" >"$WORK/urls.$port"
    for c in $(seq 1 "$CLIENTS"); do
        local jar="$WORK/jar.$port.$c"
        ip netns exec $CL curl -s --no-progress-meter -o /dev/null -k -c "$jar" -b "$jar" \
            "$@" "$scheme://10.98.0.1:$port/f0.bin"
        # Half the clients over HTTP/2 (one multiplexed connection), half
        # over HTTP/1.1 (up to 4 keep-alive connections).
        if [ $((c % 2)) = 0 ]; then
            ip netns exec $CL curl -s --no-progress-meter -k -c "$jar" -b "$jar" "$@" \
                --parallel --parallel-max 4 -K "$WORK/urls.$port" \
                ${H2:+$H2} >/dev/null
        else
            ip netns exec $CL curl -s --no-progress-meter -k -c "$jar" -b "$jar" "$@" --http1.1 \
                --parallel --parallel-max 4 -K "$WORK/urls.$port" >/dev/null
        fi
    done
}

record() {  # pcap port-filter, then the client command
    local pcap=$1 filter=$2; shift 2
    ip netns exec $SV tcpdump -i smhs0 -s 0 -U -w "$pcap" "$filter" 2>"$WORK/td.log" &
    local td=$!
    for _ in $(seq 1 50); do grep -q "listening on" "$WORK/td.log" && break; sleep 0.1; done
    "$@"
    sleep 1
    kill -INT $td; wait $td || true
}

echo "recording the TLS run ($CLIENTS clients)..." >&2
rm -f $OUT/https.keylog
export SSLKEYLOGFILE=$PWD/$OUT/https.keylog
H2=--http2 record $OUT/https.pcap "tcp port 8443" \
    clients https 8443 --tlsv1.3 --tls13-ciphers "$CIPHER"
unset SSLKEYLOGFILE
echo "recording the cleartext run..." >&2
# HTTP/1.1 clients on 8080 (curl), HTTP/2 ones on 8081 by h2c prior
# knowledge: nghttp, one multiplexed connection like curl's over TLS (curl
# 7.88 fails to reuse an h2c prior-knowledge connection: "Error in the HTTP2
# framing layer"). Each gets its cookie from its first request.
clear_clients() {
    urls http 8080 >"$WORK/urls.8080"
    for c in $(seq 1 "$CLIENTS"); do
        local jar="$WORK/jarc.$c"
        if [ $((c % 2)) = 0 ]; then
            ip netns exec $CL curl -s --no-progress-meter -o /dev/null -c "$jar" \
                --http2-prior-knowledge "http://10.98.0.1:8081/f0.bin"
            local id
            id=$(awk '$6 == "PHPSESSID" {print $7}' "$jar")
            [ -n "$id" ] || die "no cookie from the h2c server"
            ip netns exec $CL nghttp -n -H "cookie: PHPSESSID=$id" \
                $(for i in $(seq 0 59); do echo "http://10.98.0.1:8081/f$i.bin"; done)
        else
            ip netns exec $CL curl -s --no-progress-meter -o /dev/null -c "$jar" -b "$jar" \
                --http1.1 "http://10.98.0.1:8080/f0.bin"
            ip netns exec $CL curl -s --no-progress-meter -c "$jar" -b "$jar" --http1.1 \
                --parallel --parallel-max 4 -K "$WORK/urls.8080" >/dev/null
        fi
    done
}
record $OUT/http.pcap "tcp port 8080 or tcp port 8081" clear_clients
ls -l $OUT/https.pcap $OUT/http.pcap >&2

# --- timing -----------------------------------------------------------------
cat $OUT/https.pcap $OUT/http.pcap >/dev/null
run() {  # label, then sessmap args; wall from $EPOCHREALTIME (ms), RSS from time
    local label=$1; shift
    local t0=$EPOCHREALTIME
    /usr/bin/time -f "%M" -o "$WORK/t" $SESSMAP analyze "$@" --format json -o "$WORK/$label.json"
    local t1=$EPOCHREALTIME
    echo "$label $(awk "BEGIN {printf \"%.3f\", $t1 - $t0}") $(cat "$WORK/t")" >>"$WORK/times"
}
: >"$WORK/times"
for _ in $(seq 1 "$ROUNDS"); do
    run keys $OUT/https.pcap --keylog $OUT/https.keylog
    run clear $OUT/http.pcap
    run nokeys $OUT/https.pcap
done

# --- checks -----------------------------------------------------------------
k=$WORK/keys.json c=$WORK/clear.json
tls_conns=$(jq '[.connections[] | select(.tls)] | length' "$k")
decrypted=$(jq '.stats.tls.decrypted' "$k")
[ "$tls_conns" = "$decrypted" ] || die "only $decrypted of $tls_conns TLS connections decrypted"
rk=$(jq '.stats.http.requests' "$k"); rc=$(jq '.stats.http.requests' "$c")
[ "$rk" = "$rc" ] || die "requests: $rk decrypted, $rc in cleartext"
# HTTP sessions (the TLS run also links resumed TLS sessions).
http_sessions() { jq '[.sessions[] | select(.kind == "http")] | length' "$1"; }
sk=$(http_sessions "$k"); sc=$(http_sessions "$c")
[ "$sk" = "$sc" ] || die "HTTP sessions: $sk decrypted, $sc in cleartext"
bytes=$(jq '.stats.tls.bytes_decrypted' "$k")

median() { grep "^$1 " "$WORK/times" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rss() { grep "^$1 " "$WORK/times" | awk '{print $3}' | sort -n | tail -1; }
mk=$(median keys); mc=$(median clear); mn=$(median nokeys)
echo
echo "Traffic: $(stat -c %s $OUT/https.pcap) bytes of TLS capture, $(stat -c %s $OUT/http.pcap) cleartext;" \
     "$rk requests, $sk HTTP sessions, $tls_conns TLS connections ($CIPHER), $bytes bytes decrypted."
echo
echo "| run | wall (median of $ROUNDS) | × cleartext | peak RSS |"
echo "|---|---|---|---|"
echo "| cleartext capture | ${mc} s | 1.00× | $(rss clear) KB |"
echo "| TLS capture with --keylog | ${mk} s | $(awk "BEGIN {printf \"%.2f\", $mk/$mc}")× | $(rss keys) KB |"
echo "| TLS capture without keys | ${mn} s | $(awk "BEGIN {printf \"%.2f\", $mn/$mc}")× | $(rss nokeys) KB |"
echo
echo "Decrypted: $(awk "BEGIN {printf \"%.0f\", $bytes/$mk/1e6}") MB/s of plaintext (whole run, one core)."
