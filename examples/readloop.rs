//! Benchmark peer: sessmap's offline reader alone (pcap-parser through
//! `sessmap::capture::Inputs`), touching every frame like the libpcap loop in
//! benches/pcap_loop.c, so the two readers can be compared on one file.
//!
//! Usage: cargo run --release --example readloop -- FILE

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let mut inputs = match sessmap::capture::Inputs::open(&paths) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("readloop: {e}");
            std::process::exit(2);
        }
    };
    let (mut packets, mut bytes) = (0u64, 0u64);
    while let Some(frame) = inputs.next_frame() {
        packets += 1;
        bytes += frame.data.len() as u64;
    }
    println!("{packets} packets, {bytes} bytes");
}
