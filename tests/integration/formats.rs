//! Every output format on fixed captures: snapshots (insta), JUnit parsed
//! back as XML, ndjson loaded into SQLite, the CI gates' exit codes, and no
//! secret in any format without --show-secrets.

use crate::common::*;
use serde_json::Value;
use std::process::Command;

const FORMATS: &[&str] = &[
    "table", "json", "ndjson", "csv", "markdown", "junit", "html",
];

fn capture(rel: &str) -> String {
    repo(rel).to_string_lossy().into_owned()
}

fn output(args: &[&str]) -> String {
    let out = sessmap(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn snapshots_of_every_format() {
    for (name, path) in [
        ("http", "testdata/http-sessions/two-browsers/capture.pcap"),
        ("ftp", "testdata/ftp/passive-active/capture.pcap"),
    ] {
        for format in FORMATS {
            let text = output(&[
                "analyze", "--format", format, "--view", "all",
                // Relative (tests run in the package root): the report names
                // its inputs, and a snapshot must not depend on the clone.
                path,
            ]);
            insta::assert_snapshot!(format!("{name}-{format}"), text);
        }
    }
}

#[test]
fn junit_parses_with_one_suite_per_rule() {
    let xml = output(&[
        "analyze",
        "--format",
        "junit",
        &capture("testdata/ftp/passive-active/capture.pcap"),
    ]);
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), sessmap::report::rules::RULES.len());
    let report = analyze_json(&[&capture("testdata/ftp/passive-active/capture.pcap")]);
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    let failures: usize = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures, findings.len());
    assert_eq!(
        root.attribute("failures"),
        Some(findings.len().to_string().as_str())
    );
    for suite in suites {
        let cases = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        assert_eq!(suite.attribute("tests"), Some(cases.to_string().as_str()));
        let rule = suite.attribute("name").unwrap();
        let want = findings.iter().filter(|f| f["rule"] == rule).count();
        assert_eq!(
            suite.attribute("failures"),
            Some(want.to_string().as_str()),
            "{rule}"
        );
    }
}

/// Large captures can be analysed in parts and merged in a query engine:
/// ndjson loads into SQLite (Python's sqlite3 module and its JSON
/// functions), and SQL reproduces sessmap's per-session connection counts.
#[test]
fn ndjson_loads_into_sqlite_and_sql_reproduces_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let nd = dir.path().join("report.ndjson");
    let path = capture("testdata/http-sessions/keepalive-parallel/capture.pcap");
    let out = sessmap(&[
        "analyze",
        "--format",
        "ndjson",
        "-o",
        nd.to_str().unwrap(),
        &path,
    ]);
    assert!(out.status.success());
    let script = r#"
import json, sqlite3, sys
db = sqlite3.connect(":memory:")
db.execute("create table r (type text, doc text)")
with open(sys.argv[1]) as f:
    for line in f:
        db.execute("insert into r values (?, ?)", (json.loads(line)["type"], line))
rows = db.execute("""
    select json_extract(s.value, '$.id') as session, count(*) as connections
    from r, json_each(json_extract(r.doc, '$.sessions')) as s
    where r.type = 'connection'
    group by session order by session
""").fetchall()
print(json.dumps(rows))
"#;
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&nd)
        .output()
        .expect("python3");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let rows: Vec<(u64, u64)> = serde_json::from_slice(&py.stdout).unwrap();
    let report = analyze_json(&[&path]);
    let want: Vec<(u64, u64)> = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_u64().unwrap(),
                s["connections"].as_array().unwrap().len() as u64,
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(rows, want);
    // Every line is one JSON object with a type.
    let text = std::fs::read_to_string(&nd).unwrap();
    let types: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["connection", "finding", "host", "input", "session", "stats"]
    );
}

#[test]
fn csv_has_one_row_per_connection_session_pair() {
    let path = capture("testdata/http-sessions/two-sessions-one-connection/capture.pcap");
    let text = output(&["analyze", "--format", "csv", &path]);
    let report = analyze_json(&[&path]);
    let pairs: usize = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sessions"].as_array().unwrap().len().max(1))
        .sum();
    assert_eq!(text.lines().count(), 1 + pairs);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with("connection,client,server,"));
}

