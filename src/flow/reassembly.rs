//! One direction of a TCP connection turned back into a byte stream.
//!
//! Invariants:
//! - `next` is the sequence number of the next byte to deliver and `offset`
//!   its position in the stream: everything before it was delivered once,
//!   as data or as a gap notice, in order.
//! - `pending` holds out-of-order chunks, sorted by stream offset, never
//!   overlapping each other and all starting after `offset`. Their bytes
//!   arrived first, so they win over any later copy (first data wins).
//! - `pending_bytes` ≤ `max_pending_bytes` and `pending.len()` ≤
//!   `max_pending_chunks`: when a new chunk would break a bound, the hole in
//!   front of the first chunk is skipped (reported as a gap, counted as missed
//!   bytes) and delivery goes on.
//!
//! A hole is waited for until something proves the capture, not the network,
//! lost it: the peer's ACK past it (the receiver had the bytes) once data
//! after the hole is in, the out-of-order bound, or the end of the
//! connection. A FIN alone does not skip it: a FIN can overtake the
//! retransmission of a segment the network lost, and that retransmission
//! fills the hole.
//!
//! In-order segments with nothing pending are delivered straight from the
//! frame, without a copy: that is the common case.

use super::seq::SeqNum;
use super::{Deliver, Direction};
use crate::capture::{Maps, Place};

/// Bytes of already-delivered data kept to compare retransmissions against:
/// one full-size segment, what retransmissions nearly always repeat. Per
/// direction of every connection with data, so kept small.
const TAIL_BYTES: usize = 2048;

/// Delivered pieces the tail points at in a mapped input instead of
/// copying them. Only pieces of `TAIL_REF_MIN` bytes or more are pointed
/// at (smaller ones are copied while they are hot in the cache), so a piece
/// leaves `refs` only when the newer ones hold more than `TAIL_BYTES`: it
/// is out of the window by then, and never needs copying from a page the
/// reader has long passed.
const TAIL_REFS: usize = 3;
const TAIL_REF_MIN: usize = TAIL_BYTES / 2;

/// Where a segment's payload came from: in a mapped input (`place`), the
/// stream can point at the bytes it delivers instead of copying them.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub maps: &'a Maps,
    pub place: Option<Place>,
}

/// The last `TAIL_BYTES` delivered bytes, by stream offset: places in a
/// mapped input for the newest pieces read from one, copies for the rest
/// (pieces delivered from the out-of-order buffer or a streamed input, and
/// mapped pieces that leave `refs` while still in the window). The common
/// case, in-order segments from a mapped file, copies nothing.
#[derive(Debug, Default)]
struct Tail {
    /// Copies, in a ring indexed by stream offset modulo `TAIL_BYTES`
    /// (shorter while the stream is: offsets past its length were never
    /// written).
    bytes: Vec<u8>,
    /// Mapped pieces, oldest first: `refs[..n]`.
    refs: [TailRef; TAIL_REFS],
    n: usize,
    /// Stream offset from which the tail holds real bytes (gaps invalidate).
    from: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct TailRef {
    start: u64,
    len: usize,
    map: usize,
    at: usize,
}

impl Tail {
    /// `data`, delivered at stream offset `offset`, maybe at `place`.
    fn remember(&mut self, offset: u64, data: &[u8], place: Option<Place>) {
        let place = match place {
            Some(p) if data.len() >= TAIL_REF_MIN => p,
            _ => return self.copy(offset, data),
        };
        if self.n == TAIL_REFS {
            // The newer pieces hold `(TAIL_REFS - 1) * TAIL_REF_MIN` bytes
            // or more, and this one `TAIL_REF_MIN`: the oldest is out of the
            // window.
            self.refs.copy_within(1..TAIL_REFS, 0);
            self.n -= 1;
        }
        self.refs[self.n] = TailRef {
            start: offset,
            len: data.len(),
            map: place.map,
            at: place.at,
        };
        self.n += 1;
    }

