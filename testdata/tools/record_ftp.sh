#!/bin/bash
# Records the testdata/ftp/<case>/ captures: real FTP sessions between Python ftplib /
# curl and tools/ftp_server.py (pyftpdlib), inside private network namespaces only:
#   * netns smftp-lo (only its own loopback: 127.0.0.1, ::1) for all IPv4 cases,
#   * netns smftp-cli (fd79::1) <-veth-> smftp-srv (fd79::2) for the ipv6 case.
# Nothing leaves those namespaces; they are deleted at the end.
# Run as root from /work/main:   bash testdata/tools/record_ftp.sh [case ...]
# (no argument = all cases).  Per case it writes capture.pcap, server-log.jsonl (the
# server's own record of every control/data connection = ground truth), client-log.txt
# (what the clients printed) and facts.json (tools/ftp_facts.py, exits 1 on any mismatch).
# Re-recording gives new ports/timestamps: the case READMEs must then be updated.
set -euo pipefail
ROOT=${FTP_OUT:-testdata/ftp}   # FTP_OUT=/some/dir: record elsewhere (dry run)
TOOLS=$(pwd)/testdata/tools
NS=smftp-lo
NSC=smftp-cli; NSS=smftp-srv
SRV=; TD=; WORK=

cleanup() {
  [ -n "$TD" ] && kill -INT "$TD" 2>/dev/null || true
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true
  TD=; SRV=
  sleep 0.3
  for n in $NS $NSC $NSS; do ip netns del $n 2>/dev/null || true; done
}
trap cleanup EXIT

wait_for() {  # pattern file
  for i in $(seq 1 50); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  echo "timeout waiting for '$1' in $2" >&2; cat "$2" >&2; return 1
}

setup_lo_ns() {
  ip netns del $NS 2>/dev/null || true
  ip netns add $NS
  ip -n $NS link set lo up
}

# start_case DIR SRV_NS CAP_NS CAP_IF [ftp_server.py options...]
start_case() {
  CASE=$1; D=$ROOT/$1; SNS=$2; CNS=$3; CIF=$4; shift 4
  mkdir -p "$D"
  rm -f "$D/capture.pcap" "$D/server-log.jsonl" "$D/client-log.txt" "$D/facts.json"
  WORK=$(mktemp -d /tmp/smftp.XXXXXX)
  ip netns exec "$SNS" python3 "$TOOLS/ftp_server.py" --log "$D/server-log.jsonl" "$@" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
  SRV=$!
  wait_for "listening on" "$WORK/server.out"
  FILTER=tcp; [ "$CIF" != lo ] && FILTER=
  ip netns exec "$CNS" tcpdump -i "$CIF" -U -w "$D/capture.pcap" $FILTER 2>"$WORK/tcpdump.log" &
  TD=$!
  wait_for "listening on" "$WORK/tcpdump.log"
  sleep 1
  echo "== $CASE: ftp_server.py $* -- $(cat "$WORK/server.out")"
}

# stop_case [ftp_facts.py options...]
stop_case() {
  sleep 1
  kill -INT "$TD"; wait "$TD" || true; TD=
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  cat "$WORK/tcpdump.log"
  chown root:root "$D/capture.pcap"   # tcpdump drops privileges to user tcpdump
  if grep -q Traceback "$WORK/server.err"; then cat "$WORK/server.err"; exit 1; fi
  python3 "$TOOLS/ftp_facts.py" "$D" "$@" >"$D/facts.json"
  rm -rf "$WORK"
}

c() {  # c NETNS curl-args... : print the command, run curl -sS -v in NETNS, keep the FTP dialogue
  local ns=$1 a; shift
  printf '$ curl'
  for a in "$@"; do
    a=${a//$WORK/\$WORK}
    case "$a" in
      *[!A-Za-z0-9_./:=@%\$-]*) printf " '%s'" "$a" ;;
      *) printf ' %s' "$a" ;;
    esac
  done
  echo
  ip netns exec "$ns" timeout 30 curl -sS -v "$@" 2>&1 | grep -E '^(< |> |\* (Connect|Trying|Establish|Connecting|Ftp|Preparing|Remembering))' \
    | sed 's/^> PASS .*/> PASS ******/'
}

py() {  # py NETNS args... : the ftplib clients
  local ns=$1; shift
  ip netns exec "$ns" timeout 90 python3 "$TOOLS/ftp_clients.py" "$@"
}

W='  curl: num_connects=%{num_connects} local=%{local_ip}:%{local_port} remote=%{remote_ip}:%{remote_port} %{response_code} size_download=%{size_download} size_upload=%{size_upload} %{url_effective}\n'

