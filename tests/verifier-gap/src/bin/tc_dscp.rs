//! A tc classifier: drops IPv4 packets marked with the scavenger class
//! (DSCP CS1), lets the rest through.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    classifier,
    programs::{TcAction, TcContext},
};

iu_ebpf::license!("GPL");

const CS1: u8 = 8;

#[classifier]
fn tc_dscp(ctx: TcContext) -> TcAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x08, 0x00]) {
        return TcAction::Ok;
    }
    match ctx.read::<u8>(14 + 1) {
        Some(tos) if tos >> 2 == CS1 => TcAction::Shot,
        _ => TcAction::Ok,
    }
}
