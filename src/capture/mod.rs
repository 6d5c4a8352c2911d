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

use std::path::PathBuf;

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
    #[error("{path}: not a pcap or pcapng capture (unrecognised header{detail})")]
    NotCapture { path: PathBuf, detail: String },
    #[error("{path}: unsupported link type {linktype}")]
    UnsupportedLinkType { path: PathBuf, linktype: LinkType },
}
