//! IPv4 and IPv6 fragment reassembly (RFC 791, RFC 8200 section 4.5).
//!
//! Fragments wait in a table keyed by (source, destination, identification,
//! protocol). Memory is bounded: at most `max_pending_bytes` of fragment data
//! and `max_datagrams` datagrams wait at once, a datagram never exceeds
//! 65,535 bytes of payload, and a datagram incomplete after `timeout_ns` of
//! capture time is dropped. Every bound that trips is counted.
//!
//! Overlapping fragments: the first copy of a byte wins (an attacker's later
//! overlap does not rewrite what was already received).

use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
pub struct FragLimits {
    /// Fragment bytes (plus a fixed overhead per fragment) waiting at once.
    pub max_pending_bytes: usize,
    pub max_datagrams: usize,
    /// Fragments kept for one datagram (65,535 bytes in 8-byte pieces is
    /// 8,192; repeats of bytes already received are not kept).
    pub max_pieces: usize,
    pub timeout_ns: u64,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits {
            max_pending_bytes: 8 << 20,
            max_datagrams: 4096,
            max_pieces: 8192,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Largest IP payload a datagram can carry.
const MAX_DATAGRAM: u32 = 65_535;
/// Memory charged per fragment beyond its bytes (its bookkeeping).
const PIECE_OVERHEAD: usize = 64;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct FragStats {
    /// Fragments received.
    pub fragments: u64,
    /// Datagrams rebuilt from their fragments.
    pub reassembled: u64,
    /// Fragments dropped because a memory bound was reached.
    pub dropped_limit: u64,
    /// Fragments dropped because they were malformed (past 65,535 bytes,
    /// inconsistent ends).
    pub dropped_malformed: u64,
    /// Datagrams abandoned incomplete (timeout or end of capture).
    pub incomplete: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub protocol: u8,
}

#[derive(Debug, Default)]
struct Pending {
    first_ts_ns: u64,
    /// Pieces in arrival order: (offset, bytes).
    pieces: Vec<(u32, Vec<u8>)>,
    /// Payload length, known once the last fragment (MF=0) arrived.
    total: Option<u32>,
    /// The furthest end of any piece.
    reach: u32,
    /// Byte ranges received, sorted, disjoint and merged.
    ranges: Vec<(u32, u32)>,
    /// Memory charged: piece bytes plus a fixed overhead per piece.
    bytes: usize,
}

#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: FragLimits,
    pending: HashMap<FragKey, Pending>,
    pending_bytes: usize,
    now_ns: u64,
    last_ts_ns: u64,
    next_sweep_ns: u64,
    /// The last datagram rebuilt; borrowed by the caller until the next call.
    out: Vec<u8>,
    pub stats: FragStats,
}

impl Defragmenter {
    pub fn new(limits: FragLimits) -> Self {
        Defragmenter {
            limits,
            ..Default::default()
        }
    }

    /// Adds one fragment (`offset` in bytes) and returns the whole datagram's
    /// payload when this fragment completes it.
    pub fn add(
        &mut self,
        key: FragKey,
        ts_ns: u64,
        offset: u32,
        more: bool,
        data: &[u8],
    ) -> Option<&[u8]> {
        self.stats.fragments += 1;
        // Expiry follows capture time, but one frame with a wild timestamp
        // must not expire everything (or stop expiry for good): the clock
        // advances only to the older of the last two fragments' times.
        self.now_ns = self.now_ns.max(ts_ns.min(self.last_ts_ns));
        self.last_ts_ns = ts_ns;
        if self.now_ns >= self.next_sweep_ns {
            self.expire(self.now_ns);
            self.next_sweep_ns = self.now_ns.saturating_add(self.limits.timeout_ns / 4);
        }
        let end = offset.saturating_add(data.len() as u32);
        if data.is_empty() || end > MAX_DATAGRAM || (more && data.len() % 8 != 0) {
            self.stats.dropped_malformed += 1;
            return None;
        }
        let existing = self.pending.get(&key);
        // A fragment past the known end, or a second "last" fragment with
        // another end, contradicts what came before.
        let known_total = existing.and_then(|p| p.total);
        let reach = existing.map_or(0, |p| p.reach);
        if known_total.is_some_and(|t| end > t || (!more && end != t)) || (!more && end < reach) {
            self.stats.dropped_malformed += 1;
            return None;
        }
        // A fragment whose bytes all arrived already adds nothing (first
        // copy wins): ignore it without storing it.
        if existing.is_some_and(|p| covered(&p.ranges, offset, end)) {
            return None;
        }
        let cost = data.len() + PIECE_OVERHEAD;
        if self.pending_bytes + cost > self.limits.max_pending_bytes
            || (existing.is_none() && self.pending.len() >= self.limits.max_datagrams)
            || existing.is_some_and(|p| p.pieces.len() >= self.limits.max_pieces)
        {
            self.stats.dropped_limit += 1;
            return None;
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_ts_ns: ts_ns,
            ..Default::default()
        });
        if !more {
            entry.total = Some(end);
        }
        entry.reach = entry.reach.max(end);
        add_range(&mut entry.ranges, offset, end);
        entry.pieces.push((offset, data.to_vec()));
        entry.bytes += cost;
        self.pending_bytes += cost;