#[test]
fn fail_on_and_assertions_set_the_exit_code() {
    let path = capture("testdata/http-sessions/two-browsers/capture.pcap");
    // The sessions' cookies are set without Secure: warnings, no error.
    let run = |extra: &[&str]| {
        let mut args = vec!["analyze", "--format", "json", "-o", "/dev/null"];
        args.extend_from_slice(extra);
        args.push(&path);
        sessmap(&args)
    };
    assert_eq!(run(&["--fail-on", "error"]).status.code(), Some(0));
    let out = run(&["--fail-on", "warning"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--fail-on") && stderr(&out).contains("session-cookie-insecure"),
        "{}",
        stderr(&out)
    );
    assert_eq!(run(&["--expect-sessions", "2"]).status.code(), Some(0));
    let out = run(&["--expect-sessions", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected 3 sessions, found 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(run(&["--max-unassigned", "1"]).status.code(), Some(0));
    let out = run(&["--max-unassigned", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("1 connection with payload belongs to no session"),
        "{}",
        stderr(&out)
    );
    // Input errors are 2, whatever the gates.
    let out = sessmap(&["analyze", "--fail-on", "error", "/nonexistent.pcap"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_capture_with_no_packets_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pcap");
    write_pcap(&path, sessmap::capture::LinkType::ETHERNET, &[]);
    let out = sessmap(&["analyze", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("empty.pcap") && stderr(&out).contains("no packets"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_secret_in_any_format_without_show_secrets() {
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let facts: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("testdata/http-sessions/two-browsers/facts.json")).unwrap(),
    )
    .unwrap();
    let cookies: Vec<String> = facts["sessions"]
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
    cases.push((
        capture("testdata/http-sessions/two-browsers/capture.pcap"),
        cookies,
    ));
    cases.push((
        capture("testdata/ftp/passive-active/capture.pcap"),
        vec!["secret".to_owned()],
    ));
    for (path, secrets) in &cases {
        for format in FORMATS {
            let text = output(&["analyze", "--format", format, "--view", "all", path]);
            for s in secrets {
                assert!(!text.contains(s.as_str()), "{format} of {path} shows {s}");
            }
        }
        let shown = output(&["analyze", "--format", "json", "--show-secrets", path]);
        assert!(
            secrets.iter().all(|s| shown.contains(s.as_str())),
            "{path}: --show-secrets"
        );
    }
}

#[test]
fn completions_and_man_page() {
    let bash = output(&["completions", "bash"]);
    assert!(bash.contains("sessmap") && bash.contains("--fail-on"));
    let man = output(&["man"]);
    assert!(
        man.contains(".TH sessmap") || man.contains(".TH \"sessmap\""),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(
        man.contains(r"\fBsessmap\-analyze\fR(1)"),
        "SEE ALSO names the subcommand pages"
    );
    // Each subcommand has its page, with its options, exit status and
    // examples.
    let analyze = output(&["man", "analyze"]);
    for needle in [
        "sessmap\\-analyze",
        ".SH OPTIONS",
        r"\-\-fingerprint\-key",
        r"\-\-idle\-timeout",
        ".SH \"EXIT STATUS\"",
        ".SH EXAMPLES",
    ] {
        assert!(analyze.contains(needle), "analyze page lacks {needle:?}");
    }
    assert!(output(&["man", "live"]).contains(r"\-\-duration"));
    let dir = tempfile::tempdir().unwrap();
    output(&["man", "--dir", dir.path().to_str().unwrap()]);
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "sessmap-analyze.1",
            "sessmap-completions.1",
            "sessmap-extract.1",
            "sessmap-interfaces.1",
            "sessmap-live.1",
            "sessmap-man.1",
            "sessmap.1"
        ]
    );
    let out = sessmap(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the pages: analyze, live"));
}

#[test]
fn findings_aggregate_per_rule_and_server_and_limit_cuts_rows() {
    let path = capture("testdata/ftp/two-sessions/capture.pcap");
    let json: Value =
        serde_json::from_str(&output(&["analyze", "--format", "json", &path])).unwrap();
    // Two cleartext-credentials findings, one per session, on one server.
    assert_eq!(json["findings"].as_array().unwrap().len(), 2);
    let table = output(&["analyze", "--view", "findings", &path]);
    assert!(table.contains("\nFindings\n") && !table.contains("\nSessions\n"));
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("cleartext-credentials"))
        .collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(
        rows[0].contains("  2   1, 2  ") && rows[0].contains("(and 1 alike)"),
        "{table}"
    );
    // --limit: the first N rows of each table, and a count of the rest.
    let limited = output(&["analyze", "--limit", "3", &path]);
    assert!(limited.contains(" … 7 more rows (--limit)"), "{limited}");
    assert!(
        limited.contains("conn 3") && !limited.contains("conn 9"),
        "{limited}"
    );
}

#[test]
fn views_pick_the_tables() {
    let path = capture("testdata/http-sessions/two-browsers/capture.pcap");
    let default = output(&["analyze", &path]);
    assert!(
        default.contains("\nSessions\n")
            && default.contains("\nHosts\n")
            && !default.contains("\nConnections\n")
    );
    let conns = output(&["analyze", "--view", "connections", &path]);
    assert!(conns.contains("\nConnections\n") && !conns.contains("\nSessions\n"));
    // Not a terminal: no colour codes.
    assert!(!default.contains('\u{1b}'));
}

#[test]
fn a_closed_pipe_exits_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    // Enough connections that the report outgrows a pipe's buffer.
    let mut frames = Vec::new();
    for i in 0..600u16 {
        let mut t = Talk::new(
            &format!("10.4.{}.{}:40000", i / 250, i % 250 + 1),
            "10.4.9.9:80",
            1,
            1,
        );
        t.ts_ns += u64::from(i) * 1_000_000;
        t.handshake();
        t.close();
        frames.extend(t.frames);
    }
    frames.sort_by_key(|(ts, _)| *ts);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    write_pcap(&path, sessmap::capture::LinkType::ETHERNET, &frames);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessmap"))
        .args(["analyze", "--format", "json", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The reader goes away, like `| head -c 16`.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_rows_show_version_handshake_and_server_name() {
    let path = capture("testdata/tls-resumption/capture.pcap");
    let table = output(&["analyze", "--view", "connections", &path]);
    for needle in [
        "tls 1.2 full",
        "tls 1.2 session-id",
        "tls 1.2 ticket",
        "tls 1.3 psk",
        "1 (1), sni sid.test",
        "- encrypted, sni tls13.test",
    ] {
        assert!(table.contains(needle), "{needle:?} not in\n{table}");
    }
}

#[test]
fn table_times_are_utc_with_the_date_once_or_local_with_local() {
    let path = capture("testdata/http-sessions/two-browsers/capture.pcap");
    let utc = output(&["analyze", "--view", "all", &path]);
    let first = utc.lines().next().unwrap();
    assert!(
        first.ends_with("; 2026-11-28 10:09:24 to 10:09:26 UTC"),
        "{first}"
    );
    assert!(utc.contains(" 10:09:24.614 "));
    let out = Command::new(env!("CARGO_BIN_EXE_sessmap"))
        .args(["analyze", "--local", "--view", "all", &path])
        .env("TZ", "JST-9") // POSIX form: no time zone database needed
        .output()
        .unwrap();
    let local = String::from_utf8(out.stdout).unwrap();
    let first = local.lines().next().unwrap();
    assert!(
        first.ends_with("; 2026-11-28 19:09:24 to 19:09:26 +09:00"),
        "{first}"
    );
    assert!(local.contains(" 19:09:24.614 ") && !local.contains(" 10:09:24.614 "));
    // JSON stays UTC.
    let json = output(&["analyze", "--format", "json", "--local", &path]);
    assert!(json.contains("\"start\": \"2026-11-28T10:09:24.614"));
}

#[test]
fn html_sessions_have_duration_and_notes_and_tls_lanes_their_handshake() {
    let path = capture("testdata/tls-resumption/capture.pcap");
    let html = output(&["analyze", "--format", "html", &path]);
    for needle in [
        "<th>start</th><th>duration</th><th>notes</th>",
        ">11:15:08.508</td><td>0.489 s</td><td>full handshake on connection 1</td>",
        "protocol tls (TLS 1.2, session-id, SNI sid.test)",
        "protocol tls (TLS 1.3, psk, SNI tls13.test)",
    ] {
        assert!(html.contains(needle), "{needle:?} not in the HTML report");
    }
}
