//! gencap: writes a synthetic but realistic classic pcap (Ethernet) of HTTP
//! over TCP, for benchmarking and cross-checking `sessmap analyze`.
//!
//! ```text
//! cargo run --release --example gencap -- OUT.pcap SIZE_MB [SEED]
//! ```
//!
//! SIZE_MB is in 10^6 bytes (decimal megabytes); the file comes out within a
//! few percent of it (generation stops opening connections when the bytes
//! written plus those planned for open connections reach it, and every open
//! connection then runs to its end). Same SIZE_MB and SEED, same bytes out.
//! Timestamps (µs) start at 2026-11-28T10:00:00Z and never go back.
//!
//! What is in the capture (the vantage point is near the clients):
//! - thousands of connections, 100–500 open at a time (a target that drifts
//!   randomly in that band), interleaved in time;
//! - each one: SYN, SYN-ACK, ACK; an HTTP/1.1 GET of a few hundred bytes
//!   (Host, User-Agent, Cookie); a response of 1 KB to 4 MB segmented at the
//!   MSS (1448 bytes over IPv4, 1428 over IPv6), sent in slow-start flights
//!   one RTT apart (initial window 10, doubling to 64), ACKed by the client
//!   every 2 segments and at the end of each flight;
//! - a quarter of the connections are keep-alive with 2–6 requests, the
//!   client thinking 10 ms–5 s between them; idle connections are closed
//!   10 ms–15 s after the last response; RTT 5–200 ms, path 10–500 Mbit/s;
//! - response bodies: 80% 1–16 KB, 17% 16–256 KB, 3% 256 KB–4 MB
//!   (log-uniform within each band);
//! - ephemeral client ports per host; a 4-tuple is never reused while it is
//!   open, so every SYN starts a distinct connection;
//! - closing: client FIN or server FIN (`Connection: close`) for most, a
//!   client or server RST after the last response for a few, and a refused
//!   SYN (SYN → RST-ACK) for ~1%;
//! - about 0.3% of data segments are sent twice (the copy follows the
//!   original), and about 0.2% of segment pairs are swapped (out of order);
//!   nothing is lost, so a correct analyzer reports 0 missed bytes and
//!   exactly the retransmitted bytes printed at the end;
//! - ~10% of connections over IPv6.
//!
//! It streams: an event heap holds one pending packet per open connection,
//! and each connection keeps only its current flight (packet descriptors, not
//! bytes); payload bytes are a function of the stream offset, so a
//! retransmitted copy carries the same bytes as the original.
//!
//! At the end it prints `key=value` lines (packets, connections, the close
//! kinds with the Zeek `conn_state` each should get, payload and
//! retransmitted byte totals) on stdout.

use sessmap::capture::writer::{ethernet_tcp, flags, PcapWriter, Segment};
use sessmap::capture::LinkType;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

/// 2026-11-28T10:00:00Z, in nanoseconds.
const EPOCH_NS: u64 = 1_795_860_000 * 1_000_000_000;
const MS: u64 = 1_000_000;
const US: u64 = 1_000;
/// Per data segment: probability that it is sent twice.
const P_RETRANSMIT: f64 = 0.003;
/// Per pair of segments in a flight: probability that the two are swapped.
const P_SWAP: f64 = 0.002;
const MIN_OPEN: f64 = 100.0;
const MAX_OPEN: f64 = 500.0;
/// How often the generator checks concurrency and opens connections.
const SPAWN_TICK_NS: u64 = 5 * MS;
const INITIAL_CWND: u32 = 10;
const MAX_CWND: u32 = 64;
/// Pcap record header + Ethernet + TCP (no options).
const OVERHEAD_V4: u64 = 16 + 14 + 20 + 20;
const OVERHEAD_V6: u64 = 16 + 14 + 40 + 20;

/// xorshift64* (Vigna), seeded through splitmix64 so that small seeds differ.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// Log-uniform in [lo, hi].
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The client closes with FIN after its last response (Zeek SF).
    ClientFin,
    /// The server answers the last request with `Connection: close` and FIN (SF).
    ServerFin,
    /// The client aborts with RST after its last response (RSTO).
    ClientRst,
    /// The server resets after the last response (RSTR).
    ServerRst,
    /// Nobody listens: SYN, RST-ACK (REJ).
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Respond,
    AfterResponse,
    Done,
}

