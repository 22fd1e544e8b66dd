//! Counts bytes and packets on an interface's ingress and egress with two
//! tc classifiers.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    classifier, map,
    maps::Array,
    programs::{TcAction, TcContext},
};

iu_ebpf::license!("GPL");

/// 0: ingress bytes, 1: ingress packets, 2: egress bytes, 3: egress packets.
#[map]
static COUNTERS: Array<u64, 4> = Array::new();

fn count(ctx: &TcContext, slot: u32) -> TcAction {
    COUNTERS.add(slot, u64::from(ctx.len()));
    COUNTERS.add(slot + 1, 1);
    TcAction::Ok
}

#[classifier]
fn ingress(ctx: TcContext) -> TcAction {
    count(&ctx, 0)
}

#[classifier]
fn egress(ctx: TcContext) -> TcAction {
    count(&ctx, 2)
}
