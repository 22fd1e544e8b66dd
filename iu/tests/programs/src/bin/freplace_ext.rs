//! Replaces `freplace_target`'s `verdict`: drops packets of more than 100
//! bytes and counts the calls (`iu/tests/freplace.rs`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{freplace, map, maps::Array};

iu_ebpf::license!("GPL");

#[map]
static CALLS: Array<u64, 1> = Array::new();

#[freplace(function = "verdict")]
fn drop_large(len: u32) -> u32 {
    let _ = CALLS.add(0, 1);
    if len > 100 { 1 } else { 2 }
}