/// One packet to emit; payload bytes are built from the stream offset.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    ts: u64,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    /// Stream offset of the first payload byte (of the sender's stream).
    off: u64,
    len: u32,
}

struct Conn {
    client: SocketAddr,
    server: SocketAddr,
    host: String,
    mss: u64,
    rtt: u64,
    /// Nanoseconds to serialize one full segment at the path's bottleneck.
    ser: u64,
    c_isn: u32,
    s_isn: u32,
    /// Bytes each side has put in its stream so far (next offset).
    c_sent: u64,
    s_sent: u64,
    /// Highest contiguous server offset the client has acknowledged/received.
    c_rcv: u64,
    /// Current request: its stream offset and bytes.
    req_base: u64,
    req: Vec<u8>,
    /// Current response: stream offset, header, body length, body salt.
    resp_base: u64,
    resp_hdr: Vec<u8>,
    resp_body: u64,
    salt: usize,
    /// Body sizes of the responses still to request (next first).
    bodies: VecDeque<u64>,
    close: Close,
    phase: Phase,
    cwnd: u32,
    next_flight_ts: u64,
    queue: VecDeque<Pkt>,
    /// Planned file bytes not yet written (for the size budget).
    plan_left: u64,
    four_tuple: (SocketAddr, SocketAddr),
}

#[derive(Default)]
struct Totals {
    packets: u64,
    file_bytes: u64,
    connections: u64,
    ipv6_connections: u64,
    requests: u64,
    /// (client address, host) pairs that sent a request: one session each.
    sessions: std::collections::BTreeSet<(String, String)>,
    close: HashMap<&'static str, u64>,
    client_payload: u64,
    server_payload: u64,
    retx_segments: u64,
    retx_bytes: u64,
    swapped_pairs: u64,
    max_open: u64,
    first_ts: u64,
    last_ts: u64,
}

/// Text-like bytes the response bodies are cut from.
struct Pattern(Vec<u8>);

const PATTERN_LEN: usize = 1 << 16;

impl Pattern {
    fn new(rng: &mut Rng) -> Pattern {
        let words: &[&[u8]] = &[
            b"<div class=\"item\">",
            b"</div>\n",
            b"lorem ",
            b"ipsum ",
            b"session ",
            b"<a href=\"/catalog/",
            b"\">",
            b"</a>",
            b"{\"id\":",
            b",\"name\":\"",
            b"\"},",
            b"data ",
            b"stream ",
            b"\n",
        ];
        let mut v = Vec::with_capacity(PATTERN_LEN + 4096);
        while v.len() < PATTERN_LEN + 4096 {
            let word: &&[u8] = rng.pick(words);
            v.extend_from_slice(word);
            if rng.chance(0.2) {
                let n = rng.next() % 100_000;
                v.extend_from_slice(n.to_string().as_bytes());
            }
        }
        Pattern(v)
    }
}

fn http_date(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("Sat, 28 Nov 2026 {h:02}:{m:02}:{s:02} GMT")
}

impl Conn {
    fn frame_overhead(&self) -> u64 {
        if self.client.is_ipv4() {
            OVERHEAD_V4
        } else {
            OVERHEAD_V6
        }
    }

    fn seg_time(&self, len: u64) -> u64 {
        (self.ser * len / self.mss).max(US)
    }

    fn client_seq(&self) -> u32 {
        self.c_isn.wrapping_add(1).wrapping_add(self.c_sent as u32)
    }
    fn server_seq(&self) -> u32 {
        self.s_isn.wrapping_add(1).wrapping_add(self.s_sent as u32)
    }
    fn client_ack(&self) -> u32 {
        self.s_isn.wrapping_add(1).wrapping_add(self.c_rcv as u32)
    }

    fn push(&mut self, p: Pkt) {
        let ts = self.queue.back().map_or(p.ts, |b| p.ts.max(b.ts));
        self.queue.push_back(Pkt { ts, ..p });
    }