        let total = entry.total?;
        if entry.ranges.as_slice() != [(0, total)] {
            return None;
        }
        let done = self.pending.remove(&key)?;
        self.pending_bytes -= done.bytes;
        self.out.clear();
        self.out.resize(total as usize, 0);
        // Write in reverse arrival order so the first copy of a byte wins.
        for (off, bytes) in done.pieces.iter().rev() {
            let start = *off as usize;
            let stop = (start + bytes.len()).min(total as usize);
            if let (Some(dst), Some(src)) = (
                self.out.get_mut(start..stop),
                bytes.get(..stop.saturating_sub(start)),
            ) {
                dst.copy_from_slice(src);
            }
        }
        self.stats.reassembled += 1;
        Some(&self.out)
    }

    /// Drops datagrams older than the timeout.
    fn expire(&mut self, now_ns: u64) {
        let timeout = self.limits.timeout_ns;
        let mut freed = 0;
        let mut dropped = 0;
        self.pending.retain(|_, p| {
            let keep = now_ns.saturating_sub(p.first_ts_ns) < timeout;
            if !keep {
                freed += p.bytes;
                dropped += 1;
            }
            keep
        });
        self.pending_bytes -= freed;
        self.stats.incomplete += dropped;
    }

    /// End of capture: whatever still waits is incomplete.
    pub fn finish(&mut self) {
        self.stats.incomplete += self.pending.len() as u64;
        self.pending.clear();
        self.pending_bytes = 0;
    }
}

/// Whether [start, end) lies inside one of the sorted, disjoint `ranges`.
fn covered(ranges: &[(u32, u32)], start: u32, end: u32) -> bool {
    let i = ranges.partition_point(|r| r.1 < end);
    ranges.get(i).is_some_and(|r| r.0 <= start && end <= r.1)
}

