//! Broken and foreign files: one message naming the file, the problem and
//! the byte offset where it is. A file nothing can be read of is refused
//! (exit 2); a file read in part gives the report of what was read and a
//! warning (exit 0). The captures are written by the project's writer and
//! then damaged at known offsets.

use crate::common::*;
use serde_json::Value;
use sessmap::capture::writer::PcapngWriter;
use sessmap::capture::LinkType;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Frames of one short HTTP exchange: 8 packets of known sizes.
fn exchange() -> Vec<(u64, Vec<u8>)> {
    let mut t = Talk::new("10.3.0.1:40000", "10.3.0.2:80", 1, 1);
    t.handshake();
    t.send(true, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    t.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    t.close();
    t.frames
}

/// Offsets of the records of a classic pcap of `frames` (after the 24-byte
/// file header, each record is a 16-byte header and its bytes).
fn record_offsets(frames: &[(u64, Vec<u8>)]) -> Vec<usize> {
    let mut at = 24;
    frames
        .iter()
        .map(|(_, f)| {
            let here = at;
            at += 16 + f.len();
            here
        })
        .collect()
}

fn pcap_bytes(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pcap");
    write_pcap(&path, LinkType::ETHERNET, frames);
    std::fs::read(path).unwrap()
}

/// The exchange as pcapng: a 28-byte section header, a 32-byte interface
/// description at byte 28, then one Enhanced Packet Block per frame.
fn pcapng_bytes(frames: &[(u64, Vec<u8>)], linktype: LinkType) -> (Vec<u8>, Vec<usize>) {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    let mut offsets = Vec::new();
    let mut at = 60;
    for (ts, f) in frames {
        offsets.push(at);
        at += 32 + f.len().div_ceil(4) * 4;
        w.write(linktype, *ts, f, f.len() as u32).unwrap();
    }
    (w.into_inner(), offsets)
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Runs `analyze` on `path`; asserts it is refused with exit 2 and one line
/// holding every needle and the file's name.
fn refused(path: &Path, needles: &[&str]) -> String {
    let out = sessmap(&["analyze", "--format", "json", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    let name = path.file_name().unwrap().to_str().unwrap();
    for n in std::iter::once(&name).chain(needles) {
        assert!(err.contains(n), "expected {n:?} in {err:?}");
    }
    err
}

/// Runs `analyze` on `path`; asserts a report (exit 0) with a warning that
/// holds every needle and the file's name, and returns the report.
fn partly_read(path: &Path, needles: &[&str]) -> Value {
    let out = sessmap(&["analyze", "--format", "json", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{}: {err}", path.display());
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(err.contains("warning"), "{err}");
    for n in std::iter::once(&name).chain(needles) {
        assert!(err.contains(n), "expected {n:?} in {err:?}");
    }
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = report["warnings"].to_string();
    for n in needles {
        assert!(
            warnings.contains(n),
            "expected {n:?} in the report's {warnings}"
        );
    }
    report
}

#[test]
fn a_file_cut_inside_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = pcap_bytes(&exchange());
    refused(
        &put(dir.path(), "head.pcap", &pcap[..10]),
        &["the file ends at byte 10, inside a pcap file header (24 bytes)"],
    );
    let (ng, _) = pcapng_bytes(&exchange(), LinkType::ETHERNET);
    refused(
        &put(dir.path(), "head.pcapng", &ng[..20]),
        &["the file ends at byte 20, inside a pcapng section header block"],
    );
    // Inside a gzip, the offset is of the decompressed stream.
    refused(
        &put(dir.path(), "head.pcap.gz", &gzip(&pcap[..10])),
        &["the gzip stream ends at byte 10"],
    );
}

#[test]
fn a_file_cut_inside_a_record_reports_what_came_before() {
    let frames = exchange();
    let at = record_offsets(&frames);
    let dir = tempfile::tempdir().unwrap();
    let pcap = pcap_bytes(&frames);
    // Cut 5 bytes into the 6th record's data.
    let cut = at[5] + 16 + 5;
    for (name, bytes) in [
        ("cut.pcap", pcap[..cut].to_vec()),
        ("cut.pcap.gz", gzip(&pcap[..cut])),
    ] {
        let report = partly_read(
            &put(dir.path(), name, &bytes),
            &[
                "file cut short in the middle of a record",
                &format!("{} captured bytes, 5 left", frames[5].1.len()),
                &format!("at byte {}, after 5 packets", at[5]),
            ],
        );
        assert_eq!(report["stats"]["packets"], 5, "{name}");
        assert_eq!(report["stats"]["truncated_inputs"], 1, "{name}");
        assert_eq!(report["stats"]["connections"], 1, "{name}");
    }
    // Cut inside a pcapng block: the block's length against what is left.
    let (ng, at) = pcapng_bytes(&frames, LinkType::ETHERNET);
    let report = partly_read(
        &put(dir.path(), "cut.pcapng", &ng[..at[3] + 20]),
        &[
            "file cut short in the middle of a block",
            "20 left",
            &format!("at byte {}, after 3 packets", at[3]),
        ],
    );
    assert_eq!(report["stats"]["packets"], 3);
}

#[test]
fn a_record_longer_than_the_snaplen_and_the_file() {
    let frames = exchange();
    let at = record_offsets(&frames);
    let dir = tempfile::tempdir().unwrap();
    let mut pcap = pcap_bytes(&frames);
    // The 4th record claims 1 MiB captured (the snaplen is 262144).
    pcap[at[3] + 8..at[3] + 12].copy_from_slice(&(1u32 << 20).to_le_bytes());
    let left = pcap.len() - at[3] - 16;
    for (name, bytes) in [("long.pcap", pcap.clone()), ("long.pcap.gz", gzip(&pcap))] {
        let report = partly_read(
            &put(dir.path(), name, &bytes),
            &[
                "corrupt record header: it claims 1048576 captured bytes",
                &format!("more than the file's snaplen (262144) and than the {left} bytes left"),
                &format!("at byte {}, after 3 packets", at[3]),
            ],
        );
        assert_eq!(report["stats"]["packets"], 3, "{name}");
    }
    // The same in the first record: nothing could be read.
    let mut first = pcap_bytes(&frames);
    first[32..36].copy_from_slice(&(1u32 << 20).to_le_bytes());
    refused(
        &put(dir.path(), "first.pcap", &first),
        &[
            "no packet could be read",
            "corrupt record header: it claims 1048576 captured bytes",
            "(at byte 24)",
        ],
    );
}

#[test]
fn records_longer_than_the_snaplen_are_read_with_a_warning() {
    let frames = exchange();
    let dir = tempfile::tempdir().unwrap();
    let mut pcap = pcap_bytes(&frames);
    // A snaplen of 50 in the file header, shorter than every frame here.
    pcap[16..20].copy_from_slice(&50u32.to_le_bytes());
    let longer = frames.iter().filter(|(_, f)| f.len() > 50).count();
    let needle = format!(
        "{longer} record(s) capture more bytes than their snaplen, the first at byte 24 ({} bytes, snaplen 50)",
        frames[0].1.len()
    );
    for (name, bytes) in [("snap.pcap", pcap.clone()), ("snap.pcap.gz", gzip(&pcap))] {
        let report = partly_read(&put(dir.path(), name, &bytes), &[&needle]);
        // Read whole, not cut short: every packet, the exchange intact.
        assert_eq!(report["stats"]["packets"], frames.len() as u64, "{name}");
        assert_eq!(report["stats"]["truncated_inputs"], 0, "{name}");
        assert_eq!(conns(&report)[0]["state"], "SF", "{name}");
    }
}

#[test]
fn pcapng_blocks_with_wrong_lengths() {
    let frames = exchange();
    let dir = tempfile::tempdir().unwrap();
    let (ng, at) = pcapng_bytes(&frames, LinkType::ETHERNET);
    // The 3rd packet block says it is 7 bytes long.
    let mut seven = ng.clone();
    seven[at[2] + 4..at[2] + 8].copy_from_slice(&7u32.to_le_bytes());
    let report = partly_read(
        &put(dir.path(), "seven.pcapng", &seven),
        &[
            "corrupt pcapng block of type 0x00000006: its length 7 is not a multiple of 4 of at least 12",
            &format!("at byte {}, after 2 packets", at[2]),
        ],
    );
    assert_eq!(report["stats"]["packets"], 2);
    // The 2nd says 4 bytes more than it is: its end is in the next block.
    let mut longer = ng.clone();
    let len = u32::from_le_bytes(ng[at[1] + 4..at[1] + 8].try_into().unwrap());
    longer[at[1] + 4..at[1] + 8].copy_from_slice(&(len + 4).to_le_bytes());
    let report = partly_read(
        &put(dir.path(), "longer.pcapng", &longer),
        &[
            "corrupt pcapng block of type 0x00000006",
            &format!("at byte {}, after 1 packet", at[1]),
        ],
    );
    assert_eq!(report["stats"]["packets"], 1);
    // A section header whose length is wrong: not a capture at all.
    let mut shb = ng.clone();
    shb[4..8].copy_from_slice(&12u32.to_le_bytes());
    refused(
        &put(dir.path(), "shb.pcapng", &shb),
        &["the pcapng section header block at byte 0 does not parse (length 12"],
    );
    // The first packet block broken: nothing to report.
    let mut first = ng;
    first[at[0] + 4..at[0] + 8].copy_from_slice(&6u32.to_le_bytes());
    refused(
        &put(dir.path(), "first.pcapng", &first),
        &["no packet could be read", "its length 6", "(at byte 60)"],
    );
}

#[test]
fn an_unknown_link_type_says_where_it_is_declared() {
    let frames = exchange();
    let dir = tempfile::tempdir().unwrap();
    let mut pcap = pcap_bytes(&frames);
    pcap[20..24].copy_from_slice(&999u32.to_le_bytes());
    refused(
        &put(dir.path(), "odd.pcap", &pcap),
        &["unsupported link type 999 (in the file header, byte 20)"],
    );
    let (ng, _) = pcapng_bytes(&frames, LinkType(999));
    refused(
        &put(dir.path(), "odd.pcapng", &ng),
        &["unsupported link type 999 (in the interface description block at byte 28)"],
    );
}

#[test]
fn files_that_are_not_captures_say_what_they_look_like() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        &put(
            dir.path(),
            "page.pcap",
            b"<!DOCTYPE html>\n<html><body>502</body></html>\n",
        ),
        &[
            "not a pcap or pcapng capture",
            "byte 0 of the file starts 3c 21 44 4f 43 54 59 50 (\"<!DOCTYP\")",
            "it looks like HTML or XML text",
        ],
    );
    refused(
        &put(
            dir.path(),
            "log.pcap.gz",
            &gzip(b"2026-12-07 tcpdump: listening on eth0\n"),
        ),
        &[
            "not a pcap or pcapng capture",
            "byte 0 of the gzip stream starts 32 30 32 36",
            "it looks like text",
        ],
    );
    refused(
        &put(
            dir.path(),
            "twice.pcap.gz",
            &gzip(&gzip(&pcap_bytes(&exchange()))),
        ),
        &[
            "byte 0 of the gzip stream starts 1f 8b",
            "it looks like gzip data",
        ],
    );
    refused(
        &put(dir.path(), "empty.pcap", b""),
        &["empty file, not a capture"],
    );
    refused(
        &put(dir.path(), "empty.pcap.gz", &gzip(b"")),
        &["empty file, not a capture"],
    );
}
