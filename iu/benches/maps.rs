//! iu's side of the map benchmark, on a `HashMap<u32, u64>` of N entries
//! (key `i`, value `i * 0x9E3779B97F4A7C15`), with the same output as the C
//! libbpf peer (`xtask/peers/libbpf_maps.c`). Run by `cargo xtask bench`:
//!
//! 1. creates a hash map and times filling it with `insert_batch`;
//! 2. times dumping it with `entries()` (batch; the median of 3), with
//!    `entries_into_chunked()` into a reused `Vec` (4096 and 65536 entries
//!    per call; median of 3 each), with `entries_into_slices()` into two
//!    reused slices of the map's size (median of 3),
//!    `entries_key_by_key()`, and, with `--bpftool PATH`, the whole command
//!    `bpftool map dump id ID > /dev/null`;
//! 3. creates a second map and times filling it with `insert`, one entry
//!    at a time.
//!
//! Every dump is checked: entry count and a checksum of keys and values.

use std::{
    process::{Command, Stdio},
    time::Instant,
};

use iu::maps::{BPF_ANY, HashMap, Map, map_type};

type BoxError = Box<dyn std::error::Error>;

/// Dumps of the batch variants per process (the median is reported).
const DUMP_REPEATS: usize = 3;

fn value_of(key: u32) -> u64 {
    u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The same checksum as the C peer's: order-independent.
fn checksum<'a>(entries: impl Iterator<Item = (&'a u32, &'a u64)>) -> u64 {
    entries.fold(0u64, |acc, (k, v)| {
        acc.wrapping_add(u64::from(*k).wrapping_mul(3).wrapping_add(*v))
    })
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn new_map(n: u32) -> Result<Map, iu::Error> {
    Map::create("iu_bench", map_type::HASH, 4, 8, n, 0)
}

/// Checks a dump against the expected entries.
fn check(what: &str, entries: &[(u32, u64)], n: u32, expected: u64) -> Result<(), BoxError> {
    let sum = checksum(entries.iter().map(|(k, v)| (k, v)));
    if entries.len() != n as usize || sum != expected {
        return Err(format!(
            "{what}: {} entries with checksum {sum:#x}, expected {n} with {expected:#x}",
            entries.len()
        )
        .into());
    }
    Ok(())
}

/// Minor page faults of this process so far (`getrusage`).
fn minflt() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (n, bpftool) = match args.as_slice() {
        [n] => (n, None),
        [n, flag, path] if flag == "--bpftool" => (n, Some(path)),
        _ => return Err("usage: maps ENTRIES [--bpftool PATH]".into()),
    };
    let n: u32 = n.parse()?;
    if n == 0 {
        return Err("ENTRIES must be at least 1".into());
    }
    let entries: Vec<(u32, u64)> = (0..n).map(|k| (k, value_of(k))).collect();
    let expected = checksum(entries.iter().map(|(k, v)| (k, v)));
    let mut out = vec![];

    // Insert with BPF_MAP_UPDATE_BATCH, into an empty map.
    let map = new_map(n)?;
    let hash = HashMap::<u32, u64>::new(&map)?;
    let start = Instant::now();
    hash.insert_batch(&entries, BPF_ANY)?;
    out.push(format!("insert_batch_ms={:.2}", ms_since(start)));

    // Dump with BPF_MAP_LOOKUP_BATCH: a fresh Vec each time (`entries()`,
    // as the C peer mallocs), then into one reused Vec (`entries_into`).
    let (mut times, mut faults) = (vec![], vec![]);
    for _ in 0..DUMP_REPEATS {
        let (start, f0) = (Instant::now(), minflt());
        let dump = hash.entries()?;
        times.push(ms_since(start));
        faults.push(minflt() - f0);
        check("entries()", &dump, n, expected)?;
    }
    out.push(format!("dump_batch_ms={:.2}", median(times)));
    out.push(format!("dump_batch_minflt={:.0}", median(faults)));
    let mut reused = Vec::new();
    // Into one reused Vec, 4096 (what `entries_into` uses) and 65536
    // entries per call.
    for (key, chunk) in [("dump_batch_into", 4096), ("dump_chunk_65536", 65536)] {
        hash.entries_into_chunked(&mut reused, chunk)?;
        let (mut times, mut faults) = (vec![], vec![]);
        for _ in 0..DUMP_REPEATS {
            let (start, f0) = (Instant::now(), minflt());
            hash.entries_into_chunked(&mut reused, chunk)?;
            times.push(ms_since(start));
            faults.push(minflt() - f0);
            check("entries_into_chunked()", &reused, n, expected)?;
        }
        out.push(format!("{key}_ms={:.2}", median(times)));
        out.push(format!("{key}_minflt={:.0}", median(faults)));
    }
    drop(reused);

    // Straight into two reused slices of the map's size, as the C peer's
    // arrays: the kernel writes the entries where the caller reads them.
    let (mut keys, mut values) = (vec![0u32; n as usize], vec![0u64; n as usize]);
    hash.entries_into_slices(&mut keys, &mut values)?;
    let (mut times, mut faults) = (vec![], vec![]);
    for _ in 0..DUMP_REPEATS {
        let (start, f0) = (Instant::now(), minflt());
        let got = hash.entries_into_slices(&mut keys, &mut values)?;
        times.push(ms_since(start));
        faults.push(minflt() - f0);
        let sum = checksum(keys[..got].iter().zip(&values[..got]));
        if got != n as usize || sum != expected {
            return Err(format!(
                "entries_into_slices(): {got} entries with checksum {sum:#x}, expected {n} with {expected:#x}"
            )
            .into());
        }
    }
    out.push(format!("dump_slices_ms={:.2}", median(times)));
    out.push(format!("dump_slices_minflt={:.0}", median(faults)));
    drop((keys, values));

    // Dump with GET_NEXT_KEY + LOOKUP_ELEM, each value right after its key.
    let (start, f0) = (Instant::now(), minflt());
    let dump = hash.entries_key_by_key()?;
    out.push(format!("dump_key_by_key_ms={:.2}", ms_since(start)));
    out.push(format!("dump_key_by_key_minflt={:.0}", minflt() - f0));
    check("entries_key_by_key()", &dump, n, expected)?;
    drop(dump);

    // bpftool, the whole command, its output discarded.
    if let Some(bpftool) = bpftool {
        let id = map.id()?.to_string();
        let start = Instant::now();
        let status = Command::new(bpftool)
            .args(["map", "dump", "id", &id])
            .stdout(Stdio::null())
            .status()?;
        let elapsed = ms_since(start);
        if !status.success() {
            return Err(format!("{bpftool} map dump id {id} failed ({status})").into());
        }
        out.push(format!("dump_bpftool_ms={elapsed:.2}"));
    }
    drop(map);

    // Insert one entry at a time, into an empty map.
    let map = new_map(n)?;
    let hash = HashMap::<u32, u64>::new(&map)?;
    let start = Instant::now();
    for (k, v) in &entries {
        hash.insert(k, v, BPF_ANY)?;
    }
    out.push(format!("insert_ms={:.2}", ms_since(start)));
    check("after insert", &hash.entries()?, n, expected)?;

    out.push(format!("entries={n}"));
    println!("{}", out.join(" "));
    Ok(())
}
