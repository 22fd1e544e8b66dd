//! `cargo xtask bench`: iu against its peers (C libbpf, aya), in one run.
//!
//! Load benchmark: open + load + attach of `hello` (the tracepoint example),
//! repeated; wall and CPU time per iteration, detach and close untimed. Each
//! peer runs in its own process, interleaved over several rounds so that
//! machine noise hits all of them alike; the table shows the median over
//! rounds.

use std::{collections::BTreeMap, process::Command};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::{build, toolchain};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Iterations per round and peer.
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Rounds (each runs every peer once).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Skip the aya peer (it takes a minute to build the first time).
    #[arg(long)]
    pub no_aya: bool,
}

/// One peer: how to run it, and its results per round.
struct Peer {
    name: &'static str,
    command: Command,
    rounds: Vec<BTreeMap<String, f64>>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    build::build_programs(&toolchain, Some("hello"))?;
    toolchain::apt_install(&["clang-22", "libbpf-dev"])?;
    let root = crate::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let object = build::object_dir().join("hello");
    let object = object.to_str().context("non-UTF-8 path")?.to_owned();
    let iterations = args.iterations.to_string();

    let libbpf = out.join("libbpf_load");
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-Wall", "-o"])
            .arg(&libbpf)
            .arg(root.join("xtask/peers/libbpf_load.c"))
            .arg("-lbpf"),
    )?;
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "iu", "--bench", "load"]))?;

    let mut libbpf_cmd = Command::new(&libbpf);
    libbpf_cmd.args([&object, "hello", &iterations]);
    let mut iu_cmd = crate::cargo();
    iu_cmd.args(["bench", "-q", "-p", "iu", "--bench", "load", "--"]);
    iu_cmd.args([&object, "hello", &iterations]);
    let mut peers = vec![
        Peer {
            name: "C libbpf",
            command: libbpf_cmd,
            rounds: vec![],
        },
        Peer {
            name: "iu",
            command: iu_cmd,
            rounds: vec![],
        },
    ];
    if !args.no_aya {
        let manifest = root.join("xtask/peers/aya-load/Cargo.toml");
        let target = out.join("aya");
        toolchain::long_step(
            "building the aya peer",
            crate::cargo()
                .args(["build", "--release", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target),
        )?;
        let mut aya = Command::new(target.join("release/aya-load"));
        aya.args([&object, "hello", "syscalls", "sys_enter_dup", &iterations]);
        peers.push(Peer {
            name: "aya 0.13",
            command: aya,
            rounds: vec![],
        });
    }

    for round in 1..=args.rounds {
        for peer in &mut peers {
            eprintln!("xtask: round {round}/{}: {}", args.rounds, peer.name);
            let output = peer.command.output()?;
            if !output.status.success() {
                bail!(
                    "{} failed: {}",
                    peer.name,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            peer.rounds
                .push(parse(&String::from_utf8_lossy(&output.stdout)));
        }
    }
    report(&peers, args);
    Ok(())
}

/// Parses `key=value key=value` output.
fn parse(line: &str) -> BTreeMap<String, f64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

fn median_of(peer: &Peer, key: &str) -> f64 {
    let mut values: Vec<f64> = peer
        .rounds
        .iter()
        .filter_map(|r| r.get(key).copied())
        .collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(peers: &[Peer], args: &BenchArgs) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "\nLoad of `hello` (open + load + attach; kernel {}; {} iterations x {} rounds; median of rounds)\n",
        kernel.trim(),
        args.iterations,
        args.rounds
    );
    println!(
        "| loader | first load (µs) | median (µs) | p90 (µs) | CPU median (µs) | median vs libbpf |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let base = peers
        .first()
        .map(|p| median_of(p, "median_us"))
        .unwrap_or(f64::NAN);
    for peer in peers {
        let median = median_of(peer, "median_us");
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x |",
            peer.name,
            median_of(peer, "cold_us"),
            median,
            median_of(peer, "p90_us"),
            median_of(peer, "cpu_median_us"),
            median / base
        );
    }
}
