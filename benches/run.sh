#!/usr/bin/env bash
# benches/run.sh: the sessmap throughput benchmark (see BENCHMARKS.md).
#
#   bash benches/run.sh
#
# The capture: the realistic one of ../shared/bench/gen_capture.py when it
# is there (bench-out/big.pcap with its truth bench-out/big.truth.json; make
# them as root with
#   python3 ../shared/bench/gen_capture.py --preset big --seed 2 \
#       --out bench-out/big.pcap --truth bench-out/big.truth.json
# about 1 minute here, 1.46 GB), else the synthetic one of examples/gencap.rs.
# REAL=bench-out/other.pcap (with other.truth.json beside it) picks another
# realistic capture; REAL=none forces the synthetic one.
#
# Environment:
#   SIZE_MB=400   size of the generated capture, in 10^6 bytes
#   SEED=1        gencap seed
#   ROUNDS=3      timed rounds (each: libpcap loop, readloop, sessmap with
#                 1 thread and with all threads)
#   THREADS=N     "all threads" (default: nproc)
#   TSHARK=0      leave out `tshark -q -z conv,tcp` (timed once when installed)
#   TCPFLOW=0     leave out `tcpflow -r` (timed once when installed)
#   READLOOP=0    leave out the readloop example (sessmap's reader alone)
#
# Steps: build sessmap (release), the gencap and readloop examples and the C
# libpcap loop; generate bench-out/bench.pcap unless it is there for the same
# SIZE_MB, SEED and gencap source (ground truth in bench-out/bench.gencap.txt);
# read it once to warm the page cache (nothing is dropped from it); run ROUNDS
# alternating rounds of the C loop, the readloop example (sessmap's capture
# stage alone, no decoding) and `sessmap analyze --format json -o /dev/null`
# with --threads 1 and --threads $THREADS, each under /usr/bin/time for wall
# seconds and peak RSS; tcpflow and tshark once each; then untimed sessmap
# runs whose JSON (bench-out/report.json) is checked against what gencap says
# it wrote (or the realistic capture's truth), and the 1-thread and
# all-threads reports against each other, byte for byte. Prints a Markdown
# table of medians.
#
# Needs: cargo, gcc, libpcap-dev, jq and GNU time (/usr/bin/time, Debian
# package `time`); time and jq are installed here if missing and running as
# root on a Debian-like system.
#
# Exit status: 0 ok; 1 a build, generation or timed command failed;
# 3 everything ran but sessmap's report disagrees with the generator (or,
# on the realistic capture, with its truth: benches/truth_check.py).

set -euo pipefail
export LC_ALL=C  # a '.' decimal point in $EPOCHREALTIME and awk

cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-400}
SEED=${SEED:-1}
ROUNDS=${ROUNDS:-3}
TSHARK=${TSHARK:-1}
THREADS=${THREADS:-$(nproc)}
READLOOP=${READLOOP:-1}
TCPFLOW=${TCPFLOW:-1}
OUT=bench-out
PCAP=$OUT/bench.pcap
META=$OUT/bench.gencap.txt
REAL=${REAL:-$OUT/big.pcap}
TRUTH=""
if [[ $REAL != none && -f $REAL && -f ${REAL%.pcap}.truth.json ]]; then
    PCAP=$REAL
    TRUTH=${REAL%.pcap}.truth.json
fi
SESSMAP=target/release/sessmap
GENCAP=target/release/examples/gencap
READER=target/release/examples/readloop
LOOP=target/pcap_loop

die() { echo "run.sh: $*" >&2; exit 1; }

# --- prerequisites ----------------------------------------------------------
# need_pkg CMD PACKAGE: CMD must exist; as root with apt, install PACKAGE.
need_pkg() {
    command -v "$1" >/dev/null && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "== $1 missing: installing the '$2' package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq "$2" >/dev/null \
            || die "could not install the '$2' package"
    else
        die "needs $1 (apt-get install $2)"
    fi
}
need_pkg /usr/bin/time time   # GNU time, for peak RSS
need_pkg jq jq
command -v gcc >/dev/null || die "needs gcc (and libpcap-dev)"
if [[ $TSHARK == 1 ]] && ! command -v tshark >/dev/null; then
    echo "== tshark not installed: left out (apt-get install tshark)"
    TSHARK=0
fi
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"

