//! The user side of `bmc`: attaches the cache's XDP program (ingress) and
//! tc program (egress) to the interface memcached is reached through, and
//! prints the per-CPU statistics, summed, once a second and at the end.
//!
//! With `--pass-only` it attaches only the pass-through XDP program: on the
//! client's end of a veth pair (a veth wakes its peer for `XDP_TX`ed
//! packets only when the peer has an XDP program), or on the server's end
//! to measure memcached alone on the same path.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use bmc_common::stats;
use clap::Parser;
use iu::programs::{TcDirection, XdpMode};

#[derive(Parser)]
struct Args {
    /// The interface memcached's clients reach it through.
    #[arg(long)]
    iface: String,
    /// Attach only the pass-through XDP program.
    #[arg(long)]
    pass_only: bool,
    /// Seconds between lines.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many seconds (default: until Ctrl-C or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// The BPF object (default: `$IU_OBJECT_DIR/bmc`).
    #[arg(long)]
    object: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bmc: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Each counter summed over the CPUs.
fn totals(map: &iu::maps::PerCpuArray<'_, u64>) -> iu::Result<Vec<u64>> {
    (0..stats::COUNT)
        .map(|i| Ok(map.get(i)?.iter().sum()))
        .collect()
}

fn line(values: &[u64]) -> String {
    stats::NAMES
        .iter()
        .zip(values)
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("bmc"));
    let ebpf = iu::Ebpf::load_file(&object)?;
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        match args.duration {
            Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
            None => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::pin!(stop);
    if args.pass_only {
        let _pass = ebpf.xdp("bmc_pass")?.attach(&args.iface, XdpMode::Driver)?;
        log::info!("pass-through XDP on {}", args.iface);
        println!("ready");
        stop.await?;
        return Ok(());
    }
    let _rx = ebpf.xdp("bmc_rx")?.attach(&args.iface, XdpMode::Driver)?;
    let _tx = ebpf
        .classifier("bmc_tx")?
        .attach(&args.iface, TcDirection::Egress)?;
    log::info!("caching memcached on {}", args.iface);
    println!("ready");
    let stats = ebpf.per_cpu_array::<u64>("STATS")?;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(args.interval));
    ticks.tick().await;
    let mut last = totals(&stats)?;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let now = totals(&stats)?;
                let delta: Vec<u64> = now.iter().zip(&last).map(|(n, l)| n - l).collect();
                println!("{}", line(&delta));
                last = now;
            }
            r = &mut stop => {
                r?;
                break;
            }
        }
    }
    println!("total {}", line(&totals(&stats)?));
    Ok(())
}
