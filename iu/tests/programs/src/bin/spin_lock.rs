//! Updates a pair of counters under a `bpf_spin_lock`, from an XDP program
//! (tracing programs cannot take spin locks), so that the test can run it
//! many times in parallel and check that `b == 2 * a` always holds.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{HashMap, SpinLocked},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Default, Pod)]
#[repr(C)]
struct Pair {
    a: u64,
    b: u64,
}

#[map]
static LOCKED: HashMap<u32, SpinLocked<Pair>, 4> = HashMap::new();

#[xdp]
fn spin_lock(_ctx: XdpContext) -> XdpAction {
    match LOCKED.lock(&0) {
        Some(mut pair) => {
            pair.a += 1;
            pair.b += 2;
            XdpAction::Pass
        }
        None => XdpAction::Aborted,
    }
}