# --- builds (one at a time) -------------------------------------------------
echo "== building"
cargo build --release --quiet || die "cargo build --release failed"
cargo build --release --quiet --example gencap --example readloop || die "building the examples failed"
mkdir -p target
gcc -O2 benches/pcap_loop.c -lpcap -o "$LOOP" || die "building $LOOP failed"

# --- the capture ------------------------------------------------------------
mkdir -p "$OUT"
if [[ -n $TRUTH ]]; then
    echo "== using the realistic capture $PCAP (truth $TRUTH)"
    META=/nonexistent
else
# The generator's source hash is part of the key: a changed gencap regenerates.
want="size_mb=$SIZE_MB seed=$SEED gencap=$(sha256sum examples/gencap.rs | cut -c1-12)"
if [[ -f $PCAP && -f $META ]] && grep -qx "# $want" "$META"; then
    echo "== using existing $PCAP ($want)"
elif [[ -f $PCAP && ! -f $META ]]; then
    echo "== using existing $PCAP (no $META: generator facts unknown, checks skipped)"
else
    echo "== generating $PCAP ($want)"
    rm -f "$PCAP" "$META"
    { echo "# $want"; "$GENCAP" "$PCAP.tmp" "$SIZE_MB" "$SEED"; } > "$META.tmp" \
        || die "gencap failed"
    mv "$PCAP.tmp" "$PCAP"
    mv "$META.tmp" "$META"
fi
fi
meta() { sed -n "s/^$1=//p" "$META" 2>/dev/null; }
file_bytes=$(stat -c %s "$PCAP")

echo "== warm-up read"
cat "$PCAP" > /dev/null

# --- timed runs -------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

