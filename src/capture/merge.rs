//! Several inputs merged into one stream in timestamp order, so a connection
//! split across consecutive capture files continues as one connection.

use super::{CaptureError, FileSource, Frame, InputSummary};
use std::path::PathBuf;

pub struct Inputs {
    sources: Vec<FileSource>,
}

impl Inputs {
    /// Opens every input first, so that a bad file is reported before any
    /// work is done.
    pub fn open(paths: &[PathBuf]) -> Result<Inputs, CaptureError> {
        let sources = paths
            .iter()
            .enumerate()
            .map(|(i, p)| FileSource::open(p, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Inputs { sources })
    }

    /// The earliest pending frame over all inputs (ties go to the input named
    /// first), or `None` when every input is exhausted.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let mut best: Option<(u64, usize)> = None;
        for (i, source) in self.sources.iter_mut().enumerate() {
            if let Some(ts) = source.peek() {
                if best.is_none_or(|(b, _)| ts < b) {
                    best = Some((ts, i));
                }
            }
        }
        let (_, i) = best?;
        self.sources.get_mut(i)?.take()
    }

    /// Whether embedded TLS secrets wait to be taken (cheap: once a frame).
    pub fn has_secrets(&self) -> bool {
        self.sources.iter().any(FileSource::has_secrets)
    }

    /// Embedded TLS key log text found since the last call, by input path.
    pub fn take_secrets(&mut self) -> Vec<(String, Vec<u8>)> {
        self.sources
            .iter_mut()
            .filter_map(|s| {
                let path = super::shown(s.path()).display().to_string();
                s.take_secrets().map(|t| (path, t))
            })
            .collect()
    }

    /// The memory maps of the mapped inputs: frames read from them lie in
    /// them, and stay readable as long as a map is held. `trailed`: other
    /// threads read them a little behind this one.
    pub fn share_maps(&mut self, trailed: bool) -> Vec<std::sync::Arc<memmap2::Mmap>> {
        self.sources
            .iter_mut()
            .filter_map(|s| s.share_map(trailed))
            .collect()
    }

    /// Input bytes read so far (decompressed bytes for gzip inputs).
    pub fn consumed(&self) -> u64 {
        self.sources.iter().map(FileSource::consumed).sum()
    }

    pub fn summaries(&self) -> Vec<InputSummary> {
        self.sources.iter().map(|s| s.summary()).collect()
    }
}
