//! Real captures in testdata/ against the facts tshark established for them
//! (testdata/*/facts*.json, made by testdata/tools/tshark_facts.py).

use crate::common::*;
use serde_json::Value;

/// Checks sessmap's connections against a tshark facts file: same count,
/// order, endpoints, roles, packets and payload bytes per direction, and the
/// first/last packet times to the nanosecond.
fn check_facts(capture: &str, facts: &str) {
    let report = analyze_json(&[repo(capture).to_str().unwrap()]);
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(repo(facts)).unwrap()).unwrap();
    let ours = conns(&report);
    let theirs = facts["connections"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{capture}: connection count");
    assert_eq!(report["stats"]["connections"], theirs.len());
    assert_eq!(
        report["stats"]["packets"], facts["packets"],
        "{capture}: packets"
    );
    for (o, t) in ours.iter().zip(theirs) {
        let what = format!("{capture} connection {}", o["id"]);
        assert_eq!(o["client"], t["client"], "{what}: client");
        assert_eq!(o["server"], t["server"], "{what}: server");
        assert_eq!(o["packets"], t["packets"], "{what}: packets");
        assert_eq!(o["bytes"], t["payload_bytes"], "{what}: payload bytes");
        assert_eq!(o["missed_bytes"]["client"], 0, "{what}");
        assert_eq!(o["retransmitted_bytes"]["server"], 0, "{what}");
        // tshark prints epoch seconds with 9 decimals; compare as integers.
        let ns = |s: &Value| -> u64 {
            let (sec, frac) = s.as_str().unwrap().split_once('.').unwrap();
            sec.parse::<u64>().unwrap() * 1_000_000_000
                + format!("{frac:0<9}").parse::<u64>().unwrap()
        };
        let first = ns(&t["first_time"]);
        let last = ns(&t["last_time"]);
        assert_eq!(
            o["start"],
            sessmap::report::rfc3339(first).as_str(),
            "{what}: start"
        );
        assert_eq!(
            o["end"],
            sessmap::report::rfc3339(last).as_str(),
            "{what}: end"
        );
        let dur = o["duration"].as_f64().unwrap();
        assert!(
            ((last - first) as f64 / 1e9 - dur).abs() < 1e-9,
            "{what}: duration"
        );
        let expect_state = match (t["syn"].as_bool(), t["fin"].as_bool(), t["rst"].as_bool()) {
            (Some(true), Some(true), Some(false)) => "SF",
            (Some(true), Some(false), Some(true)) => "REJ",
            _ => "?",
        };
        assert_eq!(o["state"], expect_state, "{what}: state");
    }
}

#[test]
fn http_loopback_matches_tshark() {
    check_facts(
        "testdata/http-loopback/capture.pcap",
        "testdata/http-loopback/facts.json",
    );
}

#[test]
fn gzip_capture_reads_like_the_plain_one() {
    check_facts(
        "testdata/http-loopback/capture.pcap.gz",
        "testdata/http-loopback/facts.json",
    );
    let report = analyze_json(&[repo("testdata/http-loopback/capture.pcap.gz")
        .to_str()
        .unwrap()]);
    assert_eq!(report["inputs"][0]["compressed"], true);
    assert_eq!(report["inputs"][0]["format"], "pcap");
}

#[test]
fn sll2_from_tcpdump_any_matches_tshark() {
    check_facts(
        "testdata/sll2-any/capture.pcap",
        "testdata/sll2-any/facts.json",
    );
    let report = analyze_json(&[repo("testdata/sll2-any/capture.pcap").to_str().unwrap()]);
    assert_eq!(report["stats"]["linktypes"]["LINUX_SLL2"], 29);
}

#[test]
fn pcapng_and_nanosecond_pcap_match_tshark() {
    check_facts(
        "testdata/pcapng-nano/capture.pcapng",
        "testdata/pcapng-nano/facts.json",
    );
    check_facts(
        "testdata/pcapng-nano/capture-nano.pcap",
        "testdata/pcapng-nano/facts-nano.json",
    );
    let report = analyze_json(&[repo("testdata/pcapng-nano/capture.pcapng")
        .to_str()
        .unwrap()]);
    assert_eq!(report["inputs"][0]["format"], "pcapng");
}

#[test]
fn namespaced_ipv4_ipv6_and_refused_match_tshark() {
    check_facts(
        "testdata/netns-http/capture.pcap",
        "testdata/netns-http/facts.json",
    );
    let report = analyze_json(&[repo("testdata/netns-http/capture.pcap").to_str().unwrap()]);
    // 6 ARP / ICMPv6 frames: counted, not silently dropped.
    let skipped = &report["stats"]["skipped"];
    let total: u64 = skipped
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 6, "{skipped}");
    let hosts = report["hosts"].as_array().unwrap();
    let client = hosts.iter().find(|h| h["address"] == "10.77.0.1").unwrap();
    assert_eq!(client["connections"], 3);
}

#[test]
fn stdin_reads_a_capture() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let bytes = std::fs::read(repo("testdata/http-loopback/capture.pcap.gz")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessmap"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stats"]["connections"], 4);
    assert_eq!(report["inputs"][0]["path"], "-");
}

#[test]
fn split_files_merge_into_the_same_connections() {
    use sessmap::capture::{FileSource, LinkType};
    let dir = tempfile::tempdir().unwrap();
    let mut src = FileSource::open(&repo("testdata/http-loopback/capture.pcap"), 0).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut n = 0;
    while src.peek().is_some() {
        let f = src.take().unwrap();
        // Alternate packets between the two files: every connection spans both.
        if n % 2 == 0 { &mut a } else { &mut b }.push((f.ts_ns, f.data.to_vec()));
        n += 1;
    }
    let pa = dir.path().join("a.pcap");
    let pb = dir.path().join("b.pcap");
    write_pcap(&pa, LinkType::ETHERNET, &a);
    write_pcap(&pb, LinkType::ETHERNET, &b);
    let merged = analyze_json(&[pb.to_str().unwrap(), pa.to_str().unwrap()]);
    let whole = analyze_json(&[repo("testdata/http-loopback/capture.pcap")
        .to_str()
        .unwrap()]);
    assert_eq!(merged["connections"], whole["connections"]);
    assert_eq!(merged["inputs"].as_array().unwrap().len(), 2);
}

#[test]
fn offline_filter_keeps_only_matching_frames() {
    let path = repo("testdata/sll2-any/capture.pcap");
    let report = analyze_json(&["--filter", "tcp port 8766", path.to_str().unwrap()]);
    let c = conns(&report);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["server"], "127.0.0.1:8766");
    assert_eq!(report["stats"]["filtered"], 12);
}

#[test]
fn output_is_deterministic_and_goes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = repo("testdata/netns-http/capture.pcap");
    let mut outputs = Vec::new();
    for i in 0..2 {
        let out_path = dir.path().join(format!("r{i}.json"));
        let out = sessmap(&[
            "analyze",
            "--format",
            "json",
            "-o",
            out_path.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        outputs.push(std::fs::read(out_path).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    let table1 = sessmap(&["analyze", "--view", "all", path.to_str().unwrap()]);
    let table2 = sessmap(&["analyze", "--view", "all", path.to_str().unwrap()]);
    assert_eq!(table1.stdout, table2.stdout);
    let text = String::from_utf8(table1.stdout).unwrap();
    assert!(
        text.starts_with("56 packets, 5 connections (1 REJ, 4 SF), 4 hosts, 0 sessions, 5 connections without a session"),
        "{text}"
    );
    assert!(text.contains("[fd77::1]:44650"));
}
