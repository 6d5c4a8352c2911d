//! Entry points for coverage-guided fuzzing (the `fuzz/` crate, cargo-fuzz)
//! and for replaying what it found on stable (`tests/fuzz_regressions.rs`).
//!
//! Each target takes arbitrary bytes, runs one stage of the pipeline on
//! them, and panics when an invariant breaks, not only when the stage does:
//! - stream parsers (HTTP/1.x, FTP, TLS, HTTP/2) give the same facts and
//!   counters fed whole and fed a byte at a time;
//! - reassembly delivers each direction in order, every delivery starting
//!   where the last one ended, and its counters add up to what it delivered;
//! - decoding accounts for every frame (a segment or a named skip);
//! - a capture's report adds up (packets, segments, connections, sessions),
//!   is the same with 1 and 2 threads and read mapped or streamed (gzip),
//!   and renders in every format; a capture that cannot be read gets an
//!   error naming the file.
//!
//! Not part of the product's interface: hidden from the docs.

use crate::analyze::{analyze_files, Options};
use crate::capture::{Frame, LinkType};
use crate::decode::{Decoder, Endpoint, FragLimits, TcpFlags, TcpSegment};
use crate::flow::{
    At, ConnRecord, ConsumerFactory, Direction, FlowLimits, FlowTable, StreamConsumer,
};
use crate::proto::ftp::{FtpEvent, FtpParser, FtpSink};
use crate::proto::http::{HttpLimits, HttpParser, HttpSink, Transaction};
use crate::proto::http2::Http2Parser;
use crate::proto::tls::keylog::KeyLog;
use crate::proto::tls::TlsParser;
use crate::report::{render, Format, RenderOptions, Report, Views};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// A fuzz target: takes the input, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name its fuzz target and regression folder use.
pub const TARGETS: &[(&str, Target)] = &[
    ("capture", capture),
    ("decode", decode),
    ("reassembly", reassembly),
    ("http1", http1),
    ("ftp", ftp),
    ("tls_handshake", tls_handshake),
    ("keylog", keylog),
    ("tls_records", tls_records),
    ("http2", http2),
];

/// Runs the target named `name`; `false` if there is none.
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, target)) => {
            target(data);
            true
        }
        None => false,
    }
}

/// The input as a conversation: each piece is one byte (bit 0: the
/// direction, the rest: length - 1) and that many bytes (fewer at the end).
fn conversation(data: &[u8]) -> Vec<(Direction, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&head, tail)) = rest.split_first() {
        let dir = if head & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let len = (head >> 1) as usize + 1;
        let (piece, after) = tail.split_at(len.min(tail.len()));
        out.push((dir, piece));
        rest = after;
    }
    out
}

/// Feeds `pieces` to a fresh parser twice, as they are and a byte at a
/// time, and asserts that what it reported (`facts`) is the same.
fn same_whatever_the_split<P, S: Default>(
    pieces: &[(Direction, &[u8])],
    new: impl Fn() -> P,
    feed: impl Fn(&mut P, At, Direction, &[u8], &mut S),
    end: impl Fn(&mut P, At, &mut S),
    facts: impl Fn(&P, &S) -> String,
) {
    let mut runs = Vec::new();
    for bytewise in [false, true] {
        let mut parser = new();
        let mut sink = S::default();
        for (i, (dir, bytes)) in pieces.iter().enumerate() {
            let at = At {
                conn: 1,
                ts_ns: i as u64,
            };
            if bytewise {
                for b in bytes.chunks(1) {
                    feed(&mut parser, at, *dir, b, &mut sink);
                }
            } else {
                feed(&mut parser, at, *dir, bytes, &mut sink);
            }
        }
        let at = At {
            conn: 1,
            ts_ns: pieces.len() as u64,
        };
        end(&mut parser, at, &mut sink);
        runs.push(facts(&parser, &sink));
    }
    assert_eq!(
        runs[0], runs[1],
        "fed whole and fed a byte at a time differ"
    );
}

#[derive(Default)]
struct Transactions(Vec<Transaction>);

impl HttpSink for Transactions {
    fn transaction(&mut self, _at: At, tx: Transaction) {
        self.0.push(tx);
    }
}

/// HTTP/1.x: the first byte's bit 0 says whether the streams are seen from
/// their middle.
pub fn http1(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mid_stream = flags & 1 == 1;
    same_whatever_the_split(
        &conversation(rest),
        || HttpParser::new(HttpLimits::default(), mid_stream),
        |p, at, dir, bytes, sink: &mut Transactions| p.data(at, dir, bytes, sink),
        |p, at, sink| {
            p.end(at, Direction::ToServer, sink);
            p.end(at, Direction::ToClient, sink);
        },
        |p, sink| format!("{:?} {:?}", sink.0, p.counters),
    );
}

