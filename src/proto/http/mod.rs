//! HTTP/1.x over one connection's two reassembled streams.
//!
//! A message parser per direction, with a queue of requests waiting for
//! their responses (keep-alive and pipelining: the oldest open request owns
//! the next final response). Headers are collected in a bounded buffer and
//! read with httparse; bodies are framed (Content-Length, chunked with
//! trailers, until close; none for HEAD, 1xx, 204, 304) and skipped, never
//! buffered. CONNECT and `101 Switching Protocols` turn the rest of the
//! connection into a tunnel. After a gap, each side looks for the next
//! request or status line at a line start and goes on from there.
//!
//! Facts leave as [`Transaction`]s, through [`HttpSink`], as soon as a
//! response completes its request (or the request is known unanswered).

pub(crate) mod message;
mod side;

pub use message::{Auth, SetCookie};

/// Message helpers for other modules' tests.
#[cfg(test)]
pub use message::{
    parse_set_cookie as parse_set_cookie_for_tests, url_params as url_params_for_tests,
};

use crate::flow::{At, Direction};
use crate::proto::text::lossless;
use serde::Serialize;
use side::{Framing, Side, Step};
use std::collections::VecDeque;

/// Where transactions go.
pub trait HttpSink {
    fn transaction(&mut self, at: At, tx: Transaction);
}

#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Bytes of one message's start line and headers.
    pub max_header_bytes: usize,
    /// Headers in one message.
    pub max_headers: usize,
    /// Bytes of one chunk-size or trailer line.
    pub max_line: usize,
    /// Requests waiting for a response on one connection.
    pub max_pending: usize,
    /// Bytes those waiting requests may hold (targets, cookies).
    pub max_pending_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_header_bytes: 64 * 1024,
            max_headers: 128,
            max_line: 8 * 1024,
            max_pending: 256,
            max_pending_bytes: 1 << 20,
        }
    }
}

/// What happened on the connection, for the report's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HttpCounters {
    pub requests: u64,
    pub responses: u64,
    /// Messages that broke the grammar or a limit (recorded, then skipped).
    pub malformed: u64,
    pub header_too_large: u64,
    pub too_many_headers: u64,
    pub line_too_long: u64,
    /// Requests reported unanswered because too many were waiting.
    pub pending_overflow: u64,
    /// Times a side lost its place (a gap or a malformed message) and looked
    /// for the next message start.
    pub resyncs: u64,
    /// Bytes skipped while looking for the next message start, plus bytes
    /// the capture lost.
    pub lost_bytes: u64,
    /// Requests and responses left unpaired because a capture gap may have
    /// held the message they pair with (see [`HttpParser`]).
    pub unpaired: u64,
    pub tunnels: u64,
}

impl HttpCounters {
    pub fn add(&mut self, c: &HttpCounters) {
        self.requests += c.requests;
        self.responses += c.responses;
        self.malformed += c.malformed;
        self.header_too_large += c.header_too_large;
        self.too_many_headers += c.too_many_headers;
        self.line_too_long += c.line_too_long;
        self.pending_overflow += c.pending_overflow;
        self.resyncs += c.resyncs;
        self.lost_bytes += c.lost_bytes;
        self.tunnels += c.tunnels;
        self.unpaired += c.unpaired;
    }
}

/// A request, as far as sessions care.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub ts_ns: u64,
    pub method: String,
    pub target: String,
    /// HTTP/1.x minor version.
    pub version: u8,
    /// The Host header (lower case, without port), else the authority of an
    /// absolute target.
    pub host: Option<String>,
    pub cookies: Vec<(String, String)>,
    pub auth: Option<Auth>,
    /// Path (`;name=value`) and query parameters of the target.
    pub url_params: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub ts_ns: u64,
    pub status: u16,
    pub set_cookies: Vec<SetCookie>,
    /// Path and query parameters of the Location header (a redirect that
    /// hands out a URL session id).
    pub location_params: Vec<(String, String)>,
}

/// A request and its response. Either may be missing: a request never
/// answered, or a response whose request the capture did not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transaction {
    pub request: Option<Request>,
    pub response: Option<Response>,
    /// For a response whose request the capture lost: the host the
    /// connection's last request named (the site its Set-Cookie belongs to).
    pub host_hint: Option<String>,
}

/// How a connection stopped being HTTP/1.x.
#[derive(Debug)]
pub enum Switch {
    /// `101` to `Upgrade: h2c`: HTTP/2 follows, and its stream 1 answers
    /// the request (the `101` is the interim answer, kept for a caller that
    /// does not switch).
    H2c(Box<(Request, Response)>),
    /// A CONNECT's tunnel, or a `101` to another protocol.
    Tunnel,
}

