//! One direction of an HTTP connection: where the next message starts and
//! how long its body is. Bytes come in any split; the header block is
//! collected (bounded), bodies are only counted.

use super::{HttpCounters, HttpLimits};

/// How the body after a header block ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
    /// Not HTTP any more (CONNECT, 101): everything is skipped.
    Tunnel,
}

impl Framing {
    /// Content-Length, when this framing is not already decided by
    /// Transfer-Encoding (which wins, RFC 9112 section 6.3).
    pub fn or_length(self, value: &str) -> Framing {
        match self {
            Framing::Chunked => self,
            _ => match value.trim().parse::<u64>() {
                Ok(0) => Framing::None,
                Ok(n) => Framing::Length(n),
                Err(_) => self,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Collecting a start line and headers.
    Head,
    Body(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    /// Looking for the next message start after losing our place.
    Resync,
    Tunnel,
    /// The side's first bytes were not HTTP: the rest is skipped.
    NotHttp,
}

/// What `feed` found.
#[derive(Debug)]
pub enum Step {
    More,
    /// A complete header block (start line to the empty line).
    Message(Vec<u8>),
    /// The side's first bytes are not HTTP.
    NotHttp,
}

/// Bytes kept while looking for a message start, to catch one split across
/// segments.
const RESYNC_KEEP: usize = 32;
/// Bytes examined at once while resynchronising.
const RESYNC_WINDOW: usize = 8 * 1024;
/// Bytes appended to the header buffer at once.
const HEAD_STEP: usize = 4096;

#[derive(Debug)]
pub struct Side {
    is_client: bool,
    phase: Phase,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for the end of the header block.
    scanned: usize,
    /// No message was seen on this side yet.
    first: bool,
    /// A stream seen from its middle: garbage first is not "not HTTP".
    mid_stream: bool,
    /// A CONNECT or Upgrade request waits for the server's answer.
    pub maybe_tunnel: bool,
}

impl Side {
    pub fn new(is_client: bool, mid_stream: bool) -> Side {
        Side {
            is_client,
            phase: if mid_stream {
                Phase::Resync
            } else {
                Phase::Head
            },
            buf: Vec::new(),
            scanned: 0,
            first: true,
            mid_stream,
            maybe_tunnel: false,
        }
    }

    /// After a header block: how its body is framed.
    pub fn start_body(&mut self, framing: Framing) {
        self.phase = match framing {
            Framing::None => Phase::Head,
            Framing::Length(n) => Phase::Body(n),
            Framing::Chunked => Phase::ChunkSize,
            Framing::UntilClose => Phase::UntilClose,
            Framing::Tunnel => Phase::Tunnel,
        };
    }

    /// A refused CONNECT/Upgrade: the client's next bytes are HTTP again.
    pub fn leave_tunnel(&mut self) {
        if self.phase == Phase::Tunnel {
            self.phase = Phase::Head;
        }
    }

    /// Whether the side's first bytes were not HTTP.
    pub fn is_not_http(&self) -> bool {
        self.phase == Phase::NotHttp
    }

    /// Gives the header buffer back after a message was read from it.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.buf = buf;
        self.scanned = 0;
    }

    /// Lost our place: look for the next message start.
    pub fn resync(&mut self, counters: &mut HttpCounters) {
        counters.resyncs += 1;
        self.phase = Phase::Resync;
        self.buf.clear();
        self.scanned = 0;
    }

    /// `len` bytes never seen.
    pub fn gap(&mut self, len: u64, counters: &mut HttpCounters) {
        match self.phase {
            Phase::Body(n) if len < n => self.phase = Phase::Body(n - len),
            Phase::Body(n) if len == n => self.phase = Phase::Head,
            Phase::ChunkData(n) if len <= n => self.phase = Phase::ChunkData(n - len),
            Phase::UntilClose | Phase::Tunnel | Phase::NotHttp => {}
            Phase::Resync => {
                self.buf.clear();
                self.scanned = 0;
            }
            _ => self.resync(counters),
        }
    }

    /// Consumes a prefix of `bytes`; returns how much and what it found.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        limits: &HttpLimits,
        counters: &mut HttpCounters,
    ) -> (usize, Step) {
        match self.phase {
            Phase::Head => self.head(bytes, limits, counters),
            Phase::Body(n) => {
                let take = n.min(bytes.len() as u64);
                self.phase = if take == n {
                    Phase::Head
                } else {
                    Phase::Body(n - take)
                };
                (take as usize, Step::More)
            }
            Phase::UntilClose | Phase::Tunnel | Phase::NotHttp => (bytes.len(), Step::More),
            Phase::ChunkSize => self.line(bytes, limits, counters, |side, line, counters| {
                match httparse::parse_chunk_size(line) {
                    Ok(httparse::Status::Complete((_, 0))) => side.phase = Phase::Trailers,
                    Ok(httparse::Status::Complete((_, n))) => side.phase = Phase::ChunkData(n),
                    _ => {
                        counters.malformed += 1;
                        side.resync(counters);
                    }
                }
            }),
            Phase::ChunkData(n) => {
                let take = n.min(bytes.len() as u64);
                self.phase = if take == n {
                    Phase::ChunkDataEnd
                } else {
                    Phase::ChunkData(n - take)
                };
                (take as usize, Step::More)
            }
            // The CRLF after chunk data (a bare LF is accepted).
            Phase::ChunkDataEnd => self.line(bytes, limits, counters, |side, line, counters| {
                if line.trim_ascii().is_empty() {
                    side.phase = Phase::ChunkSize;
                } else {
                    counters.malformed += 1;
                    side.resync(counters);
                }
            }),
            Phase::Trailers => self.line(bytes, limits, counters, |side, line, _| {
                if line.trim_ascii().is_empty() {
                    side.phase = Phase::Head;
                }
            }),
            Phase::Resync => self.look_for_start(bytes, counters),
        }
    }

    /// Collects a header block.
    fn head(
        &mut self,
        bytes: &[u8],
        limits: &HttpLimits,
        counters: &mut HttpCounters,
    ) -> (usize, Step) {
        let mut skipped = 0;
        if self.buf.is_empty() {
            // Empty lines before a message are allowed (RFC 9112 section 2.2).
            skipped = bytes
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if skipped == bytes.len() {
                return (skipped, Step::More);
            }
        }
        let bytes = &bytes[skipped..];
        let room = limits.max_header_bytes.saturating_sub(self.buf.len());
        if room == 0 {
            counters.header_too_large += 1;
            counters.malformed += 1;
            self.resync(counters);
            return (skipped, Step::More);
        }
        let take = bytes.len().min(room).min(HEAD_STEP);
        let old = self.buf.len();
        self.buf.extend_from_slice(&bytes[..take]);
        if self.first && old < 24 {
            match plausible_start(&self.buf, self.is_client) {
                Some(true) => {}
                None => return (skipped + take, Step::More),
                Some(false) if self.mid_stream => {
                    self.resync(counters);
                    return (skipped + take, Step::More);
                }
                Some(false) => {
                    self.phase = Phase::NotHttp;
                    return (skipped + take, Step::NotHttp);
                }
            }
        } else if old == 0 && plausible_start(&self.buf, self.is_client) == Some(false) {
            counters.malformed += 1;
            self.resync(counters);
            return (skipped, Step::More);
        }
        match end_of_head(&self.buf, self.scanned.saturating_sub(3)) {
            Some(end) => {
                let used = end - old;
                self.buf.truncate(end);
                self.first = false;
                // Until the parser decides the body, expect the next message.
                self.phase = Phase::Head;
                (skipped + used, Step::Message(std::mem::take(&mut self.buf)))
            }
            None => {
                self.scanned = self.buf.len();
                (skipped + take, Step::More)
            }
        }
    }

    /// Collects one line (chunk size, chunk end, trailer) and hands it to
    /// `done` without its line end.
    fn line(
        &mut self,
        bytes: &[u8],
        limits: &HttpLimits,
        counters: &mut HttpCounters,
        done: impl FnOnce(&mut Side, &[u8], &mut HttpCounters),
    ) -> (usize, Step) {
        let (take, complete) = match bytes.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (bytes.len(), false),
        };
        if self.buf.len() + take > limits.max_line {
            counters.line_too_long += 1;
            counters.malformed += 1;
            self.resync(counters);
            return (0, Step::More);
        }
        self.buf.extend_from_slice(&bytes[..take]);
        if complete {
            let line = std::mem::take(&mut self.buf);
            done(self, &line, counters);
            if self.phase != Phase::Resync {
                self.recycle(line);
            }
        }
        (take, Step::More)
    }

    /// Looks for the next message start at a line start.
    fn look_for_start(&mut self, bytes: &[u8], counters: &mut HttpCounters) -> (usize, Step) {
        let take = bytes.len().min(RESYNC_WINDOW);
        self.buf.extend_from_slice(&bytes[..take]);
        let buf = &self.buf;
        let found = (0..buf.len()).find(|&p| {
            (p == 0 || buf[p - 1] == b'\n')
                && plausible_start(&buf[p..], self.is_client) == Some(true)
        });
        match found {
            Some(p) => {
                counters.lost_bytes += p as u64;
                self.buf.drain(..p);
                self.scanned = 0;
                self.phase = Phase::Head;
                self.first = false;
                // `head` re-checks the buffer with the bytes that follow.
                self.resume_head(take, counters)
            }
            None => {
                let keep = self.buf.len().min(RESYNC_KEEP);
                let drop = self.buf.len() - keep;
                counters.lost_bytes += drop as u64;
                self.buf.drain(..drop);
                (take, Step::More)
            }
        }
    }

    /// After finding a message start in `buf`: the header block may already
    /// be complete in it.
    fn resume_head(&mut self, used: usize, _counters: &mut HttpCounters) -> (usize, Step) {
        match end_of_head(&self.buf, 0) {
            Some(end) => {
                // Bytes after the block belong to the body: hand them back
                // by consuming only up to the block's end.
                let extra = self.buf.len() - end;
                self.buf.truncate(end);
                (
                    used.saturating_sub(extra),
                    Step::Message(std::mem::take(&mut self.buf)),
                )
            }
            None => {
                self.scanned = self.buf.len();
                (used, Step::More)
            }
        }
    }
}

/// Index just past the empty line that ends a header block (CRLF CRLF, or
/// the bare-LF forms), searching from `from`.
fn end_of_head(buf: &[u8], from: usize) -> Option<usize> {
    let hay = buf.get(from..)?;
    hay.windows(2).enumerate().find_map(|(i, w)| {
        if w[0] != b'\n' {
            return None;
        }
        match w[1] {
            b'\n' => Some(from + i + 2),
            b'\r' if hay.get(i + 2) == Some(&b'\n') => Some(from + i + 3),
            _ => None,
        }
    })
}

/// Whether `buf` starts like a request line (client) or a status line
/// (server): `Some(true)` yes, `Some(false)` no, `None` too short to tell.
pub fn plausible_start(buf: &[u8], is_client: bool) -> Option<bool> {
    if is_client {
        // METHOD SP target: a token of capitals (RFC 9110 methods in use).
        for (i, b) in buf.iter().enumerate() {
            match b {
                b'A'..=b'Z' | b'-' | b'_' if i < 20 => {}
                b' ' if i > 0 => {
                    return buf
                        .get(i + 1)
                        .map(|b| !b.is_ascii_whitespace() && !b.is_ascii_control());
                }
                _ => return Some(false),
            }
        }
        None
    } else {
        const START: &[u8] = b"HTTP/1.";
        let n = buf.len().min(START.len());
        if buf[..n] != START[..n] {
            Some(false)
        } else if n < START.len() {
            None
        } else {
            Some(true)
        }
    }
}
