//! The user side of `tracex5`: starts a workload under a seccomp filter
//! (or watches `--pid`), routes `write`, `read` and `mmap` to their own
//! programs through the program array, and prints what they report and how
//! often the other syscalls ran.
#![forbid(unsafe_code)]

use std::{
    collections::BTreeMap,
    io::{BufRead, Read, Write},
    path::PathBuf,
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use clap::Parser;
use tracex5_common::SyscallEvent;

#[derive(Parser)]
struct Args {
    /// A seccomp-filtered process to trace for `--duration` seconds
    /// (default: a workload this program starts).
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds to trace `--pid`.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// The BPF object (default: `$IU_OBJECT_DIR/tracex5`).
    #[arg(long)]
    object: Option<PathBuf>,
    /// Run as the workload: seccomp filter, then a few syscalls.
    #[arg(long, hide = true)]
    workload: bool,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let result = if args.workload { workload() } else { run(args) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tracex5: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The traced process: enters seccomp, waits for the tracer's go, then
/// makes the calls the programs look for.
fn workload() -> Result<(), Box<dyn std::error::Error>> {
    iu::testing::seccomp_allow_all()?;
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")?
        .write_all(&[0u8; 512])?;
    let mut buf = [0u8; 200];
    std::fs::File::open("/dev/zero")?.read_exact(&mut buf)?;
    // Large enough for the allocator to map it.
    let mapped = vec![1u8; 4 << 20];
    std::hint::black_box(&mapped);
    Ok(())
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("tracex5"));
    let mut child = match args.pid {
        Some(_) => None,
        None => Some(
            Command::new(std::env::current_exe()?)
                .arg("--workload")
                .stdin(Stdio::piped())
                .spawn()?,
        ),
    };
    let target = child.as_ref().map_or(args.pid.unwrap_or(0), |c| c.id());
    // ANCHOR: tail_calls
    let ebpf = iu::EbpfLoader::new()
        .set_global("TARGET_PID", &target)
        .load_file(&object)?;
    let progs = ebpf.program_array("PROGS")?;
    for (nr, program) in [
        (libc::SYS_write, "sys_write"),
        (libc::SYS_read, "sys_read"),
        (libc::SYS_mmap, "sys_mmap"),
    ] {
        progs.set(nr as u32, ebpf.program(program)?)?;
    }
    let mut events = iu::maps::RingBuf::new(ebpf.map("EVENTS")?)?.typed::<SyscallEvent>();
    let _link = ebpf.kprobe("tracex5")?.attach()?;
    // ANCHOR_END: tail_calls
    match &mut child {
        Some(child) => {
            log::info!("tracing the workload, process {target}");
            child
                .stdin
                .take()
                .ok_or("the workload has no stdin")?
                .write_all(b"go\n")?;
            let status = child.wait()?;
            if !status.success() {
                return Err(format!("the workload failed: {status}").into());
            }
        }
        None => {
            log::info!("tracing process {target} for {} s", args.duration);
            std::thread::sleep(Duration::from_secs_f64(args.duration));
        }
    }
    events.consume(|e| println!("{}", describe(&e)));
    let mut others: BTreeMap<u32, u64> = ebpf
        .hash_map::<u32, u64>("OTHERS")?
        .entries()?
        .into_iter()
        .collect();
    let total: u64 = others.values().sum();
    println!(
        "other syscalls: {total} calls of {} kinds{}",
        others.len(),
        others
            .remove(&(libc::SYS_getuid as u32))
            .map(|n| format!(", getuid {n}"))
            .unwrap_or_default()
    );
    Ok(())
}

fn describe(e: &SyscallEvent) -> String {
    let [a, b, c] = e.args;
    match i64::from(e.nr) {
        libc::SYS_write => format!("{}: write(fd={a}, buf={b:#x}, size={c})", e.pid),
        libc::SYS_read => format!("{}: read(fd={a}, buf={b:#x}, size={c})", e.pid),
        libc::SYS_mmap => format!("{}: mmap(addr={a:#x}, length={b}, prot={c:#x})", e.pid),
        nr => format!("{}: syscall {nr}({a:#x}, {b:#x}, {c:#x})", e.pid),
    }
}
