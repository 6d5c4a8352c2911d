//! HTTP/2 (RFC 9113) over one connection's two byte streams: frames,
//! header blocks decoded by HPACK ([`hpack`]), one [`Transaction`] per
//! stream, handed to the same sink as HTTP/1.x.
//!
//! Each direction reads frames as they come. DATA, PING, PRIORITY and
//! WINDOW_UPDATE payloads are skipped, never buffered; HEADERS,
//! PUSH_PROMISE and CONTINUATION payloads are collected into one header
//! block (at most `HttpLimits::max_header_bytes`) and decoded when
//! END_HEADERS comes. A request is the client's first header block on a
//! stream (`:method`, `:authority`, `:path`, `cookie` fields joined as
//! RFC 9113 §8.2.3 says, `authorization`); the server's first final header
//! block (`:status`, `set-cookie`, `location`) answers it. Later blocks on
//! a stream are trailers. A PUSH_PROMISE is a request of the server's,
//! answered on the promised stream.
//!
//! HPACK cannot resynchronise: after a capture gap, an HPACK error or a
//! header block over its bound, that direction's HTTP/2 is not read any
//! more (counted in [`Http2Counters`]). Streams waiting for responses are
//! bounded by `HttpLimits::max_pending`; the oldest is reported
//! unanswered to make room.

mod hpack;
mod huffman;

pub use hpack::MAX_TABLE;

use crate::flow::{At, Direction};
use crate::proto::http::message::{self, Auth, SetCookie};
use crate::proto::http::{
    self, HttpCounters, HttpLimits, HttpSink, Request, Response, Transaction,
};
use crate::proto::text::lossless;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a client's first bytes are (the start of) the preface.
pub fn looks_like_preface(first: &[u8]) -> bool {
    let n = first.len().min(PREFACE.len());
    n >= 4 && first[..n] == PREFACE[..n]
}

/// Whether a server's first bytes are a SETTINGS frame (servers may send
/// theirs before the client's preface arrives).
pub fn looks_like_settings(first: &[u8]) -> bool {
    match first {
        [a, b, c, SETTINGS, 0, 0, 0, 0, 0, ..] => {
            let len = u32::from_be_bytes([0, *a, *b, *c]);
            len % 6 == 0 && len <= 6 * 16
        }
        _ => false,
    }
}

/// The frame size a peer accepts before its SETTINGS_MAX_FRAME_SIZE
/// (RFC 9113 §6.5.2).
const DEFAULT_MAX_FRAME: u32 = 16_384;
/// Buffer capacity kept between frames and header blocks (larger ones are
/// given back).
const KEEP_CAPACITY: usize = 8 * 1024;
/// GOAWAY payload kept: last stream id and error code (debug data skipped).
const GOAWAY_KEPT: usize = 8;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;

const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// What HTTP/2 framing showed, for the report's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Http2Counters {
    pub frames: u64,
    /// Streams that carried a request (pushed ones included).
    pub streams: u64,
    pub pushes: u64,
    pub trailers: u64,
    pub continuations: u64,
    pub padded_frames: u64,
    pub resets: u64,
    pub goaways: u64,
    /// Frames longer than the receiver's SETTINGS_MAX_FRAME_SIZE (read on:
    /// the length field still frames the stream).
    pub frame_too_large: u64,
    /// Frames that break the grammar (bad padding, a CONTINUATION with no
    /// open header block, a header block on stream 0).
    pub malformed: u64,
    pub hpack_errors: u64,
    /// SETTINGS_HEADER_TABLE_SIZE values above [`MAX_TABLE`] (capped).
    pub hpack_table_capped: u64,
    /// HPACK table entries evicted (the table is per direction, bounded).
    pub hpack_evictions: u64,
    /// Table size updates above the SETTINGS_HEADER_TABLE_SIZE seen
    /// (accepted up to the cap: the SETTINGS may not be in the capture).
    pub hpack_size_over_settings: u64,
    /// Header blocks over `max_header_bytes` (the direction stops).
    pub header_block_too_large: u64,
    /// Decoded header lists over `max_header_bytes` (fields past it
    /// dropped).
    pub header_list_too_large: u64,
    /// Requests reported unanswered to keep the open streams bounded.
    pub stream_overflow: u64,
    /// Directions no longer read: after a gap, or an HPACK or framing
    /// error.
    pub stopped_by_gap: u64,
    pub stopped_by_error: u64,
    /// Capture gaps inside the payload of a skipped frame (DATA...): read
    /// past, framing intact.
    pub gaps_skipped: u64,
}

