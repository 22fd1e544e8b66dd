// `get` on a `SpinLocked` value would copy the lock word, which the
// verifier refuses ("bpf_spin_lock cannot be accessed directly").
// expect: holds a `bpf_spin_lock`
// expect: use `lock()` on the map
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::{
    map,
    maps::{HashMap, SpinLocked},
    programs::{XdpAction, XdpContext},
};

#[map]
static STATS: HashMap<u32, SpinLocked<u64>, 16> = HashMap::new();

#[iu_ebpf::xdp]
fn peek(_ctx: XdpContext) -> XdpAction {
    match STATS.get(&0) {
        Some(_) => XdpAction::Drop,
        None => XdpAction::Pass,
    }
}