/// A request waiting for its response, or a place in the client's stream
/// where the capture lost bytes that may have held requests.
#[derive(Debug)]
enum Waiting {
    /// With the number of server-side gaps when it was queued.
    Request(Request, u64),
    Lost,
}

impl Transaction {
    /// A request with no response.
    fn unanswered(request: Request) -> Transaction {
        Transaction {
            request: Some(request),
            response: None,
            host_hint: None,
        }
    }
}

/// The HTTP state of one connection.
///
/// Pairing after capture loss. A gap that may hold message starts breaks
/// the rule "the oldest open request owns the next response": requests may
/// be missing from the queue (client gap) or responses from the stream
/// (server gap). Most clients are lock-step (one request at a time; no
/// browser pipelines): there, a response answers the newest request, or
/// the lost place in the client's stream after it, and older requests had
/// their responses lost. A connection that pipelined (a request sent while
/// another waited, with no server gap to explain it) cannot be realigned
/// after a gap without knowing how many messages the gap held: from the
/// first gap on, its responses and requests are reported unpaired. Either
/// way a response never lends its Set-Cookie to a request it may not
/// answer; each message left unpaired is counted (`unpaired`).
#[derive(Debug)]
pub struct HttpParser {
    limits: HttpLimits,
    client: Side,
    server: Side,
    pending: VecDeque<Waiting>,
    /// Gaps in the server's stream that may have held responses.
    server_gaps: u64,
    /// Gaps in the client's stream that may have held requests.
    client_gaps: u64,
    /// A request was sent while another waited (not lock-step).
    pipelined: bool,
    /// The Host of the last request (bounded by the header limit).
    last_host: Option<String>,
    /// Bytes held by `pending` (an estimate: targets, hosts, cookies).
    pending_bytes: usize,
    /// The server's stream ended: later requests are unanswered at once.
    server_done: bool,
    /// A gap came before the first request.
    pub gap_before_first_request: bool,
    /// The last request that offered `Upgrade: h2c`, until answered.
    h2c_offer: Option<Request>,
    /// The connection stopped being HTTP/1.x (see [`Switch`]).
    switched: Option<Switch>,
    pub counters: HttpCounters,
}

impl HttpParser {
    /// `mid_stream`: the capture holds no handshake, so the streams may
    /// start inside a message.
    pub fn new(limits: HttpLimits, mid_stream: bool) -> Self {
        HttpParser {
            limits,
            client: Side::new(true, mid_stream),
            server: Side::new(false, mid_stream),
            pending: VecDeque::new(),
            server_gaps: 0,
            client_gaps: 0,
            pipelined: false,
            last_host: None,
            pending_bytes: 0,
            server_done: false,
            gap_before_first_request: false,
            h2c_offer: None,
            switched: None,
            counters: HttpCounters::default(),
        }
    }

    /// Neither direction can be HTTP: each began with something else (or
    /// one did and the other has said nothing HTTP).
    pub fn is_not_http(&self) -> bool {
        (self.client.is_not_http() || self.server.is_not_http()) && !self.saw_http()
    }

    /// Whether anything HTTP was seen.
    pub fn saw_http(&self) -> bool {
        self.counters.requests > 0 || self.counters.responses > 0
    }

    /// Reads `bytes`; after a switch (see [`Switch`]) the rest of the
    /// connection is a tunnel, skipped.
    pub fn data<S: HttpSink>(&mut self, at: At, dir: Direction, mut bytes: &[u8], sink: &mut S) {
        loop {
            let used = self.data_until_switch(at, dir, bytes, sink);
            bytes = &bytes[used..];
            match self.switched.take() {
                Some(Switch::H2c(pair)) => {
                    let (request, response) = *pair;
                    sink.transaction(
                        at,
                        Transaction {
                            request: Some(request),
                            response: Some(response),
                            host_hint: None,
                        },
                    );
                }
                Some(Switch::Tunnel) => {}
                None => return,
            }
            if bytes.is_empty() {
                return;
            }
        }
    }

