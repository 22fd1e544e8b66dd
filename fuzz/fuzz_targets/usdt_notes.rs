//! The USDT parsers on arbitrary bytes: `.note.stapsdt` contents (with
//! and without a `.stapsdt.base` address), then every argument spec they
//! hold, and the bytes as one spec.
#![no_main]

use iu::programs::usdt::{parse_args, parse_notes};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for base in [None, Some(0x2010)] {
        if let Ok(probes) = parse_notes(data, base) {
            for probe in probes {
                let _ = parse_args(&probe.args);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_args(text);
    }
});
