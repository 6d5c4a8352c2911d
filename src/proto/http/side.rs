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
    /// A complete header block (start line to the empty line), collected.
    Message(Vec<u8>),
    /// A complete header block read in place: the fed bytes from this
    /// index up to the bytes consumed.
    InPlace(usize),
    /// The side's first bytes are not HTTP.
    NotHttp,
}

/// Start-line bytes checked as they come (a method name is shorter).
const START_CHECK: usize = 24;
/// Longest start line looked for while resynchronising.
const MAX_START_LINE: usize = 8 * 1024;
/// Header buffer capacity kept between messages.
const KEEP_CAPACITY: usize = 8 * 1024;
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
    /// While resynchronising: whether `buf[0]` is at the start of a line
    /// (after a gap, or after a dropped newline).
    line_start0: bool,
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
            line_start0: true,
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

    /// Gives the header buffer back after a message was read from it (a
    /// large one is not kept: one huge header must not pin memory).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if buf.capacity() > KEEP_CAPACITY {
            buf = Vec::new();
        }
        self.buf = buf;
        self.scanned = 0;
    }

    /// Lost our place: look for the next message start. `line_start`: the
    /// next byte may begin a message (after a gap, or after a whole header
    /// block was rejected); otherwise only a byte after a newline can.
    fn lose_place(&mut self, counters: &mut HttpCounters, line_start: bool) {
        counters.resyncs += 1;
        counters.lost_bytes += self.buf.len() as u64;
        self.phase = Phase::Resync;
        self.buf.clear();
        self.scanned = 0;
        self.line_start0 = line_start;
    }

    /// A header block that the parser rejected (it ended with an empty line,
    /// so the next byte starts a line).
    pub fn resync(&mut self, counters: &mut HttpCounters) {
        self.lose_place(counters, true);
    }

    /// `len` bytes never seen. Returns whether they may have held a message
    /// start (not when they fell inside a body the framing still counts).
    pub fn gap(&mut self, len: u64, counters: &mut HttpCounters) -> bool {
        match self.phase {
            Phase::Body(n) if len < n => self.phase = Phase::Body(n - len),
            Phase::Body(n) if len == n => self.phase = Phase::Head,
            Phase::ChunkData(n) if len <= n => self.phase = Phase::ChunkData(n - len),
            Phase::UntilClose | Phase::Tunnel | Phase::NotHttp => {}
            Phase::Resync => {
                counters.lost_bytes += self.buf.len() as u64;
                self.buf.clear();
                self.line_start0 = true;
                return true;
            }
            _ => {
                self.lose_place(counters, true);
                return true;
            }
        }
        false
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
                let (take, left) = count_down(n, bytes.len());
                self.phase = left.map_or(Phase::Head, Phase::Body);
                (take, Step::More)
            }
            Phase::UntilClose | Phase::Tunnel | Phase::NotHttp => (bytes.len(), Step::More),
            Phase::ChunkSize => self.line(bytes, limits, counters, |side, line, counters| {
                // httparse wants CRLF; servers also send a bare LF.
                let crlf;
                let line = if line.ends_with(b"\r\n") {
                    line
                } else {
                    crlf = [line.strip_suffix(b"\n").unwrap_or(line), b"\r\n"].concat();
                    &crlf[..]
                };
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
                let (take, left) = count_down(n, bytes.len());
                self.phase = left.map_or(Phase::ChunkDataEnd, Phase::ChunkData);
                (take, Step::More)
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
        if self.buf.is_empty() {
            // The common case: the whole header block in these bytes. It is
            // read where it lies, not collected.
            let within = &bytes[..bytes.len().min(limits.max_header_bytes)];
            if plausible_start(within, self.is_client) == Some(true) {
                if let Some(end) = end_of_head(within, 0) {
                    self.first = false;
                    self.phase = Phase::Head;
                    return (skipped + end, Step::InPlace(skipped));
                }
            }
        }
        let room = limits.max_header_bytes.saturating_sub(self.buf.len());
        if room == 0 {
            counters.header_too_large += 1;
            counters.malformed += 1;
            self.lose_place(counters, false);
            return (skipped, Step::More);
        }
        let take = bytes.len().min(room).min(HEAD_STEP);
        let old = self.buf.len();
        self.buf.extend_from_slice(&bytes[..take]);
        if old < START_CHECK {
            // Check the start line as its bytes come, whatever the split.
            match plausible_start(&self.buf, self.is_client) {
                Some(true) => {}
                None => return (skipped + take, Step::More),
                Some(false) if self.first && !self.mid_stream => {
                    self.phase = Phase::NotHttp;
                    return (skipped + take, Step::NotHttp);
                }
                Some(false) => {
                    // Not a message start: look for one in these bytes (not
                    // at their first byte, which is the bad start).
                    if !(self.first && self.mid_stream) {
                        counters.malformed += 1;
                    }
                    self.buf.truncate(old);
                    self.lose_place(counters, false);
                    return (skipped, Step::More);
                }
            }
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
            self.lose_place(counters, false);
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

    /// Looks for the next message start: a whole, valid start line at the
    /// start of a line.
    fn look_for_start(&mut self, bytes: &[u8], counters: &mut HttpCounters) -> (usize, Step) {
        let take = bytes.len().min(RESYNC_WINDOW);
        let old = self.buf.len();
        self.buf.extend_from_slice(&bytes[..take]);
        let buf = &self.buf;
        let mut pending = None;
        let mut found = None;
        for p in 0..buf.len() {
            if !(if p == 0 {
                self.line_start0
            } else {
                buf[p - 1] == b'\n'
            }) {
                continue;
            }
            match start_line(&buf[p..], self.is_client) {
                Some(true) => {
                    found = Some(p);
                    break;
                }
                // A line still arriving: keep it.
                None => {
                    pending = Some(p);
                    break;
                }
                Some(false) => {}
            }
        }
        match found {
            Some(p) => {
                counters.lost_bytes += p as u64;
                self.buf.drain(..p);
                self.phase = Phase::Head;
                self.first = false;
                match end_of_head(&self.buf, 0) {
                    Some(end) => {
                        // Bytes after the block are the body's: consume only
                        // up to the block's end. The block cannot end inside
                        // bytes kept from earlier calls (they hold no line
                        // end), so `extra` comes from `bytes`.
                        let extra = self.buf.len() - end;
                        debug_assert!(extra <= take && p + end >= old);
                        self.buf.truncate(end);
                        (
                            take.saturating_sub(extra),
                            Step::Message(std::mem::take(&mut self.buf)),
                        )
                    }
                    None => {
                        self.scanned = self.buf.len();
                        (take, Step::More)
                    }
                }
            }
            None => {
                let drop = pending.unwrap_or(self.buf.len());
                if drop > 0 {
                    self.line_start0 = self.buf[drop - 1] == b'\n';
                }
                counters.lost_bytes += drop as u64;
                self.buf.drain(..drop);
                (take, Step::More)
            }
        }
    }
}

/// Index just past the empty line that ends a header block (CRLF CRLF, or
/// the bare-LF forms), searching from `from`.
fn end_of_head(buf: &[u8], from: usize) -> Option<usize> {
    let hay = buf.get(from..)?;
    memchr::memchr_iter(b'\n', hay).find_map(|i| match hay.get(i + 1) {
        Some(b'\n') => Some(from + i + 2),
        Some(b'\r') if hay.get(i + 2) == Some(&b'\n') => Some(from + i + 3),
        _ => None,
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

/// Whether `buf` starts with a whole, valid start line: `METHOD SP target
/// SP HTTP/1.x` (client) or `HTTP/1.x SP ddd` (server). `None`: the line is
/// not complete yet.
fn start_line(buf: &[u8], is_client: bool) -> Option<bool> {
    if plausible_start(buf, is_client) == Some(false) {
        return Some(false);
    }
    let window = &buf[..buf.len().min(MAX_START_LINE)];
    let Some(nl) = window.iter().position(|b| *b == b'\n') else {
        return if buf.len() >= MAX_START_LINE {
            Some(false)
        } else {
            None
        };
    };
    let line = window[..nl].strip_suffix(b"\r").unwrap_or(&window[..nl]);
    let version = |v: &[u8]| v.len() == 8 && v.starts_with(b"HTTP/1.") && v[7].is_ascii_digit();
    Some(if is_client {
        let mut parts = line.split(|b| *b == b' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v), None) => {
                !m.is_empty()
                    && m.iter()
                        .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
                    && !t.is_empty()
                    && version(v)
            }
            _ => false,
        }
    } else {
        line.len() >= 12
            && version(&line[..8])
            && line[8] == b' '
            && line[9..12].iter().all(u8::is_ascii_digit)
    })
}

/// Of `n` bytes still expected, how many `available` bytes to take, and
/// how many are still expected afterwards (`None`: all arrived).
fn count_down(n: u64, available: usize) -> (usize, Option<u64>) {
    let take = n.min(available as u64);
    (take as usize, (take < n).then(|| n - take))
}
