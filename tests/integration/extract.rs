//! `sessmap extract`: a session's packets as a capture of their own. The
//! export analyzed again must give that session alone, with the same
//! connections, and tshark must read it.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// The endpoints of a session's connections, and their packets in all.
fn session_of(r: &Value, id: u64) -> (BTreeSet<(String, String)>, u64) {
    let s = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap();
    let mut ends = BTreeSet::new();
    let mut packets = 0;
    for i in s["connections"].as_array().unwrap() {
        let c = conns(r).iter().find(|c| c["id"] == *i).unwrap();
        ends.insert((
            c["client"].as_str().unwrap().to_owned(),
            c["server"].as_str().unwrap().to_owned(),
        ));
        packets +=
            c["packets"]["client"].as_u64().unwrap() + c["packets"]["server"].as_u64().unwrap();
    }
    (ends, packets)
}

fn check(capture: &str, session: u64, kind: &str) {
    let path = repo(capture);
    let path = path.to_str().unwrap();
    let whole = analyze_json(&[path]);
    let (want, packets) = session_of(&whole, session);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("session.pcap");
    let run = sessmap(&[
        "extract",
        "--session",
        &session.to_string(),
        "-w",
        out.to_str().unwrap(),
        path,
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(
        stderr(&run).contains(&format!("wrote {packets} packets")),
        "{}",
        stderr(&run)
    );
    let export = analyze_json(&[out.to_str().unwrap()]);
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{capture}: the session alone");
    assert_eq!(sessions[0]["kind"], kind);
    let (got, got_packets) = session_of(&export, sessions[0]["id"].as_u64().unwrap());
    assert_eq!(got, want, "{capture}: the same connections");
    assert_eq!(got_packets, packets);
    assert_eq!(export["stats"]["packets"], packets);
    // tshark reads it (installed by .ci/run).
    match std::process::Command::new("tshark")
        .args([
            "-r",
            out.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
    {
        Ok(t) => {
            assert!(
                t.status.success(),
                "tshark: {}",
                String::from_utf8_lossy(&t.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&t.stdout).lines().count() as u64,
                packets
            );
        }
        Err(_) => eprintln!("tshark is not installed: the export was not read by tshark"),
    }
}

#[test]
fn an_http_session_exports_alone_with_its_connections() {
    check(
        "testdata/http-sessions/two-browsers/capture.pcap",
        1,
        "http",
    );
}

#[test]
fn an_ftp_session_exports_with_its_data_connections() {
    check("testdata/ftp/two-sessions/capture.pcap", 2, "ftp");
}

#[test]
fn an_unknown_id_is_refused_with_the_valid_ones() {
    let path = repo("testdata/http-sessions/two-browsers/capture.pcap");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.pcap");
    let run = sessmap(&[
        "extract",
        "--session",
        "9",
        "-w",
        out.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("no session 9 in the report of these files; the sessions: 1-2"));
    let run = sessmap(&[
        "extract",
        "--connection",
        "99",
        "-w",
        out.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("the connections: 1-8"));
    assert!(!out.exists());
}

#[test]
fn inputs_of_two_link_types_export_as_pcapng() {
    // Ethernet (lo) and Linux SLL2 (`-i any`): one connection of each.
    let eth = repo("testdata/http-loopback/capture.pcap");
    let sll2 = repo("testdata/sll2-any/capture.pcap");
    let (eth, sll2) = (eth.to_str().unwrap(), sll2.to_str().unwrap());
    let whole = analyze_json(&[eth, sll2]);
    let pick: Vec<&Value> = conns(&whole)
        .iter()
        .filter(|c| c["id"] == 1 || c["id"] == 6)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("two.pcapng");
    let run = sessmap(&[
        "extract",
        "--connection",
        "1",
        "--connection",
        "6",
        "-w",
        out.to_str().unwrap(),
        eth,
        sll2,
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let export = analyze_json(&[out.to_str().unwrap()]);
    assert_eq!(export["inputs"][0]["format"], "pcapng");
    let linktypes: Vec<&str> = export["inputs"][0]["linktypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(linktypes, ["EN10MB", "LINUX_SLL2"]);
    let ends = |cs: Vec<&Value>| -> Vec<(String, String, Value)> {
        cs.iter()
            .map(|c| {
                (
                    c["client"].to_string(),
                    c["server"].to_string(),
                    c["packets"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(ends(conns(&export).iter().collect()), ends(pick));
}
