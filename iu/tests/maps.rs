//! Every map type, both directions, on the running kernel, with the
//! `map_test` example's program (`examples/map_test/map_test-ebpf`). Each test reacts
//! only to its own thread's `dup()` calls (the program compares the thread
//! id with `CONFIG[0]`), so tests run in parallel without seeing each
//! other.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{os::fd::AsFd, path::PathBuf, time::Duration};

use iu::{
    Ebpf, EbpfLoader, Error,
    maps::{BPF_ANY, LpmKey},
    programs::TracePointLink,
};

fn object() -> PathBuf {
    iu::object_dir().join("map_test")
}

/// Loads `maps` (with `loader`'s options), points it at this thread and
/// attaches it.
fn setup(loader: &EbpfLoader) -> (Ebpf, TracePointLink) {
    let ebpf = loader.load_file(object()).unwrap();
    let tid = nix::unistd::gettid().as_raw() as u32;
    ebpf.array::<u32>("CONFIG").unwrap().set(0, &tid).unwrap();
    let link = ebpf.tracepoint("map_test").unwrap().attach().unwrap();
    (ebpf, link)
}

/// Calls `dup()` on a descriptor numbered `fd` or above; returns the number
/// the program sees as its argument.
fn trigger(file: &std::fs::File) -> u64 {
    let fd = file.as_fd();
    drop(nix::unistd::dup(fd).unwrap());
    std::os::fd::AsRawFd::as_raw_fd(&fd) as u64
}

fn null() -> std::fs::File {
    std::fs::File::open("/dev/null").unwrap()
}

#[test]
fn program_writes_and_user_space_reads() {
    let (ebpf, _link) = setup(&EbpfLoader::new());
    let file = null();
    for _ in 0..3 {
        trigger(&file);
    }
    let pid = std::process::id();
    // HashMap counter (atomic add from the program).
    assert_eq!(
        ebpf.hash_map::<u32, u64>("COUNTS")
            .unwrap()
            .get(&pid)
            .unwrap(),
        Some(3)
    );
    // Array counters; slot 1 takes +5 per call and the program stores the
    // value the atomic add returned: it must be the running total.
    let totals = ebpf.array::<u64>("TOTALS").unwrap();
    assert_eq!(totals.get(0).unwrap(), 3);
    assert_eq!(totals.get(1).unwrap(), 15);
    assert_eq!(ebpf.array::<u64>("OUTPUT").unwrap().get(5).unwrap(), 15);
    assert_eq!(totals.values().unwrap(), vec![3, 15]);
    // Per-CPU array: the per-CPU copies add up to the number of calls.
    let per_cpu = ebpf
        .per_cpu_array::<u64>("PER_CPU")
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(per_cpu.len(), iu::maps::possible_cpus().unwrap());
    assert_eq!(per_cpu.iter().sum::<u64>(), 3);
    // Per-CPU hash: the CPU that ran the program stored cpu + 1.
    let per_cpu_hash = ebpf.per_cpu_hash_map::<u32, u64>("PER_CPU_HASH").unwrap();
    let values = per_cpu_hash.get(&pid).unwrap().unwrap();
    // The batch dump decodes the same per-CPU values.
    let entries = per_cpu_hash.entries().unwrap();
    assert!(entries.contains(&(pid, values.clone())), "{entries:?}");
    assert!(
        values
            .iter()
            .enumerate()
            .any(|(cpu, &v)| v == cpu as u64 + 1),
        "{values:?}"
    );
    assert!(
        values
            .iter()
            .enumerate()
            .all(|(cpu, &v)| v == 0 || v == cpu as u64 + 1)
    );
}

