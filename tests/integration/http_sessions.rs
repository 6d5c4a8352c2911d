//! HTTP sessions on captures recorded from a real session-issuing server
//! (testdata/tools/session_server.py) and real clients (curl cookie jars,
//! Python requests, raw sockets). The facts come from the server's own log
//! of which session each request carried or was given (facts.json).

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const CASES: &[&str] = &[
    "two-browsers",
    "keepalive-parallel",
    "two-sessions-one-connection",
    "url-session",
    "chunked-split-pipelined",
];

fn case_path(case: &str, file: &str) -> String {
    repo(&format!("testdata/http-sessions/{case}/{file}"))
        .to_string_lossy()
        .into_owned()
}

fn port_of(endpoint: &str) -> u64 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

/// Checks one case against its facts: the session count; each session's
/// values (key and aliases), exact connection set and request count, and
/// requests per connection; the connections without a session; the hosts.
fn check_case(case: &str) {
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(case_path(case, "facts.json")).unwrap())
            .unwrap();
    let r = analyze_json(&["--show-secrets", &case_path(case, "capture.pcap")]);
    let port: BTreeMap<u64, u64> = conns(&r)
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                port_of(c["client"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        conns(&r).len() as u64,
        facts["connections"].as_u64().unwrap(),
        "{case}: connections"
    );
    let ours = r["sessions"].as_array().unwrap();
    let theirs = facts["sessions"].as_array().unwrap();
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{case}: session count: {:#?}",
        ours
    );
    for t in theirs {
        let label = t["cookie"].as_str().unwrap();
        let values: Vec<String> = t["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{label}={}", v.as_str().unwrap()))
            .collect();
        let s = ours
            .iter()
            .find(|s| s["key"] == values[0].as_str())
            .unwrap_or_else(|| panic!("{case}: no session keyed {}: {ours:#?}", values[0]));
        let aliases: Vec<String> = s["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(aliases, values[1..], "{case} {}: aliases", values[0]);
        let ports: BTreeSet<u64> = s["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| port[&id.as_u64().unwrap()])
            .collect();
        let want: BTreeSet<u64> = t["client_ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        assert_eq!(ports, want, "{case} {}: connections", values[0]);
        assert_eq!(
            s["requests"], t["requests"],
            "{case} {}: requests",
            values[0]
        );
        assert_eq!(s["kind"], "http");
        assert_eq!(s["clients"], serde_json::json!(["127.0.0.1"]));
        assert_eq!(s["multiple_clients"], false);
        // Requests per connection, from the connection side of the map.
        let sid = s["id"].as_u64().unwrap();
        for (p, n) in t["requests_per_port"].as_object().unwrap() {
            let c = conns(&r)
                .iter()
                .find(|c| port_of(c["client"].as_str().unwrap()).to_string() == *p)
                .unwrap();
            let on_conn = c["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == sid)
                .unwrap();
            assert_eq!(
                on_conn["requests"], *n,
                "{case} {}: requests on port {p}",
                values[0]
            );
        }
    }
    for p in facts["no_session_ports"].as_array().unwrap() {
        let c = conns(&r)
            .iter()
            .find(|c| port_of(c["client"].as_str().unwrap()) == p.as_u64().unwrap())
            .unwrap();
        assert_eq!(c["sessions"], serde_json::json!([]), "{case}: port {p}");
        assert_eq!(c["no_session"], "no_session_cookie", "{case}: port {p}");
    }
    for h in facts["hosts"].as_array().unwrap() {
        let ours = r["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["address"] == h["address"])
            .unwrap();
        assert_eq!(
            ours["connections"], h["connections"],
            "{case}: host connections"
        );
        assert_eq!(ours["sessions"], h["sessions"], "{case}: host sessions");
    }
    assert_eq!(
        r["stats"]["http"]["requests"], facts["http_requests"],
        "{case}: requests"
    );
    assert_eq!(r["stats"]["http"]["malformed"], 0, "{case}");
}

#[test]
fn two_browsers_on_one_host_are_two_sessions() {
    check_case("two-browsers");
}

#[test]
fn keep_alive_and_parallel_connections_are_one_session() {
    check_case("keepalive-parallel");
}

#[test]
fn one_connection_carries_two_sessions_with_a_login_halfway() {
    check_case("two-sessions-one-connection");
    let r = analyze_json(&[&case_path("two-sessions-one-connection", "capture.pcap")]);
    let shared = conns(&r)
        .iter()
        .find(|c| c["sessions"].as_array().unwrap().len() == 2);
    assert!(shared.is_some(), "one connection lists two sessions");
}

#[test]
fn url_session_ids_identify_sessions() {
    check_case("url-session");
}

#[test]
fn chunked_split_and_pipelined_requests() {
    check_case("chunked-split-pipelined");
}

#[test]
fn logout_ends_the_session() {
    let r = analyze_json(&[&case_path("two-browsers", "capture.pcap")]);
    let ended: Vec<bool> = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ended"].as_bool().unwrap())
        .collect();
    assert_eq!(
        ended.iter().filter(|e| **e).count(),
        1,
        "bob logged out, alice did not"
    );
}

#[test]
fn secrets_stay_out_of_the_report_unless_asked() {
    for case in CASES {
        let facts: Value =
            serde_json::from_str(&std::fs::read_to_string(case_path(case, "facts.json")).unwrap())
                .unwrap();
        let secrets: Vec<String> = facts["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
            })
            .collect();
        assert!(!secrets.is_empty());
        for format in ["json", "table"] {
            let out = sessmap(&[
                "analyze",
                "--format",
                format,
                &case_path(case, "capture.pcap"),
            ]);
            let text = String::from_utf8(out.stdout).unwrap();
            for s in &secrets {
                assert!(!text.contains(s.as_str()), "{case} {format}: {s} leaked");
            }
            assert!(text.contains("=fp:"), "{case} {format}: fingerprints shown");
        }
        let shown = sessmap(&[
            "analyze",
            "--format",
            "json",
            "--show-secrets",
            &case_path(case, "capture.pcap"),
        ]);
        let text = String::from_utf8(shown.stdout).unwrap();
        assert!(
            secrets.iter().all(|s| text.contains(s.as_str())),
            "{case}: --show-secrets"
        );
    }
}

#[test]
fn fingerprints_are_stable_across_runs() {
    let path = case_path("keepalive-parallel", "capture.pcap");
    let a = analyze_json(&[&path]);
    let b = analyze_json(&[&path]);
    assert_eq!(a["sessions"], b["sessions"]);
    let key = a["sessions"][0]["key"].as_str().unwrap();
    assert!(
        key.starts_with("PHPSESSID=fp:") && key.len() == "PHPSESSID=fp:".len() + 8,
        "{key}"
    );
}

#[test]
fn a_fingerprint_key_makes_fingerprints_comparable_across_reports() {
    let alone = case_path("two-browsers", "capture.pcap");
    let other = case_path("url-session", "capture.pcap");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("fp.key");
    std::fs::write(&key, b"a team's shared fingerprint key\n").unwrap();
    let keys = |r: &Value| -> Vec<String> {
        r["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["server"] == "127.0.0.1")
            .flat_map(|s| std::iter::once(&s["key"]).chain(s["aliases"].as_array().unwrap().iter()))
            .map(|k| k.as_str().unwrap().to_owned())
            .filter(|k| k.starts_with("PHPSESSID="))
            .collect()
    };
    let key = key.to_str().unwrap();
    let one = keys(&analyze_json(&["--fingerprint-key", key, &alone]));
    let merged = keys(&analyze_json(&["--fingerprint-key", key, &alone, &other]));
    assert_eq!(one.len(), 4, "{one:?}");
    for k in &one {
        assert!(merged.contains(k), "{k} not in {merged:?}");
    }
    // The environment variable is the same option.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessmap"))
        .args(["analyze", "--format", "json", &alone])
        .env("SESSMAP_FINGERPRINT_KEY", key)
        .output()
        .unwrap();
    let by_env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys(&by_env), one);
    // Without a key, each report has its own (derived from the capture).
    let default_one = keys(&analyze_json(&[&alone]));
    assert_ne!(default_one, one);
    let default_merged = keys(&analyze_json(&[&alone, &other]));
    assert!(default_one.iter().all(|k| !default_merged.contains(k)));
    // A key file that cannot be read is an input error naming it.
    let out = sessmap(&[
        "analyze",
        "--fingerprint-key",
        "/nonexistent/fp.key",
        &alone,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/fp.key: cannot read the fingerprint key"));
}

/// Real network loss (record_network_loss.sh: tc tbf dropped 389 packets,
/// tc.txt), retransmitted by TCP: the sessions are exact, nothing is missed.
#[test]
fn retransmissions_after_real_network_loss_cost_nothing() {
    check_case("network-loss");
    let facts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case_path("network-loss", "facts.json")).unwrap(),
    )
    .unwrap();
    assert!(
        facts["tcp_analysis_flags"].as_u64().unwrap() > 100,
        "the capture has loss"
    );
    let r = analyze_json(&[&case_path("network-loss", "capture.pcap")]);
    assert_eq!(r["sessions"].as_array().unwrap().len(), 2);
    crate::ftp_sessions::no_loss_left(&r);
}
