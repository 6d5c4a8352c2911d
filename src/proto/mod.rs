//! Proto: protocol parsers, fed one connection's reassembled byte streams.
//! Parsers report facts (what was said, in which direction, when); they make
//! no session decisions.
//!
//! [`ConnParser`] is the per-connection consumer: it counts what reassembly
//! delivers (checking the stream contract), recognises the protocol by
//! content, on any port, and hands the bytes to that protocol's parser.

pub mod ftp;
pub mod http;
pub mod http2;
pub mod text;
pub mod tls;

use crate::flow::{At, Direction, StreamConsumer};
use ftp::{FtpParser, FtpSink};
use http::{HttpCounters, HttpLimits, HttpParser, HttpSink, Switch};
use http2::{Http2Counters, Http2Parser};
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
    /// HTTP/2 in cleartext (h2c): by the client preface, or after an
    /// `Upgrade: h2c` that the server accepted.
    Http2(Box<Http2Parser>),
    Ftp(Box<FtpParser>),
    Tls(Box<TlsParser>),
}

/// A connection's HTTP, of either version (in cleartext or inside TLS).
#[derive(Debug, Clone, Copy)]
pub enum HttpView<'a> {
    V1(&'a HttpParser),
    V2(&'a Http2Parser),
}

impl<'a> HttpView<'a> {
    pub fn counters(self) -> &'a HttpCounters {
        match self {
            HttpView::V1(p) => &p.counters,
            HttpView::V2(p) => &p.counters,
        }
    }

    /// Whether the connection spoke HTTP: a request or response (HTTP/1.x),
    /// or HTTP/2 frames (even a connection opened and never used).
    pub fn saw_http(self) -> bool {
        match self {
            HttpView::V1(p) => p.saw_http(),
            HttpView::V2(p) => p.saw_http() || p.h2.frames > 0,
        }
    }

    pub fn gap_before_first_request(self) -> bool {
        match self {
            HttpView::V1(p) => p.gap_before_first_request,
            HttpView::V2(_) => false,
        }
    }

    /// "1.1" for HTTP/1.x, "2" for HTTP/2.
    pub fn version(self) -> &'static str {
        match self {
            HttpView::V1(_) => "1.1",
            HttpView::V2(_) => "2",
        }
    }

    pub fn h2(self) -> Option<&'a Http2Counters> {
        match self {
            HttpView::V2(p) => Some(&p.h2),
            HttpView::V1(_) => None,
        }
    }
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
    /// Counters of the HTTP/1.x parser that a tunnel or an h2c upgrade
    /// ended.
    carried: Option<Box<HttpCounters>>,
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
            carried: None,
        }
    }

    /// Whether the capture lost bytes before the first byte it holds.
    pub fn gap_first(&self) -> bool {
        self.gap_first.is_some()
    }

    /// What the connection carried; `None` without payload.
    pub fn protocol(&self) -> Option<Protocol> {
        // After a tunnel (a WebSocket 101, a CONNECT to something else) the
        // connection still spoke HTTP/1.x first.
        let carried_http = self
            .carried
            .as_ref()
            .is_some_and(|c| c.requests + c.responses > 0);
        match &self.state {
            State::Undecided if carried_http => Some(Protocol::Http),
            State::Undecided => None,
            State::Http(p) if p.saw_http() || p.counters.malformed > 0 && !p.is_not_http() => {
                Some(Protocol::Http)
            }
            State::Http(_) if carried_http => Some(Protocol::Http),
            State::Http(_) => Some(Protocol::Unknown),
            State::Http2(p) if p.saw_http() || p.stops()[0].is_none() => Some(Protocol::Http),
            State::Http2(_) => Some(Protocol::Unknown),
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

    /// The HTTP parser: of the connection, or inside its TLS.
    pub fn http(&self) -> Option<HttpView<'_>> {
        match &self.state {
            State::Http(p) => Some(HttpView::V1(p)),
            State::Http2(p) => Some(HttpView::V2(p)),
            State::Tls(p) => p
                .http()
                .map(HttpView::V1)
                .or_else(|| p.http2().map(HttpView::V2)),
            _ => None,
        }
    }
}