    fn copy(&mut self, offset: u64, data: &[u8]) {
        // The ring grows with the stream, by doubling from 256 bytes up to
        // its full size: a connection that sent a few hundred bytes keeps a
        // few hundred (the table holds many such), a long one reallocates
        // it at most three times.
        let end = offset + data.len() as u64;
        let need = (end.min(TAIL_BYTES as u64) as usize)
            .next_power_of_two()
            .clamp(256, TAIL_BYTES);
        if self.bytes.len() < need {
            self.bytes.reserve_exact(need - self.bytes.len());
            self.bytes.resize(need, 0);
        }
        let keep = &data[data.len().saturating_sub(TAIL_BYTES)..];
        let pos = (offset + (data.len() - keep.len()) as u64) as usize % TAIL_BYTES;
        let first = (TAIL_BYTES - pos).min(keep.len());
        self.bytes[pos..pos + first].copy_from_slice(&keep[..first]);
        self.bytes[..keep.len() - first].copy_from_slice(&keep[first..]);
    }

    /// The delivered byte at stream offset `at`, if the tail has it (`end`:
    /// the stream offset delivery reached).
    fn byte(&self, at: u64, end: u64, maps: &Maps) -> Option<u8> {
        if at < end.saturating_sub(TAIL_BYTES as u64).max(self.from) || at >= end {
            return None;
        }
        let newest = self.refs[..self.n]
            .iter()
            .rev()
            .find(|r| r.start <= at && at < r.start + r.len as u64);
        match newest {
            Some(r) => {
                let place = Place {
                    map: r.map,
                    at: r.at + (at - r.start) as usize,
                };
                maps.get(place, 1).map(|b| b[0])
            }
            None => self.bytes.get((at % TAIL_BYTES as u64) as usize).copied(),
        }
    }

    /// A gap at stream offset `offset`: nothing before it is known.
    fn forget_before(&mut self, offset: u64) {
        self.from = offset;
        self.n = 0;
    }
}

/// Most bytes an acknowledged hole may hold to be skipped as soon as the
/// next segment comes. Capture drops lose a few segments; a hole further
/// ahead waits for the usual proofs (and is still counted missed when the
/// connection ends).
const MAX_ACKED_HOLE: u64 = 16 << 20;

#[derive(Debug, Clone, Copy)]
pub struct ReassemblyLimits {
    pub max_pending_bytes: usize,
    pub max_pending_chunks: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_pending_bytes: 1 << 20,
            max_pending_chunks: 512,
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Unique payload bytes delivered.
    pub bytes: u64,
    /// Bytes never seen (holes skipped, payload cut by the snaplen, data the
    /// peer acknowledged that the capture missed).
    pub missed: u64,
    /// Payload bytes that repeated bytes already seen.
    pub retransmitted: u64,
    /// Segments that repeated already-seen bytes with different content.
    pub overlap_conflicts: u64,
    /// Gap notices sent to the consumer.
    pub gaps: u64,
    /// Times the out-of-order bound tripped.
    pub pending_overflows: u64,
    /// Segments dropped as far outside the stream.
    pub out_of_window: u64,
}

#[derive(Debug)]
struct Chunk {
    start: u64,
    data: Vec<u8>,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

#[derive(Debug, Default)]
pub struct HalfStream {
    next: Option<SeqNum>,
    offset: u64,
    pending: Vec<Chunk>,
    pending_bytes: usize,
    /// The last delivered bytes, to compare retransmissions with; made
    /// at the first delivery (a connection without payload has none).
    tail: Option<Box<Tail>>,
    fin: Option<SeqNum>,
    ended: bool,
    /// Stream offset up to which the peer acknowledged bytes while nothing
    /// waited out of order: a later segment beyond `offset` proves the
    /// bytes before it were lost by the capture.
    peer_has: Option<u64>,
    pub counters: StreamCounters,
}

impl HalfStream {
    /// Whether the stream is over: its FIN delivered, every byte before it
    /// delivered or skipped.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Forgets the delivered bytes kept for comparing retransmissions with.
    pub fn release_tail(&mut self) {
        self.tail = None;
    }

    /// Bytes waiting out of order.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Gives up on every hole now: skips them (as gaps) and delivers what
    /// waited. Used when the table-wide memory budget is exhausted.
    pub fn flush<C: Deliver>(&mut self, dir: Direction, c: &mut C) {
        while !self.pending.is_empty() {
            self.counters.pending_overflows += 1;
            self.skip_to_first(dir, c);
            self.drain(dir, c);
        }
        self.end_if_complete(dir, c);
    }

