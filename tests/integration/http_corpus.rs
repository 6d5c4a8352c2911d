//! HTTP sessions on the shared corpus, against the facts INVENTORY.md
//! states (tshark-derived: which cookie values travel on which streams).
//! tshark's stream numbers count from 0; sessmap's connection ids from 1.

use crate::common::*;
use crate::corpus::{corpus, report};
use serde_json::Value;

fn sessions(r: &Value) -> &Vec<Value> {
    r["sessions"].as_array().expect("sessions")
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn webattack_phpsessid_is_one_session_over_nine_connections() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "nDPI/tests/cfgs/default/pcap/WebattackSQLinj.pcap");
    let s = sessions(&r);
    assert_eq!(s.len(), 1, "{s:#?}");
    assert!(s[0]["key"].as_str().unwrap().starts_with("PHPSESSID=fp:"));
    assert_eq!(ids(&s[0]["connections"]), (1..=9).collect::<Vec<_>>());
    assert_eq!(s[0]["requests"], 9);
    assert_eq!(s[0]["clients"], serde_json::json!(["172.16.0.1"]));
    assert!(conns(&r)
        .iter()
        .all(|c| c["sessions"] == serde_json::json!([{"id": 1, "requests": 1}])));
    let host = r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"] == "172.16.0.1")
        .unwrap();
    assert_eq!(
        (host["connections"].as_u64(), host["sessions"].as_u64()),
        (Some(9), Some(1))
    );
}

#[test]
fn methods_trace_has_no_session_spanning_connections() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "zeek/testing/btest/Traces/http/methods.pcap");
    // Set-Cookie values are never sent back: nothing links two connections.
    assert!(sessions(&r)
        .iter()
        .all(|s| s["connections"].as_array().unwrap().len() == 1));
    // All 49 connections are HTTP (malformed requests, HTTP answers).
    assert!(conns(&r).iter().all(|c| c["protocol"] == "http"));
    assert_eq!(r["stats"]["connections"], 49);
}

/// INVENTORY: one connection, 37 keep-alive requests; the server issues 7
/// JSESSIONID values, each sent back on later requests. Each new value was
/// set in answer to a request carrying the previous one, so by the rotation
/// rule (DESIGN.md, issue 3) they are one session whose key is the value the
/// client came with and whose 7 aliases are the values the server issued.
/// The inventory counts values; sessmap counts sessions: 1 session, 8 values.
#[test]
fn seven_server_issued_jsessionids_on_one_connection_are_one_rotating_session() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(
        &root,
        "nDPI/tests/cfgs/default/pcap/http_ua_splitted_in_two_pkts.pcapng",
    );
    let s = sessions(&r);
    assert_eq!(s.len(), 1, "{s:#?}");
    assert!(s[0]["key"].as_str().unwrap().starts_with("JSESSIONID=fp:"));
    let aliases = s[0]["aliases"].as_array().unwrap();
    assert_eq!(aliases.len(), 7);
    assert!(aliases
        .iter()
        .all(|a| a.as_str().unwrap().starts_with("JSESSIONID=fp:")));
    assert_eq!(ids(&s[0]["connections"]), [1]);
    assert_eq!(s[0]["requests"], 37);
    assert_eq!(
        conns(&r)[0]["sessions"],
        serde_json::json!([{"id": 1, "requests": 37}])
    );
}

#[test]
fn example_pcap_links_the_dyses_cookie_over_its_four_connections() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(
        &root,
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/example.pcap",
    );
    let dyses: Vec<&Value> = sessions(&r)
        .iter()
        .filter(|s| s["key"].as_str().unwrap().starts_with("DYSES8765235="))
        .collect();
    assert_eq!(dyses.len(), 1);
    // Set in tshark stream 31, sent back in 51, 52, 53.
    assert_eq!(ids(&dyses[0]["connections"]), [32, 52, 53, 54]);
    // The long-lived cookies issued beside it (DYID, DYCL) and the analytics
    // cookies shared by many connections define no session.
    assert!(sessions(&r)
        .iter()
        .all(|s| !s["key"].as_str().unwrap().starts_with("DYID=")));
    assert!(sessions(&r)
        .iter()
        .all(|s| !s["key"].as_str().unwrap().starts_with("__utm")));
}