impl ConnParser {
    /// The parser for a stream whose first bytes are `bytes` (from `dir`):
    /// by content, on any port.
    fn detect(&self, dir: Direction, bytes: &[u8]) -> State {
        let client = dir == Direction::ToServer;
        if looks_like_tls(bytes) {
            let mut p = TlsParser::new(self.keys.clone(), self.limits);
            if let Some((d, len)) = self.gap_first {
                // Bytes lost before: that direction's framing is lost.
                p.gap(d, len);
            }
            State::Tls(Box::new(p))
        } else if self.gap_first.is_none()
            && (client && http2::looks_like_preface(bytes)
                || !client && http2::looks_like_settings(bytes))
        {
            // h2c by prior knowledge (the server may speak first).
            State::Http2(Box::new(Http2Parser::new(self.limits)))
        } else if ftp::looks_like_ftp(dir, bytes) {
            State::Ftp(Box::default())
        } else {
            // Bytes lost before the first byte seen: the HTTP parser
            // starts by looking for a message start.
            let mut p = HttpParser::new(self.limits, self.mid_stream || self.gap_first.is_some());
            if let Some((d, len)) = self.gap_first {
                p.gap(d, len);
            }
            State::Http(Box::new(p))
        }
    }

    /// The HTTP version the connection spoke: its parser's, else `1.1` when
    /// HTTP/1.x came before a tunnel.
    pub fn http_version(&self) -> Option<&'static str> {
        match self.http() {
            Some(h) if h.saw_http() => Some(h.version()),
            _ => self
                .carried
                .as_ref()
                .filter(|c| c.requests + c.responses > 0)
                .map(|_| "1.1"),
        }
    }

    /// The HTTP counters of the connection: of its parser, and of the
    /// HTTP/1.x parser a tunnel or an upgrade replaced.
    pub fn http_counters(&self) -> Option<HttpCounters> {
        let mut c = self.http().map(|h| *h.counters());
        if let Some(before) = &self.carried {
            c.get_or_insert_with(HttpCounters::default).add(before);
        }
        c
    }
}

impl<S: HttpSink + FtpSink> StreamConsumer<S> for ConnParser {
    fn data(&mut self, at: At, dir: Direction, offset: u64, mut bytes: &[u8], sink: &mut S) {
        self.counter.data(dir, offset, bytes.len());
        // Each turn ends with the bytes read, or with HTTP/1.x switching to
        // another protocol for the rest.
        while !bytes.is_empty() {
            if matches!(self.state, State::Undecided) {
                self.state = self.detect(dir, bytes);
            }
            let p = match &mut self.state {
                State::Http(p) => p,
                State::Http2(p) => return p.data(at, dir, bytes, sink),
                State::Ftp(p) => return p.data(at, dir, bytes, sink),
                State::Tls(p) => return p.data(at, dir, bytes, sink),
                State::Undecided => return,
            };
            let used = p.data_until_switch(at, dir, bytes, sink);
            bytes = &bytes[used..];
            let Some(switch) = p.take_switch() else {
                return;
            };
            // Requests still waiting (pipelined behind the one the switch
            // answered) get no HTTP/1.x answer any more.
            p.end(at, Direction::ToClient, sink);
            self.carried
                .get_or_insert_with(Box::default)
                .add(&p.counters);
            self.state = match switch {
                Switch::H2c(pair) => {
                    State::Http2(Box::new(Http2Parser::upgraded(self.limits, pair.0)))
                }
                // What the tunnel carries is found by content again.
                Switch::Tunnel => {
                    self.mid_stream = false;
                    self.gap_first = None;
                    State::Undecided
                }
            };
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
            State::Http2(p) => p.gap(dir, len),
            State::Ftp(p) => p.gap(dir, len),
            State::Tls(p) => p.gap(dir, len),
        }
    }

    fn end(&mut self, at: At, dir: Direction, sink: &mut S) {
        self.counter.end(dir);
        match &mut self.state {
            State::Http(p) => p.end(at, dir, sink),
            State::Http2(p) => p.end(at, dir, sink),
            State::Tls(p) => p.end(at, dir, sink),
            _ => {}
        }
    }
}