    fn ctl(&mut self, ts: u64, from_client: bool, fl: u8) {
        let (seq, ack) = if from_client {
            (self.client_seq(), self.client_ack())
        } else {
            (
                self.server_seq(),
                self.c_isn.wrapping_add(1).wrapping_add(self.c_sent as u32),
            )
        };
        self.push(Pkt {
            ts,
            from_client,
            flags: fl,
            seq,
            ack,
            off: 0,
            len: 0,
        });
    }

    /// The client sends its next request at `ts`; returns when it was sent.
    fn send_request(&mut self, ts: u64, rng: &mut Rng, t: &mut Totals) -> u64 {
        let paths = [
            "/",
            "/index.html",
            "/static/js/app.3f9a1c2e.js",
            "/static/css/main.css",
            "/api/v1/items?page=",
            "/images/product-",
            "/catalog/search?q=",
            "/download/archive-",
        ];
        let mut path = rng.pick(&paths).to_string();
        if path.ends_with('=') || path.ends_with('-') {
            path.push_str(&rng.range(1, 99_999).to_string());
        }
        let agents = [
            "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
            "curl/8.5.0",
        ];
        // One browser session per (client address, site): its id is the
        // same on every connection, as a real session cookie is.
        let token = session_token(&self.client.ip().to_string(), &self.host);
        t.sessions
            .insert((self.client.ip().to_string(), self.host.clone()));
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nCookie: sessionid={token}; theme=dark\r\nConnection: keep-alive\r\n\r\n",
            self.host,
            rng.pick(&agents),
        );
        self.req_base = self.c_sent;
        self.req = req.into_bytes();
        let len = self.req.len() as u32;
        let seq = self.client_seq();
        let ack = self.client_ack();
        let p = Pkt {
            ts,
            from_client: true,
            flags: flags::ACK | flags::PSH,
            seq,
            ack,
            off: self.req_base,
            len,
        };
        self.push(p);
        let mut end = ts;
        if rng.chance(P_RETRANSMIT) {
            end = ts + self.rtt.max(MS);
            self.push(Pkt { ts: end, ..p });
            t.retx_segments += 1;
            t.retx_bytes += len as u64;
        }
        self.c_sent += len as u64;
        t.client_payload += len as u64;
        t.requests += 1;
        end
    }

    /// Prepares the response to the request just sent; it starts at `ts`.
    fn start_response(&mut self, ts: u64, rng: &mut Rng) {
        let body = self.bodies.pop_front().unwrap_or(1024);
        let last = self.bodies.is_empty();
        let conn_hdr = if last && self.close == Close::ServerFin {
            "close"
        } else {
            "keep-alive"
        };
        let types = [
            "text/html; charset=utf-8",
            "application/json",
            "application/javascript",
            "text/css",
            "application/octet-stream",
        ];
        let hdr = format!(
            "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {body}\r\nConnection: {conn_hdr}\r\nCache-Control: max-age=600\r\n\r\n",
            http_date(ts),
            rng.pick(&types),
        );
        self.resp_base = self.s_sent;
        self.resp_hdr = hdr.into_bytes();
        self.resp_body = body;
        self.salt = (rng.next() % PATTERN_LEN as u64) as usize;
        self.cwnd = INITIAL_CWND;
        self.next_flight_ts = ts;
    }

    fn resp_end(&self) -> u64 {
        self.resp_base + self.resp_hdr.len() as u64 + self.resp_body
    }

    /// One flight of the response, starting no earlier than `now`.
    fn flight(&mut self, now: u64, rng: &mut Rng, t: &mut Totals) {
        let start = self.next_flight_ts.max(now);
        let end = self.resp_end();
        let mut segs: Vec<(u64, u32)> = Vec::new();
        let mut off = self.s_sent;
        while off < end && segs.len() < self.cwnd as usize {
            let len = (end - off).min(self.mss);
            segs.push((off, len as u32));
            off += len;
        }
        let mut ts = start;
        let ack_for_server = self.c_isn.wrapping_add(1).wrapping_add(self.c_sent as u32);
        for pair in segs.chunks(2) {
            let mut order: Vec<(u64, u32)> = pair.to_vec();
            if order.len() == 2 && rng.chance(P_SWAP) {
                order.swap(0, 1);
                t.swapped_pairs += 1;
            }
            for (off, len) in order {
                let psh = if off + len as u64 == end {
                    flags::PSH
                } else {
                    0
                };
                let p = Pkt {
                    ts,
                    from_client: false,
                    flags: flags::ACK | psh,
                    seq: self.s_isn.wrapping_add(1).wrapping_add(off as u32),
                    ack: ack_for_server,
                    off,
                    len,
                };
                self.push(p);
                ts += self.seg_time(len as u64);
                if rng.chance(P_RETRANSMIT) {
                    self.push(Pkt { ts, ..p });
                    ts += self.seg_time(len as u64);
                    t.retx_segments += 1;
                    t.retx_bytes += len as u64;
                }
            }
            let (o, l) = pair[pair.len() - 1];
            self.c_rcv = o + l as u64;
            let ack_ts = ts + rng.range(20, 80) * US;
            self.ctl(ack_ts, true, flags::ACK);
            ts = ts.max(ack_ts);
        }
        let sent = off - self.s_sent;
        t.server_payload += sent;
        self.s_sent = off;
        self.next_flight_ts = (start + self.rtt).max(ts + 100 * US);
        self.cwnd = (self.cwnd * 2).min(MAX_CWND);
    }

    /// Builds the next burst of packets; `now` is the time of the last one
    /// emitted. Leaves the queue empty only when the connection is over.
    fn next_burst(&mut self, now: u64, rng: &mut Rng, t: &mut Totals) {
        match self.phase {
            Phase::Open => {
                let ts = now;
                let syn = Pkt {
                    ts,
                    from_client: true,
                    flags: flags::SYN,
                    seq: self.c_isn,
                    ack: 0,
                    off: 0,
                    len: 0,
                };
                self.push(syn);
                if self.close == Close::Refused {
                    self.push(Pkt {
                        ts: ts + self.rtt,
                        from_client: false,
                        flags: flags::RST | flags::ACK,
                        seq: 0,
                        ack: self.c_isn.wrapping_add(1),
                        ..syn
                    });
                    self.phase = Phase::Done;
                    return;
                }
                self.push(Pkt {
                    ts: ts + self.rtt,
                    from_client: false,
                    flags: flags::SYN | flags::ACK,
                    seq: self.s_isn,
                    ack: self.c_isn.wrapping_add(1),
                    ..syn
                });
                let ack_ts = ts + self.rtt + rng.range(10, 40) * US;
                self.ctl(ack_ts, true, flags::ACK);
                let sent = self.send_request(ack_ts + rng.range(10, 200) * US, rng, t);
                let server_time = (rng.log_range(0.1, 30.0) * MS as f64) as u64;
                self.start_response(sent + self.rtt + server_time, rng);
                self.phase = Phase::Respond;
            }
            Phase::Respond => {
                self.flight(now, rng, t);
                if self.s_sent >= self.resp_end() {
                    self.phase = Phase::AfterResponse;
                    if self.bodies.is_empty() && self.close == Close::ServerFin {
                        // Connection: close: FIN right behind the last segment.
                        let ts = self.queue.back().map_or(now, |p| p.ts) + 50 * US;
                        self.ctl(ts, false, flags::FIN | flags::ACK);
                        self.s_sent += 1;
                        self.c_rcv += 1;
                        let ts = ts + rng.range(50, 500) * US;
                        self.ctl(ts, true, flags::FIN | flags::ACK);
                        self.c_sent += 1;
                        self.ctl(ts + self.rtt, false, flags::ACK);
                        self.phase = Phase::Done;
                    }
                }
            }
            Phase::AfterResponse => {
                if !self.bodies.is_empty() {
                    let think = (rng.log_range(10.0, 5000.0) * MS as f64) as u64;
                    let sent = self.send_request(now + think, rng, t);
                    let server_time = (rng.log_range(0.1, 30.0) * MS as f64) as u64;
                    self.start_response(sent + self.rtt + server_time, rng);
                    self.phase = Phase::Respond;
                    return;
                }
                let ts = now + (rng.log_range(10.0, 15_000.0) * MS as f64) as u64;
                match self.close {
                    Close::ClientFin => {
                        self.ctl(ts, true, flags::FIN | flags::ACK);
                        self.c_sent += 1;
                        self.ctl(ts + self.rtt, false, flags::FIN | flags::ACK);
                        self.s_sent += 1;
                        self.c_rcv += 1;
                        self.ctl(ts + self.rtt + rng.range(10, 40) * US, true, flags::ACK);
                    }
                    Close::ClientRst => self.ctl(ts, true, flags::RST | flags::ACK),
                    Close::ServerRst => self.ctl(ts + self.rtt, false, flags::RST | flags::ACK),
                    Close::ServerFin | Close::Refused => {}
                }
                self.phase = Phase::Done;
            }
            Phase::Done => {}
        }
    }

    /// The payload of `p`, written into `buf`.
    fn payload<'b>(&self, p: &Pkt, pattern: &Pattern, buf: &'b mut Vec<u8>) -> &'b [u8] {
        buf.clear();
        if p.len == 0 {
            return buf;
        }
        if p.from_client {
            let from = (p.off - self.req_base) as usize;
            buf.extend_from_slice(&self.req[from..from + p.len as usize]);
            return buf;
        }
        let mut pos = (p.off - self.resp_base) as usize;
        let mut left = p.len as usize;
        if pos < self.resp_hdr.len() {
            let n = (self.resp_hdr.len() - pos).min(left);
            buf.extend_from_slice(&self.resp_hdr[pos..pos + n]);
            pos += n;
            left -= n;
        }
        while left > 0 {
            let b = (pos - self.resp_hdr.len() + self.salt) % PATTERN_LEN;
            let n = left.min(pattern.0.len() - b);
            buf.extend_from_slice(&pattern.0[b..b + n]);
            pos += n;
            left -= n;
        }
        buf
    }
}