    /// A SYN: the stream starts after it. A retransmitted SYN with the same
    /// number changes nothing.
    pub fn syn(&mut self, isn: SeqNum) {
        if self.next.is_none() {
            self.next = Some(isn.plus(1));
        }
    }

    /// A FIN at `seq` (the sequence number after the segment's payload).
    pub fn fin<C: Deliver>(&mut self, dir: Direction, seq: SeqNum, c: &mut C) {
        if self.fin.is_none() {
            self.fin = Some(seq);
        }
        self.end_if_complete(dir, c);
    }

    /// One segment's payload; `missing` more bytes followed it on the wire
    /// but were cut by the snaplen.
    pub fn segment<C: Deliver>(
        &mut self,
        dir: Direction,
        limits: &ReassemblyLimits,
        seq: SeqNum,
        data: &[u8],
        missing: u32,
        c: &mut C,
    ) {
        let maps = Maps::default();
        let origin = Origin {
            maps: &maps,
            place: None,
        };
        self.segment_from(dir, limits, seq, data, missing, origin, c);
    }

    /// As [`segment`](Self::segment), for a payload that may lie in a
    /// mapped input.
    #[allow(clippy::too_many_arguments)]
    pub fn segment_from<C: Deliver>(
        &mut self,
        dir: Direction,
        limits: &ReassemblyLimits,
        seq: SeqNum,
        data: &[u8],
        missing: u32,
        origin: Origin<'_>,
        c: &mut C,
    ) {
        if data.is_empty() && missing == 0 {
            return;
        }
        if self.ended {
            // Late copies of the stream's last bytes, or junk past its end.
            match self.next.map(|n| seq.since(n)) {
                Some(rel) if rel < 0 => self.counters.retransmitted += data.len() as u64,
                _ => self.counters.out_of_window += 1,
            }
            return;
        }
        // A stream seen from its middle starts at its first segment.
        let next = *self.next.get_or_insert(seq);
        let rel = seq.since(next);
        // Exactly half the sequence space away is ambiguous: dropped and
        // counted. Anything else ahead is kept: trimmed captures of huge
        // transfers jump by gigabytes, and the peer's ACKs confirm the jump.
        if rel == i32::MIN {
            self.counters.out_of_window += 1;
            return;
        }
        let start = self.offset as i64 + rel as i64;
        if start < 0 {
            // Before the stream's first byte: a stale segment.
            self.counters.out_of_window += 1;
            return;
        }
        let start = start as u64;
        // The peer acknowledged the hole in front of this segment before it
        // came: the capture lost those bytes (never past a jump no loss
        // explains).
        if self.pending.is_empty()
            && start > self.offset
            && start - self.offset <= MAX_ACKED_HOLE
            && self.peer_has.is_some_and(|h| h >= start)
        {
            self.deliver_gap(dir, start - self.offset, c);
        }
        if start == self.offset && self.pending.is_empty() {
            self.deliver_from(dir, data, origin.place, c);
            self.deliver_gap(dir, missing as u64, c);
        } else {
            // A payload tail cut by the snaplen stays a hole here: it is
            // skipped once the peer's ACK, the bound or the end proves it lost.
            self.insert(dir, start, data, limits, origin, c);
            self.drain(dir, c);
        }
        self.end_if_complete(dir, c);
    }

    /// The peer acknowledged everything before `ack`: a hole before that
    /// point was lost by the capture, not by the network.
    pub fn acked<C: Deliver>(&mut self, dir: Direction, ack: SeqNum, c: &mut C) {
        let Some(next) = self.next else { return };
        // `ack` is the receiver's next expected byte: every hole before it
        // reached the receiver, so the capture lost it.
        let acked_to = self.offset as i64 + ack.since(next) as i64;
        let mut skipped = false;
        while self
            .pending
            .first()
            .is_some_and(|first| acked_to >= first.start as i64)
        {
            self.skip_to_first(dir, c);
            self.drain(dir, c);
            skipped = true;
        }
        // Nothing waits after the hole yet: remember how far the peer has
        // the bytes, so the next segment past it is delivered at once
        // instead of waiting for the ACK after it. Not skipped now: an ACK
        // may be timestamped just before the data it acknowledges (files
        // merged per direction, `-i any`), and that data must still count.
        if self.pending.is_empty() && acked_to > self.offset as i64 {
            self.peer_has = Some(
                self.peer_has
                    .map_or(acked_to as u64, |h| h.max(acked_to as u64)),
            );
        }
        if skipped {
            self.end_if_complete(dir, c);
        }
    }