loop_s=(); loop_kb=(); rd_s=(); rd_kb=(); sm_s=(); sm_kb=(); smt_s=(); smt_kb=()
# timed NAME OUTFILE CMD...: runs CMD under GNU time; sets T_S (wall
# seconds), T_E (GNU time's %e) and T_KB (peak RSS in KB, %M). Exits the
# script if CMD fails. %e has 10 ms resolution, too coarse for runs of a
# tenth of a second, so T_S comes from bash's microsecond clock around the
# same call (it includes starting /usr/bin/time, about a millisecond).
timed() {
    local name=$1 out=$2 t0 t1; shift 2
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > "$out" 2> "$tmp/stderr"; then
        echo "run.sh: $name failed: $*" >&2
        cat "$tmp/stderr" "$tmp/time" >&2
        exit 1
    fi
    t1=$EPOCHREALTIME
    read -r T_E T_KB < <(tail -n 1 "$tmp/time")
    T_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average$(cut -d' ' -f1-3 /proc/loadavg | sed 's/^/ /')"
echo "== $ROUNDS rounds on $PCAP ($file_bytes bytes)"
for ((r = 1; r <= ROUNDS; r++)); do
    timed pcap_loop "$tmp/loop.out" "$LOOP" "$PCAP"
    loop_s+=("$T_S"); loop_kb+=("$T_KB")
    echo "   round $r  pcap_loop  ${T_S}s (time %e ${T_E}s)  ${T_KB} KB  ($(cat "$tmp/loop.out"))"
    if [[ $READLOOP == 1 ]]; then
        timed readloop "$tmp/read.out" "$READER" "$PCAP"
        rd_s+=("$T_S"); rd_kb+=("$T_KB")
        echo "   round $r  readloop   ${T_S}s (time %e ${T_E}s)  ${T_KB} KB  ($(cat "$tmp/read.out"))"
        cmp -s "$tmp/loop.out" "$tmp/read.out" || die "readloop and pcap_loop disagree"
    fi
    timed sessmap /dev/null "$SESSMAP" analyze --threads 1 --format json -o /dev/null "$PCAP"
    sm_s+=("$T_S"); sm_kb+=("$T_KB")
    echo "   round $r  sessmap -j1 ${T_S}s (time %e ${T_E}s)  ${T_KB} KB"
    timed sessmap /dev/null "$SESSMAP" analyze --threads "$THREADS" --format json -o /dev/null "$PCAP"
    smt_s+=("$T_S"); smt_kb+=("$T_KB")
    echo "   round $r  sessmap -j$THREADS ${T_S}s (time %e ${T_E}s)  ${T_KB} KB"
done
packets=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$tmp/loop.out")

tf_s=""; tf_kb=""
if [[ $TCPFLOW == 1 ]] && command -v tcpflow >/dev/null; then
    mkdir -p "$tmp/flows"
    timed tcpflow /dev/null tcpflow -r "$PCAP" -o "$tmp/flows"
    tf_s=$T_S; tf_kb=$T_KB
    rm -rf "$tmp/flows"
    echo "   once     tcpflow    ${tf_s}s (time %e ${T_E}s)  ${tf_kb} KB"
fi
ts_s=""; ts_kb=""
if [[ $TSHARK == 1 ]]; then
    timed tshark "$OUT/tshark-conv.txt" tshark -q -z conv,tcp -r "$PCAP"
    ts_s=$T_S; ts_kb=$T_KB
    echo "   once     tshark     ${ts_s}s (time %e ${T_E}s)  ${ts_kb} KB"
fi

# --- check the report against the generator ---------------------------------
echo "== checking sessmap's report (untimed runs)"
"$SESSMAP" analyze --threads 1 --format json -o "$OUT/report.json" "$PCAP" 2> "$OUT/report.stderr" \
    || { cat "$OUT/report.stderr" >&2; die "sessmap (check run) failed"; }
"$SESSMAP" analyze --threads "$THREADS" --format json -o "$OUT/report-threads.json" "$PCAP" 2>/dev/null \
    || die "sessmap --threads $THREADS (check run) failed"
threads_same=1
if cmp -s "$OUT/report.json" "$OUT/report-threads.json"; then
    echo "   --threads 1 and --threads $THREADS: the same report, byte for byte"
else
    echo "   --threads 1 and --threads $THREADS: the reports DIFFER ($OUT/report-threads.json)"
    threads_same=0
fi
if [[ -s $OUT/report.stderr ]]; then sed 's/^/   stderr: /' "$OUT/report.stderr"; fi
truth_ok=1
if [[ -n $TRUTH ]]; then
    echo "== checking sessions against $TRUTH"
    "$SESSMAP" analyze --show-secrets --format json -o "$OUT/report-secrets.json" "$PCAP" 2>/dev/null \
        || die "sessmap (truth run) failed"
    python3 benches/truth_check.py "$OUT/report-secrets.json" "$TRUTH" || truth_ok=0
    rm -f "$OUT/report-secrets.json"
fi
jq -r '
  def sum(f): [.connections[] | f] | add // 0;
  "stats.packets=\(.stats.packets)",
  "stats.tcp_segments=\(.stats.tcp_segments)",
  "stats.connections=\(.stats.connections)",
  "stats.sessions=\(.stats.sessions)",
  "stats.http.requests=\(.stats.http.requests)",
  "stats.http.malformed=\(.stats.http.malformed)",
  "stats.peak_open_connections=\(.stats.peak_open_connections)",
  "report.connection_rows=\(.connections | length)",
  "report.warnings=\(.warnings | length)",
  "report.limits=\(.stats.limits | to_entries | map("\(.key):\(.value)") | join(",") | if . == "" then "none" else . end)",
  "sum.bytes.client=\(sum(.bytes.client))",
  "sum.bytes.server=\(sum(.bytes.server))",
  "sum.missed_bytes=\(sum(.missed_bytes.client + .missed_bytes.server))",
  "sum.retransmitted_bytes=\(sum(.retransmitted_bytes.client + .retransmitted_bytes.server))",
  "sum.overlap_conflicts=\(sum(.overlap_conflicts.client + .overlap_conflicts.server))",
  "sum.gaps=\(sum(.gaps))",
  (.connections | group_by(.state) | .[] | "state.\(.[0].state)=\(length)")
' "$OUT/report.json" > "$OUT/report.facts"
fact() { sed -n "s/^$1=//p" "$OUT/report.facts"; }

mismatch=0
check() { # LABEL SESSMAP_VALUE EXPECTED
    local got=${2:-0} want=${3:-0} verdict=ok
    if [[ $got != "$want" ]]; then verdict=MISMATCH; mismatch=1; fi
    printf '   %-34s sessmap %-12s expected %-12s %s\n' "$1" "$got" "$want" "$verdict"
}
check "packets" "$(fact stats.packets)" "$packets"
if [[ -f $META ]]; then
    check "stats.connections" "$(fact stats.connections)" "$(meta connections)"
    check "connection rows" "$(fact report.connection_rows)" "$(meta connections)"
    check "HTTP requests" "$(fact stats.http.requests)" "$(meta requests)"
    check "HTTP malformed" "$(fact stats.http.malformed)" 0
    check "sessions (client, site)" "$(fact stats.sessions)" "$(meta sessions)"
    for st in SF RSTO RSTR REJ; do
        check "state $st" "$(fact "state.$st")" "$(meta "expect_state_$st")"
    done
    check "payload bytes client (unique)" "$(fact sum.bytes.client)" "$(meta client_payload_bytes)"
    check "payload bytes server (unique)" "$(fact sum.bytes.server)" "$(meta server_payload_bytes)"
    check "missed_bytes (total)" "$(fact sum.missed_bytes)" 0
    check "retransmitted_bytes (total)" "$(fact sum.retransmitted_bytes)" "$(meta retransmitted_bytes)"
    check "overlap_conflicts (total)" "$(fact sum.overlap_conflicts)" 0
    check "gaps (total)" "$(fact sum.gaps)" 0
fi
check "warnings" "$(fact report.warnings)" 0
check "limits tripped" "$(fact report.limits)" none
[[ -n $TRUTH ]] || echo "   other: peak_open_connections=$(fact stats.peak_open_connections) (gencap max open: $(meta max_open_connections)), capture_seconds=$(meta capture_seconds)"
grep '^state\.' "$OUT/report.facts" | sed 's/^/   sessmap /' | tr '\n' ' '; echo
if [[ -n $ts_s ]]; then
    echo "   tshark conv,tcp conversations: $(grep -c '<->' "$OUT/tshark-conv.txt")"
fi

# --- summary ----------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }
row() { # NAME SECS PEAK_KB
    awk -v n="$1" -v s="$2" -v kb="$3" -v b="$file_bytes" -v p="$packets" -v base="$L" 'BEGIN {
        ratio = base > 0 ? sprintf("%.2f", s / base) : "n/a"
        printf "| %s | %.3f | %s | %.0f | %.0f | %.1f |\n", n, s, ratio, b / 1e6 / s, p / s, kb / 1024 }'
}
L=$(median "${loop_s[@]}")
S=$(median "${sm_s[@]}")
echo
conns=$(meta connections || true)
if [[ -n $TRUTH ]]; then conns=$(jq '.counts.tcp_connections' "$TRUTH"); fi
echo "Capture: $PCAP, $(awk -v b="$file_bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB, $packets packets, $conns connections; $ROUNDS rounds, median wall time; peak RSS is the largest of the rounds."
echo
echo "| command | wall s (median) | × libpcap loop | MB/s | packets/s | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|"
row "libpcap loop (pcap_next_ex)" "$L" "$(maxof "${loop_kb[@]}")"
if [[ $READLOOP == 1 ]]; then
    row "readloop (sessmap's reader only)" "$(median "${rd_s[@]}")" "$(maxof "${rd_kb[@]}")"
