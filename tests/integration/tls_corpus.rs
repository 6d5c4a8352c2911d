//! TLS resumption on the shared corpus, against the per-handshake facts in
//! expected_facts.json (tshark-derived: `[tshark tls] N TLS handshakes:
//! {...}` and one line per resumed or refused handshake, `stream N
//! CLIENT -> SERVER ... => KIND ; resumes stream M`). tshark's stream
//! numbers count from 0; sessmap's connection ids from 1.

use crate::common::*;
use crate::corpus::{corpus, report};
use serde_json::Value;
use std::collections::BTreeMap;

/// Captures whose TLS runs inside another protocol, which sessmap does not
/// follow into TLS (the tshark count includes them).
const INSIDE_OTHER: &[(&str, &str)] = &[
    (
        "zeek/testing/btest/Traces/ftp/ftp-auth-tls.pcap",
        "TLS after FTP's AUTH TLS: the FTP session reports the control channel opaque",
    ),
    (
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/pcapng-example.pcapng",
        "TLS after MySQL's SSL request on port 3306",
    ),
];

/// tshark's labels as sessmap's `tls.handshake`.
fn kind(label: &str) -> &'static str {
    match label.trim() {
        "full" | "tls1.3 full-or-unknown (handshake encrypted)" => "full",
        "RESUMED(session-id)" => "session-id",
        "RESUMED(ticket, sid echoed)" => "ticket",
        "tls1.3 PSK-RESUMPTION (server accepted pre_shared_key)" => "psk",
        "no-serverhello" => "incomplete",
        other => panic!("unknown tshark TLS label {other:?}"),
    }
}

/// One handshake line: stream, client, kind, resumed stream.
fn handshake_line(fact: &str) -> Option<(u64, String, &'static str, Option<u64>)> {
    let rest = fact.strip_prefix("[tshark tls]    stream ")?;
    let mut words = rest.split_whitespace();
    let stream = words.next()?.parse().ok()?;
    let client = words.next()?.to_string();
    let (_, outcome) = rest.split_once("=> ")?;
    let (label, resumes) = match outcome.split_once(" ; resumes stream ") {
        Some((l, r)) => (l, r.split_whitespace().next()?.parse().ok()),
        None => (outcome, None),
    };
    Some((stream, client, kind(label), resumes))
}

fn summary(fact: &str) -> Option<BTreeMap<&'static str, u64>> {
    let (_, counts) = fact
        .strip_prefix("[tshark tls] ")?
        .split_once("TLS handshakes: ")?;
    let mut out = BTreeMap::new();
    for pair in counts.trim_matches(|c| c == '{' || c == '}').split(", '") {
        let (label, n) = pair.rsplit_once(": ")?;
        *out.entry(kind(label.trim_matches('\''))).or_default() += n.parse::<u64>().ok()?;
    }
    Some(out)
}

#[test]
fn handshakes_and_resumption_links_match_tshark() {
    let Some(root) = corpus() else { return };
    let facts: Vec<Value> =
        serde_json::from_slice(&std::fs::read(root.join("expected_facts.json")).unwrap()).unwrap();
    let mut checked = 0;
    let mut lines = 0;
    for entry in &facts {
        let path = entry["path"].as_str().unwrap();
        let facts: Vec<&str> = entry["facts"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(want) = facts.iter().find_map(|f| summary(f)) else {
            continue;
        };
        if INSIDE_OTHER.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let (r, _) = report(&root, path);
        let connections = conns(&r);
        // Handshakes sessmap saw (connections whose hellos were both
        // missing are not handshakes to tshark either).
        let mut got: BTreeMap<&str, u64> = BTreeMap::new();
        for c in connections {
            if let Some(h) = c["tls"]["handshake"].as_str() {
                if h != "unseen" {
                    *got.entry(kind_name(h)).or_default() += 1;
                }
            }
        }
        assert_eq!(got, want, "{path}: handshakes by kind");
        let by_client = |client: &str| {
            connections
                .iter()
                .find(|c| c["client"] == client)
                .unwrap_or_else(|| panic!("{path}: no connection from {client}"))
        };
        let handshakes: Vec<_> = facts.iter().filter_map(|f| handshake_line(f)).collect();
        // Stream N is connection N + 1 when the numbering agrees on every
        // listed handshake; then links are checked by number too.
        let numbered = handshakes
            .iter()
            .all(|(s, client, ..)| by_client(client)["id"] == s + 1);
        for (stream, client, kind, resumes) in &handshakes {
            let c = by_client(client);
            assert_eq!(c["tls"]["handshake"], *kind, "{path}: stream {stream}");
            match resumes {
                Some(m) if numbered => {
                    assert_eq!(c["tls"]["resumes"], m + 1, "{path}: stream {stream}")
                }
                Some(_) => assert!(c["tls"]["resumes"].is_u64(), "{path}: stream {stream}"),
                None => assert!(c["tls"]["resumes"].is_null(), "{path}: stream {stream}"),
            }
            if let Some(m) = resumes.filter(|_| numbered) {
                // The resumed connection and its original share a session.
                let session = c["sessions"][0]["id"].clone();
                let original = connections.iter().find(|o| o["id"] == m + 1).unwrap();
                assert_eq!(
                    original["sessions"][0]["id"], session,
                    "{path}: stream {stream}"
                );
            }
            lines += 1;
        }
        checked += 1;
    }
    assert_eq!(checked, 13, "captures with TLS facts");
    assert!(lines >= 80, "only {lines} handshake lines checked");
}

/// The same names, borrowed statically.
fn kind_name(h: &str) -> &'static str {
    match h {
        "full" => "full",
        "session-id" => "session-id",
        "ticket" => "ticket",
        "psk" => "psk",
        "incomplete" => "incomplete",
        other => panic!("unexpected handshake {other:?}"),
    }
}

