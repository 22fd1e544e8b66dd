//! {{name}}: counts the packets (and their bytes) an interface sees with a
//! {{kind}} program, and drops those too short for an Ethernet header.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host (`../{{name}}/tests/host.rs`, run by `cargo test`);
//! `src/main.rs` turns them into the BPF object.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::{map, maps::Array, {{imports}}};
use {{crate}}_common::{BYTES, EVENTS};

iu_ebpf::license!("GPL");

/// Length of an Ethernet header.
pub const ETH_HLEN: u64 = 14;

/// Slot `EVENTS`: packets seen; slot `BYTES`: their bytes.
#[map]
pub static COUNTS: Array<u64, 2> = Array::new();

{{attribute}}
pub fn {{crate}}(ctx: {{context}}) -> {{action}} {
    let len = {{len}};
    COUNTS.add(EVENTS, 1);
    COUNTS.add(BYTES, len);
    if len < ETH_HLEN {
        return {{action}}::{{drop}};
    }
    {{action}}::{{pass}}
}