fi
row "sessmap analyze --format json --threads 1" "$S" "$(maxof "${sm_kb[@]}")"
row "sessmap analyze --format json --threads $THREADS" "$(median "${smt_s[@]}")" "$(maxof "${smt_kb[@]}")"
if [[ -n $tf_s ]]; then row "tcpflow -r (1 run)" "$tf_s" "$tf_kb"; fi
if [[ -n $ts_s ]]; then row "tshark -q -z conv,tcp (1 run)" "$ts_s" "$ts_kb"; fi
echo
T=$(median "${smt_s[@]}")
echo "sessmap/loop ratio: $(awk -v s="$S" -v l="$L" 'BEGIN {printf "%.2f", s / l}') with 1 thread, $(awk -v s="$T" -v l="$L" 'BEGIN {printf "%.2f", s / l}') with $THREADS (median wall times)"
echo "raw: loop_s=(${loop_s[*]}) loop_kb=(${loop_kb[*]})${rd_s:+ readloop_s=(${rd_s[*]}) readloop_kb=(${rd_kb[*]})} sessmap_j1_s=(${sm_s[*]}) sessmap_j1_kb=(${sm_kb[*]}) sessmap_j${THREADS}_s=(${smt_s[*]}) sessmap_j${THREADS}_kb=(${smt_kb[*]})${tf_s:+ tcpflow_s=$tf_s tcpflow_kb=$tf_kb}${ts_s:+ tshark_s=$ts_s tshark_kb=$ts_kb}"

if [[ $threads_same -ne 1 ]]; then
    echo "run.sh: the report depends on the thread count" >&2
    exit 3
fi
if [[ $mismatch -ne 0 || $truth_ok -ne 1 ]]; then
    echo "run.sh: sessmap's report disagrees with the generator (see MISMATCH above)" >&2
    exit 3
fi