#[test]
fn safari_is_one_tls_session_of_six_connections_and_a_seventh_full_handshake() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(&root, "nDPI/tests/cfgs/default/pcap/safari.pcap");
    let s = r["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0]["kind"], "tls");
    assert_eq!(s[0]["server"], "www.iit.cnr.it");
    assert_eq!(s[0]["original"], 1);
    assert_eq!(s[0]["connections"], serde_json::json!([1, 2, 3, 4, 5, 6]));
    assert!(s[0]["key"].as_str().unwrap().starts_with("session-id=fp:"));
    let c7 = &conns(&r)[6];
    assert_eq!(c7["tls"]["handshake"], "full");
    assert_eq!(c7["no_session"], "encrypted");
}

#[test]
fn example2_ticket_lineage_and_tls13_psk_is_marked_but_not_linked() {
    let Some(root) = corpus() else { return };
    let (r, _) = report(
        &root,
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/example2.pcap",
    );
    // s121..s125 resumed the ticket s119 was given (inventory).
    let s = r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["original"] == 120)
        .expect("the lineage of connection 120");
    assert_eq!(s["kind"], "tls");
    assert!(s["key"].as_str().unwrap().starts_with("ticket=fp:"));
    assert_eq!(
        s["connections"],
        serde_json::json!([120, 122, 123, 124, 125, 126])
    );
    let (r, _) = report(
        &root,
        "zeek/testing/btest/Traces/tls/tls-13draft19-early-data.pcap",
    );
    let c = conns(&r);
    assert_eq!(c[0]["tls"]["handshake"], "full");
    assert_eq!(c[1]["tls"]["handshake"], "psk");
    assert_eq!(c[1]["tls"]["version"], "TLS 1.3 (draft 19)");
    assert!(c[1]["tls"]["resumes"].is_null());
    assert_eq!(r["sessions"], serde_json::json!([]));
}