# ---------------------------------------------------------------------------
# a. one control session, PASV LIST + RETR, then PORT LIST + RETR (ftplib), port 21
case_passive_active() {
  setup_lo_ns
  start_case passive-active $NS $NS lo --bind 127.0.0.1 --port 21 --passive-ports 60000-60009
  py $NS passive-active 127.0.0.1 21 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# b. curl: EPSV (default) and EPRT (-P -) over IPv4, port 21
case_epsv_eprt() {
  setup_lo_ns
  start_case epsv-eprt $NS $NS lo --bind 127.0.0.1 --port 21 --passive-ports 60000-60009
  { U=ftp://alice:secret@127.0.0.1
    head -c 800 /dev/zero | tr '\0' 'e' >"$WORK/up-eprt.txt"
    head -c 1200 /dev/zero | tr '\0' 's' >"$WORK/up-epsv.txt"
    c $NS -o /dev/null -o /dev/null -w "$W" $U/ $U/a.txt          # EPSV: LIST + RETR, one control conn
    sleep 0.2
    c $NS -P - -o /dev/null -o /dev/null -w "$W" $U/b.bin $U/pub/  # EPRT: RETR + LIST, one control conn
    sleep 0.2
    c $NS -P - -T "$WORK/up-eprt.txt" -w "$W" $U/up-eprt.txt      # EPRT: STOR
    sleep 0.2
    c $NS -T "$WORK/up-epsv.txt" -w "$W" $U/up-epsv.txt           # EPSV: STOR
  } 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# c. IPv6 between two namespaces (fd79::1 client, fd79::2 server): EPSV + EPRT
case_ipv6() {
  for n in $NSC $NSS; do ip netns del $n 2>/dev/null || true; ip netns add $n; ip -n $n link set lo up; done
  ip link add smfv-cli netns $NSC address 02:79:00:00:00:01 type veth peer name smfv-srv netns $NSS address 02:79:00:00:00:02
  ip -n $NSC -6 addr add fd79::1/64 dev smfv-cli nodad
  ip -n $NSS -6 addr add fd79::2/64 dev smfv-srv nodad
  ip -n $NSC link set smfv-cli up
  ip -n $NSS link set smfv-srv up
  sleep 3   # let link-local DAD / initial MLD chatter finish before capturing
  start_case ipv6 $NSS $NSC smfv-cli --bind fd79::2 --port 21 --passive-ports 60000-60009
  { py $NSC ipv6 fd79::2 21
    sleep 0.2
    c $NSC -g -o /dev/null -w "$W" 'ftp://alice:secret@[fd79::2]/hello.txt'          # EPSV
    sleep 0.2
    c $NSC -g -P - -o /dev/null -w "$W" 'ftp://alice:secret@[fd79::2]/pub/c.txt'     # EPRT |2|fd79::1|..|
  } 2>&1 | tee "$D/client-log.txt"
  stop_case
  ip netns del $NSC; ip netns del $NSS
}

# d. control on port 2121, passive only, anonymous, kernel-assigned passive ports
case_odd_port() {
  setup_lo_ns
  start_case odd-port $NS $NS lo --bind 127.0.0.1 --port 2121
  { py $NS odd-port 127.0.0.1 2121
    sleep 0.2
    c $NS -o /dev/null -w "$W" ftp://127.0.0.1:2121/a.txt                     # anonymous, EPSV
    sleep 0.2
    c $NS --disable-epsv -o /dev/null -w "$W" ftp://127.0.0.1:2121/pub/       # anonymous, PASV LIST
  } 2>&1 | tee "$D/client-log.txt"
  stop_case --ftp-port 2121
}

# e. masquerade_address 10.99.99.1 in the 227 replies; clients connect to 127.0.0.1 anyway
case_nat_pasv() {
  setup_lo_ns
  start_case nat-pasv $NS $NS lo --bind 127.0.0.1 --port 21 --passive-ports 60100-60109 --masquerade 10.99.99.1
  { py $NS nat-pasv 127.0.0.1 21
    sleep 0.2
    # curl >= 7.74 ignores the address in a 227 reply by default (--ftp-skip-pasv-ip)
    c $NS --disable-epsv -o /dev/null -w "$W" ftp://alice:secret@127.0.0.1/b.bin
  } 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# f. one session, 14 data connections (LIST NLST MLSD RETR STOR APPE STOU, PASV and PORT)
case_many_transfers() {
  setup_lo_ns
  start_case many-transfers $NS $NS lo --bind 127.0.0.1 --port 21 --passive-ports 60000-60009
  py $NS many-transfers 127.0.0.1 21 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# g. two concurrent control sessions from one host, overlapping data connections
case_two_sessions() {
  setup_lo_ns
  start_case two-sessions $NS $NS lo --bind 127.0.0.1 --port 21
  py $NS two-sessions 127.0.0.1 21 2>&1 | tee "$D/client-log.txt"
  stop_case
}

# h. AUTH TLS (ftplib.FTP_TLS <-> pyftpdlib TLS_FTPHandler), self-signed cert, key log
case_auth_tls() {
  setup_lo_ns
  D=$ROOT/auth-tls; mkdir -p "$D"; rm -f "$D/cert.pem" "$D/tls-keys.log"
  CW=$(mktemp -d /tmp/smftp-cert.XXXXXX)
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$CW/key.pem" -out "$D/cert.pem" 2>/dev/null
  cat "$D/cert.pem" "$CW/key.pem" >"$CW/server.pem"
  start_case auth-tls $NS $NS lo --bind 127.0.0.1 --port 21 --passive-ports 60000-60009 --tls "$CW/server.pem"
  py $NS auth-tls 127.0.0.1 21 "$D/cert.pem" "$D/tls-keys.log" 2>&1 | tee "$D/client-log.txt"
  stop_case --keylog tls-keys.log
  rm -rf "$CW"
}

CASES=${*:-passive-active epsv-eprt ipv6 odd-port nat-pasv many-transfers two-sessions auth-tls}
for k in $CASES; do
  case_${k//-/_}
done
cleanup
trap - EXIT
ip netns list
ls -l $ROOT/*/capture.pcap