struct Gen {
    rng: Rng,
    pattern: Pattern,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    tie: u64,
    open: usize,
    open_tuples: HashSet<(SocketAddr, SocketAddr)>,
    next_port: Vec<u16>,
    target_open: f64,
    plan_outstanding: u64,
    budget: u64,
    spawning: bool,
    t: Totals,
}

const SPAWNER: usize = usize::MAX;
const CLIENTS_V4: u64 = 2000;
const CLIENTS_V6: u64 = 200;
const SERVERS: u64 = 40;

impl Gen {
    fn schedule(&mut self, ts: u64, slot: usize) {
        self.tie += 1;
        self.heap.push(Reverse((ts, self.tie, slot)));
    }

    fn body_size(rng: &mut Rng) -> u64 {
        let r = rng.unit();
        let (lo, hi) = if r < 0.80 {
            (1_000.0, 16_000.0)
        } else if r < 0.97 {
            (16_000.0, 256_000.0)
        } else {
            (256_000.0, 4_000_000.0)
        };
        rng.log_range(lo, hi) as u64
    }

    fn spawn(&mut self, ts: u64) {
        let rng = &mut self.rng;
        let r = rng.unit();
        let close = if r < 0.01 {
            Close::Refused
        } else if r < 0.04 {
            Close::ClientRst
        } else if r < 0.055 {
            Close::ServerRst
        } else if r < 0.45 {
            Close::ServerFin
        } else {
            Close::ClientFin
        };
        let v6 = rng.chance(0.10);
        let server_port = *rng.pick(&[80u16, 80, 80, 8080, 8000]);
        let (client_ip, server_ip, host_idx, client_idx) = if v6 {
            let c = rng.range(1, CLIENTS_V6);
            let s = rng.range(1, SERVERS);
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, c as u16)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x80, 0, 0, 0, 0, s as u16)),
                s,
                (CLIENTS_V4 + c) as usize,
            )
        } else {
            let c = rng.range(1, CLIENTS_V4);
            let s = rng.range(1, SERVERS);
            (
                IpAddr::V4(Ipv4Addr::new(10, 20, (c >> 8) as u8, c as u8)),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, s as u8)),
                s,
                c as usize,
            )
        };
        let server = SocketAddr::new(server_ip, server_port);
        // Ephemeral ports per client, never a 4-tuple that is still open.
        let client = loop {
            let p = &mut self.next_port[client_idx];
            let port = *p;
            *p = if *p >= 60_999 { 32_768 } else { *p + 1 };
            let c = SocketAddr::new(client_ip, port);
            if !self.open_tuples.contains(&(c, server)) {
                break c;
            }
        };
        self.open_tuples.insert((client, server));
        let n_req = if close == Close::Refused {
            0
        } else if rng.chance(0.25) {
            rng.range(2, 6)
        } else {
            1
        };
        let bodies: VecDeque<u64> = (0..n_req).map(|_| Self::body_size(rng)).collect();
        let mss = if v6 { 1428 } else { 1448 };
        let rtt = (rng.log_range(5.0, 200.0) * MS as f64) as u64;
        let mbps = rng.log_range(10.0, 500.0);
        let ser = ((mss + 54) as f64 * 8.0 / mbps * 1_000.0) as u64; // ns
        let host = format!("www.shop{host_idx}.example.com");
        let mut conn = Conn {
            client,
            server,
            host,
            mss,
            rtt,
            ser,
            c_isn: rng.next() as u32,
            s_isn: rng.next() as u32,
            c_sent: 0,
            s_sent: 0,
            c_rcv: 0,
            req_base: 0,
            req: Vec::new(),
            resp_base: 0,
            resp_hdr: Vec::new(),
            resp_body: 0,
            salt: 0,
            bodies,
            close,
            phase: Phase::Open,
            cwnd: INITIAL_CWND,
            next_flight_ts: 0,
            queue: VecDeque::new(),
            plan_left: 0,
            four_tuple: (client, server),
        };
        let ovh = conn.frame_overhead();
        let mut plan = 6 * (ovh + 4);
        for &b in &conn.bodies {
            let l = b + 200;
            let segs = l.div_ceil(mss);
            plan += l + segs * ovh + segs.div_ceil(2) * ovh + 450 + ovh;
        }
        conn.plan_left = plan;
        self.plan_outstanding += plan;
        self.t.connections += 1;
        if v6 {
            self.t.ipv6_connections += 1;
        }
        *self.t.close.entry(close_name(close)).or_default() += 1;
        let rng = &mut self.rng;
        conn.next_burst(ts, rng, &mut self.t);
        let first = conn.queue.front().map_or(ts, |p| p.ts);
        let slot = match self.free.pop() {
            Some(s) => {
                self.conns[s] = Some(conn);
                s
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.open += 1;
        self.t.max_open = self.t.max_open.max(self.open as u64);
        self.schedule(first, slot);
    }

    fn tick(&mut self, now: u64) {
        self.target_open =
            (self.target_open + (self.rng.unit() - 0.5) * 20.0).clamp(MIN_OPEN, MAX_OPEN);
        if self.spawning && self.t.file_bytes + self.plan_outstanding >= self.budget {
            self.spawning = false;
        }
        if !self.spawning {
            return;
        }
        while (self.open as f64) < self.target_open
            && self.t.file_bytes + self.plan_outstanding < self.budget
        {
            let at = now + self.rng.range(0, SPAWN_TICK_NS);
            self.spawn(at);
        }
        self.schedule(now + SPAWN_TICK_NS, SPAWNER);
    }

    fn run<W: Write>(&mut self, w: &mut PcapWriter<W>) -> std::io::Result<()> {
        self.schedule(EPOCH_NS, SPAWNER);
        let mut buf = Vec::with_capacity(2048);
        let mut last_ts = 0u64;
        while let Some(Reverse((ts, _, slot))) = self.heap.pop() {
            if slot == SPAWNER {
                self.tick(ts);
                continue;
            }
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            let Some(p) = conn.queue.pop_front() else {
                continue;
            };
            let (src, dst) = if p.from_client {
                (conn.client, conn.server)
            } else {
                (conn.server, conn.client)
            };
            let payload = conn.payload(&p, &self.pattern, &mut buf);
            let frame = ethernet_tcp(&Segment {
                src,
                dst,
                seq: p.seq,
                ack: p.ack,
                flags: p.flags,
                payload,
            });
            let ts = p.ts.max(last_ts);
            last_ts = ts;
            w.frame(ts, &frame)?;
            let written = 16 + frame.len() as u64;
            self.t.packets += 1;
            self.t.file_bytes += written;
            if self.t.first_ts == 0 {
                self.t.first_ts = ts;
            }
            self.t.last_ts = ts;
            let dec = written.min(conn.plan_left);
            conn.plan_left -= dec;
            self.plan_outstanding -= dec;
            if conn.queue.is_empty() {
                conn.next_burst(ts, &mut self.rng, &mut self.t);
            }
            match conn.queue.front() {
                Some(next) => {
                    let next_ts = next.ts;
                    self.schedule(next_ts, slot);
                }
                None => {
                    self.plan_outstanding -= conn.plan_left;
                    self.open_tuples.remove(&conn.four_tuple);
                    self.conns[slot] = None;
                    self.free.push(slot);
                    self.open -= 1;
                }
            }
        }
        Ok(())
    }
}

