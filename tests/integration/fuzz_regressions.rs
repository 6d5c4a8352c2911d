//! Replays, on stable, every input the fuzz targets keep: the crashes found
//! (`fuzz/regressions/<target>/`, one file each, kept for ever) and the
//! committed seed corpus (`fuzz/corpus/<target>/`). Each input runs through
//! the same `sessmap::fuzzing` entry point as under libFuzzer, which panics
//! when one of its invariants breaks.

use crate::common::repo;
use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Replays one folder per target; returns how many inputs ran.
fn replay(folder: &str) -> usize {
    let mut ran = 0;
    for (target, _) in sessmap::fuzzing::TARGETS {
        for path in inputs(&repo(&format!("fuzz/{folder}/{target}"))) {
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| sessmap::fuzzing::run(target, &data));
            assert!(
                matches!(result, Ok(true)),
                "{target}: {} breaks an invariant",
                path.display()
            );
            ran += 1;
        }
    }
    ran
}

#[test]
fn every_crash_the_fuzzers_found_stays_fixed() {
    let ran = replay("regressions");
    eprintln!("replayed {ran} fuzz regressions");
    // Folders for targets with no finding may be missing; a folder that is
    // there names a target that exists.
    for entry in std::fs::read_dir(repo("fuzz/regressions"))
        .unwrap()
        .flatten()
    {
        if entry.path().is_dir() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            assert!(
                sessmap::fuzzing::TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/regressions/{name} is not a target"
            );
        }
    }
}

#[test]
fn the_committed_seed_corpus_passes_every_invariant() {
    let ran = replay("corpus");
    // Every target has seeds.
    for (target, _) in sessmap::fuzzing::TARGETS {
        assert!(
            !inputs(&repo(&format!("fuzz/corpus/{target}"))).is_empty(),
            "fuzz/corpus/{target} is empty"
        );
    }
    assert!(ran >= sessmap::fuzzing::TARGETS.len());
}
