#!/usr/bin/env bash
# The adversarial benchmark of issue 13: writes hostile captures with
# benches/adversarial.py, runs `sessmap analyze --format json` on each, and
# prints wall time, peak RSS, RSS per connection and packets/s, with the
# facts each must give checked (connections, sessions, what tripped).
#
# usage: benches/adversarial.sh [--quick]
#   --quick: a tenth of the sizes (a minute instead of ten).
# Needs python3 and GNU time (/usr/bin/time). Captures go to
# ${ADV_DIR:-target/adversarial} and are kept for reruns.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
[ "${1:-}" = "--quick" ] && scale=10
dir=${ADV_DIR:-target/adversarial}
mkdir -p "$dir"
cargo build --release --locked -q
bin=target/release/sessmap
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

printf '%-12s %9s %9s %8s %10s %9s %10s  %s\n' case n packets wall 'peak RSS' 'B/conn' 'packets/s' facts
run() {
    local case=$1 n=$(( $2 / scale ))
    local pcap="$dir/$case-$n.pcap"
    [ -s "$pcap" ] || python3 benches/adversarial.py "$case" "$n" "$pcap"
    local json="$dir/$case-$n.json"
    /usr/bin/time -f '%e %M' -o "$dir/time" "$bin" analyze --threads 1 --format json -o "$json" "$pcap" 2>"$dir/stderr" || true
    read -r wall rss <"$dir/time"
    python3 - "$case" "$n" "$json" "$wall" "$rss" <<'EOF'
import json, sys
case, n, path, wall, rss = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
r = json.load(open(path))
s = r["stats"]
facts, ok = [], True
def check(what, got, want):
    global ok
    good = got == want
    ok &= good
    facts.append(f"{what} {got}" + ("" if good else f" (want {want})"))
conns = s["connections"]
sessions = len(r["sessions"])
if case == "syns":
    check("connections", conns, n)
elif case == "holes":
    check("connections", conns, n)
elif case == "http":
    check("connections", conns, n)
    check("http sessions", sessions, n)
elif case == "stillclock":
    check("connections", conns, n)
elif case == "ticketchain":
    check("connections", conns, n)
    check("sessions", sessions, 1)
    check("chain length", len(r["sessions"][0]["connections"]) if sessions else 0, n)
elif case == "tls":
    check("connections", conns, n)
limits = s.get("limits", {})
if limits:
    facts.append("limits " + ",".join(f"{k}={v}" for k, v in sorted(limits.items())))
kb = rss * 1024
print(f"{case:<12} {n:>9} {s['packets']:>9} {wall:>7.2f}s {rss/1024:>8.0f}MB {kb/max(n,1):>9.0f} {s['packets']/max(wall,0.01):>10.0f}  "
      + "; ".join(facts) + ("" if ok else "  FACTS WRONG"))
EOF
}

run syns 1000000
run syns 5000000
run holes 100000
run http 100000
run http 1000000
run stillclock 1000000
run tls 100000
run ticketchain 5000
run ticketchain 20000
run ticketchain 50000
