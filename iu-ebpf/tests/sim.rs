//! The host simulation: maps behave as the kernel's do, helpers return what
//! the test sets, output is captured. Every test takes a `sim::session()`,
//! since map statics are shared by the tests of this binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu_ebpf::{
    Pod, helpers, map,
    maps::{
        Array, BPF_ANY, BPF_EXIST, BPF_NOEXIST, BloomFilter, HashMap, LpmKey, LpmTrie, LruHashMap,
        LruPerCpuHashMap, MapError, PerCpuArray, PerCpuHashMap, PerCpuScratch, PerfEventArray,
        ProgramArray, Queue, RingBuf, SpinLocked, Stack, StackTrace,
    },
    memory, printk,
    programs::{TracePointContext, XdpContext},
    sim,
    tracepoints::syscalls::SysEnter,
};

#[map]
static HASH: HashMap<u32, u64, 4> = HashMap::new();
#[map]
static LRU: LruHashMap<u32, u32, 3> = LruHashMap::new();
#[map]
static PER_CPU: PerCpuHashMap<u32, u64, 4> = PerCpuHashMap::new();
#[map]
static LRU_PER_CPU: LruPerCpuHashMap<u32, u64, 2> = LruPerCpuHashMap::new();
#[map]
static ARRAY: Array<u64, 4> = Array::new();
#[map]
static PER_CPU_ARRAY: PerCpuArray<u32, 2> = PerCpuArray::new();
#[map]
static FIFO: Queue<u32, 3> = Queue::new();
#[map]
static LIFO: Stack<u32, 3> = Stack::new();
#[map]
static PREFIXES: LpmTrie<[u8; 4], u32, 4> = LpmTrie::new();
#[map]
static SEEN: BloomFilter<u64, 8, 3> = BloomFilter::new();
#[map]
static EVENTS: RingBuf<64> = RingBuf::new();
#[map]
static PERF: PerfEventArray = PerfEventArray::new();
#[map]
static LOCKED: HashMap<u32, SpinLocked<Pair>, 4> = HashMap::new();
#[map]
static BIG: HashMap<u32, u64, 100_000> = HashMap::new();
#[map]
static JUMP: ProgramArray<2> = ProgramArray::new();
#[map]
static STACKS: StackTrace<4> = StackTrace::new();

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
#[repr(C)]
struct Pair {
    a: u64,
    b: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod)]
#[repr(C)]
struct Event {
    pid: u32,
    cpu: u32,
    seq: u64,
}

#[test]
fn a_full_hash_map_refuses_new_keys_but_updates_existing_ones() {
    let _sim = sim::session();
    for k in 0..4 {
        HASH.insert(&k, &(k as u64 * 10), BPF_ANY).unwrap();
    }
    assert_eq!(HASH.insert(&4, &1, BPF_ANY), Err(MapError::FULL));
    assert_eq!(HASH.add(&4, 1), Err(MapError::FULL));
    HASH.insert(&3, &33, BPF_ANY).unwrap();
    assert_eq!(HASH.get(&3), Some(33));
    HASH.remove(&0).unwrap();
    assert_eq!(HASH.remove(&0), Err(MapError::NOT_FOUND));
    HASH.insert(&4, &44, BPF_ANY).unwrap();
    assert_eq!(HASH.get(&4), Some(44));
    assert_eq!(HASH.get(&0), None);
}

#[test]
fn update_flags_behave_as_in_the_kernel() {
    let _sim = sim::session();
    assert_eq!(HASH.insert(&1, &1, BPF_EXIST), Err(MapError::NOT_FOUND));
    HASH.insert(&1, &1, BPF_NOEXIST).unwrap();
    assert_eq!(HASH.insert(&1, &2, BPF_NOEXIST), Err(MapError::EXISTS));
    HASH.insert(&1, &3, BPF_EXIST).unwrap();
    assert_eq!(HASH.get(&1), Some(3));
    assert_eq!(HASH.insert(&1, &3, 8), Err(MapError(-22)));
    // Arrays: every slot exists.
    assert_eq!(ARRAY.set(4, &1), Err(MapError::FULL));
}