/// Why a direction's HTTP/2 is no longer read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Http2Stop {
    Gap,
    Hpack,
    HeaderBlockTooLarge,
    Malformed,
    /// The client did not start with the preface.
    NoPreface,
}

/// The header block being collected on one side.
#[derive(Debug, Clone, Copy)]
struct OpenBlock {
    stream: u32,
    /// `Some(promised)` for a PUSH_PROMISE.
    promised: Option<u32>,
}

/// The frame being read.
#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    /// Payload bytes not read yet.
    left: usize,
    /// Payload bytes to collect into `payload`.
    keep: usize,
}

#[derive(Debug)]
struct Side {
    /// Preface bytes still to match (the client's).
    preface: usize,
    head: [u8; 9],
    head_len: usize,
    frame: Option<Frame>,
    payload: Vec<u8>,
    block: Vec<u8>,
    open: Option<OpenBlock>,
    /// Decodes the header blocks this side sends.
    hpack: hpack::Decoder,
    /// The largest frame the receiver accepts.
    max_frame: u32,
    stop: Option<Http2Stop>,
    /// Stream bytes read.
    offset: u64,
}

impl Side {
    fn new(preface: bool) -> Side {
        Side {
            preface: if preface { PREFACE.len() } else { 0 },
            head: [0; 9],
            head_len: 0,
            frame: None,
            payload: Vec::new(),
            block: Vec::new(),
            open: None,
            hpack: hpack::Decoder::default(),
            max_frame: DEFAULT_MAX_FRAME,
            stop: None,
            offset: 0,
        }
    }
}

/// A stream's request, waiting for its response.
#[derive(Debug)]
struct Stream {
    request: Request,
    /// Bytes the request holds (for the pending bound).
    held: usize,
}

/// The fields of one decoded header block that sessions use.
#[derive(Debug, Default)]
struct Head {
    method: Option<String>,
    path: Option<String>,
    authority: Option<String>,
    status: Option<u16>,
    host: Option<String>,
    /// `cookie` fields joined with "; " (RFC 9113 §8.2.3).
    cookie: Option<String>,
    auth: Option<Auth>,
    set_cookies: Vec<SetCookie>,
    location_params: Vec<(String, String)>,
    /// RFC 7541 §4.1 size of the list so far.
    size: usize,
    over: bool,
}

impl Head {
    fn field(&mut self, name: &[u8], value: &[u8], max: usize) {
        self.size += name.len() + value.len() + 32;
        if self.size > max {
            self.over = true;
            return;
        }
        let text = || lossless(value);
        match name {
            b":method" => self.method = Some(text()),
            b":path" => self.path = Some(text()),
            b":authority" => self.authority = Some(text()),
            b":status" => {
                self.status = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .or(Some(0));
            }
            b"host" => self.host = Some(text()),
            b"cookie" => match &mut self.cookie {
                Some(c) => {
                    c.push_str("; ");
                    c.push_str(&text());
                }
                None => self.cookie = Some(text()),
            },
            b"authorization" => self.auth = message::parse_authorization(&text()),
            b"set-cookie" if self.set_cookies.len() < message::MAX_COOKIES => {
                self.set_cookies.extend(message::parse_set_cookie(&text()));
            }
            b"location" => message::url_params(&text(), &mut self.location_params),
            _ => {}
        }
    }

