//! The HTML report in a real browser: headless Chromium loads the page
//! written by `--format html`; the DOM it builds must show one timeline lane
//! per connection, each under the session the JSON report gives it, one row
//! per session, and a screenshot must come out. Without Chromium the test
//! says so and checks nothing, except under CI (which installs it).

use crate::common::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CAPTURES: &[&str] = &[
    "testdata/http-sessions/two-browsers/capture.pcap",
    "testdata/ftp/many-transfers/capture.pcap",
];

/// How long one browser run may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Debian's `chromium`, or `chromium-browser` elsewhere, from PATH.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs headless Chromium with a fresh profile and `args`, killing it after
/// BROWSER_TIMEOUT; returns its stdout. Panics on failure or timeout.
fn chromium(browser: &Path, profile: &Path, args: &[&str]) -> Vec<u8> {
    let mut command = Command::new(browser);
    // Its own process group, so that a timeout ends its helpers too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", browser.display()));
    // Drain both pipes in threads so a chatty browser cannot block on a
    // full pipe while we wait for it.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            kill_group(&mut child);
            let _ = child.wait();
            let err = join_within(err, Duration::from_secs(5)).unwrap_or_default();
            panic!(
                "chromium {args:?} still running after {BROWSER_TIMEOUT:?}; killed. stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The browser may leave helper processes holding the pipes; do not wait
    // for them longer than the timeout allows.
    let out = join_within(out, BROWSER_TIMEOUT.saturating_sub(started.elapsed()));
    if out.is_none() {
        // Helpers still hold the pipe, so the group still exists: end it.
        kill_group(&mut child);
    }
    let out = out.unwrap_or_default();
    let err = join_within(err, Duration::from_secs(5)).unwrap_or_default();
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}). stderr:\n{}",
        String::from_utf8_lossy(&err)
    );
    out
}

/// Kills the browser and, on Unix, the rest of its process group.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

/// The thread's result, or nothing if it has not finished within `limit`
/// (a helper process may still hold the pipe).
fn join_within(handle: std::thread::JoinHandle<Vec<u8>>, limit: Duration) -> Option<Vec<u8>> {
    let started = Instant::now();
    while !handle.is_finished() {
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.join().ok()
}

/// `file://` URL of an absolute path (temp dirs and the repo need no
/// escaping beyond spaces and percent signs).
fn file_url(path: &Path) -> String {
    let text = path.to_str().expect("UTF-8 path");
    assert!(path.is_absolute(), "{text} is not absolute");
    format!("file://{}", text.replace('%', "%25").replace(' ', "%20"))
}

/// The start tags of elements whose class attribute is exactly `class`, in
/// Chromium's serialised DOM (attributes in double quotes).
fn tags_with_class<'a>(dom: &'a str, class: &str) -> Vec<&'a str> {
    let needle = format!("class=\"{class}\"");
    let mut tags = Vec::new();
    let mut from = 0;
    while let Some(at) = dom[from..].find(&needle) {
        let at = from + at;
        let start = dom[..at].rfind('<').expect("tag start");
        let end = at + dom[at..].find('>').expect("tag end");
        tags.push(&dom[start..=end]);
        from = end;
    }
    tags
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(&tag[at..at + len])
}

#[test]
fn html_report_in_headless_chromium() {
    let Some(browser) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium not installed, but CI is set (CI installs chromium with apt)");
        }
        println!("chromium not installed: HTML report not checked in a browser");
        return;
    };
    for capture in CAPTURES {
        check_capture(&browser, capture);
    }
}

fn check_capture(browser: &Path, capture: &str) {
    let pcap = repo(capture);
    let pcap = pcap.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let out = sessmap(&[
        "analyze",
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
        pcap,
    ]);
    assert!(out.status.success(), "{capture}: {}", stderr(&out));
    let page = std::fs::read_to_string(&html).expect("report.html written");

    // Self-contained: nothing to fetch (the SVG namespace is a name, not a
    // request).
    for fetch in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!page.contains(fetch), "{capture}: the page has {fetch}");
    }
    assert!(
        !page
            .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
            .contains("://"),
        "{capture}: the page names a URL"
    );

    let report = analyze_json(&[pcap]);
    let connections = conns(&report);
    let sessions = report["sessions"].as_array().expect("sessions array");
    assert!(!connections.is_empty(), "{capture}: no connections");
    assert!(!sessions.is_empty(), "{capture}: no sessions");
    // Connection id -> its first session ("" for none), as the lanes write it.
    let expected: BTreeMap<String, String> = connections
        .iter()
        .map(|c| {
            let session = c["sessions"]
                .as_array()
                .and_then(|s| s.first())
                .map_or(String::new(), |s| s["id"].as_u64().unwrap().to_string());
            (c["id"].as_u64().unwrap().to_string(), session)
        })
        .collect();

    let url = file_url(&html);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(browser, profile.path(), &["--dump-dom", &url]);
    let dom = String::from_utf8(dom).expect("UTF-8 DOM");
    assert!(
        dom.contains("id=\"timeline\""),
        "{capture}: the DOM has no timeline:\n{dom}"
    );

    let lanes = tags_with_class(&dom, "lane");
    assert_eq!(
        lanes.len(),
        connections.len(),
        "{capture}: one lane per connection"
    );
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for tag in &lanes {
        let conn =
            attr(tag, "data-connection").unwrap_or_else(|| panic!("no data-connection: {tag}"));
        let session = attr(tag, "data-session").unwrap_or_else(|| panic!("no data-session: {tag}"));
        assert!(
            seen.insert(conn.to_owned(), session.to_owned()).is_none(),
            "{capture}: connection {conn} has two lanes"
        );
    }
    assert_eq!(
        seen, expected,
        "{capture}: lane -> session differs from the JSON"
    );

    let rows = tags_with_class(&dom, "session");
    assert_eq!(rows.len(), sessions.len(), "{capture}: one row per session");
    let row_ids: Vec<&str> = rows
        .iter()
        .filter_map(|t| attr(t, "data-session"))
        .collect();
    let json_ids: Vec<String> = sessions.iter().map(|s| s["id"].to_string()).collect();
    assert_eq!(row_ids, json_ids, "{capture}: session rows");

    let shot = dir.path().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    chromium(
        browser,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
            &url,
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{capture}: no screenshot: {e}"));
    assert!(
        png.len() > PNG_SIGNATURE.len() && png.starts_with(PNG_SIGNATURE),
        "{capture}: the screenshot is not a PNG ({} bytes)",
        png.len()
    );
}
