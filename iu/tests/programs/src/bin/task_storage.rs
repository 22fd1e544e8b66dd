//! Task storage: a value per task, counted on each exec of that task.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{Pod, map, maps::TaskStorage, programs::RawTracePointContext, raw_tracepoint};

iu_ebpf::license!("GPL");

/// The execs of each task.
#[map]
static EXECS: TaskStorage<u64> = TaskStorage::new();

/// A struct value, created with a marker and updated as a whole.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Last {
    count: u64,
    marker: u64,
}

#[map]
static LAST: TaskStorage<Last> = TaskStorage::new();

#[raw_tracepoint(name = "sched_process_exec")]
fn on_exec(_ctx: RawTracePointContext) -> u32 {
    let _ = EXECS.add(1);
    if let Some(last) = LAST.get_or_insert(&Last {
        count: 0,
        marker: 7,
    }) {
        let _ = LAST.set(&Last {
            count: last.count + 1,
            marker: last.marker,
        });
    }
    0
}