#[test]
fn add_returns_the_new_value_and_is_atomic_across_threads() {
    let _sim = sim::session();
    assert_eq!(HASH.add(&7, 5), Ok(5));
    assert_eq!(HASH.add(&7, 5), Ok(10));
    assert_eq!(ARRAY.add(1, 3), Some(3));
    assert_eq!(ARRAY.add(1, 3), Some(6));
    assert_eq!(ARRAY.add(4, 3), None);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    HASH.add(&8, 1).unwrap();
                    ARRAY.add(2, 1).unwrap();
                }
            });
        }
    });
    assert_eq!(HASH.get(&8), Some(40_000));
    assert_eq!(ARRAY.get(2), Some(40_000));
}

#[test]
fn lru_maps_evict_the_least_recently_used_key() {
    let _sim = sim::session();
    for k in 1..=3 {
        LRU.insert(&k, &k, BPF_ANY).unwrap();
    }
    // Using 1 makes 2 the least recently used.
    assert_eq!(LRU.get(&1), Some(1));
    LRU.insert(&4, &4, BPF_ANY).unwrap();
    assert_eq!(LRU.get(&2), None);
    assert_eq!(LRU.get(&1), Some(1));
    assert_eq!(LRU.get(&3), Some(3));
    assert_eq!(LRU.get(&4), Some(4));
    assert_eq!(LRU.insert(&4, &5, BPF_NOEXIST), Err(MapError::EXISTS));
}

#[test]
fn per_cpu_maps_keep_one_value_per_cpu() {
    let _sim = sim::session();
    sim::set_cpu(1);
    PER_CPU.insert(&1, &10, BPF_ANY).unwrap();
    PER_CPU.add(&2, 5).unwrap();
    PER_CPU_ARRAY.set(0, &7).unwrap();
    sim::set_cpu(3);
    assert_eq!(PER_CPU.get(&1), Some(0), "a new key starts at 0 elsewhere");
    PER_CPU.insert(&1, &30, BPF_ANY).unwrap();
    PER_CPU.add(&2, 1).unwrap();
    assert_eq!(PER_CPU_ARRAY.get(0), Some(0));
    sim::set_cpu(1);
    assert_eq!(PER_CPU.get(&1), Some(10));
    assert_eq!(PER_CPU.get(&2), Some(5));
    let all = PER_CPU.get_all_cpus(&1).unwrap();
    assert_eq!((all[1], all[3], all.iter().sum::<u64>()), (10, 30, 40));
    assert_eq!(PER_CPU_ARRAY.get_all_cpus(0).unwrap()[1], 7);

    LRU_PER_CPU.insert(&1, &1, BPF_ANY).unwrap();
    LRU_PER_CPU.insert(&2, &2, BPF_ANY).unwrap();
    LRU_PER_CPU.insert(&3, &3, BPF_ANY).unwrap();
    assert_eq!(LRU_PER_CPU.get(&1), None);
}

#[test]
#[should_panic(expected = "simulates 8 CPUs")]
fn there_are_eight_simulated_cpus() {
    sim::set_cpu(8);
}

#[test]
fn arrays_start_zeroed_and_are_bounded() {
    let _sim = sim::session();
    assert_eq!(ARRAY.get(0), Some(0));
    assert_eq!(ARRAY.get(3), Some(0));
    assert_eq!(ARRAY.get(4), None);
    ARRAY.set(3, &9).unwrap();
    assert_eq!(ARRAY.get(3), Some(9));
}

#[test]
fn a_session_empties_every_map() {
    {
        let _sim = sim::session();
        ARRAY.set(0, &5).unwrap();
        HASH.insert(&1, &1, BPF_ANY).unwrap();
        FIFO.push(&1, 0).unwrap();
    }
    let _sim = sim::session();
    assert_eq!(ARRAY.get(0), Some(0));
    assert_eq!(HASH.get(&1), None);
    assert_eq!(FIFO.pop(), None);
}

