//! Capture loss written with the project's capture writer: one lost packet
//! (a frame never written, its bytes acknowledged by the peer) on FTP
//! control channels and HTTP keep-alive connections, and what it may and
//! may not cost.

use crate::common::*;
use serde_json::Value;
use sessmap::capture::LinkType;

const CLIENT: &str = "10.2.0.5";
const SERVER: &str = "10.2.0.9";

fn analyze(talks: &[&Talk]) -> Value {
    let mut frames: Vec<(u64, Vec<u8>)> = talks.iter().flat_map(|t| t.frames.clone()).collect();
    frames.sort_by_key(|(ts, _)| *ts);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lossy.pcap");
    write_pcap(&path, LinkType::ETHERNET, &frames);
    analyze_json(&[path.to_str().unwrap()])
}

/// An FTP control connection from CLIENT:`port`, logged in.
fn control(port: u16, start_ms: u64) -> Talk {
    let mut t = Talk::new(
        &format!("{CLIENT}:{port}"),
        &format!("{SERVER}:21"),
        1000,
        9000,
    );
    t.ts_ns += start_ms * 1_000_000;
    t.handshake();
    t.send(false, b"220 ready\r\n");
    t.send(true, b"USER alice\r\n");
    t.send(false, b"331 password\r\n");
    t.send(true, b"PASS secret\r\n");
    t.send(false, b"230 logged in\r\n");
    t
}

/// A passive RETR on `ctl` through SERVER:`data_port`, from CLIENT:`from`;
/// the 227 reply is lost when `lose_227`. Returns the data connection.
fn passive_retr(ctl: &mut Talk, data_port: u16, from: u16, file: &str, lose_227: bool) -> Talk {
    ctl.send(true, b"PASV\r\n");
    let reply = format!(
        "227 Entering Passive Mode (10,2,0,9,{},{})\r\n",
        data_port >> 8,
        data_port & 0xff
    );
    if lose_227 {
        ctl.lose(false, reply.as_bytes());
    } else {
        ctl.send(false, reply.as_bytes());
    }
    let mut data = Talk::new(
        &format!("{CLIENT}:{from}"),
        &format!("{SERVER}:{data_port}"),
        50_000,
        70_000,
    );
    data.ts_ns = ctl.ts_ns;
    data.handshake();
    ctl.ts_ns = data.ts_ns;
    ctl.send(true, format!("RETR {file}\r\n").as_bytes());
    ctl.send(false, b"150 Opening data connection\r\n");
    data.ts_ns = ctl.ts_ns;
    data.send(false, &[b'x'; 300]);
    data.close();
    ctl.ts_ns = data.ts_ns;
    ctl.send(false, b"226 Transfer complete\r\n");
    data
}

fn conn_id(r: &Value, client: &str) -> u64 {
    conns(r)
        .iter()
        .find(|c| c["client"] == client)
        .unwrap_or_else(|| panic!("no connection from {client}"))["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_lost_227_costs_only_its_own_announcement() {
    let mut ctl = control(40000, 0);
    let d1 = passive_retr(&mut ctl, 5001, 41001, "a.txt", true);
    let d2 = passive_retr(&mut ctl, 5002, 41002, "b.txt", false);
    let d3 = passive_retr(&mut ctl, 5003, 41003, "c.txt", false);
    ctl.send(true, b"QUIT\r\n");
    ctl.send(false, b"221 bye\r\n");
    ctl.close();
    let r = analyze(&[&ctl, &d1, &d2, &d3]);
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 1);
    let t = s[0]["transfers"].as_array().unwrap();
    let got: Vec<(u64, &str, &str)> = t
        .iter()
        .map(|x| {
            (
                x["connection"].as_u64().unwrap(),
                x["argument"].as_str().unwrap(),
                x["setup"].as_str().unwrap(),
            )
        })
        .collect();
    // The later transfers link by their own 227, with their own commands.
    assert_eq!(
        got,
        [
            (conn_id(&r, "10.2.0.5:41001"), "a.txt", "inferred"),
            (conn_id(&r, "10.2.0.5:41002"), "b.txt", "PASV"),
            (conn_id(&r, "10.2.0.5:41003"), "c.txt", "PASV"),
        ]
    );
    assert_eq!(r["stats"]["ftp"]["unanswered"], 1);
    assert_eq!(r["stats"]["ftp"]["expectations"], 2);
    assert_eq!(s[0]["gaps"], 1);
    assert_eq!(s[0]["unmatched"], serde_json::json!([]));
}

