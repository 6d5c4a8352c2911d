//! HTTPS sessions on real captures (testdata/https, see its README): curl,
//! Python `ssl` and headless Chromium talking TLS 1.2 / 1.3 with HTTP/1.1
//! and HTTP/2 to nginx, which proxies to tools/session_server.py. The facts
//! (facts.json, tools/https_facts.py) are tshark's decryption with the key
//! log, cross-checked against nginx's access log (client port, TLS version,
//! cipher, ALPN, HTTP version) and the backend's log (which session each
//! request carried or was given).
//!
//! Checked per scenario, with the key log: every connection (id = tshark
//! stream + 1) by client, TLS version, cipher suite, ALPN, `decrypted`,
//! plaintext bytes per side (tshark's `follow,tls,raw`), HTTP version and
//! request count; the exact sessions (key and aliases, connections,
//! requests, transport, logout, user); the connections without a session.
//! Without it: nothing decrypted, no session over TLS. The pcapng with the
//! key log in a Decryption Secrets Block needs no --keylog.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn path(scenario: &str, file: &str) -> String {
    repo(&format!("testdata/https/{scenario}/{file}"))
        .to_string_lossy()
        .into_owned()
}

fn facts(scenario: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path(scenario, "facts.json")).unwrap()).unwrap()
}

fn with_keylog(scenario: &str) -> Value {
    analyze_json(&[
        "--show-secrets",
        &path(scenario, "capture.pcap"),
        "--keylog",
        &path(scenario, "keylog.txt"),
    ])
}

