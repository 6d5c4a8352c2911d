//! TLS decryption on the shared corpus, against keylog_http2_facts.json:
//! Zeek's TLS 1.2 decryption traces, snet's decrypt-by-keylog set (SSL 3.0
//! to TLS 1.3, every common suite), the Illustrated TLS captures, and the
//! two pcapngs with embedded Decryption Secrets Blocks.
//!
//! Facts checked, per capture:
//! - snet's `decrypted_records_count` (every protected record decrypted,
//!   empty ones included) equals `stats.tls.records_decrypted`; without
//!   an snet count, tshark's number of decrypted records does;
//! - per tshark stream (connection id = stream + 1): decrypted when tshark
//!   decrypted records of it, else no keys; the cipher suite tshark names;
//!   ALPN;
//! - without the key file nothing is decrypted (no `decryption` at all),
//!   except the DSB captures, which need none;
//! - the HTTP requests Zeek and tshark read inside.

use crate::common::*;
use crate::corpus::corpus;
use serde_json::Value;
use std::path::Path;

/// Where sessmap departs from a fact, with the reason.
const DISAGREE: &[(&str, &str)] = &[(
    "TLS1_ECDHE-RSA-NULL-SHA.pcap",
    "snet counts 0 decrypted records for the NULL cipher (nothing to decrypt); sessmap, \
     like tshark, verifies each record's MAC and reads its 13 plaintexts",
)];