fn close_name(c: Close) -> &'static str {
    match c {
        Close::ClientFin => "client_fin",
        Close::ServerFin => "server_fin",
        Close::ClientRst => "client_rst",
        Close::ServerRst => "server_rst",
        Close::Refused => "refused",
    }
}

/// A 32-hex-digit session id for a (client, host) pair (FNV-1a, twice).
fn session_token(client: &str, host: &str) -> String {
    let fnv = |seed: u64| {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for b in client.bytes().chain([b'|']).chain(host.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    format!("{:016x}{:016x}", fnv(1), fnv(2))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 4 {
        eprintln!("usage: gencap OUT.pcap SIZE_MB [SEED]");
        return ExitCode::from(2);
    }
    let Ok(size_mb) = args[2].parse::<f64>() else {
        eprintln!("gencap: SIZE_MB must be a number, not {:?}", args[2]);
        return ExitCode::from(2);
    };
    let seed = match args.get(3).map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("gencap: SEED must be an unsigned integer");
            return ExitCode::from(2);
        }
    };
    match generate(&args[1], size_mb, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gencap: {}: {e}", args[1]);
            ExitCode::FAILURE
        }
    }
}

fn generate(path: &str, size_mb: f64, seed: u64) -> std::io::Result<()> {
    let file = File::create(path)?;
    let mut w = PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        LinkType::ETHERNET,
        false,
    )?;
    let mut rng = Rng::new(seed);
    let pattern = Pattern::new(&mut rng);
    // Each client starts its ephemeral ports somewhere in the Linux range.
    let next_port = (0..=CLIENTS_V4 + CLIENTS_V6)
        .map(|_| rng.range(32_768, 60_999) as u16)
        .collect();
    let mut g = Gen {
        rng,
        pattern,
        conns: Vec::new(),
        free: Vec::new(),
        heap: BinaryHeap::new(),
        tie: 0,
        open: 0,
        open_tuples: HashSet::new(),
        next_port,
        target_open: 300.0,
        plan_outstanding: 0,
        budget: (size_mb * 1e6) as u64,
        spawning: true,
        t: Totals::default(),
    };
    g.run(&mut w)?;
    w.into_inner().flush()?;
    let t = &g.t;
    let c = |k: &str| t.close.get(k).copied().unwrap_or(0);
    let out = format!(
        "file={path}\nseed={seed}\nfile_bytes={}\npackets={}\nconnections={}\nipv6_connections={}\nrequests={}\nsessions={}\n\
         close_client_fin={}\nclose_server_fin={}\nclose_client_rst={}\nclose_server_rst={}\nclose_refused={}\n\
         expect_state_SF={}\nexpect_state_RSTO={}\nexpect_state_RSTR={}\nexpect_state_REJ={}\n\
         client_payload_bytes={}\nserver_payload_bytes={}\nretransmitted_segments={}\nretransmitted_bytes={}\n\
         swapped_pairs={}\nmissed_bytes=0\nmax_open_connections={}\ncapture_seconds={:.3}\n",
        t.file_bytes + 24,
        t.packets,
        t.connections,
        t.ipv6_connections,
        t.requests,
        t.sessions.len(),
        c("client_fin"),
        c("server_fin"),
        c("client_rst"),
        c("server_rst"),
        c("refused"),
        c("client_fin") + c("server_fin"),
        c("client_rst"),
        c("server_rst"),
        c("refused"),
        t.client_payload,
        t.server_payload,
        t.retx_segments,
        t.retx_bytes,
        t.swapped_pairs,
        t.max_open,
        (t.last_ts - t.first_ts) as f64 / 1e9,
    );
    print!("{out}");
    Ok(())
}