#[test]
fn queues_are_fifo_and_stacks_lifo_with_a_capacity() {
    let _sim = sim::session();
    for v in 1..=3 {
        FIFO.push(&v, 0).unwrap();
        LIFO.push(&v, 0).unwrap();
    }
    assert_eq!(FIFO.push(&4, 0), Err(MapError::FULL));
    assert_eq!(LIFO.push(&4, 0), Err(MapError::FULL));
    // BPF_EXIST: drop the oldest to make room.
    FIFO.push(&4, BPF_EXIST).unwrap();
    assert_eq!(FIFO.peek(), Some(2));
    assert_eq!(
        [FIFO.pop(), FIFO.pop(), FIFO.pop(), FIFO.pop()],
        [Some(2), Some(3), Some(4), None]
    );
    assert_eq!(LIFO.peek(), Some(3));
    assert_eq!(
        [LIFO.pop(), LIFO.pop(), LIFO.pop(), LIFO.pop()],
        [Some(3), Some(2), Some(1), None]
    );
}

#[test]
fn the_lpm_trie_matches_the_longest_prefix() {
    let _sim = sim::session();
    PREFIXES
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &8, BPF_ANY)
        .unwrap();
    PREFIXES
        .insert(&LpmKey::new(16, [10, 1, 0, 0]), &16, BPF_ANY)
        .unwrap();
    PREFIXES
        .insert(&LpmKey::new(0, [0, 0, 0, 0]), &0, BPF_ANY)
        .unwrap();
    let get = |a| PREFIXES.get(&LpmKey::new(32, a));
    assert_eq!(get([10, 1, 2, 3]), Some(16));
    assert_eq!(get([10, 2, 2, 3]), Some(8));
    assert_eq!(get([11, 0, 0, 0]), Some(0));
    // The key's own prefix length bounds the match.
    assert_eq!(PREFIXES.get(&LpmKey::new(12, [10, 1, 2, 3])), Some(8));
    assert_eq!(
        PREFIXES.insert(&LpmKey::new(33, [0; 4]), &1, BPF_ANY),
        Err(MapError(-22))
    );
    // Bits past the prefix do not count: this is the /16 again.
    assert_eq!(
        PREFIXES.insert(&LpmKey::new(16, [10, 1, 9, 9]), &1, BPF_NOEXIST),
        Err(MapError::EXISTS)
    );
    PREFIXES
        .insert(&LpmKey::new(24, [10, 1, 2, 0]), &24, BPF_ANY)
        .unwrap();
    assert_eq!(
        PREFIXES.insert(&LpmKey::new(24, [10, 1, 3, 0]), &24, BPF_ANY),
        Err(MapError(-28)),
        "full: -ENOSPC, as lpm_trie.c"
    );
    PREFIXES.remove(&LpmKey::new(16, [10, 1, 0, 0])).unwrap();
    assert_eq!(get([10, 1, 9, 3]), Some(8));
    assert_eq!(get([10, 1, 2, 3]), Some(24));
}

#[test]
fn the_bloom_filter_has_no_false_negatives() {
    let _sim = sim::session();
    for v in 0..8u64 {
        SEEN.insert(&(v * 7)).unwrap();
    }
    assert!((0..8u64).all(|v| SEEN.contains(&(v * 7))));
    assert!(!SEEN.contains(&1));
    // Past capacity everything may be present, nothing is forgotten.
    SEEN.insert(&1000).unwrap();
    assert!(SEEN.contains(&1000) && SEEN.contains(&0));
}