    fn request(self, ts_ns: u64) -> Request {
        let method = self.method.unwrap_or_default();
        let target = if method.eq_ignore_ascii_case("CONNECT") {
            self.authority.clone().unwrap_or_default()
        } else {
            self.path.unwrap_or_default()
        };
        let host = self
            .authority
            .as_deref()
            .or(self.host.as_deref())
            .map(http::host_only)
            .filter(|h| !h.is_empty());
        let mut req = Request {
            ts_ns,
            method,
            version: 2,
            host,
            auth: self.auth,
            ..Default::default()
        };
        if let Some(c) = &self.cookie {
            message::parse_cookie_header(c, &mut req.cookies);
        }
        message::url_params(&target, &mut req.url_params);
        req.target = http::truncate(target, http::MAX_TARGET);
        req
    }
}

/// The HTTP/2 state of one connection.
#[derive(Debug)]
pub struct Http2Parser {
    limits: HttpLimits,
    sides: [Side; 2],
    streams: FxHashMap<u32, Stream>,
    pending_bytes: usize,
    /// The host of the last request (for a response whose request is lost).
    last_host: Option<String>,
    /// The server's stream ended: later requests are unanswered at once.
    server_done: bool,
    pub counters: HttpCounters,
    pub h2: Http2Counters,
}

impl Http2Parser {
    /// A connection that starts with the client preface (prior knowledge,
    /// or TLS with ALPN `h2`).
    pub fn new(limits: HttpLimits) -> Self {
        Http2Parser {
            limits,
            sides: [Side::new(true), Side::new(false)],
            streams: FxHashMap::default(),
            pending_bytes: 0,
            last_host: None,
            server_done: false,
            counters: HttpCounters::default(),
            h2: Http2Counters::default(),
        }
    }

    /// After `101 Switching Protocols` to h2c: the upgrading request is
    /// stream 1, answered in HTTP/2 (RFC 7540 §3.2). The HTTP/1.1 parser
    /// counted that request.
    pub fn upgraded(limits: HttpLimits, request: Request) -> Self {
        let mut p = Http2Parser::new(limits);
        p.last_host.clone_from(&request.host);
        p.h2.streams += 1;
        p.open_stream(At::default(), 1, request, &mut NoSink);
        p
    }

    pub fn saw_http(&self) -> bool {
        self.counters.requests > 0 || self.counters.responses > 0
    }

    /// Where each direction stopped being read, if it did.
    pub fn stops(&self) -> [Option<Http2Stop>; 2] {
        [self.sides[0].stop, self.sides[1].stop]
    }