#[test]
fn a_global_of_another_name_or_size_is_a_typed_error() {
    match EbpfLoader::new()
        .set_global("MULTIPLYER", &3u64)
        .load_file(object())
    {
        Err(e @ iu::Error::UnknownGlobal { .. }) => {
            let message = e.to_string();
            assert!(message.contains("`MULTIPLYER`"), "{message}");
            assert!(message.contains("MULTIPLIER (8 bytes)"), "{message}");
            assert!(!message.contains("cargo xtask build"), "{message}");
        }
        other => panic!("expected UnknownGlobal, got {:?}", other.map(|_| ())),
    }
    match EbpfLoader::new()
        .set_global("MULTIPLIER", &3u32)
        .load_file(object())
    {
        Err(iu::Error::GlobalSize {
            name,
            expected,
            actual,
        }) => assert_eq!((name.as_str(), expected, actual), ("MULTIPLIER", 8, 4)),
        other => panic!("expected GlobalSize, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn user_space_writes_and_the_program_reads() {
    let loader = {
        let mut l = EbpfLoader::new();
        l.set_global("MULTIPLIER", &3u64);
        l
    };
    let (ebpf, _link) = setup(&loader);
    ebpf.hash_map::<u32, u64>("INPUT")
        .unwrap()
        .insert(&1, &14, BPF_ANY)
        .unwrap();
    let prefixes = ebpf.lpm_trie::<[u8; 4], u64>("PREFIXES").unwrap();
    prefixes
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &8, BPF_ANY)
        .unwrap();
    prefixes
        .insert(&LpmKey::new(16, [10, 1, 0, 0]), &16, BPF_ANY)
        .unwrap();
    prefixes
        .insert(&LpmKey::new(24, [10, 2, 0, 0]), &24, BPF_ANY)
        .unwrap();
    trigger(&null());
    let output = ebpf.array::<u64>("OUTPUT").unwrap();
    // 14 * MULTIPLIER, with MULTIPLIER set to 3 before the load.
    assert_eq!(output.get(0).unwrap(), 42);
    // 10.1.2.3 matches /8 and /16; the longest wins.
    assert_eq!(output.get(1).unwrap(), 16);
    assert_eq!(
        prefixes.get(&LpmKey::new(32, [10, 9, 9, 9])).unwrap(),
        Some(8)
    );
    assert_eq!(prefixes.get(&LpmKey::new(32, [11, 0, 0, 0])).unwrap(), None);
    assert!(prefixes.remove(&LpmKey::new(16, [10, 1, 0, 0])).unwrap());
    assert_eq!(prefixes.keys().unwrap().len(), 2);
}

#[test]
fn queue_stack_lru_and_bloom_filter() {
    let (ebpf, _link) = setup(&EbpfLoader::new());
    let files: Vec<_> = (0..6).map(|_| null()).collect();
    let fds: Vec<u64> = files.iter().map(trigger).collect();

    let fifo = ebpf.queue::<u64>("FIFO").unwrap();
    assert_eq!(fifo.peek().unwrap(), Some(fds[0]));
    let popped: Vec<u64> = std::iter::from_fn(|| fifo.pop().unwrap()).collect();
    assert_eq!(popped, fds);
    let lifo = ebpf.stack::<u64>("LIFO").unwrap();
    let popped: Vec<u64> = std::iter::from_fn(|| lifo.pop().unwrap()).collect();
    assert_eq!(popped, fds.iter().rev().copied().collect::<Vec<_>>());
    fifo.push(&7, 0).unwrap();
    assert_eq!(fifo.pop().unwrap(), Some(7));
    assert_eq!(fifo.pop().unwrap(), None);

    // 6 distinct keys into a 4-entry LRU map: the oldest were evicted.
    let lru = ebpf.hash_map::<u64, u64>("LRU").unwrap();
    let keys = lru.keys().unwrap();
    assert!(keys.len() <= 4, "{keys:?}");
    assert!(keys.contains(fds.last().unwrap()));
    assert_eq!(
        lru.get(fds.last().unwrap()).unwrap(),
        Some(fds.last().unwrap() * 10)
    );

    // The program added every fd; user space adds one the program tests.
    let seen = ebpf.bloom_filter::<u64>("SEEN").unwrap();
    for fd in &fds {
        assert!(seen.contains(fd).unwrap());
    }
    seen.insert(&(fds[0] + 1000)).unwrap();
    trigger(&files[0]);
    assert_eq!(ebpf.array::<u64>("OUTPUT").unwrap().get(4).unwrap(), 1);
}

#[test]
fn stack_traces_and_tail_calls() {
    let (ebpf, _link) = setup(&EbpfLoader::new());
    let jump = ebpf.program_array("JUMP").unwrap();
    jump.set(0, ebpf.program("tail_target").unwrap()).unwrap();
    trigger(&null());
    let output = ebpf.array::<u64>("OUTPUT").unwrap();
    assert_eq!(output.get(3).unwrap(), 1, "the tail call did not happen");
    let id = output.get(2).unwrap();
    if std::env::var("IU_VM_KERNEL").as_deref() == Ok("6.1")
        && id as i64 == -(nix::errno::Errno::EFAULT as i64)
    {
        iu::testing::skip_missing(
            "stack traces",
            "kernel stack walk from a syscall tracepoint (bpf_get_stackid: EFAULT)",
        );
        return;
    }
    assert!(
        id > 0 && id < 1 << 32,
        "no stack id was stored: {}",
        id as i64
    );
    let trace = ebpf
        .stack_trace_map("STACKS")
        .unwrap()
        .get(id as u32 - 1)
        .unwrap()
        .expect("the stack id has a trace");
    assert!(!trace.frames.is_empty());
    // Kernel addresses are in the upper half.
    assert!(
        trace.frames.iter().all(|&ip| ip >= 0xffff_8000_0000_0000),
        "{trace:?}"
    );
    assert!(jump.clear(0).unwrap());
}

#[test]
fn batch_operations_match_key_by_key() {
    let ebpf = Ebpf::load_file(object()).unwrap();
    let big = ebpf.hash_map::<u32, u64>("BIG").unwrap();
    let entries: Vec<(u32, u64)> = (0..20_000u32).map(|k| (k, u64::from(k) * 3)).collect();
    big.insert_batch(&entries, BPF_ANY).unwrap();
    assert_eq!(big.len().unwrap(), 20_000);
    let mut batch = big.entries().unwrap();
    let mut walked = big.entries_key_by_key().unwrap();
    batch.sort_unstable();
    walked.sort_unstable();
    assert_eq!(batch, entries);
    assert_eq!(walked, entries);
    let remove: Vec<u32> = (0..10_000).collect();
    big.remove_batch(&remove).unwrap();
    assert_eq!(big.len().unwrap(), 10_000);
    assert_eq!(big.get(&5).unwrap(), None);
    assert_eq!(big.get(&15_000).unwrap(), Some(45_000));

    // A reused buffer is replaced, not appended to, and keeps its memory.
    let mut reused = vec![(u32::MAX, 0); 50_000];
    let capacity = reused.capacity();
    big.entries_into(&mut reused).unwrap();
    reused.sort_unstable();
    assert_eq!(reused, entries[10_000..]);
    assert_eq!(reused.capacity(), capacity);
    // One entry per call: buckets of two or more entries get a larger call.
    big.entries_into_chunked(&mut reused, 1).unwrap();
    reused.sort_unstable();
    assert_eq!(reused, entries[10_000..]);

    // Straight into the caller's slices: all of the map into slices of
    // its size, and whole buckets into shorter ones.
    let size = ebpf.map("BIG").unwrap().max_entries() as usize;
    let (mut keys, mut values) = (vec![u32::MAX; size], vec![0u64; size]);
    let n = big.entries_into_slices(&mut keys, &mut values).unwrap();
    let mut sliced: Vec<(u32, u64)> = keys.into_iter().zip(values).take(n).collect();
    sliced.sort_unstable();
    assert_eq!(sliced, entries[10_000..]);
    let (mut keys, mut values) = ([0u32; 100], [0u64; 100]);
    let n = big
        .entries_into_slices(&mut keys, &mut values[..90])
        .unwrap();
    assert!((80..=90).contains(&n), "{n}");
    for (key, value) in keys.iter().zip(&values).take(n) {
        assert_eq!((*key >= 10_000, *value), (true, u64::from(*key) * 3));
    }

    // The iterator looks each value up right after its key; keys removed
    // during the walk are skipped, never returned with a stale value.
    let mut seen = 0;
    for (n, entry) in big.iter().enumerate() {
        let (key, value) = entry.unwrap();
        assert_eq!(value, u64::from(key) * 3);
        if n == 0 {
            let later: Vec<u32> = (10_000..20_000).filter(|&k| k != key).step_by(2).collect();
            big.remove_batch(&later).unwrap();
        }
        seen += 1;
    }
    assert!((5_000..=10_000).contains(&seen), "{seen}");
}

#[test]
fn standalone_maps_are_created_and_checked() {
    use iu::maps::{HashMap, Map, map_type};
    let map = Map::create("iu_standalone", map_type::HASH, 4, 8, 10_000, 0).unwrap();
    assert_eq!(
        (
            map.name(),
            map.key_size(),
            map.value_size(),
            map.max_entries()
        ),
        ("iu_standalone", 4, 8, 10_000)
    );
    assert!(map.id().unwrap() > 0);
    let hash = HashMap::<u32, u64>::new(&map).unwrap();
    let entries: Vec<(u32, u64)> = (0..9_000u32).map(|k| (k, u64::from(k) + 1)).collect();
    hash.insert_batch(&entries, BPF_ANY).unwrap();
    let mut dumped = hash.entries().unwrap();
    dumped.sort_unstable();
    assert_eq!(dumped, entries);
    assert!(matches!(
        HashMap::<u64, u64>::new(&map),
        Err(Error::MapSize { what: "key", .. })
    ));
    drop(map);
    let err = Map::create("iu_bad", map_type::HASH, 0, 8, 16, 0).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("creating map `iu_bad` failed: bpf(BPF_MAP_CREATE) failed: EINVAL"),
        "{err}"
    );
    match err {
        Error::MapCreate { name, source } => {
            assert_eq!(name, "iu_bad");
            assert_eq!(source.errno(), Some(libc::EINVAL));
        }
        other => panic!("expected MapCreate, got {other:?}"),
    }
}