#[test]
fn a_data_connection_whose_227_was_lost_is_linked_as_inferred() {
    let mut ctl = control(40000, 0);
    let d1 = passive_retr(&mut ctl, 5001, 41001, "a.txt", true);
    ctl.close();
    let r = analyze(&[&ctl, &d1]);
    let s = ftp_sessions(&r);
    let t = &s[0]["transfers"][0];
    assert_eq!(
        t["connection"].as_u64(),
        Some(conn_id(&r, "10.2.0.5:41001"))
    );
    assert_eq!(
        (
            &t["setup"],
            &t["mode"],
            &t["command"],
            &t["direction"],
            &t["bytes"],
            &t["reply"]
        ),
        (
            &"inferred".into(),
            &"passive".into(),
            &"RETR".into(),
            &"download".into(),
            &300.into(),
            &226.into()
        )
    );
    let why = t["inferred"].as_str().unwrap();
    assert!(why.contains("reply to PASV was lost"), "{why}");
    let data = conns(&r)
        .iter()
        .find(|c| c["id"] == t["connection"])
        .unwrap();
    assert_eq!(data["protocol"], "ftp-data");
    let rules = rules(&r);
    assert!(rules.contains(&"capture-loss"), "{rules:?}");
    assert!(!rules.contains(&"ftp-unlinked-data"), "{rules:?}");
    // Without the loss, the same exchange links by its announcement.
    let mut ctl = control(40000, 0);
    let d1 = passive_retr(&mut ctl, 5001, 41001, "a.txt", false);
    ctl.close();
    let r = analyze(&[&ctl, &d1]);
    assert_eq!(ftp_sessions(&r)[0]["transfers"][0]["setup"], "PASV");
}

#[test]
fn two_sessions_between_the_same_hosts_with_lost_replies_are_not_guessed() {
    // Two control connections of the same user from the same host, both
    // losing a 227 at the same moment: either could own either data
    // connection.
    let mut a = control(40000, 0);
    let mut b = control(40001, 0);
    b.ts_ns = a.ts_ns;
    let da = passive_retr(&mut a, 5001, 41001, "a.txt", true);
    b.ts_ns = da.frames[0].0 - 500_000;
    let db = passive_retr(&mut b, 5002, 41002, "b.txt", true);
    a.close();
    b.close();
    let r = analyze(&[&a, &b, &da, &db]);
    let s = ftp_sessions(&r);
    assert_eq!(s.len(), 2);
    for x in &s {
        assert_eq!(x["transfers"], serde_json::json!([]), "{x:#}");
    }
    let (ca, cb) = (conn_id(&r, "10.2.0.5:40000"), conn_id(&r, "10.2.0.5:40001"));
    for from in ["10.2.0.5:41001", "10.2.0.5:41002"] {
        let id = conn_id(&r, from);
        let c = conns(&r).iter().find(|c| c["id"] == id).unwrap();
        assert_eq!(c["no_session"], "ftp_unlinked");
        let f = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "ftp-unlinked-data" && f["connection"] == id)
            .unwrap_or_else(|| panic!("no finding for {from}"));
        let msg = f["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("connection {ca} and connection {cb}"))
                && msg.contains("not linked"),
            "{msg}"
        );
    }
}

const ALICE1: &str = "a11ce0001f3e9b7c5d2a8e4f6b1c3d5e";
const ALICE2: &str = "a11ce0002c4d6e8f0a1b3c5d7e9f2a4b";
const BOB1: &str = "b0b000013e5f7a9b1c3d5e7f9a2b4c6d";
const BOB2: &str = "b0b000025d7e9f1a3b5c7d9e1f3a5b7c";

/// An HTTP/1.1 keep-alive connection from CLIENT:`port` to SERVER:80.
fn http(port: u16) -> Talk {
    let mut t = Talk::new(&format!("{CLIENT}:{port}"), &format!("{SERVER}:80"), 1, 1);
    t.handshake();
    t
}

fn get(path: &str, cookie: Option<&str>) -> Vec<u8> {
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: PHPSESSID={c}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\n{cookie}\r\n").into_bytes()
}

