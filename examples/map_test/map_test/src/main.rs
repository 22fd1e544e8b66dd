//! The user side of `map_test`: exercises every map type from both sides
//! and prints one line per check. Exits 1 if any check fails.
#![forbid(unsafe_code)]

use std::{os::fd::AsFd, path::PathBuf, process::ExitCode};

use clap::Parser;
use iu::{
    Ebpf, EbpfLoader,
    maps::{BPF_ANY, LpmKey},
};
use map_test_common::out;

#[derive(Parser)]
struct Args {
    /// The BPF object (default: `$IU_OBJECT_DIR/map_test`).
    #[arg(long)]
    object: Option<PathBuf>,
}

/// Collects check results.
#[derive(Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn check(&mut self, what: &str, ok: bool, detail: impl std::fmt::Display) {
        println!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" });
        self.failed += usize::from(!ok);
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("map_test: {failed} check(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("map_test: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<usize, Box<dyn std::error::Error>> {
    let object = args
        .object
        .unwrap_or_else(|| iu::object_dir().join("map_test"));
    // ANCHOR: user_side
    // A read-only global, set before the load.
    let ebpf: Ebpf = EbpfLoader::new()
        .set_global("MULTIPLIER", &3u64)
        .load_file(&object)?;
    let tid = nix::unistd::gettid().as_raw() as u32;
    ebpf.array::<u32>("CONFIG")?.set(0, &tid)?;

    // User space writes; the program reads.
    ebpf.hash_map::<u32, u64>("INPUT")?
        .insert(&1, &14, BPF_ANY)?;
    let prefixes = ebpf.lpm_trie::<[u8; 4], u64>("PREFIXES")?;
    prefixes.insert(&LpmKey::new(8, [10, 0, 0, 0]), &8, BPF_ANY)?;
    prefixes.insert(&LpmKey::new(16, [10, 1, 0, 0]), &16, BPF_ANY)?;
    ebpf.program_array("JUMP")?
        .set(0, ebpf.program("tail_target")?)?;
    let seen = ebpf.bloom_filter::<u64>("SEEN")?;

    let _link = ebpf.tracepoint("map_test")?.attach()?;
    let files: Vec<std::fs::File> = (0..6)
        .map(|_| std::fs::File::open("/dev/null"))
        .collect::<Result<_, _>>()?;
    let fds: Vec<u64> = files
        .iter()
        .map(|f| std::os::fd::AsRawFd::as_raw_fd(&f.as_fd()) as u64)
        .collect();
    seen.insert(&(fds[5] + 1000))?;
    for file in &files {
        drop(nix::unistd::dup(file.as_fd())?);
    }

    let mut report = Report::default();
    let pid = std::process::id();
    let output = ebpf.array::<u64>("OUTPUT")?;
    let count = ebpf.hash_map::<u32, u64>("COUNTS")?.get(&pid)?;
    report.check(
        "HashMap COUNTS (atomic add in the program)",
        count == Some(6),
        format!("{count:?}"),
    );
    let totals = ebpf.array::<u64>("TOTALS")?.values()?;
    report.check("Array TOTALS", totals == [6, 30], format!("{totals:?}"));
    let fetch = output.get(out::FETCH_ADD)?;
    report.check("atomic add returns the new total", fetch == 30, fetch);
    let doubled = output.get(out::INPUT_TIMES_MULTIPLIER)?;
    report.check(
        "HashMap INPUT read by the program, times the global",
        doubled == 42,
        doubled,
    );
    let lpm = output.get(out::LPM_MATCH)?;
    report.check(
        "LpmTrie PREFIXES: longest prefix of 10.1.2.3",
        lpm == 16,
        lpm,
    );
    let per_cpu: u64 = ebpf.per_cpu_array::<u64>("PER_CPU")?.get(0)?.iter().sum();
    report.check(
        "PerCpuArray PER_CPU summed over CPUs",
        per_cpu == 6,
        per_cpu,
    );
    let per_cpu_hash = ebpf
        .per_cpu_hash_map::<u32, u64>("PER_CPU_HASH")?
        .get(&pid)?;
    // ANCHOR_END: user_side
    let marked = per_cpu_hash
        .as_ref()
        .is_some_and(|v| v.iter().enumerate().any(|(cpu, &x)| x == cpu as u64 + 1));
    report.check(
        "PerCpuHashMap PER_CPU_HASH holds cpu + 1",
        marked,
        format!("{per_cpu_hash:?}"),
    );
    let lru = ebpf.hash_map::<u64, u64>("LRU")?.keys()?;
    report.check(
        "LruHashMap LRU kept at most 4 of 6 keys",
        lru.len() <= 4 && lru.contains(&fds[5]),
        format!("{lru:?}"),
    );
    let fifo = ebpf.queue::<u64>("FIFO")?;
    let popped: Vec<u64> = std::iter::from_fn(|| fifo.pop().ok().flatten()).collect();
    report.check(
        "Queue FIFO pops in push order",
        popped == fds,
        format!("{popped:?}"),
    );
    let lifo = ebpf.stack::<u64>("LIFO")?;
    let popped: Vec<u64> = std::iter::from_fn(|| lifo.pop().ok().flatten()).collect();
    let reversed: Vec<u64> = fds.iter().rev().copied().collect();
    report.check(
        "Stack LIFO pops in reverse order",
        popped == reversed,
        format!("{popped:?}"),
    );
    let all_seen = fds.iter().all(|fd| seen.contains(fd).unwrap_or(false));
    report.check(
        "BloomFilter SEEN has every fd the program added",
        all_seen,
        format!("{fds:?}"),
    );
    let hit = output.get(out::BLOOM_HIT)?;
    report.check(
        "BloomFilter value added by user space seen by the program",
        hit == 1,
        hit,
    );
    let tail = output.get(out::TAIL_CALLED)?;
    report.check("ProgramArray JUMP tail call", tail == 1, tail);
    // The id plus one, or the helper's negative errno.
    let id = output.get(out::STACK_ID)? as i64;
    if id == -(nix::errno::Errno::EFAULT as i64) {
        // Linux 6.1 walks no kernel stack from a syscall tracepoint.
        println!(
            "skip StackTrace STACKS: this kernel could not walk the stack (bpf_get_stackid: EFAULT)"
        );
    } else {
        let frames = match u32::try_from(id - 1) {
            Ok(id) => ebpf
                .stack_trace_map("STACKS")?
                .get(id)?
                .map_or(0, |t| t.frames.len()),
            Err(_) => 0,
        };
        report.check(
            "StackTrace STACKS has the program's kernel stack",
            frames > 0,
            format!("{frames} frames (stored {id})"),
        );
    }
    Ok(report.failed)
}
