//! A sleepable BPF LSM program (`lsm.s/`): counts the execs of the
//! process's children once their credentials are committed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{lsm, map, maps::Array, programs::BtfContext};

iu_ebpf::license!("GPL");

/// 0: execs seen.
#[map]
static EXECS: Array<u64, 1> = Array::new();

#[lsm(hook = "bprm_committed_creds", sleepable = "true")]
fn sleepy_exec(_ctx: BtfContext) -> i32 {
    EXECS.add(0, 1);
    0
}