/// Adds [start, end) to the sorted, disjoint, merged `ranges`.
fn add_range(ranges: &mut Vec<(u32, u32)>, start: u32, end: u32) {
    // Every range that touches [start, end) merges into one.
    let first = ranges.partition_point(|r| r.1 < start);
    let last = ranges.partition_point(|r| r.0 <= end);
    let (mut s, mut e) = (start, end);
    if first < last {
        s = s.min(ranges[first].0);
        e = e.max(ranges[last - 1].1);
    }
    ranges.splice(first..last, [(s, e)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FragKey {
        FragKey {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            id: 7,
            protocol: 6,
        }
    }

    fn payload() -> Vec<u8> {
        (0..40u8).collect()
    }

    #[test]
    fn fragments_in_every_order_rebuild_the_datagram() {
        let p = payload();
        let parts: [(u32, bool, &[u8]); 3] = [
            (0, true, &p[..16]),
            (16, true, &p[16..32]),
            (32, false, &p[32..]),
        ];
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let mut d = Defragmenter::new(FragLimits::default());
            let mut result = None;
            for (n, i) in order.iter().enumerate() {
                let (off, more, bytes) = parts[*i];
                let r = d.add(key(), 1, off, more, bytes).map(|b| b.to_vec());
                assert_eq!(r.is_some(), n == 2, "order {order:?}");
                result = r.or(result);
            }
            assert_eq!(result.unwrap(), p);
            assert_eq!(d.stats.reassembled, 1);
            assert_eq!(d.pending_bytes, 0);
        }
    }

    #[test]
    fn first_copy_of_an_overlapping_byte_wins() {
        let mut d = Defragmenter::new(FragLimits::default());
        assert!(d.add(key(), 1, 0, true, &[1; 16]).is_none());
        assert!(d.add(key(), 1, 8, true, &[2; 16]).is_none());
        let out = d.add(key(), 1, 24, false, &[3; 4]).unwrap().to_vec();
        assert_eq!(&out[..16], &[1; 16]);
        assert_eq!(&out[16..24], &[2; 8]);
        assert_eq!(&out[24..], &[3; 4]);
    }

    #[test]
    fn memory_bound_drops_and_counts() {
        let limits = FragLimits {
            max_pending_bytes: 24 + PIECE_OVERHEAD + 8,
            ..Default::default()
        };
        let mut d = Defragmenter::new(limits);
        assert!(d.add(key(), 1, 0, true, &[0; 24]).is_none());
        assert!(d.add(key(), 1, 24, true, &[0; 16]).is_none());
        assert_eq!(d.stats.dropped_limit, 1);
        assert_eq!(d.pending_bytes, 24 + PIECE_OVERHEAD);
    }

    #[test]
    fn contradictory_and_empty_fragments_are_malformed() {
        let mut d = Defragmenter::new(FragLimits::default());
        assert!(d.add(key(), 1, 8, true, &[]).is_none(), "empty");
        assert!(d.add(key(), 1, 8, false, &[0; 8]).is_none());
        assert!(d.add(key(), 1, 16, true, &[0; 8]).is_none(), "past the end");
        assert!(
            d.add(key(), 1, 0, false, &[0; 8]).is_none(),
            "second, shorter end"
        );
        assert_eq!(d.stats.dropped_malformed, 3);
        assert_eq!(d.add(key(), 1, 0, true, &[7; 8]).map(<[u8]>::len), Some(16));
    }

    #[test]
    fn repeated_fragments_are_not_kept() {
        let mut d = Defragmenter::new(FragLimits::default());
        // The same 8 bytes again and again never complete the datagram and
        // cost one piece.
        for _ in 0..1000 {
            assert!(d.add(key(), 1, 8, true, &[0; 8]).is_none());
        }
        assert_eq!(d.pending_bytes, 8 + PIECE_OVERHEAD);
        assert_eq!(d.add(key(), 1, 0, false, &[1; 8]), None, "end before reach");
        assert_eq!(d.add(key(), 1, 16, false, &[2; 8]), None);
        assert_eq!(d.add(key(), 1, 0, true, &[1; 8]).map(<[u8]>::len), Some(24));
    }

    #[test]
    fn piece_bound_caps_one_datagram() {
        let limits = FragLimits {
            max_pieces: 4,
            ..Default::default()
        };
        let mut d = Defragmenter::new(limits);
        for i in 0..6u32 {
            assert!(d.add(key(), 1, 8 + i * 16, true, &[0; 8]).is_none());
        }
        assert_eq!(d.stats.dropped_limit, 2);
    }

    #[test]
    fn ranges_merge() {
        let mut r = Vec::new();
        add_range(&mut r, 16, 24);
        add_range(&mut r, 0, 8);
        assert_eq!(r, [(0, 8), (16, 24)]);
        assert!(covered(&r, 0, 8) && covered(&r, 18, 20) && !covered(&r, 4, 12));
        add_range(&mut r, 8, 16);
        assert_eq!(r, [(0, 24)]);
        add_range(&mut r, 40, 48);
        add_range(&mut r, 20, 44);
        assert_eq!(r, [(0, 48)]);
    }

    #[test]
    fn stale_datagrams_expire_despite_a_wild_timestamp() {
        let mut d = Defragmenter::new(FragLimits::default());
        assert!(d.add(key(), 1, 0, true, &[0; 8]).is_none());
        // One fragment from the far future expires nothing...
        let wild = FragKey { id: 9, ..key() };
        assert!(d.add(wild, u64::MAX / 2, 0, true, &[0; 8]).is_none());
        assert_eq!(d.stats.incomplete, 0);
        // ...while capture time moving on does.
        let later = FragKey { id: 8, ..key() };
        assert!(d.add(later, 60_000_000_000, 0, true, &[0; 8]).is_none());
        assert!(d.add(later, 60_000_000_000, 8, true, &[0; 8]).is_none());
        assert_eq!(d.stats.incomplete, 1);
        assert!(d
            .add(later, 60_000_000_000, 65_528, false, &[0; 16])
            .is_none());
        assert_eq!(d.stats.dropped_malformed, 1);
        d.finish();
        assert_eq!(d.stats.incomplete, 3);
    }
}
