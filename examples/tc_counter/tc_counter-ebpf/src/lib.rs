//! Counts bytes and packets on an interface's ingress and egress with two
//! tc classifiers.
//!
//! The programs and the map live in this library so that they can be tested
//! on the host (`cargo test`, and the differential test of the user-side
//! crate); `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    classifier, map,
    maps::Array,
    programs::{TcAction, TcContext},
};

iu_ebpf::license!("GPL");

/// 0: ingress bytes, 1: ingress packets, 2: egress bytes, 3: egress packets.
#[map]
pub static COUNTERS: Array<u64, 4> = Array::new();

fn count(ctx: &TcContext, slot: u32) -> TcAction {
    COUNTERS.add(slot, u64::from(ctx.len()));
    COUNTERS.add(slot + 1, 1);
    TcAction::Ok
}

#[classifier]
pub fn ingress(ctx: TcContext) -> TcAction {
    count(&ctx, 0)
}

#[classifier]
pub fn egress(ctx: TcContext) -> TcAction {
    count(&ctx, 2)
}

#[cfg(test)]
mod tests {
    use iu_ebpf::{
        programs::{TcAction, TcContext},
        sim,
    };

    use super::{COUNTERS, egress, ingress};

    #[test]
    fn counts_each_direction_apart() {
        let _sim = sim::session();
        assert_eq!(ingress(TcContext::from_packet(&[0u8; 98])), TcAction::Ok);
        assert_eq!(ingress(TcContext::from_packet(&[0u8; 60])), TcAction::Ok);
        assert_eq!(egress(TcContext::from_packet(&[0u8; 1514])), TcAction::Ok);
        let counters: [u64; 4] = core::array::from_fn(|i| COUNTERS.get(i as u32).unwrap_or(0));
        assert_eq!(counters, [158, 2, 1514, 1]);
    }
}
