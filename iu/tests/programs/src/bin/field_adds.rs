//! Atomic adds on fields of struct map values (issue #18): `in_place` on an
//! `Array` and an `LruHashMap`, `add` and `fetch_add` on `u64` and `u32`
//! fields named with `field!`. Each run of `field_adds` counts its packet
//! in `TOTALS` and per first byte in `PER_BYTE`, and returns the packet
//! count before its own (`fetch_add`) plus 2, so that user space can check
//! what `fetch_add` returned.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, field, map,
    maps::{Array, LruHashMap},
    programs::XdpContext,
    xdp,
};

iu_ebpf::license!("GPL");

/// Mixed field sizes: the `u32` fields sit between `u64` ones.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Totals {
    packets: u64,
    small: u32,
    large: u32,
    bytes: u64,
}

#[map]
static TOTALS: Array<Totals, 1> = Array::new();

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Counter {
    hits: u32,
    len: u32,
}

#[map]
static PER_BYTE: LruHashMap<u8, Counter, 64> = LruHashMap::new();

#[xdp]
fn field_adds(ctx: XdpContext) -> u32 {
    let len = ctx.len() as u64;
    let first = ctx.read::<u8>(0).unwrap_or(0);
    let before = TOTALS
        .in_place(0, |v| {
            v.add(field!(Totals, bytes), len);
            v.add(field!(Totals, small), 1u32);
            v.add(field!(Totals, large), 1000u32);
            v.fetch_add(field!(Totals, packets), 1)
        })
        .unwrap_or(0);
    let counter = Counter {
        hits: 1,
        len: len as u32,
    };
    let _ = PER_BYTE.add_or_insert(&first, &counter, |v| {
        v.add(field!(Counter, hits), 1);
        v.add(field!(Counter, len), len as u32);
    });
    (before as u32).wrapping_add(2)
}
