//! Maps of maps: a config array swapped by user space, and per-tenant
//! hash maps, read and written through the inner maps.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{Array, ArrayOfMaps, BPF_ANY, HashMap, HashOfMaps},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// Slot 0: the current config. Its slot 0 is the verdict (1: drop), its
/// slot 1 counts the packets seen under that config.
#[map]
static CONFIGS: ArrayOfMaps<Array<u64, 2>, 1> = ArrayOfMaps::new();

/// Per-tenant limits by port.
#[map]
static TENANTS: HashOfMaps<u32, HashMap<u32, u64, 8>, 4> = HashOfMaps::new();

/// Slot 0: tenant 7's limit for port 80, as last read.
#[map]
static SEEN: Array<u64, 1> = Array::new();

#[xdp]
fn config_swap(_ctx: XdpContext) -> XdpAction {
    let Some(config) = CONFIGS.get(&0) else {
        return XdpAction::Aborted;
    };
    config.add(1, 1);
    if let Some(tenant) = TENANTS.get(&7) {
        let limit = tenant.get(&80).unwrap_or(0);
        let _ = SEEN.set(0, &limit);
        let _ = tenant.insert(&81, &(limit + 1), BPF_ANY);
    }
    if config.get(0) == Some(1) {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
