//! The user side of `runqlat`: loads the BTF tracepoints, then prints the
//! run-queue latency histogram of each interval (as bcc's `runqlat`),
//! read asynchronously from the program's array, until Ctrl-C or
//! `--duration`.
#![forbid(unsafe_code)]

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use runqlat_common::{MAX_SLOTS, bounds};

#[derive(Parser)]
struct Args {
    /// The BPF object (default: `$IU_OBJECT_DIR/runqlat`).
    #[arg(long)]
    object: Option<PathBuf>,
    /// Seconds between histograms.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Only the threads of this process.
    #[arg(long, short)]
    pid: Option<u32>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runqlat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let object = args
        .object
        .unwrap_or_else(|| iu::object_dir().join("runqlat"));
    // ANCHOR: attach
    let ebpf = iu::EbpfLoader::new()
        .set_global("TARGET_TGID", &args.pid.unwrap_or(0))
        .load_file(&object)?;
    let hist = ebpf.array::<u64>("HIST")?;
    let _links = [
        ebpf.btf_tracepoint("sched_wakeup")?.attach()?,
        ebpf.btf_tracepoint("sched_wakeup_new")?.attach()?,
        ebpf.btf_tracepoint("sched_switch")?.attach()?,
    ];
    // ANCHOR_END: attach
    log::info!("tracing run queue latency; Ctrl-C to stop");
    let mut snapshots = hist.snapshots(Duration::from_secs_f64(args.interval));
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    // The array only grows: each interval prints what it added, so no
    // count is lost between a read and a reset.
    let mut shown = vec![0u64; MAX_SLOTS];
    loop {
        tokio::select! {
            snapshot = snapshots.next() => match snapshot {
                Some(counts) => print_interval(&counts?, &mut shown),
                None => break,
            },
            () = &mut stop => break,
        }
    }
    print_interval(&hist.values()?, &mut shown);
    Ok(())
}

/// Prints what `counts` added since `shown`, then remembers it.
fn print_interval(counts: &[u64], shown: &mut [u64]) {
    let delta: Vec<u64> = counts
        .iter()
        .zip(shown.iter())
        .map(|(now, before)| now.saturating_sub(*before))
        .collect();
    shown.copy_from_slice(counts);
    print!("{}", log2_histogram(&delta, "usecs"));
}

/// A log2 histogram in bcc's layout (`print_log2_hist`), empty when every
/// count is 0.
fn log2_histogram(counts: &[u64], unit: &str) -> String {
    const STARS: u64 = 40;
    let Some(last) = counts.iter().rposition(|&c| c > 0) else {
        return String::new();
    };
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut out = format!("\n{:5}{unit:<19} : count    distribution\n", "");
    for (i, &count) in counts.iter().enumerate().take(last + 1) {
        let (low, high) = bounds(i as u32);
        let stars = (count * STARS / max) as usize;
        out.push_str(&format!(
            "{low:>10} -> {high:<10} : {count:<8} |{:<40}|\n",
            "*".repeat(stars)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_histogram_has_bccs_layout() {
        let text = super::log2_histogram(&[1, 0, 4, 2], "usecs");
        let expected = "
     usecs               : count    distribution
         0 -> 1          : 1        |**********                              |
         2 -> 3          : 0        |                                        |
         4 -> 7          : 4        |****************************************|
         8 -> 15         : 2        |********************                    |
";
        assert_eq!(text, expected);
        assert_eq!(super::log2_histogram(&[0, 0], "usecs"), "");
    }
}
