//! Cgroup storage (`BPF_MAP_TYPE_CGRP_STORAGE`, 6.2+): a BTF tracepoint on
//! `cgroup_mkdir` keeps, per new cgroup, how many times it saw it and the
//! cgroup's level, read through the trusted `struct cgroup *` argument.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/storage.rs"]
#[allow(dead_code)]
mod storage;

use iu_ebpf::{Pod, map, maps::CgrpStorage, programs::BtfContext, tp_btf};
use storage::Cgroup;

iu_ebpf::license!("GPL");

/// What the program keeps per cgroup.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Made {
    /// `cgroup_mkdir` events for it.
    pub mkdirs: u64,
    /// Its depth in the hierarchy (`cgroup.level`).
    pub level: u64,
    /// What user space set before (kept: the program only adds).
    pub tag: u64,
}

#[map]
static MADE: CgrpStorage<Made> = CgrpStorage::new();

// cgroup_mkdir(struct cgroup *cgrp, const char *path)
#[tp_btf(name = "cgroup_mkdir")]
fn mkdir(ctx: BtfContext) {
    let Some(cgroup) = ctx.arg_ptr::<Cgroup>(0) else {
        return;
    };
    let fresh = Made {
        mkdirs: 0,
        level: cgroup.level().unwrap_or(-1) as u64,
        tag: 0,
    };
    if MADE.get_or_insert(cgroup, &fresh).is_some() {
        MADE.add_at_offset(cgroup, 0, 1);
    }
}
