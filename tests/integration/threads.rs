//! `--threads N` gives the report of one thread, byte for byte: every
//! capture in testdata/ and in the corpus, read with 1 thread, with 4, and
//! with 3 and 2 workers fed tiny batches (so that batches end at every kind
//! of place: mid-handshake, mid-sweep, between a connection's close and its
//! successor's open). With a key log the analysis stays on one thread (see
//! `Analyzer`), so those runs check only that `--threads` is harmless there.

use crate::common::*;
use crate::corpus::corpus;
use sessmap::analyze::{analyze_files, Options};
use sessmap::report::{render, Format, RenderOptions};
use std::path::{Path, PathBuf};

fn is_capture(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            captures(&p, out);
        } else if is_capture(&p) {
            out.push(p);
        }
    }
}

/// The key log a capture comes with: `CAPTURE.keylog`, or `keylog.txt`
/// beside it (testdata/https).
fn keylog_of(capture: &Path) -> Option<PathBuf> {
    let beside = PathBuf::from(format!("{}.keylog", capture.display()));
    let dir_log = capture.with_file_name("keylog.txt");
    [beside, dir_log].into_iter().find(|p| p.is_file())
}

/// The JSON report, or the error's text (an unreadable capture must fail
/// the same way with any thread count).
fn json(paths: &[PathBuf], keylog: Option<&Path>, threads: usize, batch: usize) -> String {
    let options = Options {
        threads,
        batch_segments: batch,
        keylogs: keylog.into_iter().map(Path::to_path_buf).collect(),
        ..Options::default()
    };
    match analyze_files(paths, &options, &mut |_| {}) {
        Ok(report) => {
            let mut out = Vec::new();
            render(&report, Format::Json, &RenderOptions::default(), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        }
        Err(e) => format!("error: {e}"),
    }
}

fn same_for_every_thread_count(paths: &[PathBuf], keylog: Option<&Path>) -> bool {
    let one = json(paths, keylog, 1, 0);
    for (threads, batch) in [(4, 0), (3, 5), (2, 1)] {
        let many = json(paths, keylog, threads, batch);
        if many != one {
            let at = one
                .bytes()
                .zip(many.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(one.len().min(many.len()));
            let from = at.saturating_sub(200);
            eprintln!(
                "{paths:?} (keylog {keylog:?}): --threads {threads} (batches of {batch}) differs from one thread at byte {at}:\n  one:  {}\n  many: {}",
                &one[from..(at + 200).min(one.len())],
                &many[from..(at + 200).min(many.len())]
            );
            return false;
        }
    }
    // A report that is an error everywhere proves nothing about threads.
    !one.starts_with("error:")
}

fn check_tree(root: &Path) -> usize {
    let mut all = Vec::new();
    captures(root, &mut all);
    assert!(!all.is_empty(), "{}: no captures", root.display());
    let mut failed = Vec::new();
    let mut compared = 0;
    for capture in &all {
        let paths = vec![capture.clone()];
        let mut runs = vec![None];
        if let Some(k) = keylog_of(capture) {
            runs.push(Some(k));
        }
        for keylog in runs {
            let one = json(&paths, keylog.as_deref(), 1, 0);
            if one.starts_with("error:") {
                // Not a capture sessmap reads (the corpus holds a few on
                // purpose): the same error with threads is all to check.
                assert_eq!(
                    json(&paths, keylog.as_deref(), 4, 0),
                    one,
                    "{}",
                    capture.display()
                );
                continue;
            }
            compared += 1;
            if !same_for_every_thread_count(&paths, keylog.as_deref()) {
                failed.push(capture.display().to_string());
            }
        }
    }
    assert!(
        failed.is_empty(),
        "reports differ with threads: {failed:#?}"
    );
    compared
}

#[test]
fn testdata_reports_do_not_depend_on_threads() {
    let n = check_tree(&repo("testdata"));
    assert!(n >= 60, "only {n} testdata captures compared");
}

#[test]
fn corpus_reports_do_not_depend_on_threads() {
    let Some(root) = corpus() else { return };
    let n = check_tree(&root);
    assert!(n >= 100, "only {n} corpus captures compared");
}

/// Several inputs merged by time, through the command line's `--threads`.
#[test]
fn merged_inputs_through_the_command_line() {
    let a = repo("testdata/http-sessions/two-browsers/capture.pcap");
    let b = repo("testdata/ftp/passive-active/capture.pcap");
    for p in [&a, &b] {
        assert!(p.is_file(), "{}", p.display());
    }
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let run = |threads: &str| {
        let out = sessmap(&["analyze", "--format", "json", "--threads", threads, a, b]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out.stdout
    };
    let one = run("1");
    let report: serde_json::Value = serde_json::from_slice(&one).unwrap();
    assert!(report["sessions"].as_array().unwrap().len() >= 2);
    assert_eq!(run("4"), one);
    let zero = sessmap(&["analyze", "--threads", "0", a]);
    assert_eq!(zero.status.code(), Some(2), "--threads 0 is a usage error");
}