    /// The connection is over (FIN/RST seen both ways, idle timeout, end of
    /// capture): skip every remaining hole, deliver what waits, count data
    /// the peer acknowledged but the capture never saw, and end the stream.
    pub fn finish<C: Deliver>(&mut self, dir: Direction, peer_ack: Option<SeqNum>, c: &mut C) {
        if self.ended {
            return;
        }
        while !self.pending.is_empty() {
            self.skip_to_first(dir, c);
            self.drain(dir, c);
        }
        // Where the stream really ended: its FIN when seen, else what the
        // peer acknowledged. Bytes between here and there were sent but not
        // captured.
        if let (Some(next), Some(end)) = (self.next, self.fin.or(peer_ack)) {
            if let Some(lost) = next.distance_to(end) {
                if lost > 0 {
                    self.deliver_gap(dir, lost as u64, c);
                }
            }
        }
        self.ended = true;
        c.end(dir);
    }

    fn end_if_complete<C: Deliver>(&mut self, dir: Direction, c: &mut C) {
        if let (Some(fin), Some(next)) = (self.fin, self.next) {
            if !self.ended && self.pending.is_empty() && !fin.is_after(next) {
                self.ended = true;
                c.end(dir);
            }
        }
    }

    /// Inserts `data` at stream offset `start`, keeping only the bytes no
    /// earlier copy covered; compares the overlaps.
    fn insert<C: Deliver>(
        &mut self,
        dir: Direction,
        start: u64,
        data: &[u8],
        limits: &ReassemblyLimits,
        origin: Origin<'_>,
        c: &mut C,
    ) {
        let end = start + data.len() as u64;
        let mut conflict = false;
        let mut repeated = 0u64;
        // Part already delivered.
        let mut from = start;
        if from < self.offset {
            let upto = end.min(self.offset);
            repeated += upto - from;
            conflict |= self.differs_from_tail(from, &data[..(upto - start) as usize], origin.maps);
            from = upto;
        }
        // Pieces not covered by pending chunks.
        let mut fresh: Vec<(u64, u64)> = Vec::new();
        for chunk in &self.pending {
            if from >= end {
                break;
            }
            if chunk.end() <= from {
                continue;
            }
            if chunk.start >= end {
                break;
            }
            if chunk.start > from {
                fresh.push((from, chunk.start));
            }
            let o_start = from.max(chunk.start);
            let o_end = end.min(chunk.end());
            let ours = &data[(o_start - start) as usize..(o_end - start) as usize];
            let theirs =
                &chunk.data[(o_start - chunk.start) as usize..(o_end - chunk.start) as usize];
            conflict |= ours != theirs;
            repeated += o_end - o_start;
            from = o_end;
        }
        if from < end {
            fresh.push((from, end));
        }
        self.counters.retransmitted += repeated;
        if conflict {
            self.counters.overlap_conflicts += 1;
        }
        for (s, e) in fresh {
            let bytes = &data[(s - start) as usize..(e - start) as usize];
            // Make room: skip holes from the front, but never past this
            // piece: if it lies in the first hole, the hole ends where the
            // piece starts and the piece continues the stream.
            while s > self.offset
                && (self.pending_bytes + bytes.len() > limits.max_pending_bytes
                    || self.pending.len() >= limits.max_pending_chunks)
            {
                let Some(first_start) = self.pending.first().map(|f| f.start) else {
                    break;
                };
                self.counters.pending_overflows += 1;
                if s < first_start {
                    self.deliver_gap(dir, s - self.offset, c);
                } else {
                    self.skip_to_first(dir, c);
                    self.drain(dir, c);
                }
            }
            if s <= self.offset {
                // Fresh pieces never overlap pending chunks, and holes are
                // skipped only up to a piece: it continues the stream.
                let skip = (self.offset - s) as usize;
                if let Some(rest) = bytes.get(skip..) {
                    let place = origin.place.map(|p| p.plus((s - start) as usize + skip));
                    self.deliver_from(dir, rest, place, c);
                }
                self.drain(dir, c);
                continue;
            }
            self.store(s, bytes);
        }
    }

