//! The user side of `perf_output`: reads exec events from per-CPU perf
//! buffers, printing the CPU of each and reporting lost events, until
//! Ctrl-C or `--duration`.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use execsnoop_common::ExecEvent;
use iu::{
    Pod,
    maps::{PerfEvent, PerfEventArray},
};

#[derive(Parser)]
struct Args {
    /// The BPF object (default: `$IU_OBJECT_DIR/perf_output`).
    #[arg(long)]
    object: Option<PathBuf>,
    /// Pages per CPU buffer (a power of two).
    #[arg(long, default_value_t = 16)]
    pages: usize,
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
            eprintln!("perf_output: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: events
    let object = args
        .object
        .unwrap_or_else(|| iu::object_dir().join("perf_output"));
    let ebpf = iu::Ebpf::load_file(&object)?;
    let mut events = PerfEventArray::new(ebpf.map("EVENTS")?, args.pages)?;
    let _link = ebpf.tracepoint("perf_output")?.attach()?;
    log::info!("tracing execs through perf buffers; Ctrl-C to stop");
    println!(
        "{:>3} {:>8} {:>6} {:<16} FILENAME",
        "CPU", "PID", "UID", "COMM"
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
                Some(event) => match event? {
                    PerfEvent::Sample { cpu, data } => {
                        let e = ExecEvent::from_bytes(&data).ok_or("short sample")?;
                        println!("{cpu:>3} {:>8} {:>6} {:<16} {}", e.pid, e.uid, e.comm(), e.filename());
                    }
                    PerfEvent::Lost { cpu, count } => log::warn!("CPU {cpu}: lost {count} events"),
                },
                None => break,
            },
            () = &mut stop => break,
        }
    }
    if events.lost() > 0 {
        log::warn!("{} events lost in total", events.lost());
    }
    // ANCHOR_END: events
    Ok(())
}
