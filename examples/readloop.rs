//! readloop: sessmap's capture stage alone, for the benchmark's breakdown.
//!
//! ```text
//! cargo run --release --example readloop -- FILE...
//! ```
//!
//! Reads every frame through `sessmap::capture::Inputs` (pcap-parser, the
//! same reader `sessmap analyze` uses), sums the captured lengths so the loop
//! cannot be optimised away, and prints `packets=N bytes=M` like
//! `benches/pcap_loop.c`. Its time against the libpcap loop compares the two
//! readers; sessmap's time against it is the cost of decode, reassembly and
//! the report.

use sessmap::capture::Inputs;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: readloop FILE...");
        return ExitCode::from(2);
    }
    let mut inputs = match Inputs::open(&paths) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("readloop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Some(frame) = inputs.next_frame() {
        packets += 1;
        bytes += frame.data.len() as u64;
    }
    for s in inputs.summaries() {
        if let Some(w) = s.warning {
            eprintln!("readloop: warning: {w}");
        }
    }
    println!("packets={packets} bytes={bytes}");
    ExitCode::SUCCESS
}