#[test]
fn ring_buffer_records_are_captured_and_bounded() {
    let _sim = sim::session();
    sim::set_cpu(2);
    let mut entry = EVENTS.reserve::<Event>().unwrap();
    entry.write(Event {
        pid: 1,
        cpu: 2,
        seq: 1,
    });
    entry.submit();
    // A discarded reservation leaves nothing.
    drop(EVENTS.reserve::<Event>().unwrap());
    EVENTS
        .output(&Event {
            pid: 1,
            cpu: 2,
            seq: 2,
        })
        .unwrap();
    // 64 bytes hold two 24-byte records (8-byte header + 16 bytes).
    assert!(EVENTS.reserve::<Event>().is_none());
    assert!(EVENTS.output(&[0u64; 2]).is_err());
    assert_eq!(EVENTS.take_record::<Event>().map(|e| e.seq), Some(1));
    assert_eq!(EVENTS.take_record::<Event>().map(|e| e.seq), Some(2));
    assert_eq!(EVENTS.take_record::<Event>(), None);
    // Room again; records wrap around the end of the ring.
    for seq in 3..10 {
        EVENTS
            .output(&Event {
                pid: 1,
                cpu: 2,
                seq,
            })
            .unwrap();
        assert_eq!(EVENTS.take_record::<Event>().map(|e| e.seq), Some(seq));
    }

    let ctx = TracePointContext::from_record(SysEnter::default());
    PERF.output(&ctx, &7u64).unwrap();
    assert_eq!(PERF.take_record::<u64>(), Some((2, 7)));
    assert_eq!(PERF.take_record::<u64>(), None);
}

#[test]
fn spin_locked_values_are_updated_under_the_lock() {
    let _sim = sim::session();
    LOCKED
        .insert(&1, &SpinLocked::new(Pair::default()), BPF_ANY)
        .unwrap();
    assert!(LOCKED.lock(&2).is_none());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5_000 {
                    let mut pair = LOCKED.lock(&1).unwrap();
                    pair.a += 1;
                    pair.b += 2;
                }
            });
        }
    });
    assert_eq!(
        *LOCKED.lock(&1).unwrap(),
        Pair {
            a: 20_000,
            b: 40_000
        }
    );
    // A write through a guard whose entry was deleted is lost.
    let mut guard = LOCKED.lock(&1).unwrap();
    guard.a = 0;
    LOCKED.remove(&1).unwrap();
    LOCKED
        .insert(&1, &SpinLocked::new(Pair { a: 5, b: 5 }), BPF_ANY)
        .unwrap();
    drop(guard);
    assert_eq!(*LOCKED.lock(&1).unwrap(), Pair { a: 5, b: 5 });
}

#[test]
fn large_maps_are_fine() {
    let _sim = sim::session();
    for k in 0..1000 {
        BIG.insert(&k, &(k as u64), BPF_NOEXIST).unwrap();
    }
    assert_eq!(BIG.get(&999), Some(999));
    let mut sum = 0;
    BIG.for_each(|_, v| sum += v);
    assert_eq!(sum, 999 * 1000 / 2);
}

#[test]
fn helpers_and_printk_are_per_thread() {
    sim::set_pid(10, 11);
    sim::set_cpu(3);
    sim::set_ktime(1_000);
    sim::advance_ktime(500);
    sim::set_uid_gid(1000, 100);
    sim::set_comm("a-rather-long-command");
    assert_eq!(
        (helpers::pid(), helpers::tid(), helpers::cpu()),
        (10, 11, 3)
    );
    assert_eq!(helpers::ktime(), 1_500);
    assert_eq!(helpers::uid_gid(), (1000, 100));
    assert_eq!(&helpers::comm(), b"a-rather-long-c\0");
    printk!(
        "pid {} cpu {} {:x} {:>4}|{:<4}|{:04}",
        helpers::pid(),
        helpers::cpu(),
        255u32,
        7,
        -7i32,
        42
    );
    std::thread::spawn(|| {
        assert_eq!(helpers::pid(), 0);
        printk!("other thread");
        sim::output(|out| assert_eq!(out, "other thread\n"));
    })
    .join()
    .unwrap();
    sim::output(|out| assert_eq!(out, "pid 10 cpu 3 ff    7|-7  |0042\n"));
    sim::output(|out| assert_eq!(out, ""));
}

