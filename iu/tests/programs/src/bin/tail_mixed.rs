//! One program array used by an XDP and a tc program: the kernel keeps a
//! program array to one program type, and iu must say which two types
//! met, at load and at `ProgramArray::set` (iu/tests/kernel.rs).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    classifier, map,
    maps::ProgramArray,
    programs::{TcAction, TcContext, XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[map]
static JUMPS: ProgramArray<4> = ProgramArray::new();

#[xdp]
fn tail_from_xdp(mut ctx: XdpContext) -> XdpAction {
    JUMPS.tail_call(&mut ctx, 0);
    XdpAction::Pass
}

#[classifier]
fn tail_from_tc(mut ctx: TcContext) -> TcAction {
    JUMPS.tail_call(&mut ctx, 0);
    TcAction::Ok
}

/// A tc program that makes no tail call, for `ProgramArray::set`.
#[classifier]
fn tc_leaf(_ctx: TcContext) -> TcAction {
    TcAction::Ok
}