    /// [`HttpParser::data`], stopping right after a response that ended
    /// HTTP/1.x (a `101`, a CONNECT's `2xx`): returns the bytes used. What
    /// follows is the other protocol's, and [`HttpParser::take_switch`] says
    /// which.
    pub fn data_until_switch<S: HttpSink>(
        &mut self,
        at: At,
        dir: Direction,
        mut bytes: &[u8],
        sink: &mut S,
    ) -> usize {
        let total = bytes.len();
        // A call that consumes nothing changes the side's state, so the next
        // one moves on; a few in a row would be a bug: stop rather than spin.
        let mut idle = 0;
        while !bytes.is_empty() && idle < 4 {
            let side = match dir {
                Direction::ToServer => &mut self.client,
                Direction::ToClient => &mut self.server,
            };
            let (used, step) = side.feed(bytes, &self.limits, &mut self.counters);
            idle = if used == 0 { idle + 1 } else { 0 };
            debug_assert!(idle < 4, "the HTTP parser made no progress");
            let fed = bytes;
            bytes = bytes.get(used..).unwrap_or_default();
            match step {
                Step::More => {}
                Step::InPlace(from) => {
                    self.message(at, dir, &fed[from..used], sink);
                    if self.switched.is_some() {
                        break;
                    }
                }
                Step::Message(head) => {
                    self.message(at, dir, &head, sink);
                    self.side(dir).recycle(head);
                    if self.switched.is_some() {
                        break;
                    }
                }
                Step::NotHttp => {}
            }
        }
        total - bytes.len()
    }

    /// How HTTP/1.x ended, once.
    pub fn take_switch(&mut self) -> Option<Switch> {
        self.switched.take()
    }

    pub fn gap(&mut self, dir: Direction, len: u64) {
        self.counters.lost_bytes += len;
        if dir == Direction::ToServer && self.counters.requests == 0 {
            self.gap_before_first_request = true;
        }
        let side = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        if side.gap(len, &mut self.counters) {
            match dir {
                Direction::ToServer => {
                    self.client_gaps += 1;
                    // A lock-step client waiting for a response sends no new
                    // request: the gap held the rest of the waiting one (a
                    // chunked body, say), not a request of its own.
                    let in_waiting_request = !self.pipelined
                        && matches!(self.pending.back(),
                            Some(Waiting::Request(_, g)) if *g == self.server_gaps);
                    if !in_waiting_request && !matches!(self.pending.back(), Some(Waiting::Lost)) {
                        self.pending.push_back(Waiting::Lost);
                    }
                }
                Direction::ToClient => self.server_gaps += 1,
            }
        }
    }

    /// Pairing cannot be trusted any more: a pipelining connection had a
    /// gap.
    fn desynchronised(&self) -> bool {
        self.pipelined && self.client_gaps + self.server_gaps > 0
    }

    /// The request a final response answers (see [`HttpParser`]); requests
    /// that lost their responses are reported unanswered.
    fn answered<S: HttpSink>(&mut self, at: At, sink: &mut S) -> Option<Request> {
        // Lock-step until a response finds two requests waiting with no
        // server gap since the older one was sent to say its response was
        // lost. (Decided here, not when the second request comes: the gap
        // that lost a response is known only when the next one arrives.)
        let mut requests = self.pending.iter().filter_map(|w| match w {
            Waiting::Request(_, g) => Some(*g),
            Waiting::Lost => None,
        });
        if let (Some(oldest), Some(_)) = (requests.next(), requests.next()) {
            if oldest == self.server_gaps {
                self.pipelined = true;
            }
        }
        if self.desynchronised() {
            self.counters.unpaired += 1;
            return None;
        }
        if self.pipelined {
            return self.pop_pending();
        }
        // Lock-step: everything before the newest item lost its response.
        while self.pending.len() > 1 {
            if let Some(Waiting::Request(old, _)) = self.pending.pop_front() {
                self.pending_bytes -= held_bytes(&old);
                self.counters.unpaired += 1;
                sink.transaction(at, Transaction::unanswered(old));
            }
        }
        match self.pending.front() {
            Some(Waiting::Lost) => {
                // It answers a request the capture lost.
                self.pending.pop_front();
                self.counters.unpaired += 1;
                None
            }
            _ => self.pop_pending(),
        }
    }

    pub fn end<S: HttpSink>(&mut self, at: At, dir: Direction, sink: &mut S) {
        if dir == Direction::ToClient {
            self.server_done = true;
            while let Some(req) = self.pop_pending() {
                if self.desynchronised() {
                    self.counters.unpaired += 1;
                }
                sink.transaction(at, Transaction::unanswered(req));
            }
        }
    }

