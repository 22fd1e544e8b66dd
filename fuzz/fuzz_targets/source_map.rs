//! `iu::fuzz::source_map` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iu::fuzz::source_map(data));
