//! `iu::fuzz::section_renamer` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| iu::fuzz::section_renamer(data));