/// testdata/tls-resumption: recorded Python ssl clients and servers (see
/// its README for the facts and how tshark agrees).
#[test]
fn recorded_session_id_ticket_and_psk_resumptions() {
    let r = analyze_json(&[repo("testdata/tls-resumption/capture.pcap")
        .to_str()
        .unwrap()]);
    let c = conns(&r);
    assert_eq!(c.len(), 8);
    let row = |i: usize| {
        let t = &c[i]["tls"];
        (
            t["sni"].as_str().unwrap().to_owned(),
            t["version"].as_str().unwrap().to_owned(),
            t["handshake"].as_str().unwrap().to_owned(),
            t["resumes"].as_u64(),
        )
    };
    let want = [
        ("sid.test", "TLS 1.2", "full", None),
        ("sid.test", "TLS 1.2", "session-id", Some(1)),
        ("sid.test", "TLS 1.2", "session-id", Some(1)),
        ("ticket.test", "TLS 1.2", "full", None),
        ("ticket.test", "TLS 1.2", "ticket", Some(4)),
        ("tls13.test", "TLS 1.3", "full", None),
        ("tls13.test", "TLS 1.3", "psk", None),
        ("sid.test", "TLS 1.2", "full", None),
    ];
    for (i, (sni, version, handshake, resumes)) in want.iter().enumerate() {
        assert_eq!(
            row(i),
            (
                sni.to_string(),
                version.to_string(),
                handshake.to_string(),
                *resumes
            ),
            "connection {}",
            i + 1
        );
    }
    let s = r["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 2, "{s:#?}");
    assert_eq!(
        (
            &s[0]["kind"],
            &s[0]["server"],
            &s[0]["connections"],
            &s[0]["original"]
        ),
        (
            &"tls".into(),
            &"sid.test".into(),
            &serde_json::json!([1, 2, 3]),
            &1.into()
        )
    );
    assert!(s[0]["key"].as_str().unwrap().starts_with("session-id=fp:"));
    assert_eq!(
        (&s[1]["server"], &s[1]["connections"], &s[1]["original"]),
        (&"ticket.test".into(), &serde_json::json!([4, 5]), &4.into())
    );
    assert!(s[1]["key"].as_str().unwrap().starts_with("ticket=fp:"));
    for (i, conn) in c.iter().enumerate().skip(5) {
        assert_eq!(conn["no_session"], "encrypted", "connection {}", i + 1);
    }
    // --show-secrets shows the session id itself (tshark's value).
    let r = analyze_json(&[
        "--show-secrets",
        repo("testdata/tls-resumption/capture.pcap")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(
        r["sessions"][0]["key"],
        "session-id=161a565520c3bb4246261b2832e4509dad7ade2b81cacfbcda991df4a608717e"
    );
}

#[test]
fn a_tls_1_0_server_is_a_legacy_version_finding_once_per_server() {
    let Some(root) = corpus() else { return };
    // Arkime's test: one abbreviated TLS 1.0 handshake (Arkime's .test
    // document says version TLSv1), its full handshake before the capture.
    let (r, _) = report(&root, "arkime/tests/pcap/tls-client-sessionid.pcap");
    assert_eq!(conns(&r)[0]["tls"]["version"], "TLS 1.0");
    assert_eq!(conns(&r)[0]["tls"]["handshake"], "session-id");
    assert_eq!(r["sessions"][0]["original"], Value::Null);
    let f = r["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["rule"], "tls-legacy-version");
    assert_eq!(f[0]["connection"], 1);
    // 51 TLS 1.0 connections to three Amazon servers: three findings.
    let (r, _) = report(&root, "nDPI/tests/cfgs/default/pcap/alexa-app.pcapng");
    let legacy: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "tls-legacy-version")
        .collect();
    let tls10 = conns(&r)
        .iter()
        .filter(|c| c["tls"]["version"] == "TLS 1.0")
        .count();
    assert_eq!(tls10, 51);
    assert_eq!(legacy.len(), 3);
}

/// TLS records for the written edge cases: a record of type `ty` around
/// a handshake message of type `msg`.
fn tls_record(ty: u8, msg: Option<u8>, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    if let Some(m) = msg {
        let n = body.len() as u32;
        payload.extend([m, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    payload.extend(body);
    let mut v = vec![ty, 3, 3];
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend(payload);
    v
}

/// A ClientHello (SNI `app.test`) or ServerHello body with session id `sid`.
fn hello(client: bool, sid: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([9u8; 32]);
    b.push(sid.len() as u8);
    b.extend(sid);
    if client {
        b.extend([0, 2, 0xc0, 0x2f, 1, 0]);
        let name = b"app.test";
        let mut sni = vec![
            0,
            0,
            0,
            (name.len() + 5) as u8,
            0,
            (name.len() + 3) as u8,
            0,
            0,
        ];
        sni.push(name.len() as u8);
        sni.extend(name);
        b.extend((sni.len() as u16).to_be_bytes());
        b.extend(sni);
    } else {
        b.extend([0xc0, 0x2f, 0]);
    }
    b
}

/// Written with the capture writer: a full handshake from one address and
/// its resumption from another, the resumption's ClientHello split over
/// three segments sent out of order.
#[test]
fn a_tls_session_resumed_from_another_address_is_flagged() {
    const SID: [u8; 32] = [0x5a; 32];
    let mut frames = Vec::new();
    let mut a = Talk::new("10.2.0.1:40000", "10.2.0.9:443", 100, 9000);
    a.handshake();
    a.send(true, &tls_record(22, Some(1), &hello(true, &[])));
    let mut flight = tls_record(22, Some(2), &hello(false, &SID));
    flight.extend(tls_record(22, Some(11), &[0; 600]));
    a.send(false, &flight);
    a.send(false, &tls_record(20, None, &[1]));
    a.close();
    frames.extend(a.frames);
    let mut b = Talk::new("10.2.0.2:40001", "10.2.0.9:443", 500, 7000);
    b.ts_ns += 1_000_000_000;
    b.handshake();
    let ch = tls_record(22, Some(1), &hello(true, &SID));
    let (base, thirds) = (b.cseq, ch.len() / 3);
    let pieces = [&ch[..thirds], &ch[thirds..2 * thirds], &ch[2 * thirds..]];
    for i in [2, 0, 1] {
        let seq = base.wrapping_add((i * thirds) as u32);
        let f = b.segment(true, 0x18, seq, pieces[i]);
        b.push(f);
    }
    b.cseq = base.wrapping_add(ch.len() as u32);
    let mut flight = tls_record(22, Some(2), &hello(false, &SID));
    flight.extend(tls_record(20, None, &[1]));
    b.send(false, &flight);
    b.close();
    frames.extend(b.frames);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.pcap");
    write_pcap(&path, sessmap::capture::LinkType::ETHERNET, &frames);
    let r = analyze_json(&[path.to_str().unwrap()]);
    let c = conns(&r);
    assert_eq!(c[0]["tls"]["handshake"], "full");
    assert_eq!(c[1]["tls"]["handshake"], "session-id");
    assert_eq!(c[1]["tls"]["sni"], "app.test");
    assert_eq!(c[1]["tls"]["resumes"], 1);
    let s = &r["sessions"][0];
    assert_eq!(s["connections"], serde_json::json!([1, 2]));
    assert_eq!(s["clients"], serde_json::json!(["10.2.0.1", "10.2.0.2"]));
    assert_eq!(s["multiple_clients"], true);
    let f = r["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["rule"], "session-multiple-clients");
    assert_eq!(f[0]["session"], 1);
}
