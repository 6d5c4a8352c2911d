//! Proto: protocol parsers, fed one connection's reassembled byte streams.
//! Parsers report facts (what was said, in which direction, when); they make
//! no session decisions.
//!
//! [`ConnParser`] is the per-connection consumer: it counts what reassembly
//! delivers (checking the stream contract), recognises the protocol by
//! content, on any port, and hands the bytes to that protocol's parser.

pub mod ftp;
pub mod http;
pub mod text;
pub mod tls;

use crate::flow::{At, Direction, StreamConsumer};
use ftp::{FtpParser, FtpSink};
use http::{HttpLimits, HttpParser, HttpSink};
use serde::Serialize;
use std::sync::Arc;
use tls::keylog::KeyStore;
use tls::TlsParser;

/// What a connection carried, as recognised from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    /// An FTP control channel.
    Ftp,
    /// An FTP data connection (decided by the correlator).
    #[serde(rename = "ftp-data")]
    FtpData,
    /// TLS records: the handshake is read, the rest is encrypted.
    Tls,
    /// Bytes that no parser recognised.
    Unknown,
}

/// Counts each direction's delivered bytes, gap bytes and end of stream,
/// and checks the reassembly contract: data and gaps arrive in order, each
/// starting where the previous one ended, nothing after the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCounter {
    pub bytes: [u64; 2],
    pub gap_bytes: [u64; 2],
    pub ended: [bool; 2],
    /// Deliveries out of place (a reassembly bug if ever non-zero).
    pub out_of_order: u64,
}

impl ByteCounter {
    fn check(&mut self, dir: Direction, offset: u64) {
        let d = dir as usize;
        if offset != self.bytes[d] + self.gap_bytes[d] || self.ended[d] {
            self.out_of_order += 1;
        }
    }

    pub fn data(&mut self, dir: Direction, offset: u64, len: usize) {
        self.check(dir, offset);
        self.bytes[dir as usize] += len as u64;
    }

    pub fn gap(&mut self, dir: Direction, offset: u64, len: u64) {
        self.check(dir, offset);
        self.gap_bytes[dir as usize] += len;
    }

    pub fn end(&mut self, dir: Direction) {
        if self.ended[dir as usize] {
            self.out_of_order += 1;
        }
        self.ended[dir as usize] = true;
    }
}

#[derive(Debug)]
enum State {
    /// No byte yet.
    Undecided,
    Http(Box<HttpParser>),
    Ftp(Box<FtpParser>),
    Tls(Box<TlsParser>),
}

/// One connection's consumer.
#[derive(Debug)]
pub struct ConnParser {
    pub counter: ByteCounter,
    state: State,
    limits: HttpLimits,
    /// Key material for TLS, when given.
    keys: Option<Arc<KeyStore>>,
    mid_stream: bool,
    /// A gap came before any byte (direction and length).
    gap_first: Option<(Direction, u64)>,
}

/// TLS record types that open a connection: handshake (22); alert (21) and
/// application data (23) when seen from the middle.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [20..=23, 3, 0..=4, ..])
}

impl ConnParser {
    pub fn new(limits: HttpLimits, mid_stream: bool, keys: Option<Arc<KeyStore>>) -> Self {
        ConnParser {
            counter: ByteCounter::default(),
            state: State::Undecided,
            limits,
            keys,
            mid_stream,
            gap_first: None,
        }
    }

    /// Whether the capture lost bytes before the first byte it holds.
    pub fn gap_first(&self) -> bool {
        self.gap_first.is_some()
    }

    /// What the connection carried; `None` without payload.
    pub fn protocol(&self) -> Option<Protocol> {
        match &self.state {
            State::Undecided => None,
            State::Http(p) if p.saw_http() || p.counters.malformed > 0 && !p.is_not_http() => {
                Some(Protocol::Http)
            }
            State::Http(_) => Some(Protocol::Unknown),
            State::Ftp(p) if p.is_ftp() => Some(Protocol::Ftp),
            State::Ftp(_) => Some(Protocol::Unknown),
            State::Tls(_) => Some(Protocol::Tls),
        }
    }

    pub fn ftp(&self) -> Option<&FtpParser> {
        match &self.state {
            State::Ftp(p) => Some(p),
            _ => None,
        }
    }

    pub fn tls(&self) -> Option<&TlsParser> {
        match &self.state {
            State::Tls(p) => Some(p),
            _ => None,
        }
    }

    /// The HTTP/1.x parser: of the connection, or inside its TLS.
    pub fn http(&self) -> Option<&HttpParser> {
        match &self.state {
            State::Http(p) => Some(p),
            State::Tls(p) => p.http(),
            _ => None,
        }
    }
}

impl<S: HttpSink + FtpSink> StreamConsumer<S> for ConnParser {
    fn data(&mut self, at: At, dir: Direction, offset: u64, bytes: &[u8], sink: &mut S) {
        self.counter.data(dir, offset, bytes.len());
        if matches!(self.state, State::Undecided) {
            self.state = if looks_like_tls(bytes) {
                let mut p = TlsParser::new(self.keys.clone(), self.limits);
                if let Some((d, len)) = self.gap_first {
                    // Bytes lost before: that direction's framing is lost.
                    p.gap(d, len);
                }
                State::Tls(Box::new(p))
            } else if ftp::looks_like_ftp(dir, bytes) {
                State::Ftp(Box::default())
            } else {
                // Bytes lost before the first byte seen: the HTTP parser
                // starts by looking for a message start.
                let mut p =
                    HttpParser::new(self.limits, self.mid_stream || self.gap_first.is_some());
                if let Some((d, len)) = self.gap_first {
                    p.gap(d, len);
                }
                State::Http(Box::new(p))
            };
        }
        match &mut self.state {
            State::Http(p) => p.data(at, dir, bytes, sink),
            State::Ftp(p) => p.data(at, dir, bytes, sink),
            State::Tls(p) => p.data(at, dir, bytes, sink),
            State::Undecided => {}
        }
    }

    fn gap(&mut self, _at: At, dir: Direction, offset: u64, len: u64, _sink: &mut S) {
        self.counter.gap(dir, offset, len);
        match &mut self.state {
            // The first bytes decide the protocol; remember the loss.
            State::Undecided => {
                if self.gap_first.is_none() {
                    self.gap_first = Some((dir, len));
                }
            }
            State::Http(p) => p.gap(dir, len),
            State::Ftp(p) => p.gap(dir, len),
            State::Tls(p) => p.gap(dir, len),
        }
    }

    fn end(&mut self, at: At, dir: Direction, sink: &mut S) {
        self.counter.end(dir);
        match &mut self.state {
            State::Http(p) => p.end(at, dir, sink),
            State::Tls(p) => p.end(at, dir, sink),
            _ => {}
        }
    }
}
