//! Lossy variants of the recorded FTP and HTTP session captures
//! (testdata/lossy, made by testdata/tools/make_lossy.py: packets dropped at
//! random, 0.5 % and 1 %, fixed seeds). Each must give exactly the sessions
//! of the original's ground truth (the servers' own logs), except where
//! its facts.json says what the dropped packets cost and why; every FTP
//! data connection that survives stays under its own control connection,
//! and the loss is reported.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

type Conn = BTreeSet<String>;

fn conn_of(v: &Value) -> Conn {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

fn conn_list(v: &Value) -> BTreeSet<Conn> {
    v.as_array().unwrap().iter().map(conn_of).collect()
}

fn check(dir: &std::path::Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("facts.json")).unwrap()).unwrap();
    let r = analyze_json(&[dir.join("capture.pcap").to_str().unwrap()]);
    let by_id: BTreeMap<u64, Conn> = conns(&r)
        .iter()
        .map(|c| {
            let ends = [&c["client"], &c["server"]]
                .iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect();
            (c["id"].as_u64().unwrap(), ends)
        })
        .collect();
    let ids = |v: &Value| -> BTreeSet<Conn> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| by_id[&i.as_u64().unwrap()].clone())
            .collect()
    };
    let ours: BTreeSet<BTreeSet<Conn>> = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| ids(&s["connections"]))
        .collect();
    let losses: BTreeMap<&str, &Value> = facts["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert!(
                l["why"].as_str().is_some_and(|w| !w.is_empty()),
                "{name}: a loss says why"
            );
            (l["session"].as_str().unwrap(), &l["expected"])
        })
        .collect();
    let mut want: BTreeSet<BTreeSet<Conn>> = BTreeSet::new();
    for s in facts["sessions"].as_array().unwrap() {
        match losses.get(s["name"].as_str().unwrap()) {
            Some(parts) => want.extend(parts.as_array().unwrap().iter().map(conn_list)),
            None => {
                want.insert(conn_list(&s["connections"]));
            }
        }
    }
    want.retain(|s| !s.is_empty());
    assert_eq!(ours, want, "{name}: sessions");
    // FTP: each surviving data connection is a transfer of its own control
    // connection's session.
    for s in facts["sessions"].as_array().unwrap() {
        let Some(control) = s["ftp_control"]
            .as_array()
            .map(|_| conn_of(&s["ftp_control"]))
        else {
            continue;
        };
        let ours = r["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["kind"] == "ftp" && by_id[&x["control"].as_u64().unwrap()] == control)
            .unwrap_or_else(|| panic!("{name}: no FTP session for {control:?}"));
        let transfers: BTreeSet<Conn> = ours["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| by_id[&t["connection"].as_u64().unwrap()].clone())
            .collect();
        let mut data = conn_list(&s["data"]);
        if let Some(parts) = losses.get(s["name"].as_str().unwrap()) {
            let kept: BTreeSet<Conn> = parts
                .as_array()
                .unwrap()
                .iter()
                .flat_map(conn_list)
                .collect();
            data.retain(|d| kept.contains(d));
        }
        assert_eq!(transfers, data, "{name}: data connections of {control:?}");
    }
    // The loss is said: a capture-loss finding, and gaps on the sessions
    // whose connections lost bytes.
    let findings = r["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["rule"] == "capture-loss"),
        "{name}: no capture-loss finding"
    );
    // Every connection that lost payload says so, and so do its sessions.
    let dropped = std::fs::read_to_string(dir.join("dropped.txt")).unwrap();
    let mut lossy_conns = 0;
    for line in dropped.lines().filter(|l| !l.starts_with('#')) {
        // "INDEX TIME A > B FLAGS len N \"...\""
        let w: Vec<&str> = line.split(' ').collect();
        if w.get(6) != Some(&"len") || w.get(7) == Some(&"0") {
            continue;
        }
        let ends: Conn = [w[2].to_owned(), w[4].to_owned()].into_iter().collect();
        let Some((&id, _)) = by_id.iter().find(|(_, c)| **c == ends) else {
            panic!("{name}: no connection {ends:?}");
        };
        let c = conns(&r).iter().find(|c| c["id"] == id).unwrap();
        assert!(
            c["gaps"].as_u64().unwrap() > 0,
            "{name}: connection {id} lost payload: {c}"
        );
        for s in r["sessions"].as_array().unwrap() {
            if s["connections"].as_array().unwrap().iter().any(|x| x == id) {
                assert!(
                    s["gaps"].as_u64().unwrap() > 0,
                    "{name}: session {}",
                    s["id"]
                );
            }
        }
        lossy_conns += 1;
    }
    assert!(lossy_conns > 0, "{name}: every variant loses payload");
    // A lost announcement is linked by inference, exactly once.
    if name.ends_with("lost-announcement") {
        let inferred = r["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["transfers"].as_array().into_iter().flatten())
            .filter(|t| t["setup"] == "inferred")
            .count();
        assert_eq!(inferred, 1, "{name}: inferred links");
    }
    for s in r["sessions"].as_array().unwrap() {
        let gaps: u64 = s["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                conns(&r).iter().find(|c| c["id"] == *i).unwrap()["gaps"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(s["gaps"].as_u64(), Some(gaps), "{name}: session gaps");
    }
}

#[test]
fn lossy_variants_keep_their_sessions_and_links() {
    let mut dirs: Vec<_> = std::fs::read_dir(repo("testdata/lossy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs.len(),
        31,
        "12 recorded cases at 0.5 % and 1 %, and 7 FTP cases with a lost announcement"
    );
    let mut failures = Vec::new();
    for d in &dirs {
        if let Err(e) = std::panic::catch_unwind(|| check(d)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
