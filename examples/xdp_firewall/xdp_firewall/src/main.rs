//! The user side of `xdp_firewall`: attaches the program to an interface,
//! blocks the prefixes given on the command line, takes `block CIDR` and
//! `unblock CIDR` commands on stdin while it runs, and prints the packets
//! passed and dropped per source every interval.
#![forbid(unsafe_code)]

use std::{collections::BTreeMap, net::Ipv4Addr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, ValueEnum};
use iu::{
    maps::{BPF_ANY, LpmKey, LpmTrie},
    programs::XdpMode,
};
use tokio::io::AsyncBufReadExt;
use xdp_firewall_common::{CountKey, DROPPED, PASSED};

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Auto,
    Generic,
    Driver,
}

#[derive(Parser)]
struct Args {
    /// The interface to protect.
    #[arg(long)]
    iface: String,
    /// XDP mode.
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    /// Prefixes to block from the start, like `10.0.0.0/8`.
    #[arg(long)]
    block: Vec<String>,
    /// Seconds between count tables.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// The BPF object (default: `$IU_OBJECT_DIR/xdp_firewall`).
    #[arg(long)]
    object: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdp_firewall: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `a.b.c.d/len` (or a bare address, /32).
fn parse_prefix(text: &str) -> Result<LpmKey<[u8; 4]>, String> {
    let (addr, len) = text.split_once('/').unwrap_or((text, "32"));
    let addr: Ipv4Addr = addr.parse().map_err(|e| format!("{text}: {e}"))?;
    let len: u32 = len.parse().map_err(|e| format!("{text}: {e}"))?;
    if len > 32 {
        return Err(format!("{text}: prefix length above 32"));
    }
    Ok(LpmKey::new(len, addr.octets()))
}

fn command(
    blocked: &LpmTrie<'_, [u8; 4], u32>,
    line: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["block", prefix] => {
            blocked.insert(&parse_prefix(prefix)?, &1, BPF_ANY)?;
            log::info!("blocked {prefix}");
        }
        ["unblock", prefix] => {
            let removed = blocked.remove(&parse_prefix(prefix)?)?;
            log::info!(
                "unblocked {prefix}{}",
                if removed { "" } else { " (was not blocked)" }
            );
        }
        [] => {}
        _ => log::warn!("unknown command {line:?}: use `block CIDR` or `unblock CIDR`"),
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: load
    let object = args
        .object
        .clone()
        .unwrap_or_else(|| iu::object_dir().join("xdp_firewall"));
    let ebpf = iu::Ebpf::load_file(&object)?;
    let blocked = ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")?;
    for prefix in &args.block {
        command(&blocked, &format!("block {prefix}"))?;
    }
    let mode = match args.mode {
        Mode::Auto => XdpMode::Auto,
        Mode::Generic => XdpMode::Generic,
        Mode::Driver => XdpMode::Driver,
    };
    let _link = ebpf.xdp("xdp_firewall")?.attach(&args.iface, mode)?;
    log::info!(
        "filtering {}; commands on stdin: `block CIDR`, `unblock CIDR`",
        args.iface
    );

    let counts = ebpf.hash_map::<CountKey, u64>("COUNTS")?;
    let mut snapshots = counts.snapshots(Duration::from_secs_f64(args.interval));
    // ANCHOR_END: load
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
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
                Some(entries) => print_counts(&entries?),
                None => break,
            },
            line = stdin.next_line(), if stdin_open => match line? {
                Some(line) => command(&blocked, &line)?,
                None => stdin_open = false,
            },
            () = &mut stop => break,
        }
    }
    print_counts(&counts.entries()?);
    Ok(())
}

fn print_counts(entries: &[(CountKey, u64)]) {
    let mut by_source: BTreeMap<[u8; 4], (u64, u64)> = BTreeMap::new();
    for (key, n) in entries {
        let row = by_source.entry(key.addr).or_default();
        match key.action {
            PASSED => row.0 += n,
            DROPPED => row.1 += n,
            _ => {}
        }
    }
    println!("{:<16} {:>10} {:>10}", "SOURCE", "PASSED", "DROPPED");
    for (addr, (passed, dropped)) in by_source {
        println!(
            "{:<16} {passed:>10} {dropped:>10}",
            Ipv4Addr::from(addr).to_string()
        );
    }
    println!();
}