/// HTTP/2 (from its connection preface, which the seeds carry).
pub fn http2(data: &[u8]) {
    same_whatever_the_split(
        &conversation(data),
        || Http2Parser::new(HttpLimits::default()),
        |p, at, dir, bytes, sink: &mut Transactions| p.data(at, dir, bytes, sink),
        |p, at, sink| {
            p.end(at, Direction::ToServer, sink);
            p.end(at, Direction::ToClient, sink);
        },
        |p, sink| format!("{:?} {:?} {:?}", sink.0, p.counters, p.stops()),
    );
}

#[derive(Default)]
struct FtpEvents(Vec<FtpEvent>);

impl FtpSink for FtpEvents {
    fn ftp(&mut self, _at: At, event: FtpEvent) {
        self.0.push(event);
    }
}

/// The FTP control parser.
pub fn ftp(data: &[u8]) {
    same_whatever_the_split(
        &conversation(data),
        FtpParser::default,
        |p, at, dir, bytes, sink: &mut FtpEvents| p.data(at, dir, bytes, sink),
        |_, _, _| {},
        |p, sink| format!("{:?} {:?} {}", sink.0, p.counters, p.is_ftp()),
    );
}

/// The TLS handshake reader (no keys: the records stay opaque).
pub fn tls_handshake(data: &[u8]) {
    same_whatever_the_split(
        &conversation(data),
        || TlsParser::new(None, HttpLimits::default()),
        |p, at, dir, bytes, sink: &mut Transactions| p.data(at, dir, bytes, sink),
        |p, at, sink| {
            p.end(at, Direction::ToServer, sink);
            p.end(at, Direction::ToClient, sink);
        },
        |p, sink| {
            format!(
                "{:?} {:?} {:?} {:?}",
                p.facts,
                p.counters,
                p.stops().collect::<Vec<_>>(),
                sink.0
            )
        },
    );
}

/// The key log parser: whole text and line by line agree, and the counters
/// add up.
pub fn keylog(data: &[u8]) {
    let mut whole = KeyLog::default();
    let lines = whole.read("fuzz", data, 1);
    let mut by_line = KeyLog::default();
    let mut n = 0;
    let text = data.strip_suffix(b"\n").unwrap_or(data);
    for line in text.split(|b| *b == b'\n') {
        n += 1;
        by_line.line("fuzz", n, line);
    }
    let c = whole.counters;
    assert_eq!(c.lines, lines, "lines counted");
    assert!(c.secrets + c.malformed + c.ignored + c.over_limit <= c.lines);
    assert!(c.client_randoms <= c.secrets);
    assert_eq!(n, lines, "lines split");
    assert_eq!(c, by_line.counters, "whole and line by line");
    assert_eq!(whole.malformed, by_line.malformed);
}

/// The TLS record decryptor: a suite and version from the first two bytes,
/// keys from fixed secrets, then records (5-byte header, body up to its
/// length) opened one by one. What comes out lies inside the record.
pub fn tls_records(data: &[u8]) {
    use crate::proto::tls::keys::{tls12_keys, tls13_keys, Version};
    use crate::proto::tls::suites::SUITES;
    let [pick, version, rest @ ..] = data else {
        return;
    };
    let suite = &SUITES[*pick as usize % SUITES.len()];
    let version = [
        Version::Ssl30,
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
        Version::Tls13,
    ][*version as usize % 5];
    let keys = if version == Version::Tls13 {
        tls13_keys(suite, &vec![0x11; suite.prf.output_len()])
    } else {
        tls12_keys(
            suite,
            version,
            &[0x22; 48],
            &[0x33; 32],
            &[0x44; 32],
            pick & 0x80 != 0,
        )
        .map(|(client, _)| client)
    };
    let Some(mut keys) = keys else {
        return;
    };
    let mut rest = rest;
    while rest.len() >= 5 {
        let header = [rest[0], rest[1], rest[2], rest[3], rest[4]];
        let len = (u16::from_be_bytes([rest[3], rest[4]]) as usize).min(rest.len() - 5);
        let mut body = rest[5..5 + len].to_vec();
        rest = &rest[5 + len..];
        if header[0] == 0xff && version == Version::Tls13 {
            assert!(keys.update(), "a TLS 1.3 secret updates");
            continue;
        }
        if let Ok((_, range)) = keys.open(header, &mut body) {
            assert!(
                range.start <= range.end && range.end <= len,
                "plaintext inside the record"
            );
        }
    }
}