    /// The oldest waiting request (lost places before it are dropped).
    fn pop_pending(&mut self) -> Option<Request> {
        loop {
            match self.pending.pop_front()? {
                Waiting::Lost => continue,
                Waiting::Request(req, _) => {
                    self.pending_bytes -= held_bytes(&req);
                    return Some(req);
                }
            }
        }
    }

    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    /// A complete start line and header block.
    fn message<S: HttpSink>(&mut self, at: At, dir: Direction, head: &[u8], sink: &mut S) {
        match dir {
            Direction::ToServer => self.request(at, head, sink),
            Direction::ToClient => self.response(at, head, sink),
        }
    }

    fn request<S: HttpSink>(&mut self, at: At, head: &[u8], sink: &mut S) {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let n = self.limits.max_headers.min(MAX_HEADERS);
        let mut parsed = httparse::Request::new(&mut storage[..n]);
        if let Err(kind) = complete(parsed.parse(head)) {
            self.malformed(Direction::ToServer, kind);
            return;
        }
        self.counters.requests += 1;
        let method = parsed.method.unwrap_or("").to_owned();
        let target = parsed.path.unwrap_or("").to_owned();
        let mut req = Request {
            ts_ns: at.ts_ns,
            version: parsed.version.unwrap_or(1),
            ..Default::default()
        };
        let mut framing = Framing::None;
        let mut upgrade = false;
        let mut h2c = false;
        let mut lower_buf = [0u8; NAME_BUF];
        for h in parsed.headers.iter() {
            // Only the headers read are converted (no allocation for the
            // others).
            let value = || lossless(h.value);
            match lower(h.name, &mut lower_buf) {
                "host" => req.host = Some(host_only(&value())),
                "cookie" => message::parse_cookie_header(&value(), &mut req.cookies),
                "authorization" => req.auth = message::parse_authorization(&value()),
                "content-length" => framing = framing.or_length(&value()),
                "transfer-encoding" if is_chunked(&value()) => framing = Framing::Chunked,
                "upgrade" => {
                    upgrade = true;
                    h2c |= value()
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("h2c"));
                }
                _ => {}
            }
        }
        if req.host.is_none() {
            req.host = authority(&target).map(host_only);
        }
        if req.host.is_some() && req.host != self.last_host {
            self.last_host.clone_from(&req.host);
        }
        message::url_params(&target, &mut req.url_params);
        // The target is kept for reports; its session parameters are read.
        let target = truncate(target, MAX_TARGET);
        let connect = method.eq_ignore_ascii_case("CONNECT");
        req.method = method;
        req.target = target;
        // Requests have no body without Content-Length or chunked coding.
        self.client
            .start_body(if connect { Framing::Tunnel } else { framing });
        if connect || upgrade {
            // The server decides; until it answers, keep reading requests.
            self.client.maybe_tunnel = true;
        }
        if self.server_done || self.desynchronised() {
            if self.desynchronised() {
                self.counters.unpaired += 1;
            }
            sink.transaction(at, Transaction::unanswered(req));
            return;
        }
        if h2c {
            self.h2c_offer = Some(req.clone());
        } else if upgrade {
            self.h2c_offer = None;
        }
        let size = held_bytes(&req);
        while !self.pending.is_empty()
            && (self.pending.len() >= self.limits.max_pending
                || self.pending_bytes + size > self.limits.max_pending_bytes)
        {
            self.counters.pending_overflow += 1;
            if let Some(old) = self.pop_pending() {
                sink.transaction(at, Transaction::unanswered(old));
            }
        }
        self.pending_bytes += size;
        self.pending
            .push_back(Waiting::Request(req, self.server_gaps));
    }

    fn response<S: HttpSink>(&mut self, at: At, head: &[u8], sink: &mut S) {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let n = self.limits.max_headers.min(MAX_HEADERS);
        let mut parsed = httparse::Response::new(&mut storage[..n]);
        if let Err(kind) = complete(parsed.parse(head)) {
            self.malformed(Direction::ToClient, kind);
            return;
        }
        let status = parsed.code.unwrap_or(0);
        let mut resp = Response {
            ts_ns: at.ts_ns,
            status,
            ..Default::default()
        };
        let mut framing = Framing::UntilClose;
        let mut has_length = false;
        let mut lower_buf = [0u8; NAME_BUF];
        for h in parsed.headers.iter() {
            match lower(h.name, &mut lower_buf) {
                "set-cookie" if resp.set_cookies.len() < message::MAX_COOKIES => {
                    let value = lossless(h.value);
                    resp.set_cookies.extend(message::parse_set_cookie(&value));
                }
                "content-length" if !has_length => {
                    let f = Framing::None.or_length(&String::from_utf8_lossy(h.value));
                    if f != Framing::None || h.value.trim_ascii() == b"0" {
                        framing = f;
                        has_length = true;
                    }
                }
                "transfer-encoding" if is_chunked(&String::from_utf8_lossy(h.value)) => {
                    framing = Framing::Chunked;
                    has_length = true;
                }
                "location" => {
                    message::url_params(
                        &String::from_utf8_lossy(h.value),
                        &mut resp.location_params,
                    );
                }
                _ => {}
            }
        }
        if (100..200).contains(&status) && status != 101 {
            // Interim: the request still waits for its final response.
            self.server.start_body(Framing::None);
            return;
        }
        self.counters.responses += 1;
        let request = self.answered(at, sink);
        let head_request = request
            .as_ref()
            .is_some_and(|r| r.method.eq_ignore_ascii_case("HEAD"));
        let connect_ok = request
            .as_ref()
            .is_some_and(|r| r.method.eq_ignore_ascii_case("CONNECT"))
            && (200..300).contains(&status);
        // Any final response ends the offer: accepted by a 101, else refused.
        let h2c = self.h2c_offer.take().is_some() && status == 101;
        if status == 101 || connect_ok {
            // The rest of the connection is not HTTP/1.x.
            self.counters.tunnels += 1;
            self.server.start_body(Framing::Tunnel);
            self.client.start_body(Framing::Tunnel);
            match request {
                Some(request) if h2c => {
                    // HTTP/2 from the next byte on; stream 1 answers.
                    self.switched = Some(Switch::H2c(Box::new((request, resp))));
                    return;
                }
                _ => self.switched = Some(Switch::Tunnel),
            }
        } else {
            if self.client.maybe_tunnel {
                // The server refused the upgrade or CONNECT: back to HTTP.
                self.client.maybe_tunnel = false;
                self.client.leave_tunnel();
            }
            let no_body = head_request || status == 204 || status == 304;
            self.server
                .start_body(if no_body { Framing::None } else { framing });
        }
        let host_hint = if request.is_none() {
            self.last_host.clone()
        } else {
            None
        };
        sink.transaction(
            at,
            Transaction {
                request,
                response: Some(resp),
                host_hint,
            },
        );
    }

    fn malformed(&mut self, dir: Direction, kind: Option<httparse::Error>) {
        self.counters.malformed += 1;
        if kind == Some(httparse::Error::TooManyHeaders) {
            self.counters.too_many_headers += 1;
        }
        let side = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        side.resync(&mut self.counters);
    }
}

