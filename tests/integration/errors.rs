//! Bad input: one line naming the file and the problem, exit code 2.

use crate::common::*;
use sessmap::capture::LinkType;

fn fails_with(args: &[&str], needles: &[&str]) {
    let out = sessmap(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in {err:?}");
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_file() {
    fails_with(
        &["analyze", "/nonexistent/x.pcap"],
        &[
            "/nonexistent/x.pcap",
            "cannot open: No such file or directory",
        ],
    );
}

#[test]
fn the_os_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    for (path, why) in [
        ("/nonexistent/x.pcap", "No such file or directory"),
        (dir.path().to_str().unwrap(), "Is a directory"),
    ] {
        let out = sessmap(&["analyze", path]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert_eq!(err.matches(why).count(), 1, "{err:?}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
    }
}

#[test]
fn not_a_capture_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a packet capture at all\n").unwrap();
    fails_with(
        &["analyze", text.to_str().unwrap()],
        &["notes.txt", "not a pcap or pcapng"],
    );
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, "").unwrap();
    fails_with(
        &["analyze", empty.to_str().unwrap()],
        &["empty.pcap", "empty"],
    );
    // One bad input among good ones still stops before any work.
    let good = repo("testdata/http-loopback/capture.pcap");
    fails_with(
        &["analyze", good.to_str().unwrap(), text.to_str().unwrap()],
        &["notes.txt"],
    );
}

#[test]
fn unsupported_link_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usb.pcap");
    write_pcap(&path, LinkType(189), &[(1, vec![0; 64])]);
    fails_with(
        &["analyze", path.to_str().unwrap()],
        &["usb.pcap", "unsupported link type 189"],
    );
}

#[test]
fn bad_filter_and_bad_usage() {
    let good = repo("testdata/http-loopback/capture.pcap");
    fails_with(
        &[
            "analyze",
            "--filter",
            "tcp port banana",
            good.to_str().unwrap(),
        ],
        &["--filter", "banana"],
    );
    fails_with(&["analyze"], &["FILE"]);
    fails_with(
        &["analyze", "--format", "yaml", good.to_str().unwrap()],
        &["yaml"],
    );
}

#[test]
fn a_trailing_filter_expression_is_refused_with_a_hint() {
    let good = repo("testdata/http-loopback/capture.pcap");
    fails_with(
        &["analyze", good.to_str().unwrap(), "tcp", "port", "8765"],
        &[
            "\"tcp port 8765\" looks like a filter expression",
            "-f 'tcp port 8765'",
        ],
    );
}

#[test]
fn tcpdump_habits_read_files_filters_and_durations() {
    let good = repo("testdata/http-loopback/capture.pcap");
    let good = good.to_str().unwrap();
    let base = analyze_json(&[good]);
    // -r is the positional file; -f, --filter and --bpf are one option.
    assert_eq!(analyze_json(&["-r", good]), base);
    let by_f = analyze_json(&[good, "-f", "tcp port 8765"]);
    assert_eq!(by_f["stats"]["connections"], 4);
    for flag in ["--filter", "--bpf"] {
        assert_eq!(analyze_json(&[good, flag, "tcp port 8765"]), by_f);
    }
    assert_eq!(
        analyze_json(&[good, "-f", "tcp port 1"])["stats"]["connections"],
        0
    );
    // Durations take units; a plain number is seconds.
    for d in ["5m", "300", "300s"] {
        assert_eq!(analyze_json(&[good, "--idle-timeout", d]), base, "{d}");
    }
    fails_with(
        &["analyze", good, "--idle-timeout", "5 parsecs"],
        &["--idle-timeout"],
    );
}

#[test]
fn standard_input_is_named_so() {
    let out = sessmap(&["analyze", "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("standard input: empty"), "{err}");
    assert!(!err.contains("-:"), "{err}");
}
