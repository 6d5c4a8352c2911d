//! FTP sessions on captures recorded from a real FTP server (pyftpdlib,
//! testdata/tools/ftp_server.py) and real clients (ftplib, curl). The facts
//! come from the server's own log of each data connection (facts.json).

use crate::common::*;
use serde_json::Value;

fn case(name: &str) -> (Value, Value) {
    let dir = repo(&format!("testdata/ftp/{name}"));
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("facts.json")).unwrap()).unwrap();
    let report = analyze_json(&[dir.join("capture.pcap").to_str().unwrap()]);
    (facts, report)
}

/// One data connection as both sides describe it.
type Data = (String, String, String, String, String, String, String, u64);

fn fact_data(d: &Value) -> Data {
    (
        d["client"].as_str().unwrap().to_owned(),
        d["server"].as_str().unwrap().to_owned(),
        d["command"].as_str().unwrap().to_owned(),
        d["argument"].as_str().unwrap_or("").to_owned(),
        d["mode"].as_str().unwrap().to_owned(),
        d["setup"].as_str().unwrap().to_owned(),
        d["direction"].as_str().unwrap().to_owned(),
        d["bytes"].as_u64().unwrap(),
    )
}

fn our_data(r: &Value, t: &Value) -> Data {
    let c = conns(r)
        .iter()
        .find(|c| c["id"] == t["connection"])
        .unwrap();
    (
        c["client"].as_str().unwrap().to_owned(),
        c["server"].as_str().unwrap().to_owned(),
        t["command"].as_str().unwrap_or("").to_owned(),
        t["argument"].as_str().unwrap_or("").to_owned(),
        t["mode"].as_str().unwrap().to_owned(),
        t["setup"].as_str().unwrap().to_owned(),
        t["direction"].as_str().unwrap_or("").to_owned(),
        t["bytes"].as_u64().unwrap(),
    )
}

/// Every control connection of the facts is one FTP session whose data
/// connections are exactly the facts' (endpoints, command, argument, mode,
/// setup, direction, bytes), in time order; nothing else is linked.
fn check(name: &str) -> Value {
    let (facts, r) = case(name);
    assert_eq!(
        r["stats"]["connections"], facts["connections"],
        "{name}: connections"
    );
    let sessions: Vec<&Value> = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "ftp")
        .collect();
    let controls = facts["control"].as_array().unwrap();
    assert_eq!(sessions.len(), controls.len(), "{name}: FTP sessions");
    for ctl in controls {
        let s = sessions
            .iter()
            .find(|s| {
                let c = conns(&r).iter().find(|c| c["id"] == s["control"]).unwrap();
                c["client"] == ctl["client"] && c["server"] == ctl["server"]
            })
            .unwrap_or_else(|| panic!("{name}: no session for control {}", ctl["client"]));
        assert_eq!(s["key"], format!("ftp-control:{}", s["control"]).as_str());
        let want: Vec<Data> = ctl["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(fact_data)
            .collect();
        let got: Vec<Data> = s["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| our_data(&r, t))
            .collect();
        assert_eq!(
            got, want,
            "{name}: data connections of control {}",
            ctl["client"]
        );
        if !ctl["auth_tls"].as_bool().unwrap_or(false) {
            assert_eq!(s["user"], ctl["user"], "{name}: user");
            assert_eq!(s["login"], "success");
            assert_eq!(s["unmatched"], serde_json::json!([]), "{name}: unmatched");
            // The control channel and every data connection, nothing else.
            assert_eq!(s["connections"].as_array().unwrap().len(), 1 + want.len());
        }
    }
    let linked: Vec<u64> = conns(&r)
        .iter()
        .filter(|c| c["protocol"] == "ftp-data")
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    let want_linked: usize = controls
        .iter()
        .filter(|c| !c["auth_tls"].as_bool().unwrap_or(false))
        .map(|c| c["data"].as_array().unwrap().len())
        .sum();
    assert_eq!(linked.len(), want_linked, "{name}: ftp-data connections");
    r
}

#[test]
fn pasv_and_port_with_an_ephemeral_server_port() {
    check("passive-active");
}

#[test]
fn epsv_and_eprt() {
    check("epsv-eprt");
}

#[test]
fn ipv6_epsv_and_eprt() {
    let r = check("ipv6");
    assert!(r["sessions"][0]["server"]
        .as_str()
        .unwrap()
        .starts_with("[fd79::2]:"));
}

#[test]
fn control_channel_on_port_2121() {
    let r = check("odd-port");
    assert!(r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["server"].as_str().unwrap().ends_with(":2121")));
}

