//! Panics in BTF-attached programs (fentry, fexit, LSM), which the
//! development hosts refuse to load: the VM tier runs them. Each indexes a
//! table of four with `CONFIG[1]` (4 and above panic) for the thread in
//! `CONFIG[0]`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{fentry, fexit, helpers, lsm, map, maps::Array, programs::BtfContext};

iu_ebpf::license!("GPL");

#[map]
static CONFIG: Array<u32, 2> = Array::new();

/// 0: fentry, 1: fexit runs that did not panic; 2: LSM denials.
#[map]
static RAN: Array<u64, 3> = Array::new();

/// Whether to deny, by `CONFIG[1]`.
/// `EPERM`.
const EPERM: i32 = 1;

const TABLE: [bool; 4] = [false, false, true, false];

fn chosen() -> usize {
    CONFIG.get(1).unwrap_or(0) as usize
}

/// `bpf_fentry_test1`, which a tracing program's test run calls.
#[fentry(function = "bpf_fentry_test1")]
fn fentry_index(_ctx: BtfContext) -> u32 {
    let deny = TABLE[chosen()];
    RAN.add(0, 1);
    u32::from(deny) & 0
}

#[fexit(function = "bpf_fentry_test1")]
fn fexit_index(_ctx: BtfContext) -> u32 {
    let deny = TABLE[chosen()];
    RAN.add(1, 1);
    u32::from(deny) & 0
}

/// Opens by the thread in `CONFIG[0]`: `TABLE[CONFIG[1]]` (2 denies);
/// on a panic, deny.
#[lsm(hook = "file_open", on_panic = "deny")]
fn lsm_index(_ctx: BtfContext) -> i32 {
    // Only the test's own thread: the other tests of its binary run in
    // parallel threads of the same process and open files too.
    if CONFIG.get(0) != Some(helpers::tid()) {
        return 0;
    }
    // Separate returns: `if deny { -EPERM } else { 0 }` becomes
    // `-(deny as i32)`, whose range the verifier loses (LSM return values
    // must be in [-4095, 0]).
    if TABLE[chosen()] {
        RAN.add(2, 1);
        return -EPERM;
    }
    0
}
