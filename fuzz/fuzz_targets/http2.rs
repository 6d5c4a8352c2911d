#![no_main]
//! `sessmap::fuzzing::http2`: see that module for the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sessmap::fuzzing::http2(data));
