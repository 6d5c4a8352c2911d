//! Shared helpers for the integration tests: run the binary, read its JSON,
//! and write edge-case captures with the project's own writer.

#![allow(dead_code)]

use serde_json::Value;
use sessmap::capture::writer::{ethernet_tcp, ip_tcp, PcapWriter, Segment};
use sessmap::capture::LinkType;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use sessmap::capture::writer::flags::{ACK, FIN, PSH, SYN};

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn sessmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessmap"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sessmap")
}

/// Runs `sessmap analyze --format json ARGS`, asserts exit 0, parses stdout.
pub fn analyze_json(args: &[&str]) -> Value {
    let mut all = vec!["analyze", "--format", "json"];
    all.extend_from_slice(args);
    let out = sessmap(&all);
    assert!(
        out.status.success(),
        "sessmap {all:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn conns(report: &Value) -> &Vec<Value> {
    report["connections"].as_array().expect("connections array")
}

/// A scripted TCP exchange between a client and a server, tracking
/// sequence numbers so tests read as the conversation.
pub struct Talk {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub cseq: u32,
    pub sseq: u32,
    pub ts_ns: u64,
    pub frames: Vec<(u64, Vec<u8>)>,
}

impl Talk {
    pub fn new(client: &str, server: &str, cisn: u32, sisn: u32) -> Talk {
        Talk {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            cseq: cisn,
            sseq: sisn,
            ts_ns: 1_700_000_000_000_000_000,
            frames: Vec::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.ts_ns += 1_000_000;
        self.ts_ns
    }

    /// Builds a segment without sending it (for reordering tests).
    pub fn segment(&self, from_client: bool, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst, ack) = if from_client {
            (self.client, self.server, self.sseq)
        } else {
            (self.server, self.client, self.cseq)
        };
        ethernet_tcp(&Segment {
            src,
            dst,
            seq,
            ack,
            flags,
            payload,
        })
    }

    pub fn push(&mut self, frame: Vec<u8>) {
        let ts = self.tick();
        self.frames.push((ts, frame));
    }

    pub fn handshake(&mut self) {
        let f = self.segment(true, SYN, self.cseq, b"");
        self.push(f);
        self.cseq = self.cseq.wrapping_add(1);
        let f = ethernet_tcp(&Segment {
            src: self.server,
            dst: self.client,
            seq: self.sseq,
            ack: self.cseq,
            flags: SYN | ACK,
            payload: b"",
        });
        self.push(f);
        self.sseq = self.sseq.wrapping_add(1);
        let f = self.segment(true, ACK, self.cseq, b"");
        self.push(f);
    }

    pub fn send(&mut self, from_client: bool, payload: &[u8]) {
        let seq = if from_client { self.cseq } else { self.sseq };
        let f = self.segment(from_client, ACK | PSH, seq, payload);
        self.push(f);
        if from_client {
            self.cseq = self.cseq.wrapping_add(payload.len() as u32);
        } else {
            self.sseq = self.sseq.wrapping_add(payload.len() as u32);
        }
    }

    /// A segment the capture lost: its bytes count in the sequence
    /// numbers (the peer acknowledges them) but no frame is written.
    pub fn lose(&mut self, from_client: bool, payload: &[u8]) {
        self.tick();
        if from_client {
            self.cseq = self.cseq.wrapping_add(payload.len() as u32);
        } else {
            self.sseq = self.sseq.wrapping_add(payload.len() as u32);
        }
    }

    pub fn close(&mut self) {
        let f = self.segment(true, FIN | ACK, self.cseq, b"");
        self.push(f);
        self.cseq = self.cseq.wrapping_add(1);
        let f = self.segment(false, FIN | ACK, self.sseq, b"");
        self.push(f);
        self.sseq = self.sseq.wrapping_add(1);
        let f = self.segment(true, ACK, self.cseq, b"");
        self.push(f);
    }
}

/// Writes frames to a classic pcap with the given link type.
pub fn write_pcap(path: &Path, linktype: LinkType, frames: &[(u64, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(file), linktype, false).unwrap();
    for (ts, f) in frames {
        w.frame(*ts, f).unwrap();
    }
    use std::io::Write;
    w.into_inner().flush().unwrap();
}

/// The IP packet inside an Ethernet frame built by the writer.
pub fn strip_ethernet(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

pub fn ip_of(seg: &Segment<'_>) -> Vec<u8> {
    ip_tcp(seg)
}

/// The FTP sessions of a report.
pub fn ftp_sessions(r: &Value) -> Vec<&Value> {
    r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "ftp")
        .collect()
}

/// The rule of each finding, in report order.
pub fn rules(r: &Value) -> Vec<&str> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect()
}
