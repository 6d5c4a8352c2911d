//! `sessmap live` end to end, in network namespaces this test creates (and
//! removes): real servers on one side of a veth pair, real clients and
//! sessmap on the other. Needs root (CI runs as root); elsewhere it says so
//! and checks nothing.

use crate::common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Whether the live tests can run here; in CI they must.
fn can_run(what: &str) -> bool {
    let ok = is_root()
        && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
        && Command::new("python3")
            .args(["-c", "import pyftpdlib"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what}: CI must run as root with iproute2 and pyftpdlib"
        );
        eprintln!("{what}: needs root, iproute2 and pyftpdlib: live capture NOT checked");
    }
    ok
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Network namespaces removed when dropped (also when a test fails).
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        let _ = Command::new("kill").args(["-9", pid]).status();
                    }
                });
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// Waits for a child with a deadline; kills it when the deadline passes.
fn wait_for(mut child: Child, limit: Duration) -> std::process::Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "timed out after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sessions(r: &Value) -> Vec<(String, String, Vec<u64>)> {
    r["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_owned(),
                s["key"].as_str().unwrap().to_owned(),
                s["connections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn live_capture_of_http_and_ftp_sessions_stopped_by_sigint() {
    if !can_run("live_capture_of_http_and_ftp_sessions") {
        return;
    }
    let tag = std::process::id() % 100_000;
    let (a, b) = (format!("smla{tag}"), format!("smlb{tag}"));
    let (va, vb) = (format!("sva{tag}"), format!("svb{tag}"));
    let _guard = Namespaces(vec![a.clone(), b.clone()]);
    sh(&["ip", "netns", "add", &a]);
    sh(&["ip", "netns", "add", &b]);
    sh(&[
        "ip", "link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b,
    ]);
    for (ns, dev, addr) in [(&a, &va, "10.81.0.1/24"), (&b, &vb, "10.81.0.2/24")] {
        sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let tmp = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let http_server = in_ns(
        &b,
        &[
            "python3",
            &repo("testdata/tools/session_server.py").to_string_lossy(),
            "--bind",
            "10.81.0.2",
            "--port",
            "8080",
            "--log",
            &tmp("http.log"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let ftp_server = in_ns(
        &b,
        &[
            "python3",
            &repo("testdata/tools/ftp_server.py").to_string_lossy(),
            "--bind",
            "10.81.0.2",
            "--port",
            "21",
            "--log",
            &tmp("ftp.log"),
            "--passive-ports",
            "60000-60009",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // The same app over TLS, for a client that writes a key log.
    let https_server = in_ns(
        &b,
        &[
            "python3",
            &repo("testdata/tools/tls_session_server.py").to_string_lossy(),
            "--bind",
            "10.81.0.2",
            "--port",
            "8443",
            "--log",
            &tmp("https.log"),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // The key log exists (empty) when sessmap starts; curl appends to it
    // while sessmap runs, and sessmap reads it again when it lacks a key.
    std::fs::write(tmp("keys.log"), "").unwrap();
    // The servers listen once a connection from the client side succeeds.
    let ready = "import socket,sys,time\nfor p in (8080,21,8443):\n  for i in range(100):\n    try: socket.create_connection(('10.81.0.2',p),1).close(); break\n    except OSError: time.sleep(0.1)\n  else: sys.exit(1)";
    assert!(
        in_ns(&a, &["python3", "-c", ready])
            .status()
            .unwrap()
            .success(),
        "servers did not start"
    );
    let live = in_ns(
        &a,
        &[
            env!("CARGO_BIN_EXE_sessmap"),
            "live",
            "-i",
            &va,
            "--quiet",
            "--format",
            "json",
            "-o",
            &tmp("live.json"),
            "-w",
            &tmp("live.pcap"),
            "--keylog",
            &tmp("keys.log"),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Two users' HTTP sessions (a cookie jar each, a connection per request).
    for user in ["alice", "bob"] {
        let jar = tmp(&format!("{user}.jar"));
        for (path, data) in [
            ("/", None),
            ("/login", Some(format!("user={user}&pass=x"))),
            ("/account", None),
        ] {
            let mut c = in_ns(
                &a,
                &["curl", "-s", "-o", "/dev/null", "-c", &jar, "-b", &jar],
            );
            if let Some(d) = data {
                c.args(["-d", &d]);
            }
            assert!(c
                .arg(format!("http://10.81.0.2:8080{path}"))
                .status()
                .unwrap()
                .success());
        }
    }
    // An HTTPS session (HTTP/1.1 over TLS): carol's, a connection per
    // request, curl writing the key log.
    let jar = tmp("carol.jar");
    for (path, data) in [
        ("/", None),
        ("/login", Some("user=carol&pass=x")),
        ("/account", None),
    ] {
        let mut c = in_ns(
            &a,
            &[
                "curl",
                "-s",
                "-k",
                "-o",
                "/dev/null",
                "-c",
                &jar,
                "-b",
                &jar,
            ],
        );
        c.env("SSLKEYLOGFILE", tmp("keys.log"));
        if let Some(d) = data {
            c.args(["-d", d]);
        }
        assert!(c
            .arg(format!("https://10.81.0.2:8443{path}"))
            .status()
            .unwrap()
            .success());
    }
    // FTP: one passive and one active transfer.
    let ftp = "import ftplib,io\nf=ftplib.FTP()\nf.connect('10.81.0.2',21,10)\nf.login('alice','secret')\nf.set_pasv(True)\nf.retrbinary('RETR a.txt', io.BytesIO().write)\nf.set_pasv(False)\nf.retrbinary('RETR hello.txt', io.BytesIO().write)\nf.quit()";
    let out = in_ns(&a, &["python3", "-c", ftp]).output().unwrap();
    assert!(
        out.status.success(),
        "ftp client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(700));
    sh(&["kill", "-INT", &live.id().to_string()]);
    let out = wait_for(live, Duration::from_secs(15));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for mut server in [http_server, ftp_server, https_server] {
        let _ = server.kill();
        let _ = server.wait();
    }

    let text = std::fs::read_to_string(tmp("live.json")).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    crate::schema::assert_valid(&report, "live report");
    assert!(
        report["stats"]["live"]["interface_received"]
            .as_u64()
            .unwrap()
            > 0
    );
    let got = sessions(&report);
    let http: Vec<_> = got.iter().filter(|s| s.0 == "http").collect();
    assert_eq!(http.len(), 3, "{got:?}");
    assert!(http.iter().all(|s| s.2.len() == 3), "{got:?}");
    // carol's session came over TLS, decrypted with the growing key log.
    let tls_sessions: Vec<&Value> = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "http" && s["transport"] == "tls")
        .collect();
    assert_eq!(tls_sessions.len(), 1, "{got:?}");
    assert_eq!(tls_sessions[0]["requests"], 3);
    for id in tls_sessions[0]["connections"].as_array().unwrap() {
        let c = conns(&report).iter().find(|c| c["id"] == *id).unwrap();
        assert_eq!(c["tls"]["decryption"], "decrypted", "{c}");
        assert_eq!(c["http_version"], "1.1");
    }
    assert_eq!(report["stats"]["tls"]["decrypted"], 3);
    let ftp: Vec<&Value> = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "ftp")
        .collect();
    assert_eq!(ftp.len(), 1, "{got:?}");
    let modes: Vec<&str> = ftp[0]["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["passive", "active"]);
    // The -w file reads back with tcpdump's library and with sessmap, and
    // gives the same sessions.
    let replay = analyze_json(&[&tmp("live.pcap"), "--keylog", &tmp("keys.log")]);
    assert_eq!(sessions(&replay), got);
}

#[test]
fn duration_ends_on_an_idle_interface() {
    if !can_run("duration_ends_on_an_idle_interface") {
        return;
    }
    let ns = format!("smidle{}", std::process::id() % 100_000);
    let _guard = Namespaces(vec![ns.clone()]);
    sh(&["ip", "netns", "add", &ns]);
    sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    let start = Instant::now();
    let child = in_ns(
        &ns,
        &[
            env!("CARGO_BIN_EXE_sessmap"),
            "live",
            "-i",
            "lo",
            "--duration",
            "2s",
            "--interval",
            "500ms",
            "--format",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = wait_for(child, Duration::from_secs(10));
    let took = start.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], "sessmap.report/v1");
    assert_eq!(report["stats"]["packets"], 0);
    assert_eq!(report["connections"], serde_json::json!([]));
    crate::schema::assert_valid(&report, "idle live report");
    // Not a terminal: one plain status line per interval, even when idle.
    let status = String::from_utf8_lossy(&out.stderr);
    let lines = status
        .lines()
        .filter(|l| l.starts_with("sessmap: ") && l.contains("packets"))
        .count();
    assert!(lines >= 2, "{status}");
}

#[test]
fn live_errors_exit_2_with_the_reason() {
    let out = sessmap(&["live", "-i", "nosuchif0", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("nosuchif0") && err.contains("no such interface") && err.contains("lo"),
        "{err}"
    );
    if !can_run("live_errors_exit_2_with_the_reason (bad filter)") {
        return;
    }
    let out = sessmap(&[
        "live",
        "-i",
        "lo",
        "-f",
        "tcp port banana",
        "--duration",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("banana") && err.contains("libpcap"), "{err}");
    let out = sessmap(&["live", "-i", "lo", "--duration", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}
