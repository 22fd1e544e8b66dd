//! {{name}}: counts calls of `getppid()` (a {{kind}} on {{hook}}), by every
//! process or only by the one the user side puts in `TARGET`.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host (`../{{name}}/tests/host.rs`, run by `cargo test`);
//! `src/main.rs` turns them into the BPF object.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, map, maps::Array, {{imports}}};
use {{crate}}_common::EVENTS;

iu_ebpf::license!("GPL");

/// Slot `EVENTS`: the calls counted.
#[map]
pub static COUNTS: Array<u64, 2> = Array::new();

/// The process to count (0: every process), set by the user side.
#[map]
pub static TARGET: Array<u64, 1> = Array::new();

{{attribute}}
pub fn {{crate}}(_ctx: {{context}}) -> u32 {
    let target = TARGET.get(0).unwrap_or(0);
    if target == 0 || target == u64::from(helpers::pid()) {
        COUNTS.add(EVENTS, 1);
    }
    0
}