fn conn(r: &Value, id: u64) -> &Value {
    conns(r)
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no connection {id}"))
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// Checks a decrypted report against the scenario's facts.
fn check(scenario: &str, r: &Value) {
    let f = facts(scenario);
    let streams = f["streams"].as_array().unwrap();
    assert_eq!(conns(r).len(), streams.len(), "{scenario}: connections");
    let mut tls_conns = 0;
    for s in streams {
        let id = s["id"].as_u64().unwrap();
        let c = conn(r, id);
        let what = format!("{scenario} connection {id}");
        assert_eq!(c["client"], s["client"], "{what}: client");
        assert_eq!(c["server"], s["server"], "{what}: server");
        assert_eq!(
            c["requests"],
            s["requests"].as_array().unwrap().len(),
            "{what}"
        );
        assert_eq!(c["gaps"], 0, "{what}");
        let ft = &s["tls"];
        if ft.is_null() {
            assert_eq!(c["protocol"], "http", "{what}");
            assert!(c.get("tls").is_none(), "{what}: cleartext");
        } else {
            tls_conns += 1;
            let t = &c["tls"];
            assert_eq!(c["protocol"], "tls", "{what}");
            assert_eq!(t["version"], ft["version"], "{what}: TLS version");
            assert_eq!(t["handshake"], "full", "{what}");
            assert_eq!(t["decryption"], "decrypted", "{what}");
            assert_eq!(t["cipher_suite"], ft["cipher_suite"], "{what}: suite");
            assert_eq!(t["alpn"], ft["alpn"], "{what}: ALPN");
            assert_eq!(
                t["decrypted_bytes"], s["decrypted_bytes"],
                "{what}: plaintext bytes"
            );
        }
        // Sessions on the connection, by the facts' session order.
        let want: BTreeSet<u64> = f["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| ids(&x["connections"]).contains(&id))
            .map(|x| x["values"][0].as_str().unwrap().to_owned())
            .map(|v| {
                r["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["key"] == format!("PHPSESSID={v}"))
                    .unwrap_or_else(|| panic!("{what}: no session keyed {v}"))["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let got: BTreeSet<u64> = c["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "{what}: sessions");
        assert_eq!(c["http_version"], s["http_version"], "{what}: HTTP version");
        // A connection opened and never used: only the handshake (Chromium
        // connections 4 and 6), or only the server's SETTINGS (2: HTTP/2).
        let handshake_only = s["decrypted_bytes"] == serde_json::json!({"client": 0, "server": 0});
        if handshake_only {
            assert_eq!(c["no_session"], "no_application_data", "{what}");
        } else if want.is_empty() {
            assert_eq!(c["no_session"], "no_session_cookie", "{what}");
        } else {
            assert!(c.get("no_session").is_none(), "{what}");
        }
    }
    // The sessions, exactly.
    let ours = r["sessions"].as_array().unwrap();
    let theirs = f["sessions"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{scenario}: sessions {ours:#?}");
    for t in theirs {
        let values: Vec<String> = t["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("PHPSESSID={}", v.as_str().unwrap()))
            .collect();
        let s = ours
            .iter()
            .find(|s| s["key"] == values[0].as_str())
            .unwrap();
        let what = format!("{scenario} session of {}", t["user"]);
        assert_eq!(s["kind"], "http", "{what}");
        assert_eq!(s["aliases"], serde_json::json!(values[1..]), "{what}");
        assert_eq!(s["connections"], t["connections"], "{what}: connections");
        assert_eq!(s["requests"], t["requests"], "{what}: requests");
        assert_eq!(s["ended"], t["ended"], "{what}: logout");
        assert_eq!(s["clients"], serde_json::json!(["127.0.0.1"]), "{what}");
        let cleartext = ids(&t["connections"])
            .iter()
            .any(|id| streams[*id as usize - 1]["tls"].is_null());
        let transport = if cleartext { "mixed" } else { "tls" };
        assert_eq!(s["transport"], transport, "{what}: transport");
        // The report knows users only from Authorization headers; the
        // form logins of the backend's log are not on the wire as users.
        let users: Vec<&str> = t["auth_users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        if users.is_empty() {
            assert!(s["user"].is_null(), "{what}: user");
        } else {
            assert_eq!(s["user"], users.join(", "), "{what}: user");
        }
        // Requests per connection.
        for (port, n) in t["requests_per_port"].as_object().unwrap() {
            let c = conns(r)
                .iter()
                .find(|c| c["client"] == format!("127.0.0.1:{port}"))
                .unwrap();
            let on = c["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == s["id"])
                .unwrap();
            assert_eq!(on["requests"], *n, "{what}: requests on port {port}");
        }
    }
    assert_eq!(
        r["stats"]["http"]["requests"], f["http_requests"],
        "{scenario}"
    );
    assert_eq!(
        r["stats"]["http"]["responses"], f["http_requests"],
        "{scenario}"
    );
    assert_eq!(r["stats"]["http"]["malformed"], 0, "{scenario}");
    let st = &r["stats"]["tls"];
    assert_eq!(st["connections"], tls_conns, "{scenario}");
    assert_eq!(st["decrypted"], tls_conns, "{scenario}");
    assert_eq!(st["auth_failures"], 0, "{scenario}");
    assert_eq!(st["resyncs"], 0, "{scenario}");
}

/// Without key material: the TLS connections stay encrypted, no session
/// is built from them; cleartext connections are unchanged.
fn check_without_keys(scenario: &str) -> Value {
    let f = facts(scenario);
    let r = analyze_json(&["--show-secrets", &path(scenario, "capture.pcap")]);
    for s in f["streams"].as_array().unwrap() {
        if s["tls"].is_null() {
            continue;
        }
        let c = conn(&r, s["id"].as_u64().unwrap());
        assert_eq!(c["protocol"], "tls");
        assert_eq!(c["tls"]["version"], s["tls"]["version"]);
        assert!(c["tls"].get("decryption").is_none());
        assert!(c["tls"].get("cipher_suite").is_none());
        assert_eq!(c["requests"], 0);
        assert_eq!(c["sessions"], serde_json::json!([]));
        assert_eq!(c["no_session"], "encrypted");
    }
    assert!(r["stats"].get("tls").is_none());
    r
}

fn suites(r: &Value) -> Vec<&str> {
    conns(r)
        .iter()
        .map(|c| c["tls"]["cipher_suite"].as_str().unwrap_or("-"))
        .collect()
}

fn session_conns(r: &Value) -> Vec<Vec<u64>> {
    r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| ids(&s["connections"]))
        .collect()
}

const AES128: &str = "TLS_AES_128_GCM_SHA256";
const CHACHA: &str = "TLS_CHACHA20_POLY1305_SHA256";

#[test]
fn curl_http2_tls13_two_users_three_suites() {
    let r = with_keylog("curl-h2-tls13");
    check("curl-h2-tls13", &r);
    assert_eq!(
        suites(&r),
        [
            AES128,
            CHACHA,
            AES128,
            CHACHA,
            AES128,
            CHACHA,
            AES128,
            CHACHA,
            "TLS_AES_256_GCM_SHA384",
            AES128,
            CHACHA
        ]
    );
    assert!(conns(&r)
        .iter()
        .all(|c| c["tls"]["alpn"] == "h2" && c["http_version"] == "2"));
    assert_eq!(
        session_conns(&r),
        [vec![1, 3, 5, 7, 10], vec![2, 4, 6, 8, 11]]
    );
    assert_eq!(conn(&r, 9)["no_session"], "no_session_cookie");
    let none = check_without_keys("curl-h2-tls13");
    assert_eq!(none["sessions"], serde_json::json!([]));
}

/// The key log inside the pcapng (Decryption Secrets Block) gives the same
/// report as the classic pcap with --keylog.
#[test]
fn decryption_secrets_block_needs_no_keylog() {
    let dsb = analyze_json(&[
        "--show-secrets",
        &path("curl-h2-tls13", "capture-dsb.pcapng"),
    ]);
    check("curl-h2-tls13", &dsb);
    let pcap = with_keylog("curl-h2-tls13");
    assert_eq!(dsb["connections"], pcap["connections"]);
    assert_eq!(dsb["sessions"], pcap["sessions"]);
    assert_eq!(dsb["hosts"], pcap["hosts"]);
    assert_eq!(dsb["stats"]["http"], pcap["stats"]["http"]);
    assert_eq!(dsb["stats"]["tls"]["decrypted"], 11);
    assert_eq!(
        dsb["stats"]["tls"]["records_decrypted"],
        pcap["stats"]["tls"]["records_decrypted"]
    );
}

#[test]
fn curl_http1_tls12_gcm_chacha_and_cbc() {
    let r = with_keylog("curl-h1-tls12");
    check("curl-h1-tls12", &r);
    let gcm128 = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
    let gcm256 = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
    let chacha = "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";
    let cbc = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256";
    let mut want = vec![gcm128, gcm256, chacha, cbc];
    want.extend([gcm128, gcm256, chacha, cbc]);
    for _ in 0..3 {
        want.extend([gcm128, gcm256, chacha]);
    }
    want.push(cbc);
    assert_eq!(suites(&r), want);
    assert!(conns(&r).iter().all(|c| c["tls"]["version"] == "TLS 1.2"
        && c["tls"]["alpn"] == "http/1.1"
        && c["http_version"] == "1.1"));
    assert_eq!(
        session_conns(&r),
        [
            vec![1, 5, 9, 12, 15],
            vec![2, 6, 10, 13, 16],
            vec![3, 7, 11, 14, 17],
            vec![4, 8, 18]
        ]
    );
    // frank's three requests on one keep-alive connection (CBC, EtM).
    assert_eq!(conn(&r, 18)["requests"], 3);
    let none = check_without_keys("curl-h1-tls12");
    assert_eq!(none["sessions"], serde_json::json!([]));
}

#[test]
fn python_ssl_one_user_over_tls13_without_alpn_and_tls12_cbc() {
    let r = with_keylog("python-ssl");
    check("python-ssl", &r);
    assert_eq!(
        suites(&r),
        [
            "TLS_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        ]
    );
    assert!(conn(&r, 1)["tls"]["alpn"].is_null());
    assert_eq!(conn(&r, 2)["tls"]["alpn"], "http/1.1");
    assert_eq!(session_conns(&r), [vec![1, 2]]);
    let s = &r["sessions"][0];
    assert_eq!(
        (s["requests"].as_u64(), s["user"].as_str()),
        (Some(5), Some("heidi"))
    );
    check_without_keys("python-ssl");
}

#[test]
fn chromium_two_profiles_are_two_sessions() {
    let r = with_keylog("chromium-two-profiles");
    check("chromium-two-profiles", &r);
    assert!(suites(&r).iter().all(|s| *s == AES128));
    assert!(conns(&r).iter().all(|c| c["tls"]["alpn"] == "h2"));
    assert_eq!(session_conns(&r), [vec![1], vec![3]]);
    // The restarted browsers no longer have the session cookie.
    for id in [5, 7] {
        assert_eq!(conn(&r, id)["requests"], 2);
        assert_eq!(conn(&r, id)["no_session"], "no_session_cookie");
    }
    // Chromium's unused extra connections carry no request.
    for id in [2, 4, 6] {
        assert_eq!(conn(&r, id)["requests"], 0);
        assert_eq!(conn(&r, id)["sessions"], serde_json::json!([]));
    }
    let none = check_without_keys("chromium-two-profiles");
    assert_eq!(none["sessions"], serde_json::json!([]));
}

#[test]
fn one_session_over_cleartext_and_tls_is_mixed() {
    let r = with_keylog("mixed-cleartext");
    check("mixed-cleartext", &r);
    assert_eq!(session_conns(&r), [vec![1, 2, 3, 4]]);
    assert_eq!(r["sessions"][0]["transport"], "mixed");
    // Without the keys the login that rotated the id is not seen: the two
    // cleartext connections are two sessions (pre-login id, rotated id).
    let none = check_without_keys("mixed-cleartext");
    let f = facts("mixed-cleartext");
    let values = &f["sessions"][0]["values"];
    let keys: Vec<String> = none["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        [
            format!("PHPSESSID={}", values[0].as_str().unwrap()),
            format!("PHPSESSID={}", values[1].as_str().unwrap())
        ]
    );
    assert_eq!(session_conns(&none), [vec![1], vec![4]]);
    assert!(none["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s.get("transport").is_none()));
}