#[test]
fn pinned_maps_are_reused_and_unpinned() {
    let dir = PathBuf::from(format!("/sys/fs/bpf/iu-test-{}", std::process::id()));
    let loader = {
        let mut l = EbpfLoader::new();
        l.pin_maps_in(&dir);
        l
    };
    let first = loader.load_file(object()).unwrap();
    first
        .hash_map::<u32, u64>("INPUT")
        .unwrap()
        .insert(&9, &99, BPF_ANY)
        .unwrap();
    let id = first.map("INPUT").unwrap().id().unwrap();
    drop(first);
    // The pin kept the map alive; the next load reuses it.
    let second = loader.load_file(object()).unwrap();
    assert_eq!(second.map("INPUT").unwrap().id().unwrap(), id);
    assert_eq!(
        second
            .hash_map::<u32, u64>("INPUT")
            .unwrap()
            .get(&9)
            .unwrap(),
        Some(99)
    );
    drop(second);
    for entry in std::fs::read_dir(&dir).unwrap() {
        iu::maps::Map::unpin(entry.unwrap().path()).unwrap();
    }
    std::fs::remove_dir(&dir).unwrap();
    // Unpinned and dropped: a new load creates a new map.
    let third = loader.load_file(object()).unwrap();
    assert_ne!(third.map("INPUT").unwrap().id().unwrap(), id);
    assert_eq!(
        third
            .hash_map::<u32, u64>("INPUT")
            .unwrap()
            .get(&9)
            .unwrap(),
        None
    );
    drop(third);
    for entry in std::fs::read_dir(&dir).unwrap() {
        iu::maps::Map::unpin(entry.unwrap().path()).unwrap();
    }
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn wrong_types_and_sizes_are_typed_errors() {
    let ebpf = Ebpf::load_file(object()).unwrap();
    match ebpf.hash_map::<u64, u64>("INPUT") {
        Err(Error::MapSize {
            name,
            what,
            expected,
            actual,
        }) => {
            assert_eq!(
                (name.as_str(), what, expected, actual),
                ("INPUT", "key", 8, 4)
            );
        }
        other => panic!("expected MapSize, got {other:?}"),
    }
    match ebpf.array::<u64>("INPUT") {
        Err(Error::WrongMapType {
            expected, actual, ..
        }) => {
            assert_eq!((expected, actual), ("array", "hash map"));
        }
        other => panic!("expected WrongMapType, got {other:?}"),
    }
    let err = ebpf.queue::<u64>("NOPE").unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
    let err = ebpf.array::<u64>("OUTPUT").unwrap().get(8).unwrap_err();
    assert!(err.to_string().contains("past the end"), "{err}");
}

#[tokio::test]
async fn snapshots_stream_the_map() {
    let (ebpf, _link) = setup(&EbpfLoader::new());
    let counts = ebpf.hash_map::<u32, u64>("COUNTS").unwrap();
    let mut snapshots = counts.snapshots(Duration::from_millis(50));
    let first = snapshots.next().await.unwrap().unwrap();
    assert!(first.is_empty());
    trigger(&null());
    let second = snapshots.next().await.unwrap().unwrap();
    assert_eq!(second, vec![(std::process::id(), 1)]);
}

#[test]
fn the_object_also_loads_with_libbpf_through_bpftool() {
    // BTF-defined maps are libbpf's format: bpftool (libbpf inside) loads
    // the same object. `cargo xtask test` installs bpftool on the host and
    // requires this test; the VM guest has no bpftool.
    let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bpftool) = bpftool else {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "bpftool is required here but not installed"
        );
        eprintln!("skipping: bpftool is not installed on this machine");
        return;
    };
    iu::maps::bpffs_root().unwrap();
    let pin = PathBuf::from(format!("/sys/fs/bpf/iu-bpftool-{}", std::process::id()));
    let output = std::process::Command::new(bpftool)
        .args(["prog", "loadall"])
        .arg(object())
        .arg(&pin)
        .output()
        .unwrap();
    let listed: Vec<String> = std::fs::read_dir(&pin)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&pin);
    assert!(
        output.status.success(),
        "bpftool refused the object: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut listed = listed;
    listed.sort();
    assert_eq!(
        listed,
        vec!["map_test".to_owned(), "tail_target".to_owned()]
    );
}

#[test]
fn spin_locked_values_update_atomically() {
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, iu::Pod)]
    #[repr(C)]
    struct Pair {
        a: u64,
        b: u64,
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join("spin_lock")).unwrap();
    let locked = ebpf
        .hash_map::<u32, iu::maps::SpinLocked<Pair>>("LOCKED")
        .unwrap();
    locked.insert_locked(&0, &Pair { a: 10, b: 20 }).unwrap();
    let program = ebpf.program("spin_lock").unwrap();
    let packet = [0u8; 64];
    // Two threads run the program 20,000 times each while a third reads.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let out = program
                    .test_run(&iu::programs::TestRun::packet(&packet).repeat(20_000))
                    .unwrap();
                assert_eq!(out.retval, 2, "XDP_PASS");
            });
        }
        s.spawn(|| {
            for _ in 0..1000 {
                let pair = locked.get_locked(&0).unwrap().unwrap();
                assert_eq!(pair.b, 2 * pair.a, "a torn read: {pair:?}");
            }
        });
    });
    assert_eq!(
        locked.get_locked(&0).unwrap(),
        Some(Pair {
            a: 40_010,
            b: 80_020
        })
    );
}
