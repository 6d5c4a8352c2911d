#![no_main]
//! `sessmap::fuzzing::ftp`: see that module for the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sessmap::fuzzing::ftp(data));
