//! Capture: turn capture files (pcap, pcapng, gzip-compressed or not, stdin)
//! into raw frames in timestamp order.
//!
//! The contract: a [`Frame`] borrows its bytes from the reader's buffer and is
//! valid until the next call on the same source. Timestamps are nanoseconds
//! since the Unix epoch whatever the file's resolution. A file that ends in the
//! middle of a record is not an error: reading stops there and the source
//! records a warning, so the report still covers everything before the cut.

mod file;
mod linktype;
mod live;
mod merge;
pub mod writer;

pub use file::{shown, FileSource, InputFormat, InputSummary};
pub use linktype::LinkType;
pub use live::{
    capture as capture_live, interfaces, LiveError, LiveOptions, LiveProgress, LiveStats,
};
pub use merge::Inputs;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

/// The memory maps of mapped inputs, held by the parts that keep or send
/// references to frames' bytes instead of copies of them: a slice of a
/// frame read from a map is found again by its [`Place`].
#[derive(Debug, Default, Clone)]
pub struct Maps {
    maps: Vec<Arc<memmap2::Mmap>>,
    /// The map the last slice was found in (nearly always the next one's).
    last: Cell<usize>,
}

/// Where bytes lie in one of the [`Maps`]: the map and the offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub map: usize,
    pub at: usize,
}

impl Place {
    /// The place `n` bytes further on.
    pub fn plus(self, n: usize) -> Place {
        Place {
            at: self.at + n,
            ..self
        }
    }
}

impl Maps {
    pub fn add(&mut self, maps: impl IntoIterator<Item = Arc<memmap2::Mmap>>) {
        self.maps.extend(maps);
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// The place of `bytes`, when they lie in one of the maps.
    pub fn locate(&self, bytes: &[u8]) -> Option<Place> {
        if self.maps.is_empty() || bytes.is_empty() {
            return None;
        }
        let (p, len) = (bytes.as_ptr() as usize, bytes.len());
        let within = |m: &memmap2::Mmap| {
            let base = m.as_ptr() as usize;
            (p >= base && p + len <= base + m.len()).then(|| p - base)
        };
        let last = self.last.get();
        if let Some(at) = self.maps.get(last).and_then(|m| within(m)) {
            return Some(Place { map: last, at });
        }
        let (map, at) = self
            .maps
            .iter()
            .enumerate()
            .find_map(|(i, m)| within(m).map(|at| (i, at)))?;
        self.last.set(map);
        Some(Place { map, at })
    }

    /// `len` bytes at `place` (`None` if the place is not in the maps).
    pub fn get(&self, place: Place, len: usize) -> Option<&[u8]> {
        self.maps
            .get(place.map)?
            .get(place.at..place.at.checked_add(len)?)
    }
}

/// One captured frame, borrowed from the reader.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub linktype: LinkType,
    /// The captured bytes (possibly fewer than `orig_len`: snaplen).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// Index of the input this frame came from.
    pub input: usize,
}

/// Errors that stop a capture from being read at all. Problems found after
/// the header (a cut-short file, a corrupt record) are warnings instead.
/// The OS error is the `source`, not part of the message: reporters print
/// the chain (`{:#}`), so it appears once.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot open")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: empty file, not a capture")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture{detail}")]
    NotCapture { path: PathBuf, detail: String },
    #[error("{path}: unsupported link type {linktype} ({at})")]
    UnsupportedLinkType {
        path: PathBuf,
        linktype: LinkType,
        /// Where the file declares it.
        at: String,
    },
}
