//! The user side of `syscount`: loads the raw_syscalls tracepoints and
//! prints, every interval, the top syscalls per process with their error
//! counts and latency. Exits cleanly on Ctrl-C or after `--duration`.
#![forbid(unsafe_code)]

use std::{collections::HashMap, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use syscount_common::{STATS_MAP, SyscallKey, SyscallStats};

mod syscalls {
    include!(concat!(env!("OUT_DIR"), "/syscalls.rs"));
}

#[derive(Parser)]
struct Args {
    /// The BPF object (default: `$IU_OBJECT_DIR/syscount`).
    #[arg(long)]
    object: Option<PathBuf>,
    /// Seconds between tables.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Rows per table.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Only show this process.
    #[arg(long)]
    pid: Option<u32>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syscount: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("syscount"));
    let ebpf = iu::Ebpf::load_file(&object)?;
    let _enter = ebpf.tracepoint("sys_enter")?.attach()?;
    let _exit = ebpf.tracepoint("sys_exit")?.attach()?;
    let stats = ebpf.per_cpu_hash_map::<SyscallKey, SyscallStats>(STATS_MAP)?;
    log::info!("counting syscalls; Ctrl-C to stop");

    let mut snapshots = stats.snapshots(Duration::from_secs_f64(args.interval));
    // The first snapshot comes at once and is empty: skip it.
    snapshots.next().await;
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            snapshot = snapshots.next() => match snapshot {
                Some(entries) => print_table(&entries?, &args),
                None => break,
            },
            () = &mut stop => break,
        }
    }
    log::info!("detaching");
    Ok(())
}

fn print_table(entries: &[(SyscallKey, Vec<SyscallStats>)], args: &Args) {
    let mut rows: Vec<(SyscallKey, SyscallStats)> = entries
        .iter()
        .filter(|(key, _)| args.pid.is_none_or(|pid| key.pid == pid))
        .map(|(key, per_cpu)| {
            let mut total = SyscallStats::default();
            per_cpu.iter().for_each(|s| total.merge(s));
            (*key, total)
        })
        .collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.pid.cmp(&b.0.pid)));
    let mut comms = HashMap::new();
    println!(
        "top {} of {} (process, syscall) pairs",
        args.top.min(rows.len()),
        rows.len()
    );
    println!(
        "{:>8} {:<20} {:>10} {:>8} {:>10} {:>10}  COMM",
        "PID", "SYSCALL", "COUNT", "ERRORS", "AVG(us)", "MAX(us)"
    );
    for (key, s) in rows.iter().take(args.top) {
        let comm = comms.entry(key.pid).or_insert_with(|| comm(key.pid));
        println!(
            "{:>8} {:<20} {:>10} {:>8} {:>10.1} {:>10.1}  {}",
            key.pid,
            syscall_name(key.nr),
            s.count,
            s.errors,
            s.total_ns as f64 / s.count.max(1) as f64 / 1e3,
            s.max_ns as f64 / 1e3,
            comm
        );
    }
    println!();
}

fn syscall_name(nr: u32) -> String {
    syscalls::NAMES
        .iter()
        .find(|(n, _)| *n == nr)
        .map_or_else(|| format!("syscall_{nr}"), |(_, name)| (*name).to_owned())
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}
