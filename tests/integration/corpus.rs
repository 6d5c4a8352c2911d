//! Conformance on the shared corpus (captures from other projects' test
//! suites, facts from their tools: INVENTORY.md, expected_facts.json).
//! The corpus path comes from SESSMAP_CORPUS; `.ci/run` sets it. Without
//! it these tests say so and check nothing.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("SESSMAP_CORPUS") {
        Some(p) if PathBuf::from(&p).join("expected_facts.json").is_file() => {
            Some(PathBuf::from(p))
        }
        _ => {
            eprintln!(
                "SESSMAP_CORPUS is not set to a corpus folder: corpus conformance NOT checked"
            );
            None
        }
    }
}

fn report(root: &Path, rel: &str) -> (Value, String) {
    let path = root.join(rel);
    let out = sessmap(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{rel}: {}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

/// Where sessmap's count differs from the inventory's (tshark's) because
/// sessmap is right, with the reason.
const PINNED: &[(&str, u64, &str)] = &[(
    "zeek/testing/btest/Traces/vlan-collisions.pcap",
    3,
    "the same 5-tuple on VLAN-untagged, 1-tag and 2-tag frames is three connections \
     (Zeek's conn.log baseline has three); tshark's conv,tcp ignores VLANs and merges them",
)];

#[test]
fn every_capture_reads_and_connection_counts_match() {
    let Some(root) = corpus() else { return };
    let facts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected_facts.json")).unwrap())
            .unwrap();
    assert!(facts.len() > 50, "corpus looks incomplete");
    let mut mismatches = Vec::new();
    for entry in &facts {
        let rel = entry["path"].as_str().unwrap();
        let (r, err) = report(&root, rel);
        let got = r["stats"]["connections"].as_u64().unwrap();
        let want = match PINNED.iter().find(|(p, _, _)| *p == rel) {
            Some((_, n, _)) => *n,
            None => entry["tcp_conns"].as_u64().unwrap(),
        };
        if got != want {
            mismatches.push(format!("{rel}: sessmap {got}, expected {want}"));
        }
        let packets = entry["packets"]
            .as_str()
            .and_then(|p| p.parse::<u64>().ok());
        if let Some(p) = packets {
            assert_eq!(r["stats"]["packets"].as_u64(), Some(p), "{rel}: packets");
        }
        let cut = entry["pscan"]["cut_short"].as_bool() == Some(true);
        assert_eq!(
            r["stats"]["truncated_inputs"].as_u64() == Some(1),
            cut,
            "{rel}: truncation"
        );
        if cut {
            assert!(err.contains("cut short"), "{rel}: {err}");
        }
        assert!(!err.contains("internal"), "{rel}: {err}");
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn huge_trimmed_transfer_counts_missed_bytes_like_zeek() {
    let Some(root) = corpus() else { return };
    // Zeek's conn.log baseline (core.tcp.large-file-reassembly): the data
    // connection has resp_bytes 5416666670 with missed_bytes 5416642848.
    let (r, _) = report(&root, "zeek/testing/btest/Traces/ftp/bigtransfer.pcap");
    let data = conns(&r)
        .iter()
        .find(|c| c["server"] == "192.168.56.101:37150")
        .unwrap();
    assert_eq!(data["missed_bytes"]["server"], 5_416_642_848u64);
    assert_eq!(
        data["bytes"]["server"].as_u64().unwrap() + 5_416_642_848,
        5_416_666_670
    );
    assert_eq!(data["state"], "SF");
}

#[test]
fn vlan_collisions_are_three_connections() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "zeek/testing/btest/Traces/vlan-collisions.pcap");
    let mut vlans: Vec<String> = conns(&r).iter().map(|c| c["vlan"].to_string()).collect();
    vlans.sort();
    assert_eq!(vlans.len(), 3, "{vlans:?}");
}

#[test]
fn mixed_link_type_pcapng_reads_every_interface() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(
        &root,
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng",
    );
    let lt = r["stats"]["linktypes"].as_object().unwrap();
    assert!(lt.len() >= 2, "{lt:?}");
    assert_eq!(r["stats"]["packets"], 159);
}
