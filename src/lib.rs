//! sessmap: rebuild the TCP connections of a packet capture and map them to
//! application sessions.
//!
//! The pipeline, one module per stage, data flowing left to right:
//!
//! ```text
//! capture ──► decode ──► flow ──► proto ──► correlate ──► report
//! ```
//!
//! [`analyze::analyze_files`] wires it for files; `main` only parses the
//! command line and picks the exit code.

pub mod analyze;
pub mod capture;
pub mod correlate;
pub mod decode;
pub mod extract;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod proto;
pub mod report;
mod shard;

/// Helpers for unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    /// A xorshift64 generator: reproducible pseudo-random input for the
    /// parsers' mutation tests.
    pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Bytes from hex digits, spaces and newlines ignored (RFC test
    /// vectors as printed).
    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
