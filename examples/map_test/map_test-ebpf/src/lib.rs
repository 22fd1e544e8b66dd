//! Exercises every map type from the kernel side. User space
//! (`map_test/`, and iu's tests in `iu/tests/maps.rs`) writes the target
//! thread into `CONFIG`, fills inputs, calls `dup(fd)` and checks what the
//! program wrote.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map,
    maps::{
        Array, BPF_ANY, BloomFilter, HashMap, LpmKey, LpmTrie, LruHashMap, PerCpuArray,
        PerCpuHashMap, PerfEventArray, ProgramArray, Queue, RingBuf, Stack, StackTrace,
    },
    programs::TracePointContext,
    tracepoint,
    tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

use map_test_common::{Event, out};

iu_ebpf::global!(
    /// Set by user space before loading.
    static MULTIPLIER: u64 = 2
);

/// Slot 0: the thread to react to (written by user space), so that tests
/// running in parallel threads do not see each other's calls.
#[map]
pub static CONFIG: Array<u32, 1> = Array::new();
#[map]
pub static OUTPUT: Array<u64, 8> = Array::new();
#[map]
pub static COUNTS: HashMap<u32, u64, 64> = HashMap::new();
#[map]
pub static INPUT: HashMap<u32, u64, 16> = HashMap::new();
#[map]
pub static TOTALS: Array<u64, 2> = Array::new();
#[map]
pub static PER_CPU: PerCpuArray<u64, 1> = PerCpuArray::new();
#[map]
pub static PER_CPU_HASH: PerCpuHashMap<u32, u64, 16> = PerCpuHashMap::new();
#[map]
pub static LRU: LruHashMap<u64, u64, 4> = LruHashMap::new();
#[map]
pub static FIFO: Queue<u64, 16> = Queue::new();
#[map]
pub static LIFO: Stack<u64, 16> = Stack::new();
#[map]
pub static PREFIXES: LpmTrie<[u8; 4], u64, 16> = LpmTrie::new();
#[map]
pub static SEEN: BloomFilter<u64, 64, 3> = BloomFilter::new();
#[map]
pub static EVENTS: RingBuf<4096> = RingBuf::new();
#[map]
pub static PERF_EVENTS: PerfEventArray = PerfEventArray::new();
#[map]
pub static STACKS: StackTrace<64> = StackTrace::new();
#[map]
pub static JUMP: ProgramArray<2> = ProgramArray::new();
/// Room for the batch tests; only user space touches it.
#[map]
pub static BIG: HashMap<u32, u64, 100_000> = HashMap::new();

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
pub fn map_test(mut ctx: TracePointContext<SysEnter>) -> u32 {
    let pid = helpers::pid();
    if CONFIG.get(0) != Some(helpers::tid()) {
        return 0;
    }
    let fd = ctx.args().args[0];
    let _ = COUNTS.add(&pid, 1);
    if let Some(input) = INPUT.get(&1) {
        let _ = OUTPUT.set(out::INPUT_TIMES_MULTIPLIER, &(input * MULTIPLIER.get()));
    }
    TOTALS.add(0, 1);
    // The value an atomic add returns must be the new total.
    if let Some(total) = TOTALS.add(1, 5) {
        let _ = OUTPUT.set(out::FETCH_ADD, &total);
    }
    let per_cpu = PER_CPU.get(0).unwrap_or(0);
    let _ = PER_CPU.set(0, &(per_cpu + 1));
    let _ = PER_CPU_HASH.insert(&pid, &(helpers::cpu() as u64 + 1), BPF_ANY);
    let _ = LRU.insert(&fd, &(fd * 10), BPF_ANY);
    let _ = FIFO.push(&fd, 0);
    let _ = LIFO.push(&fd, 0);
    if let Some(hit) = PREFIXES.get(&LpmKey::new(32, [10, 1, 2, 3])) {
        let _ = OUTPUT.set(out::LPM_MATCH, &hit);
    }
    let _ = SEEN.insert(&fd);
    if SEEN.contains(&(fd + 1000)) {
        let _ = OUTPUT.set(out::BLOOM_HIT, &1);
    }
    let event = Event {
        pid,
        cpu: helpers::cpu(),
        fd,
    };
    if let Some(mut entry) = EVENTS.reserve::<Event>() {
        entry.write(event);
        entry.submit();
    }
    let _ = PERF_EVENTS.output(&ctx, &event);
    // The id plus one, or the helper's errno for user space to report.
    match STACKS.get_stack_id(&ctx, 0) {
        Ok(id) => {
            let _ = OUTPUT.set(out::STACK_ID, &(id as u64 + 1));
        }
        Err(e) => {
            let _ = OUTPUT.set(out::STACK_ID, &(e.0 as u64));
        }
    }
    JUMP.tail_call(&mut ctx, 0);
    0
}

/// Reached only through `JUMP[0]`.
#[tracepoint]
pub fn tail_target(_ctx: TracePointContext<SysEnter>) -> u32 {
    let _ = OUTPUT.set(out::TAIL_CALLED, &1);
    0
}

#[cfg(test)]
mod tests;
