//! `iu::fuzz::verifier_log` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iu::fuzz::verifier_log(data));
