//! TLS 1.2 decryption on testdata/tls-keylog (see its README): the whole
//! capture, a wrong key, and a lost segment inside an encrypted record.

use crate::common::*;
use serde_json::Value;

fn run(pcap: &str, keylog: Option<&str>) -> Value {
    let pcap = repo(&format!("testdata/tls-keylog/{pcap}"));
    let mut args = vec![pcap.to_str().unwrap().to_owned()];
    if let Some(k) = keylog {
        args.push("--keylog".into());
        args.push(
            repo(&format!("testdata/tls-keylog/{k}"))
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    analyze_json(&args)
}

const KEYLOG: &str = "tls-1.2-stream-keylog.pcap.keylog";

#[test]
fn decrypts_sixteen_requests() {
    let r = run("tls-1.2-stream-keylog.pcap", Some(KEYLOG));
    let c = &conns(&r)[0];
    let t = &c["tls"];
    assert_eq!(t["decryption"], "decrypted");
    assert_eq!(t["cipher_suite"], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(t["alpn"], "http/1.1");
    assert_eq!(t["inner"]["version"], "1.1");
    assert_eq!(t["decrypted_bytes"]["client"], 9715);
    assert_eq!(t["decrypted_bytes"]["server"], 147270);
    assert_eq!(c["requests"], 16);
    assert_eq!(r["stats"]["http"]["responses"], 16);
    assert_eq!(c["no_session"], "no_session_cookie");
    let s = &r["stats"]["tls"];
    assert_eq!(
        (s["connections"].as_u64(), s["decrypted"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["keylog"]["client_randoms"], 1);
    assert_eq!(s["auth_failures"], 0);
    // Key material never reaches the output.
    let text = std::fs::read_to_string(repo(&format!("testdata/tls-keylog/{KEYLOG}"))).unwrap();
    let master = text
        .lines()
        .find(|l| l.starts_with("CLIENT_RANDOM"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap();
    for format in ["json", "table", "html", "markdown", "csv", "ndjson"] {
        let pcap = repo("testdata/tls-keylog/tls-1.2-stream-keylog.pcap");
        let keylog = repo(&format!("testdata/tls-keylog/{KEYLOG}"));
        let out = sessmap(&[
            "analyze",
            pcap.to_str().unwrap(),
            "--keylog",
            keylog.to_str().unwrap(),
            "--format",
            format,
        ]);
        let all = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            !all.contains(&master[..32].to_lowercase()),
            "{format} shows the master secret"
        );
    }
}

#[test]
fn without_key_material_nothing_changes() {
    let r = run("tls-1.2-stream-keylog.pcap", None);
    let c = &conns(&r)[0];
    assert!(c["tls"].get("decryption").is_none());
    assert!(r["stats"].get("tls").is_none());
    assert_eq!(c["no_session"], "encrypted");
    assert_eq!(c["requests"], 0);
}

#[test]
fn a_wrong_key_fails_both_sides_at_their_first_record() {
    let r = run("tls-1.2-stream-keylog.pcap", Some("wrong.keylog"));
    let c = &conns(&r)[0];
    let t = &c["tls"];
    assert_eq!(t["decryption"], "failed");
    let stopped = t["stopped"].as_array().unwrap();
    assert_eq!(stopped.len(), 2);
    for s in stopped {
        assert_eq!(
            (s["reason"].as_str(), s["records"].as_u64()),
            (Some("auth-failed"), Some(0))
        );
    }
    assert_eq!(c["requests"], 0);
    assert_eq!(c["no_session"], "encrypted");
    assert_eq!(r["stats"]["tls"]["failed"], 1);
    assert_eq!(r["stats"]["tls"]["auth_failures"], 2);
}

#[test]
fn a_lost_segment_costs_one_record_and_no_response() {
    let r = run("server-loss.pcap", Some(KEYLOG));
    let c = &conns(&r)[0];
    let t = &c["tls"];
    assert_eq!(t["decryption"], "decrypted");
    assert_eq!(r["stats"]["tls"]["resyncs"], 1);
    assert_eq!(t["decrypted_bytes"]["server"], 147270 - 16384);
    assert_eq!(r["stats"]["http"]["lost_bytes"], 16384);
    assert_eq!(c["requests"], 16);
    assert_eq!(r["stats"]["http"]["responses"], 16);
    assert_eq!(c["gaps"], 1);
}

/// A key log with broken lines still decrypts, and names them.
#[test]
fn malformed_key_log_lines_are_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.log");
    let good = std::fs::read_to_string(repo(&format!("testdata/tls-keylog/{KEYLOG}"))).unwrap();
    std::fs::write(
        &path,
        format!("CLIENT_RANDOM zz\n{good}garbage line here\n"),
    )
    .unwrap();
    let pcap = repo("testdata/tls-keylog/tls-1.2-stream-keylog.pcap");
    let r = analyze_json(&[pcap.to_str().unwrap(), "--keylog", path.to_str().unwrap()]);
    assert_eq!(conns(&r)[0]["tls"]["decryption"], "decrypted");
    assert_eq!(r["stats"]["tls"]["keylog"]["malformed"], 2);
    let warnings: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("keys.log line 1:")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("line ") && w.contains("unknown label") || w.contains("not LABEL")),
        "{warnings:?}"
    );
    // A key log that cannot be read is a usage error naming it.
    let out = sessmap(&[
        "analyze",
        pcap.to_str().unwrap(),
        "--keylog",
        "/nonexistent/k.log",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/k.log"),
        "{}",
        stderr(&out)
    );
}
