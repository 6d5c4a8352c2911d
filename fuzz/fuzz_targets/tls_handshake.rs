#![no_main]
//! `sessmap::fuzzing::tls_handshake`: see that module for the invariants checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sessmap::fuzzing::tls_handshake(data));
