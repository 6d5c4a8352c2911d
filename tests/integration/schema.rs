//! The JSON report against its written contract,
//! schema/sessmap.report.v1.json (JSON Schema draft 2020-12): every capture
//! in testdata/ and, with SESSMAP_CORPUS, every capture of the corpus must
//! give a report that validates; reports broken on purpose must not.

use crate::common::*;
use crate::corpus::corpus;
use jsonschema::Validator;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const SCHEMA_PATH: &str = "schema/sessmap.report.v1.json";
/// Errors shown per report, and characters per error (a failed `anyOf`
/// prints the whole instance).
const SHOW_ERRORS: usize = 8;
const ERROR_CHARS: usize = 400;

fn schema() -> Value {
    let path = repo(SCHEMA_PATH);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SCHEMA_PATH}: {e}"))
}

pub fn validator() -> Validator {
    let schema = schema();
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!(
            "{SCHEMA_PATH} is not a valid JSON Schema: {e} at {}",
            e.instance_path
        );
    }
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{SCHEMA_PATH} does not compile: {e}"))
}

/// The first validation errors of `report`, one line each.
pub fn errors(v: &Validator, report: &Value) -> Vec<String> {
    v.iter_errors(report)
        .take(SHOW_ERRORS)
        .map(|e| {
            let mut msg = e.to_string();
            if msg.len() > ERROR_CHARS {
                let mut cut = ERROR_CHARS;
                while !msg.is_char_boundary(cut) {
                    cut -= 1;
                }
                msg.truncate(cut);
                msg.push('…');
            }
            format!(
                "  at {} (schema {}): {msg}",
                display_path(e.instance_path.as_str()),
                e.schema_path
            )
        })
        .collect()
}

