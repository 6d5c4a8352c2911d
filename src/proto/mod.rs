//! Proto: protocol parsers, each a [`StreamConsumer`] fed one connection's
//! reassembled byte streams. Parsers report facts (what was said, in which
//! direction, at which offset); they make no session decisions.
//!
//! For now the only consumer counts what reassembly hands it; the HTTP and
//! FTP parsers plug in at the same place.

use crate::flow::{Direction, StreamConsumer};

/// Counts each direction's delivered bytes, gap bytes and end of stream.
/// It checks the reassembly contract: data and gaps arrive in order, each
/// starting where the previous one ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCounter {
    pub bytes: [u64; 2],
    pub gap_bytes: [u64; 2],
    pub gaps: [u64; 2],
    pub ended: [bool; 2],
    /// Deliveries that did not start where the previous one ended, or came
    /// after the end (a reassembly bug if ever non-zero).
    pub out_of_order: u64,
}

impl ByteCounter {
    fn position(&self, dir: Direction) -> u64 {
        self.bytes[dir as usize] + self.gap_bytes[dir as usize]
    }

    fn check(&mut self, dir: Direction, offset: u64) {
        if offset != self.position(dir) || self.ended[dir as usize] {
            self.out_of_order += 1;
        }
    }
}

impl StreamConsumer for ByteCounter {
    fn data(&mut self, dir: Direction, offset: u64, bytes: &[u8]) {
        self.check(dir, offset);
        self.bytes[dir as usize] += bytes.len() as u64;
    }

    fn gap(&mut self, dir: Direction, offset: u64, len: u64) {
        self.check(dir, offset);
        self.gap_bytes[dir as usize] += len;
        self.gaps[dir as usize] += 1;
    }

    fn end(&mut self, dir: Direction) {
        if self.ended[dir as usize] {
            self.out_of_order += 1;
        }
        self.ended[dir as usize] = true;
    }
}