/// Decoding one frame per piece for the link type the first byte picks;
/// every frame ends as a segment or a named skip.
pub fn decode(data: &[u8]) {
    const LINKS: [LinkType; 11] = [
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::RAW_12,
        LinkType::RAW_14,
        LinkType::RAW,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::NFLOG,
        LinkType::LINUX_SLL2,
    ];
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let linktype = LINKS[pick as usize % LINKS.len()];
    let mut decoder = Decoder::new(FragLimits::default());
    let mut frames = 0u64;
    // Frames: a 2-byte length, then that many bytes.
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let (frame, after) = rest[2..].split_at(len.min(rest.len() - 2));
        rest = after;
        frames += 1;
        let frame = Frame {
            ts_ns: frames * 1_000,
            linktype,
            data: frame,
            orig_len: (frame.len() + (len & 7)) as u32,
            input: 0,
        };
        if let Some(seg) = decoder.decode(&frame) {
            assert!(
                seg.payload.len() <= 65_535,
                "a TCP payload fits an IP datagram"
            );
        }
    }
    decoder.finish();
    let stats = decoder.stats();
    let skipped: u64 = stats.skipped.values().sum();
    assert_eq!(
        stats.tcp_segments + skipped,
        frames,
        "every frame accounted for"
    );
}

/// One TCP segment of the reassembly target, relative to its direction's
/// initial sequence number.
#[derive(Debug, arbitrary::Arbitrary)]
struct Seg {
    from_server: bool,
    seq: u16,
    ack: u16,
    flags: u8,
    len: u8,
    /// Content: the byte at stream position p is `p as u8 ^ fill`, so a
    /// retransmission with another fill conflicts.
    fill: u8,
    /// Capture time step, in milliseconds.
    dt: u8,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Segments {
    isn: [u32; 2],
    segs: Vec<Seg>,
}

/// Per connection and direction: where the next delivery must start, what
/// was delivered, and whether the direction ended.
#[derive(Default)]
struct Checker {
    next: HashMap<(u64, usize), u64>,
    delivered: HashMap<(u64, usize), (u64, u64)>,
    ended: HashMap<(u64, usize), bool>,
    closed: Vec<ConnRecord>,
}

struct Stream(u64);

impl Checker {
    fn step(&mut self, conn: u64, dir: Direction, offset: u64, len: u64, gap: bool) {
        let key = (conn, dir as usize);
        assert!(
            !self.ended.get(&key).copied().unwrap_or(false),
            "bytes after the end"
        );
        let next = self.next.entry(key).or_insert(offset);
        assert_eq!(*next, offset, "a delivery starts where the last one ended");
        *next += len;
        let d = self.delivered.entry(key).or_default();
        if gap {
            d.1 += len;
        } else {
            d.0 += len;
        }
    }
}

impl StreamConsumer<Checker> for Stream {
    fn data(&mut self, at: At, dir: Direction, offset: u64, bytes: &[u8], sink: &mut Checker) {
        assert_eq!(at.conn, self.0);
        assert!(!bytes.is_empty(), "empty deliveries are not made");
        sink.step(self.0, dir, offset, bytes.len() as u64, false);
    }
    fn gap(&mut self, at: At, dir: Direction, offset: u64, len: u64, sink: &mut Checker) {
        assert_eq!(at.conn, self.0);
        sink.step(self.0, dir, offset, len, true);
    }
    fn end(&mut self, _at: At, dir: Direction, sink: &mut Checker) {
        sink.ended.insert((self.0, dir as usize), true);
    }
}

impl ConsumerFactory for Checker {
    type Consumer = Stream;
    fn open(&mut self, id: u64, _: &Endpoint, _: &Endpoint, _: bool) -> Stream {
        Stream(id)
    }
    fn close(&mut self, record: ConnRecord, consumer: Stream) {
        assert_eq!(record.id, consumer.0);
        self.closed.push(record);
    }
}

/// TCP reassembly fed a segment sequence of one connection (both
/// directions) built from the input.
pub fn reassembly(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(input) = <Segments as arbitrary::Arbitrary>::arbitrary(&mut u) else {
        return;
    };
    let limits = FlowLimits {
        // Small bounds, so that the fuzzer reaches them.
        reassembly: crate::flow::ReassemblyLimits {
            max_pending_bytes: 4096,
            max_pending_chunks: 16,
        },
        ..FlowLimits::default()
    };
    let mut table = FlowTable::new(limits, Checker::default());
    let ends = [
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 40000,
        },
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 80,
        },
    ];
    let mut ts_ns = 1_000_000_000u64;
    let mut payload = Vec::new();
    let mut segments = 0u64;
    for s in &input.segs {
        let d = s.from_server as usize;
        ts_ns += u64::from(s.dt) * 1_000_000;
        payload.clear();
        payload.extend((0..s.len).map(|i| (u32::from(s.seq) + u32::from(i)) as u8 ^ s.fill));
        let seg = TcpSegment {
            ts_ns,
            src: ends[d],
            dst: ends[1 - d],
            vlan: 0,
            seq: input.isn[d].wrapping_add(u32::from(s.seq)),
            ack: input.isn[1 - d].wrapping_add(u32::from(s.ack)),
            flags: TcpFlags(s.flags),
            payload: &payload,
            payload_missing: 0,
        };
        table.segment(&seg);
        segments += 1;
    }
    let (checker, stats) = table.finish();
    let mut packets = 0;
    for record in &checker.closed {
        packets += record.packets[0] + record.packets[1];
        for d in 0..2 {
            let c = &record.counters[d];
            let (bytes, gaps) = checker
                .delivered
                .get(&(record.id, d))
                .copied()
                .unwrap_or_default();
            assert_eq!(c.bytes, bytes, "delivered bytes counted");
            assert!(gaps <= c.missed, "gap bytes are missed bytes");
        }
    }
    assert!(packets <= segments, "no segment counted twice");
    assert_eq!(
        stats.connections as usize,
        checker.closed.len(),
        "every connection closed once"
    );
}