    /// Buffers a piece that covers no pending byte, merging it with the
    /// chunks it touches so the chunk count follows the number of holes.
    fn store(&mut self, s: u64, bytes: &[u8]) {
        let e = s + bytes.len() as u64;
        self.pending_bytes += bytes.len();
        let at = self.pending.partition_point(|ch| ch.start < s);
        let joins_next = self.pending.get(at).is_some_and(|next| next.start == e);
        match at.checked_sub(1).and_then(|i| self.pending.get_mut(i)) {
            Some(prev) if prev.end() == s => {
                prev.data.extend_from_slice(bytes);
                if joins_next {
                    let next = self.pending.remove(at);
                    if let Some(prev) = self.pending.get_mut(at - 1) {
                        prev.data.extend_from_slice(&next.data);
                    }
                }
            }
            _ if joins_next => {
                if let Some(next) = self.pending.get_mut(at) {
                    let mut data = Vec::with_capacity(bytes.len() + next.data.len());
                    data.extend_from_slice(bytes);
                    data.extend_from_slice(&next.data);
                    next.data = data;
                    next.start = s;
                }
            }
            _ => self.pending.insert(
                at,
                Chunk {
                    start: s,
                    data: bytes.to_vec(),
                },
            ),
        }
    }

    /// Delivers pending chunks that continue the stream.
    fn drain<C: Deliver>(&mut self, dir: Direction, c: &mut C) {
        while self
            .pending
            .first()
            .is_some_and(|ch| ch.start <= self.offset)
        {
            let chunk = self.pending.remove(0);
            self.pending_bytes -= chunk.data.len();
            if chunk.end() > self.offset {
                let skip = (self.offset - chunk.start) as usize;
                self.deliver(dir, &chunk.data[skip..], c);
            }
        }
    }

    /// Declares the hole before the first pending chunk lost.
    fn skip_to_first<C: Deliver>(&mut self, dir: Direction, c: &mut C) {
        if let Some(first) = self.pending.first() {
            let hole = first.start.saturating_sub(self.offset);
            self.deliver_gap(dir, hole, c);
        }
    }

    /// Delivers bytes that are copies (from the out-of-order buffer).
    fn deliver<C: Deliver>(&mut self, dir: Direction, data: &[u8], c: &mut C) {
        self.deliver_from(dir, data, None, c);
    }

    /// Delivers bytes that lie at `place` in a mapped input, if given.
    fn deliver_from<C: Deliver>(
        &mut self,
        dir: Direction,
        data: &[u8],
        place: Option<Place>,
        c: &mut C,
    ) {
        if data.is_empty() {
            return;
        }
        c.data(dir, self.offset, data);
        let from = self.offset;
        self.tail
            .get_or_insert_with(|| {
                // Nothing before its first delivery is remembered.
                Box::new(Tail {
                    from,
                    ..Tail::default()
                })
            })
            .remember(self.offset, data, place);
        self.advance(data.len() as u64);
        self.counters.bytes += data.len() as u64;
    }

    fn deliver_gap<C: Deliver>(&mut self, dir: Direction, len: u64, c: &mut C) {
        if len == 0 {
            return;
        }
        c.gap(dir, self.offset, len);
        self.advance(len);
        if let Some(tail) = self.tail.as_mut() {
            tail.forget_before(self.offset);
        }
        self.counters.missed += len;
        self.counters.gaps += 1;
    }

    fn advance(&mut self, len: u64) {
        self.offset += len;
        if let Some(next) = self.next.as_mut() {
            *next = next.plus(len as u32);
        }
    }

    /// Whether `data`, a repeat of delivered bytes starting at `from`,
    /// differs from what was delivered (as far as the tail remembers).
    fn differs_from_tail(&self, from: u64, data: &[u8], maps: &Maps) -> bool {
        data.iter().enumerate().any(|(i, b)| {
            self.tail
                .as_ref()
                .and_then(|t| t.byte(from + i as u64, self.offset, maps))
                .is_some_and(|t| t != *b)
        })
    }
}
