//! `iu::fuzz::placeholder_patcher` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iu::fuzz::placeholder_patcher(data));