/// A whole capture file (pcap, pcapng or gzip of either) through the
/// pipeline.
pub fn capture(data: &[u8]) {
    let path = scratch_path("capture");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let report = analyze(&path, 1);
    let named = path.display().to_string();
    let report = match report {
        Ok(r) => r,
        Err(message) => {
            assert!(
                message.contains(&named),
                "an error names the file: {message}"
            );
            let _ = std::fs::remove_file(&path);
            return;
        }
    };
    check_report(&report);
    let json = json_of(&report);
    for format in [
        Format::Table,
        Format::Ndjson,
        Format::Csv,
        Format::Markdown,
        Format::Junit,
        Format::Html,
    ] {
        render(&report, format, &render_options(), &mut std::io::sink()).expect("renders");
    }
    // The comparisons below are trivial without a TCP segment (most mutated
    // inputs): skip them there, for speed.
    if report.stats.tcp_segments == 0 {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let threaded = analyze(&path, 2).expect("read once, read again");
    assert_eq!(json, json_of(&threaded), "1 and 2 threads give one report");
    if !data.starts_with(&[0x1f, 0x8b]) {
        // The same bytes streamed through gzip instead of mapped.
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(data);
        if let Ok(bytes) = gz.finish() {
            if std::fs::write(&path, bytes).is_ok() {
                let streamed = analyze(&path, 1).expect("read mapped, read streamed");
                assert_eq!(
                    body_of(&report),
                    body_of(&streamed),
                    "mapped and streamed give one report"
                );
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

fn analyze(path: &std::path::Path, threads: usize) -> Result<Report, String> {
    let options = Options {
        threads,
        ..Options::default()
    };
    analyze_files(&[path.to_path_buf()], &options, &mut |_| {}).map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        message
    })
}

fn render_options() -> RenderOptions {
    RenderOptions {
        views: Views {
            sessions: true,
            connections: true,
            findings: true,
            hosts: true,
        },
        colour: false,
        width: None,
        limit: None,
        local: false,
    }
}

fn json_of(report: &Report) -> String {
    let mut out = Vec::new();
    render(report, Format::Json, &render_options(), &mut out).expect("renders");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// The report without its inputs (their format and size differ between a
/// file and its gzip) and findings that name the input's format.
fn body_of(report: &Report) -> String {
    let json: serde_json::Value = serde_json::from_str(&json_of(report)).expect("JSON parses");
    format!(
        "{} {} {}",
        json["connections"], json["sessions"], json["stats"]["connections"]
    )
}

/// The facts of a report add up.
fn check_report(report: &Report) {
    let s = &report.stats;
    let skipped: u64 = s.skipped.values().sum();
    assert_eq!(
        s.packets,
        s.filtered + s.tcp_segments + skipped,
        "every packet accounted for"
    );
    assert_eq!(
        s.connections as usize,
        report.connections.len(),
        "a row per connection"
    );
    let in_rows: u64 = report
        .connections
        .iter()
        .map(|c| c.packets.client + c.packets.server)
        .sum();
    assert!(in_rows <= s.tcp_segments, "no segment in two rows");
    if s.limits.is_empty() {
        assert_eq!(in_rows, s.tcp_segments, "every segment in a row");
    }
    assert_eq!(
        s.sessions as usize,
        report.sessions.len(),
        "a session per entry"
    );
    let without = report
        .connections
        .iter()
        .filter(|c| c.sessions.is_empty())
        .count();
    assert_eq!(s.connections_without_session as usize, without);
}

/// A file for this process's inputs (libFuzzer runs one input at a time).
fn scratch_path(what: &str) -> PathBuf {
    let dir = std::env::var_os("SESSMAP_FUZZ_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("sessmap-fuzz-{what}-{}", std::process::id()))
}