#[test]
fn random_numbers_are_deterministic_per_seed() {
    sim::set_random_seed(7);
    let a: Vec<u32> = (0..4).map(|_| helpers::random()).collect();
    sim::set_random_seed(7);
    let b: Vec<u32> = (0..4).map(|_| helpers::random()).collect();
    assert_eq!(a, b);
    assert!(a.windows(2).all(|w| w[0] != w[1]));
}

#[test]
fn tail_calls_return_and_are_recorded_and_stack_ids_fail() {
    let mut ctx = XdpContext::from_packet(&[0; 14]);
    assert_eq!(sim::take_tail_call(), None);
    JUMP.tail_call(&mut ctx, 1);
    assert_eq!(sim::take_tail_call(), Some(1));
    assert_eq!(STACKS.get_stack_id(&ctx, 0), Err(MapError(-14)));
}

#[test]
fn packets_are_copied_into_contexts() {
    let packet = vec![1u8, 2, 3, 4, 5];
    let ctx = XdpContext::from_packet(&packet);
    drop(packet);
    assert_eq!(ctx.len(), 5);
    assert_eq!(ctx.read::<[u8; 2]>(3), Some([4, 5]));
    assert_eq!(ctx.read::<[u8; 2]>(4), None);
    assert_eq!(ctx.packet(), &[1, 2, 3, 4, 5]);
    let jumbo = XdpContext::from_packet(&[0xab; 9000]);
    assert_eq!(jumbo.read::<u8>(8999), Some(0xab));
}

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Big {
    len: u64,
    bytes: [u8; 1024],
}

#[map]
static SCRATCH: PerCpuScratch<Big> = PerCpuScratch::new();

#[test]
fn scratch_is_one_exclusive_slot_per_cpu() {
    let _session = sim::session();
    let ctx = XdpContext::from_packet(&[0; 14]);
    sim::set_cpu(0);
    let got = SCRATCH.with(&ctx, |big| {
        big.len = 3;
        big.bytes[1023] = 7;
        // A program nested on the same CPU finds the slot taken.
        assert!(SCRATCH.with(&ctx, |_| ()).is_none());
        sim::set_cpu(1);
        let other = SCRATCH.with(&ctx, |other| other.len);
        sim::set_cpu(0);
        other
    });
    assert_eq!(got, Some(Some(0)), "another CPU's slot is free and zeroed");
    // Released when the closure returns, and the value stays for the next
    // borrow.
    assert_eq!(
        SCRATCH.with(&ctx, |big| (big.len, big.bytes[1023])),
        Some((3, 7))
    );
}

#[test]
fn memory_reads_see_only_the_registered_region() {
    let _session = sim::session();
    sim::set_memory(0x7000, b"/usr/bin/true\0rest");
    let mut buf = [0u8; 64];
    assert_eq!(
        memory::read_user_str(0x7000, &mut buf),
        Some(&b"/usr/bin/true"[..])
    );
    let mut small = [0u8; 5];
    assert_eq!(
        memory::read_kernel_str(0x7000, &mut small),
        Some(&b"/usr"[..])
    );
    assert_eq!(memory::read_user::<[u8; 4]>(0x7009), Some(*b"true"));
    assert_eq!(
        memory::read_kernel::<u64>(0x7000 + 14),
        None,
        "past the end"
    );
    assert_eq!(memory::read_user::<u8>(0x6fff), None, "before the start");
}

#[test]
fn xdp_load_bytes_copies_a_run_time_length_or_nothing() {
    let ctx = XdpContext::from_packet(b"hello world");
    let mut buf = [0u8; 8];
    assert_eq!(ctx.load_bytes(6, &mut buf[..5]), Some(&b"world"[..]));
    assert_eq!(ctx.load_bytes(7, &mut buf[..5]), None, "past the end");
    assert_eq!(ctx.load_bytes(100, &mut buf[..0]), Some(&b""[..]));
}