    pub fn data<S: HttpSink>(&mut self, at: At, dir: Direction, mut bytes: &[u8], sink: &mut S) {
        let d = dir as usize;
        while !bytes.is_empty() && self.sides[d].stop.is_none() {
            let side = &mut self.sides[d];
            if side.preface > 0 {
                let start = PREFACE.len() - side.preface;
                let n = side.preface.min(bytes.len());
                if bytes[..n] != PREFACE[start..start + n] {
                    self.stop(dir, Http2Stop::NoPreface);
                    return;
                }
                side.preface -= n;
                side.offset += n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let Some(mut frame) = side.frame else {
                let n = (9 - side.head_len).min(bytes.len());
                side.head[side.head_len..side.head_len + n].copy_from_slice(&bytes[..n]);
                side.head_len += n;
                side.offset += n as u64;
                bytes = &bytes[n..];
                if side.head_len == 9 {
                    side.head_len = 0;
                    self.frame_header(dir);
                    self.maybe_complete(at, dir, sink);
                }
                continue;
            };
            let n = frame.left.min(bytes.len());
            let keep = frame.keep.saturating_sub(side.payload.len()).min(n);
            side.payload.extend_from_slice(&bytes[..keep]);
            frame.left -= n;
            side.frame = Some(frame);
            side.offset += n as u64;
            bytes = &bytes[n..];
            self.maybe_complete(at, dir, sink);
        }
    }

    /// The capture lost `len` bytes: HPACK state is lost with them.
    pub fn gap(&mut self, dir: Direction, len: u64) {
        self.counters.lost_bytes += len;
        let side = &mut self.sides[dir as usize];
        if side.stop.is_some() {
            return;
        }
        // Bytes lost inside a frame whose payload is skipped anyway (DATA,
        // PING, WINDOW_UPDATE...) outside a header block cost nothing: the
        // frame's length still says where the next one starts.
        match &mut side.frame {
            Some(f) if f.keep == 0 && side.open.is_none() && len <= f.left as u64 => {
                f.left -= len as usize;
                side.offset += len;
                self.h2.gaps_skipped += 1;
            }
            _ => self.stop(dir, Http2Stop::Gap),
        }
    }

    /// A direction ended; when the server's does, waiting requests are
    /// reported unanswered.
    pub fn end<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        if dir == Direction::ToClient {
            self.server_done = true;
            let mut ids: Vec<u32> = self.streams.keys().copied().collect();
            ids.sort_unstable();
            let lost = self.sides[1].stop.is_some();
            for id in ids {
                if let Some(s) = self.close_stream(id) {
                    if lost {
                        self.counters.unpaired += 1;
                    }
                    sink.transaction(at, unanswered(s.request));
                }
            }
        }
    }

    fn stop(&mut self, dir: Direction, why: Http2Stop) {
        let side = &mut self.sides[dir as usize];
        side.stop = Some(why);
        side.payload = Vec::new();
        side.block = Vec::new();
        match why {
            Http2Stop::Gap => self.h2.stopped_by_gap += 1,
            _ => self.h2.stopped_by_error += 1,
        }
    }

    /// A frame header is complete: decide what of its payload to keep.
    fn frame_header(&mut self, dir: Direction) {
        let d = dir as usize;
        let h = self.sides[d].head;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let kind = h[3];
        let flags = h[4];
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        self.h2.frames += 1;
        if len > self.sides[d].max_frame {
            self.h2.frame_too_large += 1;
        }
        let len = len as usize;
        let max_block = self.limits.max_header_bytes;
        let keep = match kind {
            HEADERS | PUSH_PROMISE | CONTINUATION if len > max_block => {
                // The block cannot be decoded, and with it HPACK's state.
                self.h2.header_block_too_large += 1;
                self.stop(dir, Http2Stop::HeaderBlockTooLarge);
                return;
            }
            HEADERS | PUSH_PROMISE | CONTINUATION => len,
            SETTINGS => len.min(max_block),
            RST_STREAM => len.min(4),
            GOAWAY => len.min(GOAWAY_KEPT),
            _ => 0,
        };
        if self.sides[d].open.is_some() && kind != CONTINUATION {
            // RFC 9113 §6.10: nothing may come between a header block's
            // frames.
            self.h2.malformed += 1;
            self.stop(dir, Http2Stop::Malformed);
            return;
        }
        let side = &mut self.sides[d];
        side.payload.clear();
        side.frame = Some(Frame {
            kind,
            flags,
            stream,
            left: len,
            keep,
        });
    }