fn ok(set: Option<&str>) -> Vec<u8> {
    let set = set.map_or(String::new(), |v| {
        format!("Set-Cookie: PHPSESSID={v}; Path=/; HttpOnly\r\n")
    });
    format!("HTTP/1.1 200 OK\r\n{set}Content-Length: 2\r\n\r\nok").into_bytes()
}

/// A session as its key and aliases, and (connection, requests) pairs.
type SessionRequests = (String, Vec<(u64, u64)>);

/// The sessions, with --show-secrets, and the report.
fn http_sessions(frames: &Talk) -> (Vec<SessionRequests>, Value) {
    let mut all = frames.frames.clone();
    all.sort_by_key(|(ts, _)| *ts);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.pcap");
    write_pcap(&path, LinkType::ETHERNET, &all);
    let r = analyze_json(&["--show-secrets", path.to_str().unwrap()]);
    let mut out = Vec::new();
    for s in r["sessions"].as_array().unwrap() {
        let id = &s["id"];
        let mut per = Vec::new();
        for c in conns(&r) {
            for x in c["sessions"].as_array().unwrap() {
                if x["id"] == *id {
                    per.push((c["id"].as_u64().unwrap(), x["requests"].as_u64().unwrap()));
                }
            }
        }
        let mut key = s["key"].as_str().unwrap().to_owned();
        for a in s["aliases"].as_array().unwrap() {
            key.push(' ');
            key.push_str(a.as_str().unwrap());
        }
        out.push((key, per));
    }
    out.sort();
    (out, r)
}

#[test]
fn a_lost_request_on_keep_alive_leaves_the_later_pairs_right() {
    // Alice and Bob share one keep-alive connection (a proxy). Bob's login
    // request is lost; its response starts his session; his next request
    // and Alice's pair with their own responses.
    let mut t = http(43000);
    t.send(true, &get("/a1", Some(ALICE1)));
    t.send(false, &ok(None));
    t.lose(true, &get("/login", None));
    t.send(false, &ok(Some(BOB1)));
    t.send(true, &get("/b1", Some(BOB1)));
    t.send(false, &ok(None));
    t.send(true, &get("/a2", Some(ALICE1)));
    t.send(false, &ok(Some(ALICE2)));
    t.close();
    let (s, r) = http_sessions(&t);
    assert_eq!(
        s,
        [
            // Alice's rotation belongs to her own request.
            (
                format!("PHPSESSID={} PHPSESSID={}", ALICE1, ALICE2),
                vec![(1, 2)]
            ),
            // Bob's session starts at the response whose request was lost.
            (format!("PHPSESSID={}", BOB1), vec![(1, 2)]),
        ],
        "{:#}",
        r["connections"]
    );
    // The response came before the gap was known (only Bob's next request
    // proves the hole): it is a response without a request, not a message
    // unpaired by a known gap.
    assert_eq!(r["stats"]["http"]["unpaired"], 0);
    assert_eq!(r["stats"]["http"]["requests"], 3);
    assert_eq!(r["stats"]["http"]["responses"], 4);
    assert_eq!(r["sessions"][0]["gaps"], 1);
}

#[test]
fn a_lost_response_with_a_rotation_lends_its_successor_to_no_one() {
    // Alice's response that rotated alice1 to alice2 is lost. Bob's next
    // request is answered with his own rotation, bob1 to bob2: pairing in
    // order would give it to Alice's request and merge the two users.
    let mut t = http(43000);
    t.send(true, &get("/a", Some(ALICE1)));
    t.lose(false, &ok(Some(ALICE2)));
    t.send(true, &get("/b", Some(BOB1)));
    t.send(false, &ok(Some(BOB2)));
    t.send(true, &get("/a", Some(ALICE2)));
    t.send(false, &ok(None));
    t.close();
    let (s, r) = http_sessions(&t);
    assert_eq!(
        s,
        [
            // The rotation alice1 -> alice2 was in the lost response: the two
            // values stay apart, each on its request.
            (format!("PHPSESSID={}", ALICE1), vec![(1, 1)]),
            (format!("PHPSESSID={}", ALICE2), vec![(1, 1)]),
            (
                format!("PHPSESSID={} PHPSESSID={}", BOB1, BOB2),
                vec![(1, 1)]
            ),
        ]
    );
    assert_eq!(r["stats"]["http"]["unpaired"], 1);
}