#[test]
fn nat_pasv_replies_still_link() {
    let r = check("nat-pasv");
    // No 227 advertised the real address.
    assert!(r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["unmatched"] == serde_json::json!([])));
}

#[test]
fn one_session_with_fourteen_data_connections() {
    let r = check("many-transfers");
    assert_eq!(r["sessions"][0]["transfers"].as_array().unwrap().len(), 14);
}

#[test]
fn two_concurrent_sessions_from_one_host() {
    let r = check("two-sessions");
    let host = r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"] == "127.0.0.1")
        .unwrap();
    assert_eq!(host["sessions"], 2);
}

#[test]
fn auth_tls_makes_the_control_channel_opaque() {
    let (facts, r) = case("auth-tls");
    assert_eq!(r["stats"]["connections"], facts["connections"]);
    let s: Vec<&Value> = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "ftp")
        .collect();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["opaque"], "TLS");
    assert_eq!(s[0]["transfers"], serde_json::json!([]));
    // Its data connections exist but cannot be linked.
    assert!(conns(&r)
        .iter()
        .skip(1)
        .all(|c| c["sessions"] == serde_json::json!([])));
    let table = sessmap(&[
        "analyze",
        repo("testdata/ftp/auth-tls/capture.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("data connections cannot be linked"), "{text}");
}

#[test]
fn cleartext_credentials_are_a_finding_with_the_password_hidden() {
    let (_, r) = case("passive-active");
    let f: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "cleartext-credentials")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["severity"], "error");
    let msg = f[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("alice") && msg.contains("fp:") && !msg.contains("secret"),
        "{msg}"
    );
    let table = sessmap(&[
        "analyze",
        repo("testdata/ftp/passive-active/capture.pcap")
            .to_str()
            .unwrap(),
    ]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("cleartext-credentials") && !text.contains("secret"),
        "{text}"
    );
    let shown = analyze_json(&[
        "--show-secrets",
        repo("testdata/ftp/passive-active/capture.pcap")
            .to_str()
            .unwrap(),
    ]);
    let msg = shown["findings"][0]["message"].as_str().unwrap();
    assert!(msg.contains("secret"), "{msg}");
    // The AUTH TLS session sent its password encrypted: no finding.
    let (_, r) = case("auth-tls");
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["rule"] != "cleartext-credentials"));
}

/// Real network loss (record_network_loss.sh: a loopback shaped with tc tbf
/// dropped 455 packets, tc.txt): the capture holds what crossed the link, so
/// every drop is a hole its retransmission fills. It costs nothing.
#[test]
fn retransmissions_after_real_network_loss_cost_nothing() {
    let r = check("network-loss");
    let (facts, _) = case("network-loss");
    assert!(
        facts["tcp_analysis_flags"].as_u64().unwrap() > 100,
        "the capture has loss"
    );
    assert_eq!(r["sessions"][0]["transfers"].as_array().unwrap().len(), 6);
    no_loss_left(&r);
}

pub fn no_loss_left(r: &Value) {
    for c in conns(r) {
        assert_eq!(
            c["missed_bytes"],
            serde_json::json!({"client": 0, "server": 0}),
            "{c}"
        );
        assert_eq!(c["gaps"], 0, "{c}");
    }
    assert!(r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["gaps"] == 0));
    assert!(!r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "capture-loss" || f["rule"] == "capture-incomplete"));
}
