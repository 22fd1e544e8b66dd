//! The user side of `execsnoop`: prints one line per exec, read
//! asynchronously from the program's ring buffer, until Ctrl-C or
//! `--duration`.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use execsnoop_common::ExecEvent;

#[derive(Parser)]
struct Args {
    /// The BPF object (default: `$IU_OBJECT_DIR/execsnoop`).
    #[arg(long)]
    object: Option<PathBuf>,
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
            eprintln!("execsnoop: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: events
    let object = args
        .object
        .unwrap_or_else(|| iu::object_dir().join("execsnoop"));
    // The fork record's layout changed in Linux 6.10: take the offset from
    // this kernel's format file.
    let (child_pid, _) = iu::tracefs::field("sched", "sched_process_fork", "child_pid")?;
    let ebpf = iu::EbpfLoader::new()
        .set_global("FORK_CHILD_PID", &child_pid)
        .load_file(&object)?;
    let mut events = iu::maps::RingBuf::new(ebpf.map("EVENTS")?)?.typed::<ExecEvent>();
    let _fork = ebpf.tracepoint("fork")?.attach()?;
    let _exec = ebpf.tracepoint("execsnoop")?.attach()?;
    log::info!("tracing execs; Ctrl-C to stop");
    println!(
        "{:>8} {:>8} {:>6} {:<16} {:<16} FILENAME",
        "PID", "PPID", "UID", "COMM", "PCOMM"
    );
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
            event = events.next() => match event {
                Some(event) => {
                    let e = event?;
                    println!(
                        "{:>8} {:>8} {:>6} {:<16} {:<16} {}",
                        e.pid,
                        e.ppid,
                        e.uid,
                        e.comm(),
                        e.parent_comm(),
                        e.filename()
                    );
                }
                None => break,
            },
            () = &mut stop => break,
        }
    }
    // ANCHOR_END: events
    Ok(())
}
