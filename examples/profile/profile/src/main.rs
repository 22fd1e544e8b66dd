//! The user side of `profile`: samples stacks at `--frequency` Hz on every
//! CPU (or one process), then prints the top stacks with kernel symbols
//! from `/proc/kallsyms` and user symbols from the processes' mapped ELF
//! files.
#![forbid(unsafe_code)]

mod symbols;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use iu::programs::{PerfEventKind, SampleRate};
use profile_common::StackKey;
use symbols::{Kallsyms, UserSymbols};

#[derive(Parser)]
struct Args {
    /// Samples per second per CPU.
    #[arg(long, default_value_t = 99)]
    frequency: u64,
    /// Seconds to sample (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Only sample this thread (and the threads it creates from now on).
    #[arg(long)]
    pid: Option<i32>,
    /// Stacks to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// The BPF object (default: `$IU_OBJECT_DIR/profile`).
    #[arg(long)]
    object: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("profile: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("profile"));
    // ANCHOR: attach
    let ebpf = iu::Ebpf::load_file(&object)?;
    let program = ebpf.perf_event("profile")?;
    let rate = SampleRate::Frequency(args.frequency);
    let links = match args.pid {
        Some(pid) => vec![program.attach_pid(pid, PerfEventKind::CpuClock, rate)?],
        None => program.attach_all_cpus(PerfEventKind::CpuClock, rate)?,
    };
    // ANCHOR_END: attach
    log::info!("sampling at {} Hz; Ctrl-C to stop", args.frequency);
    match args.duration {
        Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    drop(links);

    let mut counts = ebpf.hash_map::<StackKey, u64>("COUNTS")?.entries()?;
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    println!("{total} samples, {} distinct stacks", counts.len());
    let stacks = ebpf.stack_trace_map("STACKS")?;
    let symbols = Kallsyms::read();
    let mut user_symbols = UserSymbols::default();
    for (key, count) in counts.iter().take(args.top) {
        println!("\n{count} samples  pid {} ({})", key.pid, comm(key.pid));
        if let Ok(id) = u32::try_from(key.kernel_stack)
            && let Some(trace) = stacks.get(id)?
        {
            for ip in trace.frames {
                println!("    {:#018x} {}", ip, symbols.name(ip));
            }
        }
        if let Ok(id) = u32::try_from(key.user_stack)
            && let Some(trace) = stacks.get(id)?
        {
            for ip in trace.frames {
                println!("    {ip:#018x} {}", user_symbols.name(key.pid, ip));
            }
        }
    }
    Ok(())
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}