fn display_path(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// Captures under `dir` (pcap, pcapng, gzipped pcap), sorted.
fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if [".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Analyzes each capture and validates its report; panics listing every
/// capture whose report does not validate, with its first errors.
fn check_all(v: &Validator, paths: &[PathBuf]) {
    let mut failures = Vec::new();
    for path in paths {
        let report = analyze_json(&[path.to_str().unwrap()]);
        let errs = errors(v, &report);
        if !errs.is_empty() {
            failures.push(format!("{}:\n{}", path.display(), errs.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} reports do not match {SCHEMA_PATH}:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let s = schema();
    assert_eq!(
        s["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "draft"
    );
    assert_eq!(
        s["properties"]["schema"]["const"],
        sessmap::report::SCHEMA,
        "the schema describes the version the binary writes"
    );
    validator();
}

#[test]
fn every_testdata_report_validates() {
    let v = validator();
    let paths = captures(&repo("testdata"));
    let rel: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(repo(""))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for want in [
        "testdata/http-loopback/capture.pcap",
        "testdata/http-loopback/capture.pcap.gz",
        "testdata/sll2-any/capture.pcap",
        "testdata/pcapng-nano/capture.pcapng",
        "testdata/pcapng-nano/capture-nano.pcap",
        "testdata/netns-http/capture.pcap",
        "testdata/http-sessions/two-browsers/capture.pcap",
        "testdata/ftp/epsv-eprt/capture.pcap",
        "testdata/ftp/ipv6/capture.pcap",
    ] {
        assert!(rel.iter().any(|r| r == want), "{want} not found: {rel:?}");
    }
    let sets = |dir: &str| rel.iter().filter(|r| r.starts_with(dir)).count();
    assert!(sets("testdata/http-sessions/") >= 5, "{rel:?}");
    assert!(sets("testdata/ftp/") >= 8, "{rel:?}");
    check_all(&v, &paths);
}

#[test]
fn every_corpus_report_validates() {
    let Some(root) = corpus() else { return };
    let v = validator();
    let facts: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("expected_facts.json")).unwrap())
            .unwrap();
    assert!(facts.len() > 50, "corpus looks incomplete");
    let paths: Vec<PathBuf> = facts
        .iter()
        .map(|e| root.join(e["path"].as_str().expect("path")))
        .collect();
    check_all(&v, &paths);
}

fn must_fail(v: &Validator, base: &Value, what: &str, change: impl FnOnce(&mut Value)) {
    let mut r = base.clone();
    change(&mut r);
    assert!(
        !v.is_valid(&r),
        "a report with {what} validates against {SCHEMA_PATH}"
    );
}

fn must_pass(v: &Validator, base: &Value, what: &str, change: impl FnOnce(&mut Value)) {
    let mut r = base.clone();
    change(&mut r);
    let errs = errors(v, &r);
    assert!(
        errs.is_empty(),
        "a report with {what} does not validate:\n{}",
        errs.join("\n")
    );
}

fn obj(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    v.as_object_mut().unwrap()
}

#[test]
fn broken_reports_do_not_validate() {
    let v = validator();
    let ftp = analyze_json(&[repo("testdata/ftp/epsv-eprt/capture.pcap")
        .to_str()
        .unwrap()]);
    let http = analyze_json(&[repo("testdata/http-sessions/two-browsers/capture.pcap")
        .to_str()
        .unwrap()]);
    // The originals pass, and carry what the changes below touch.
    for r in [&ftp, &http] {
        let errs = errors(&v, r);
        assert!(errs.is_empty(), "{}", errs.join("\n"));
        assert!(!conns(r).is_empty() && !r["sessions"].as_array().unwrap().is_empty());
    }
    assert!(!ftp["findings"].as_array().unwrap().is_empty());
    assert!(!ftp["sessions"][0]["transfers"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(http["sessions"][0]["kind"], "http");

    // Missing, renamed and extra fields.
    must_fail(&v, &ftp, "a connection without client", |r| {
        obj(&mut r["connections"][0]).remove("client");
    });
    must_fail(&v, &ftp, "a renamed connection field", |r| {
        let c = obj(&mut r["connections"][0]);
        let b = c.remove("bytes").unwrap();
        c.insert("payload_bytes".into(), b);
    });
    must_fail(&v, &ftp, "an unknown top-level field", |r| {
        obj(r).insert("extra".into(), json!(1));
    });
    must_fail(&v, &ftp, "an unknown session field", |r| {
        obj(&mut r["sessions"][0]).insert("cookie".into(), json!("x"));
    });
    must_fail(&v, &ftp, "an unknown stats.http counter", |r| {
        obj(&mut r["stats"]["http"]).insert("pipelined".into(), json!(0));
    });
    must_fail(&v, &ftp, "an unknown input field", |r| {
        obj(&mut r["inputs"][0]).insert("snaplen".into(), json!(65535));
    });
    must_fail(&v, &ftp, "no warnings array", |r| {
        obj(r).remove("warnings");
    });
    must_fail(&v, &ftp, "another schema version", |r| {
        r["schema"] = json!("sessmap.report/v2");
    });

    // Types and vocabularies.
    must_fail(&v, &ftp, "a numeric address", |r| {
        r["connections"][0]["client"] = json!(1);
    });
    must_fail(&v, &ftp, "an address without port", |r| {
        r["connections"][0]["client"] = json!("127.0.0.1");
    });
    must_fail(&v, &ftp, "an IPv6 address without brackets", |r| {
        r["connections"][0]["server"] = json!("fd00::1:21");
    });
    must_fail(&v, &ftp, "a time without nanoseconds", |r| {
        r["connections"][0]["start"] = json!("2024-01-01T00:00:00.123Z");
    });
    must_fail(&v, &ftp, "a time as a number", |r| {
        r["connections"][0]["end"] = json!(1_700_000_000_000_000_000u64);
    });
    must_fail(&v, &ftp, "a state outside Zeek's conn_state", |r| {
        r["connections"][0]["state"] = json!("closed");
    });
    must_fail(&v, &ftp, "an upper-case protocol", |r| {
        r["connections"][0]["protocol"] = json!("FTP");
    });
    must_fail(&v, &ftp, "roles outside handshake/port", |r| {
        r["connections"][0]["roles"] = json!("guess");
    });
    must_fail(&v, &http, "a no_session in CamelCase", |r| {
        let c = conns(r)
            .iter()
            .position(|c| c["sessions"] == json!([]))
            .unwrap_or(0);
        r["connections"][c]["sessions"] = json!([]);
        r["connections"][c]["no_session"] = json!("NoPayload");
    });
    must_fail(
        &v,
        &ftp,
        "a no_session on a connection with a session",
        |r| {
            r["connections"][0]["no_session"] = json!("not_http");
        },
    );
    must_fail(&v, &ftp, "a negative count", |r| {
        r["stats"]["packets"] = json!(-1);
    });
    must_fail(&v, &ftp, "an unknown skip reason", |r| {
        r["stats"]["skipped"] = json!({"nonip": 3});
    });
    must_fail(&v, &ftp, "an unknown rule", |r| {
        r["findings"][0]["rule"] = json!("weak-password");
    });
    must_fail(&v, &ftp, "a severity other than the rule's", |r| {
        r["findings"][0]["severity"] = json!("info");
    });
    must_fail(&v, &ftp, "a finding message as bytes", |r| {
        r["findings"][0]["message"] = json!({"bytes": "/w=="});
    });
    must_fail(&v, &ftp, "an unknown session kind", |r| {
        r["sessions"][0]["kind"] = json!("smtp");
    });
    must_fail(&v, &ftp, "an FTP session without control", |r| {
        obj(&mut r["sessions"][0]).remove("control");
    });
    must_fail(&v, &http, "an HTTP session with FTP transfers", |r| {
        r["sessions"][0]["transfers"] = json!([]);
    });
    must_fail(
        &v,
        &ftp,
        "a transfer mode that contradicts its setup",
        |r| {
            r["sessions"][0]["transfers"][0]["mode"] = json!("active");
            r["sessions"][0]["transfers"][0]["setup"] = json!("PASV");
        },
    );
    must_fail(&v, &ftp, "a user as bytes that are not base64", |r| {
        r["sessions"][0]["user"] = json!({"bytes": "not base64!"});
    });
    must_fail(&v, &ftp, "a bytes object with another field", |r| {
        r["sessions"][0]["user"] = json!({"bytes": "/w==", "text": "x"});
    });

    // What the contract allows.
    must_pass(&v, &ftp, "an IPv6 connection", |r| {
        r["connections"][0]["client"] = json!("[fd00::5]:50512");
        r["connections"][0]["server"] = json!("[2001:db8::1]:21");
        r["hosts"][0]["address"] = json!("::ffff:10.0.0.5");
    });
    must_pass(&v, &ftp, "raw bytes in user and argument", |r| {
        r["sessions"][0]["user"] = json!({"bytes": "YWxpY2X/"});
        r["sessions"][0]["transfers"][0]["argument"] = json!({"bytes": "/w=="});
    });
    must_pass(&v, &ftp, "no user and no transfer command", |r| {
        r["sessions"][0]["user"] = Value::Null;
        let t = &mut r["sessions"][0]["transfers"][0];
        t["command"] = Value::Null;
        t["argument"] = Value::Null;
        t["direction"] = Value::Null;
        t["reply"] = Value::Null;
    });
    must_pass(&v, &http, "raw bytes in server, key and aliases", |r| {
        r["sessions"][0]["server"] = json!({"bytes": "c2hvcP8="});
        r["sessions"][0]["key"] = json!({"bytes": "U0lEPf8="});
        r["sessions"][0]["aliases"] = json!(["SID=fp:1", {"bytes": "/w=="}]);
    });
    must_pass(&v, &ftp, "VLAN tags and limits", |r| {
        r["connections"][0]["vlan"] = json!([100, 4095]);
        r["stats"]["limits"] = json!({"reassembly_buffer": 2});
        r["stats"]["skipped"] = json!({"non_ip": 4, "fragment_held": 1});
        r["inputs"][0]["warning"] = json!("cut short");
    });
}

/// Asserts that one report validates (for other tests' reports).
pub fn assert_valid(report: &Value, what: &str) {
    let errs = errors(&validator(), report);
    assert!(
        errs.is_empty(),
        "{what} does not validate:\n{}",
        errs.join("\n")
    );
}
