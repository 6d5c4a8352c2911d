#![no_main]
//! `sessmap::fuzzing::reassembly`: see that module for the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sessmap::fuzzing::reassembly(data));
