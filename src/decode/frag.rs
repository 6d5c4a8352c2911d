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
    pub max_pending_bytes: usize,
    pub max_datagrams: usize,
    pub timeout_ns: u64,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits {
            max_pending_bytes: 8 << 20,
            max_datagrams: 4096,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Largest IP payload a datagram can carry.
const MAX_DATAGRAM: u32 = 65_535;

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
    bytes: usize,
}

#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: FragLimits,
    pending: HashMap<FragKey, Pending>,
    pending_bytes: usize,
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
        if ts_ns >= self.next_sweep_ns {
            self.expire(ts_ns);
            self.next_sweep_ns = ts_ns.saturating_add(self.limits.timeout_ns / 4);
        }
        let end = offset.saturating_add(data.len() as u32);
        if end > MAX_DATAGRAM || (more && data.len() % 8 != 0) {
            self.stats.dropped_malformed += 1;
            return None;
        }
        let is_new = !self.pending.contains_key(&key);
        if self.pending_bytes + data.len() > self.limits.max_pending_bytes
            || (is_new && self.pending.len() >= self.limits.max_datagrams)
        {
            self.stats.dropped_limit += 1;
            return None;
        }
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            first_ts_ns: ts_ns,
            ..Default::default()
        });
        if !more {
            match entry.total {
                Some(t) if t != end => {
                    self.stats.dropped_malformed += 1;
                    return None;
                }
                _ => entry.total = Some(end),
            }
        }
        entry.pieces.push((offset, data.to_vec()));
        entry.bytes += data.len();
        self.pending_bytes += data.len();

        let total = entry.total?;
        if !covers(&entry.pieces, total) {
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

/// Whether the pieces cover [0, total) without a hole.
fn covers(pieces: &[(u32, Vec<u8>)], total: u32) -> bool {
    let mut spans: Vec<(u32, u32)> = pieces
        .iter()
        .map(|(o, b)| (*o, o.saturating_add(b.len() as u32)))
        .collect();
    spans.sort_unstable();
    let mut reached = 0u32;
    for (start, end) in spans {
        if start > reached {
            return false;
        }
        reached = reached.max(end);
    }
    reached >= total
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
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
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
            max_pending_bytes: 32,
            ..Default::default()
        };
        let mut d = Defragmenter::new(limits);
        assert!(d.add(key(), 1, 0, true, &[0; 24]).is_none());
        assert!(d.add(key(), 1, 24, true, &[0; 16]).is_none());
        assert_eq!(d.stats.dropped_limit, 1);
        assert_eq!(d.pending_bytes, 24);
    }

    #[test]
    fn stale_datagrams_expire_and_oversize_is_malformed() {
        let mut d = Defragmenter::new(FragLimits::default());
        assert!(d.add(key(), 0, 0, true, &[0; 8]).is_none());
        let later = FragKey { id: 8, ..key() };
        assert!(d.add(later, 60_000_000_000, 0, true, &[0; 8]).is_none());
        assert_eq!(d.stats.incomplete, 1);
        assert!(d
            .add(later, 60_000_000_000, 65_528, false, &[0; 16])
            .is_none());
        assert_eq!(d.stats.dropped_malformed, 1);
        d.finish();
        assert_eq!(d.stats.incomplete, 2);
    }
}