/// Room for the longest header name read ("transfer-encoding").
const NAME_BUF: usize = 24;

/// A header name in lower case, in `buf`; a name longer than any that is
/// read comes back empty.
fn lower<'b>(name: &str, buf: &'b mut [u8; NAME_BUF]) -> &'b str {
    let Some(out) = buf.get_mut(..name.len()) else {
        return "";
    };
    for (d, c) in out.iter_mut().zip(name.bytes()) {
        *d = c.to_ascii_lowercase();
    }
    std::str::from_utf8(out).unwrap_or("")
}

/// Bytes of a request target kept.
pub(crate) const MAX_TARGET: usize = 2048;

pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// What a waiting request holds in memory, roughly.
pub(crate) fn held_bytes(r: &Request) -> usize {
    let pairs =
        |v: &[(String, String)]| v.iter().map(|(a, b)| a.len() + b.len() + 48).sum::<usize>();
    128 + r.method.len()
        + r.target.len()
        + r.host.as_ref().map_or(0, String::len)
        + pairs(&r.cookies)
        + pairs(&r.url_params)
}

/// Most headers httparse reads from one message (`HttpLimits::max_headers`
/// may lower it).
const MAX_HEADERS: usize = 128;

/// A whole header block parsed, or why not (`None`: incomplete, which a
/// block ending in an empty line cannot be unless a line is malformed).
fn complete(r: httparse::Result<usize>) -> Result<(), Option<httparse::Error>> {
    match r {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err(None),
        Err(e) => Err(Some(e)),
    }
}

fn is_chunked(te: &str) -> bool {
    te.rsplit(',')
        .next()
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
}

/// A Host header without its port, lower case.
pub(crate) fn host_only(host: &str) -> String {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

/// The authority of an absolute-form target (`http://host:port/path`).
fn authority(target: &str) -> Option<&str> {
    let rest = target.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    let auth = auth.rsplit('@').next()?;
    (!auth.is_empty()).then_some(auth)
}

#[cfg(test)]
mod tests;
