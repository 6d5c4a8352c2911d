#![no_main]
//! `sessmap::fuzzing::http1`: see that module for the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sessmap::fuzzing::http1(data));