fn facts(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join("keylog_http2_facts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn is_decryption(e: &Value) -> bool {
    let cat = e["category"].as_str().unwrap_or("");
    cat.contains("decryption")
        || cat.contains("Decryption Secrets")
        || cat.contains("DSB")
        || e["path"].as_str().unwrap_or("").ends_with("-dsb.pcapng")
}

fn run(root: &Path, e: &Value, with_keys: bool) -> Value {
    let path = root.join(e["path"].as_str().unwrap());
    let mut args = vec![path.to_str().unwrap().to_owned()];
    if let (true, Some(k)) = (with_keys, e["keylog"].as_str()) {
        args.push("--keylog".into());
        args.push(root.join(k).to_str().unwrap().to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    analyze_json(&args)
}

/// `snet … decrypted_records_count = N`.
fn snet_count(facts: &[String]) -> Option<u64> {
    facts.iter().find_map(|f| {
        let (_, rest) = f.split_once("decrypted_records_count = ")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// One tshark stream line: stream, suite text, ALPN, records decrypted.
fn tshark_streams(facts: &[String]) -> Vec<(u64, String, Option<String>, u64)> {
    facts
        .iter()
        .filter(|f| {
            f.starts_with("[tshark tls-decrypt] tcp.stream ") && f.contains("tshark decrypted")
        })
        .filter_map(|f| {
            let rest = f.strip_prefix("[tshark tls-decrypt] tcp.stream ")?;
            let stream = rest.split_whitespace().next()?.parse().ok()?;
            let (_, after_version) = rest.split_once("), ")?;
            let suite = after_version.split(", ALPN").next()?.to_owned();
            let alpn = rest
                .split_once("ALPN ")?
                .1
                .split(',')
                .next()?
                .trim()
                .to_owned();
            let alpn = (alpn != "None").then_some(alpn);
            let decrypted = rest
                .split_once("tshark decrypted ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((stream, suite, alpn, decrypted))
        })
        .collect()
}

#[test]
fn keylog_captures_decrypt_as_their_tools_say() {
    let Some(root) = corpus() else { return };
    let all = facts(&root);
    let entries: Vec<&Value> = all.iter().filter(|e| is_decryption(e)).collect();
    assert!(
        entries.len() >= 20,
        "keylog facts look incomplete: {}",
        entries.len()
    );
    let mut failures = Vec::new();
    let schema = crate::schema::validator();
    let mut checked_streams = 0;
    for e in entries {
        let rel = e["path"].as_str().unwrap();
        let name = rel.rsplit('/').next().unwrap();
        let fact_lines: Vec<String> = e["facts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        let r = run(&root, e, true);
        failures.extend(
            crate::schema::errors(&schema, &r)
                .into_iter()
                .map(|e| format!("{name}: schema: {e}")),
        );
        let tls = &r["stats"]["tls"];
        let records = tls["records_decrypted"].as_u64().unwrap_or(0);
        let streams = tshark_streams(&fact_lines);
        // Zeek's traces have no record count: their facts are the HTTP
        // inside (the next test); here, that something decrypted.
        let expected = snet_count(&fact_lines)
            .filter(|_| !DISAGREE.iter().any(|(n, _)| *n == name))
            .or_else(|| (!streams.is_empty()).then(|| streams.iter().map(|s| s.3).sum()));
        match expected {
            Some(n) if records != n => {
                failures.push(format!("{name}: {records} records decrypted, expected {n}"))
            }
            None if records == 0 => failures.push(format!("{name}: nothing decrypted")),
            _ => {}
        }
        checked_streams += streams.len();
        for (stream, suite, alpn, decrypted) in &streams {
            let Some(c) = conns(&r).iter().find(|c| c["id"] == stream + 1) else {
                failures.push(format!("{name}: no connection {}", stream + 1));
                continue;
            };
            let t = &c["tls"];
            let want = if *decrypted > 0 {
                "decrypted"
            } else {
                "no-keys"
            };
            if t["decryption"] != want {
                failures.push(format!(
                    "{name} stream {stream}: {} not {want}",
                    t["decryption"]
                ));
            }
            // tshark names the suite, or gives its number only.
            let ours = t["cipher_suite"].as_str().unwrap_or("-");
            if !suite.contains(ours) && !suite.starts_with("0x") {
                failures.push(format!(
                    "{name} stream {stream}: suite {ours}, tshark {suite}"
                ));
            }
            if *decrypted > 0 && t["alpn"].as_str().map(str::to_owned) != *alpn {
                failures.push(format!(
                    "{name} stream {stream}: ALPN {} vs {alpn:?}",
                    t["alpn"]
                ));
            }
        }
        // Without the key file: nothing decrypted, unless the secrets are
        // embedded.
        let bare = run(&root, e, false);
        let embedded = rel.ends_with("-dsb.pcapng");
        let bare_records = bare["stats"]["tls"]["records_decrypted"].as_u64();
        if embedded && bare_records != Some(records) {
            failures.push(format!(
                "{name}: embedded secrets gave {bare_records:?} records"
            ));
        }
        if !embedded
            && (bare["stats"].get("tls").is_some()
                || conns(&bare)
                    .iter()
                    .any(|c| c["tls"].get("decryption").is_some()))
        {
            failures.push(format!("{name}: decryption fields without key material"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked_streams >= 18,
        "only {checked_streams} tshark stream facts parsed"
    );
}

/// The HTTP Zeek and tshark read inside the decrypted TLS 1.2 traces.
#[test]
fn decrypted_http_requests_match_zeek_and_tshark() {
    let Some(root) = corpus() else { return };
    let all = facts(&root);
    for (name, requests) in [
        ("tls12-decryption.pcap", 1),
        ("tls-1.2-stream-keylog.pcap", 16),
        ("tls-1.2-stream-keylog-dsb.pcapng", 16),
    ] {
        let e = all
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} not in the facts"));
        let r = run(&root, e, true);
        let c = &conns(&r)[0];
        assert_eq!(c["requests"], requests, "{name}");
        assert_eq!(c["tls"]["inner"]["version"], "1.1", "{name}");
        assert_eq!(c["tls"]["alpn"], "http/1.1", "{name}");
        assert_eq!(r["stats"]["http"]["responses"], requests, "{name}");
        // Decrypted without a session cookie: says so, not "encrypted".
        if c["sessions"].as_array().unwrap().is_empty() {
            assert_eq!(c["no_session"], "no_session_cookie", "{name}");
        }
    }
}
