//! Conformance on the shared corpus (captures from other projects' test
//! suites, facts from their tools: INVENTORY.md, expected_facts.json).
//! The corpus path comes from SESSMAP_CORPUS; `.ci/run` sets it. Without
//! it these tests say so and check nothing.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The corpus, or `None` (said on stderr) when SESSMAP_CORPUS is unset. Set
/// to a folder without the corpus, it fails: a typo must not pass silently.
pub fn corpus() -> Option<PathBuf> {
    let Some(p) = std::env::var_os("SESSMAP_CORPUS") else {
        eprintln!("SESSMAP_CORPUS is not set: corpus conformance NOT checked");
        return None;
    };
    let p = PathBuf::from(p);
    assert!(
        p.join("expected_facts.json").is_file(),
        "SESSMAP_CORPUS={} has no expected_facts.json",
        p.display()
    );
    Some(p)
}

/// In the test list whether or not the corpus is checked, so that a run
/// without it says so where a person sees it: the conformance tests check
/// the shared corpus only when SESSMAP_CORPUS names it.
#[test]
#[allow(non_snake_case)]
fn corpus_checked_only_with_SESSMAP_CORPUS() {
    if let Some(root) = corpus() {
        assert!(root.join("INVENTORY.md").is_file(), "{}", root.display());
    }
}

pub fn report(root: &Path, rel: &str) -> (Value, String) {
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
            // A record that runs past the end of the file: cut short, or a
            // length field no snaplen allows (said as such).
            assert!(
                err.contains("cut short") || err.contains("corrupt record header"),
                "{rel}: {err}"
            );
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

/// Zeek's conn.log rows (the baselines the corpus copied next to its traces).
fn zeek_conn_log(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(String::from).collect();
        } else if !line.starts_with('#') && !line.is_empty() {
            rows.push(
                fields
                    .iter()
                    .cloned()
                    .zip(line.split('\t').map(String::from))
                    .collect(),
            );
        }
    }
    rows
}

fn endpoint(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Rows where Zeek's baseline does not describe the whole connection.
const ZEEK_ROWS_SKIPPED: &[(&str, &str, &str)] = &[(
    "zeek/testing/btest/Traces/globus-url-copy.pcap",
    "192.168.57.103:35391",
    "the test sets GridFTP::size_threshold = 2, and Zeek's gridftp script stops analysing \
     the data channel past it, so its row ends after 7/6 packets of 9/9",
)];

#[test]
fn conn_state_history_bytes_and_packets_match_zeek_conn_log() {
    let Some(root) = corpus() else { return };
    let facts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected_facts.json")).unwrap())
            .unwrap();
    let mut compared = 0;
    for entry in &facts {
        let rel = entry["path"].as_str().unwrap();
        let logs: Vec<&str> = entry["aux"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .filter(|a| a.ends_with("/conn.log"))
            .collect();
        for log in logs {
            let (r, _) = report(&root, rel);
            for z in zeek_conn_log(&root.join(log)) {
                let client = endpoint(&z["id.orig_h"], &z["id.orig_p"]);
                let server = endpoint(&z["id.resp_h"], &z["id.resp_p"]);
                if ZEEK_ROWS_SKIPPED
                    .iter()
                    .any(|(p, c, _)| *p == rel && *c == client)
                {
                    continue;
                }
                let c = conns(&r)
                    .iter()
                    .find(|c| c["client"] == client.as_str() && c["server"] == server.as_str())
                    .unwrap_or_else(|| panic!("{rel}: no connection {client} -> {server}"));
                let what = format!("{rel} {client} -> {server}");
                let n = |v: &Value| v.as_u64().unwrap();
                assert_eq!(c["state"], z["conn_state"].as_str(), "{what}: conn_state");
                assert_eq!(c["history"], z["history"].as_str(), "{what}: history");
                // Zeek's orig/resp_bytes are sequence-space spans: seen plus missed.
                let orig = n(&c["bytes"]["client"]) + n(&c["missed_bytes"]["client"]);
                let resp = n(&c["bytes"]["server"]) + n(&c["missed_bytes"]["server"]);
                assert_eq!(orig.to_string(), z["orig_bytes"], "{what}: orig_bytes");
                assert_eq!(resp.to_string(), z["resp_bytes"], "{what}: resp_bytes");
                let missed = n(&c["missed_bytes"]["client"]) + n(&c["missed_bytes"]["server"]);
                assert_eq!(
                    missed.to_string(),
                    z["missed_bytes"],
                    "{what}: missed_bytes"
                );
                assert_eq!(
                    c["packets"]["client"].to_string(),
                    z["orig_pkts"],
                    "{what}: orig_pkts"
                );
                assert_eq!(
                    c["packets"]["server"].to_string(),
                    z["resp_pkts"],
                    "{what}: resp_pkts"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 17, "conn.log rows compared");
}
