//! HPACK (RFC 7541): the header block decoder of one direction.
//!
//! Written to the RFC rather than taken from a crate: the maintained
//! successor of the `hpack` crate (`loona-hpack`) builds a hash-map Huffman
//! table for every string and walks it bit by bit, and h2's decoder is only
//! public behind its `unstable` feature (with tokio behind it) and rejects
//! field names a passive reader must still read. Checked against the
//! RFC 7541 Appendix C examples (see `tests.rs`).
//!
//! The dynamic table is bounded: its size is set by the encoder's table
//! size updates, which may not exceed what the peer allowed in
//! SETTINGS_HEADER_TABLE_SIZE, and never [`MAX_TABLE`].

use super::huffman::{self, HuffmanError};
use std::collections::VecDeque;

/// Largest dynamic table kept (Chrome asks for 64 KiB; the default is 4 KiB).
pub const MAX_TABLE: usize = 64 * 1024;
/// The table size before any SETTINGS (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE: usize = 4096;
/// Per-entry overhead in the table size (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;

/// The static table (RFC 7541 Appendix A), index 1 first.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Why a header block did not decode. The table is then out of step with
/// the encoder's, so the direction's later blocks cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// An integer ran past the block or over 2^32.
    Integer,
    /// A string ran past the block.
    Truncated,
    /// An index into neither table.
    Index(usize),
    Huffman(HuffmanError),
    /// A table size update over what the peer allowed (or [`MAX_TABLE`]).
    TableSize(usize),
}

/// A dynamic table entry: name and value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// One direction's decoding state.
#[derive(Debug)]
pub struct Decoder {
    /// Newest first: index 62 is `table[0]`.
    table: VecDeque<Entry>,
    size: usize,
    /// The table's current maximum (set by table size updates).
    max: usize,
    /// The largest maximum the encoder may choose (SETTINGS_HEADER_TABLE_SIZE
    /// from the decoding side, at most [`MAX_TABLE`]).
    allowed: usize,
    name: Vec<u8>,
    value: Vec<u8>,
    /// Entries evicted so far (for tests and stats).
    pub evictions: u64,
    /// Table size updates above what the SETTINGS seen allowed (accepted).
    pub over_settings: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max: DEFAULT_TABLE,
            allowed: DEFAULT_TABLE,
            name: Vec::new(),
            value: Vec::new(),
            evictions: 0,
            over_settings: 0,
        }
    }
}

impl Decoder {
    /// A decoder whose table maximum was set out of band (the RFC 7541
    /// appendix C.5 and C.6 examples use 256).
    #[cfg(test)]
    pub fn with_max(max: usize) -> Decoder {
        Decoder {
            max,
            allowed: max,
            ..Default::default()
        }
    }

    /// The decoding side announced SETTINGS_HEADER_TABLE_SIZE. Returns
    /// false when the value was above [`MAX_TABLE`] and was capped.
    pub fn allow(&mut self, settings: u32) -> bool {
        let want = settings as usize;
        // A passive reader does not know when the SETTINGS took effect, and
        // a smaller bound takes effect through the encoder's own update:
        // never allow less than the table's current maximum.
        self.allowed = want.min(MAX_TABLE).max(self.max);
        want <= MAX_TABLE
    }

    /// Gives back scratch buffers grown past `keep` bytes.
    pub fn shrink(&mut self, keep: usize) {
        for b in [&mut self.name, &mut self.value] {
            if b.capacity() > keep {
                *b = Vec::new();
            }
        }
    }

    /// Bytes the dynamic table holds, as RFC 7541 §4.1 counts them.
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }

    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// Decodes one whole header block, calling `field` with each name and
    /// value in order. On an error the fields before it have been given.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        let mut at = 0;
        while at < block.len() {
            let b = block[at];
            if b & 0x80 != 0 {
                // Indexed field (§6.1).
                let (index, used) = integer(&block[at..], 7)?;
                at += used;
                let (n, v) = self.get(index)?;
                field(n, v);
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                let (size, used) = integer(&block[at..], 5)?;
                at += used;
                // A passive reader may have missed the SETTINGS (or the
                // h2c HTTP2-Settings header) that allowed this size: only
                // the memory bound is enforced.
                if size > MAX_TABLE {
                    return Err(HpackError::TableSize(size));
                }
                if size > self.allowed {
                    self.over_settings += 1;
                }
                self.max = size;
                self.evict(0);
            } else {
                // Literal: with incremental indexing (§6.2.1), without
                // (§6.2.2) or never indexed (§6.2.3).
                let indexing = b & 0x40 != 0;
                let (index, used) = integer(&block[at..], if indexing { 6 } else { 4 })?;
                at += used;
                let mut name = std::mem::take(&mut self.name);
                let mut value = std::mem::take(&mut self.value);
                name.clear();
                value.clear();
                let read = (|| {
                    if index == 0 {
                        at += string(&block[at..], &mut name)?;
                    } else {
                        name.extend_from_slice(self.get(index)?.0);
                    }
                    at += string(&block[at..], &mut value)?;
                    Ok(())
                })();
                if read.is_ok() {
                    field(&name, &value);
                    if indexing {
                        self.insert(&name, &value);
                    }
                }
                self.name = name;
                self.value = value;
                read?;
            }
        }
        Ok(())
    }

    fn get(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            1..=61 => {
                let (n, v) = STATIC[index - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            _ => index
                .checked_sub(62)
                .and_then(|i| self.table.get(i))
                .map(|(n, v)| (&n[..], &v[..]))
                .ok_or(HpackError::Index(index)),
        }
    }

    /// Adds an entry, evicting the oldest ones to make room (§4.4); an
    /// entry larger than the table empties it and is not kept.
    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max {
            self.evictions += self.table.len() as u64;
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.table.push_front((name.into(), value.into()));
        self.size += size;
    }

    /// Evicts until `room` more bytes fit under the maximum.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            let Some((n, v)) = self.table.pop_back() else {
                self.size = 0;
                return;
            };
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
            self.evictions += 1;
        }
    }
}

/// An integer with an `n`-bit prefix (§5.1), and the bytes it took.
pub fn integer(buf: &[u8], n: u32) -> Result<(usize, usize), HpackError> {
    let mask = (1u32 << n) - 1;
    let first = *buf.first().ok_or(HpackError::Integer)?;
    let mut value = u64::from(u32::from(first) & mask);
    if value < u64::from(mask) {
        return Ok((value as usize, 1));
    }
    let mut shift = 0;
    for (i, &b) in buf.iter().enumerate().skip(1) {
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::Integer);
        }
        if b & 0x80 == 0 {
            return Ok((value as usize, i + 1));
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::Integer);
        }
    }
    Err(HpackError::Integer)
}

/// A string literal (§5.2) appended to `out`, and the bytes it took.
fn string(buf: &[u8], out: &mut Vec<u8>) -> Result<usize, HpackError> {
    let huffman = buf.first().is_some_and(|b| b & 0x80 != 0);
    let (len, used) = integer(buf, 7)?;
    let raw = buf
        .get(used..used.saturating_add(len))
        .ok_or(HpackError::Truncated)?;
    if huffman {
        huffman::decode(raw, out).map_err(HpackError::Huffman)?;
    } else {
        out.extend_from_slice(raw);
    }
    Ok(used + len)
}