    fn maybe_complete<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        let d = dir as usize;
        match self.sides[d].frame {
            Some(f) if f.left == 0 => {
                self.sides[d].frame = None;
                let payload = std::mem::take(&mut self.sides[d].payload);
                self.frame(at, dir, f, &payload, sink);
                // Keep a small buffer for the next frame, not a large one.
                if self.sides[d].stop.is_none() && payload.capacity() <= KEEP_CAPACITY {
                    self.sides[d].payload = payload;
                }
            }
            _ => {}
        }
    }

    /// A whole frame (its kept payload).
    fn frame<S: HttpSink>(&mut self, at: At, dir: Direction, f: Frame, p: &[u8], sink: &mut S) {
        let padded = f.flags & PADDED != 0 && matches!(f.kind, DATA | HEADERS | PUSH_PROMISE);
        if padded {
            self.h2.padded_frames += 1;
        }
        match f.kind {
            HEADERS | PUSH_PROMISE => {
                let skip = if f.kind == HEADERS && f.flags & PRIORITY != 0 {
                    5
                } else if f.kind == PUSH_PROMISE {
                    4
                } else {
                    0
                };
                let Some((fragment, before)) = unpad(p, padded, skip) else {
                    self.h2.malformed += 1;
                    self.stop(dir, Http2Stop::Malformed);
                    return;
                };
                if f.stream == 0 || (f.kind == PUSH_PROMISE && dir == Direction::ToServer) {
                    self.h2.malformed += 1;
                    self.stop(dir, Http2Stop::Malformed);
                    return;
                }
                let promised = (f.kind == PUSH_PROMISE).then(|| {
                    u32::from_be_bytes([before[0], before[1], before[2], before[3]]) & 0x7fff_ffff
                });
                let side = &mut self.sides[dir as usize];
                side.block.clear();
                side.block.extend_from_slice(fragment);
                side.open = Some(OpenBlock {
                    stream: f.stream,
                    promised,
                });
                if f.flags & END_HEADERS != 0 {
                    self.header_block(at, dir, sink);
                }
            }
            CONTINUATION => {
                self.h2.continuations += 1;
                let side = &mut self.sides[dir as usize];
                match side.open {
                    Some(o) if o.stream == f.stream => {}
                    _ => {
                        self.h2.malformed += 1;
                        self.stop(dir, Http2Stop::Malformed);
                        return;
                    }
                }
                if side.block.len() + p.len() > self.limits.max_header_bytes {
                    self.h2.header_block_too_large += 1;
                    self.stop(dir, Http2Stop::HeaderBlockTooLarge);
                    return;
                }
                side.block.extend_from_slice(p);
                if f.flags & END_HEADERS != 0 {
                    self.header_block(at, dir, sink);
                }
            }
            SETTINGS if f.flags & ACK == 0 => {
                // What this side receives: blocks and frames of the other.
                let other = &mut self.sides[dir.other() as usize];
                for s in p.chunks_exact(6) {
                    let id = u16::from_be_bytes([s[0], s[1]]);
                    let value = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                    match id {
                        1 if !other.hpack.allow(value) => self.h2.hpack_table_capped += 1,
                        5 => other.max_frame = value,
                        _ => {}
                    }
                }
            }
            RST_STREAM => {
                self.h2.resets += 1;
                if let Some(s) = self.close_stream(f.stream) {
                    sink.transaction(at, unanswered(s.request));
                }
            }
            GOAWAY => self.h2.goaways += 1,
            _ => {}
        }
    }

    /// A header block is complete: decode it and act on it.
    fn header_block<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        let d = dir as usize;
        let Some(open) = self.sides[d].open.take() else {
            return;
        };
        let max = self.limits.max_header_bytes;
        let mut head = Head::default();
        let side = &mut self.sides[d];
        let (before, over) = (side.hpack.evictions, side.hpack.over_settings);
        let result = side.hpack.decode(&side.block, |n, v| head.field(n, v, max));
        self.h2.hpack_evictions += side.hpack.evictions - before;
        self.h2.hpack_size_over_settings += side.hpack.over_settings - over;
        if side.block.capacity() > KEEP_CAPACITY {
            side.block = Vec::new();
        }
        side.hpack.shrink(KEEP_CAPACITY);
        if result.is_err() {
            self.h2.hpack_errors += 1;
            self.stop(dir, Http2Stop::Hpack);
            return;
        }
        if head.over {
            self.h2.header_list_too_large += 1;
        }
        match (dir, open.promised) {
            (Direction::ToClient, Some(promised)) => {
                // The server's own request, answered on the promised stream.
                self.h2.pushes += 1;
                self.new_request(at, promised, head, sink);
            }
            (Direction::ToServer, _) if head.method.is_some() => {
                self.new_request(at, open.stream, head, sink);
            }
            (Direction::ToClient, None) if head.status.is_some() => {
                self.response(at, open.stream, head, sink);
            }
            _ => self.h2.trailers += 1,
        }
    }

    fn new_request<S: HttpSink>(&mut self, at: At, id: u32, head: Head, sink: &mut S) {
        self.counters.requests += 1;
        self.h2.streams += 1;
        let req = head.request(at.ts_ns);
        if req.host.is_some() && req.host != self.last_host {
            self.last_host.clone_from(&req.host);
        }
        if self.sides[1].stop.is_some() || self.server_done {
            // No response can be read any more.
            if !self.server_done {
                self.counters.unpaired += 1;
            }
            sink.transaction(at, unanswered(req));
            return;
        }
        if let Some(old) = self.close_stream(id) {
            // A stream id used twice: the first request is done with.
            self.h2.malformed += 1;
            sink.transaction(at, unanswered(old.request));
        }
        self.open_stream(at, id, req, sink);
    }

    fn open_stream<S: HttpSink>(&mut self, at: At, id: u32, request: Request, sink: &mut S) {
        let held = http::held_bytes(&request);
        while !self.streams.is_empty()
            && (self.streams.len() >= self.limits.max_pending
                || self.pending_bytes + held > self.limits.max_pending_bytes)
        {
            let oldest = self.streams.keys().copied().min().unwrap_or(0);
            self.h2.stream_overflow += 1;
            self.counters.pending_overflow += 1;
            if let Some(s) = self.close_stream(oldest) {
                sink.transaction(at, unanswered(s.request));
            }
        }
        self.pending_bytes += held;
        self.streams.insert(id, Stream { request, held });
    }

    fn close_stream(&mut self, id: u32) -> Option<Stream> {
        let s = self.streams.remove(&id)?;
        self.pending_bytes -= s.held;
        Some(s)
    }

    fn response<S: HttpSink>(&mut self, at: At, id: u32, head: Head, sink: &mut S) {
        let status = head.status.unwrap_or(0);
        if (100..200).contains(&status) {
            // Interim: the final response is still to come.
            return;
        }
        self.counters.responses += 1;
        let request = self.close_stream(id).map(|s| s.request);
        let host_hint = if request.is_none() {
            self.counters.unpaired += 1;
            self.last_host.clone()
        } else {
            None
        };
        let response = Response {
            ts_ns: at.ts_ns,
            status,
            set_cookies: head.set_cookies,
            location_params: head.location_params,
        };
        sink.transaction(
            at,
            Transaction {
                request,
                response: Some(response),
                host_hint,
            },
        );
    }
}

/// A request with no response.
fn unanswered(request: Request) -> Transaction {
    Transaction {
        request: Some(request),
        response: None,
        host_hint: None,
    }
}

/// A padded frame's fragment, after `skip` fixed bytes (priority, promised
/// stream), and those bytes; `None` when the padding does not fit.
fn unpad(p: &[u8], padded: bool, skip: usize) -> Option<(&[u8], &[u8])> {
    let (pad, rest) = if padded {
        let (&pad, rest) = p.split_first()?;
        (pad as usize, rest)
    } else {
        (0, p)
    };
    if rest.len() < skip + pad {
        return None;
    }
    let (before, rest) = rest.split_at(skip);
    Some((&rest[..rest.len() - pad], before))
}

/// A sink for the transactions of a stream seeded before any data.
struct NoSink;

impl HttpSink for NoSink {
    fn transaction(&mut self, _at: At, _tx: Transaction) {}
}

#[cfg(test)]
mod tests;
