//! The user side of `tc_counter`: attaches the two classifiers to an
//! interface's ingress and egress and prints the byte and packet counters
//! every interval.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use iu::programs::TcDirection;

#[derive(Parser)]
struct Args {
    /// The interface to count on.
    #[arg(long)]
    iface: String,
    /// Seconds between lines.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// The BPF object (default: `$IU_OBJECT_DIR/tc_counter`).
    #[arg(long)]
    object: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tc_counter: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("tc_counter"));
    // ANCHOR: attach
    let ebpf = iu::Ebpf::load_file(&object)?;
    let _ingress = ebpf
        .classifier("ingress")?
        .attach(&args.iface, TcDirection::Ingress)?;
    let _egress = ebpf
        .classifier("egress")?
        .attach(&args.iface, TcDirection::Egress)?;
    // ANCHOR_END: attach
    log::info!("counting on {}", args.iface);
    let counters = ebpf.array::<u64>("COUNTERS")?;
    let mut snapshots = counters.snapshots(Duration::from_secs_f64(args.interval));
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    println!(
        "{:>14} {:>10} {:>14} {:>10}",
        "INGRESS BYTES", "PACKETS", "EGRESS BYTES", "PACKETS"
    );
    loop {
        tokio::select! {
            snapshot = snapshots.next() => match snapshot {
                Some(values) => {
                    let v = values?;
                    println!("{:>14} {:>10} {:>14} {:>10}", v[0], v[1], v[2], v[3]);
                }
                None => break,
            },
            () = &mut stop => break,
        }
    }
    Ok(())
}
