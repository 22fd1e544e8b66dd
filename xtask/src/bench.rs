//! `cargo xtask bench`: iu against its peers (C libbpf, aya, bpftool), in
//! one run.
//!
//! Each peer runs in its own process, interleaved over several rounds so
//! that machine noise hits all of them alike; the tables show the median
//! over rounds.
//!
//! - Load: open + load + attach of `hello` (the tracepoint example),
//!   repeated; wall and CPU time per iteration, detach and close untimed.
//! - Maps: a `HashMap<u32, u64>` of `--entries` entries, filled from user
//!   space (batch and one at a time) and dumped (batch, key by key, and
//!   `bpftool map dump`); wall time of each operation.
//! - Events: 64-byte records from a tracepoint program on `getppid()`,
//!   driven by a producer process on one CPU and consumed on the other by
//!   iu (`RingBuf` stream and `consume`, `PerfEventArray`) and C libbpf
//!   (`ring_buffer__poll`, `perf_buffer__poll`); events/s, losses (checked:
//!   produced = delivered + lost) and consumer CPU time per million events.
//! - Programs: the XDP and tc examples against C equivalents
//!   (`xtask/peers/*.bpf.c`, `clang-22 -O2 -g -target bpf -mcpu=v3`), both
//!   loaded by iu: ns per run with `BPF_PROG_TEST_RUN` (the calling
//!   thread's CPU time per call over its runs, and the kernel's own whole
//!   nanoseconds) and the xlated, JITed and verified sizes.
//! - BMC: the memcached cache of `examples/bmc` against memcached alone
//!   under a Zipf load (the example's `bmc_bench`).

use std::{collections::BTreeMap, path::Path, process::Command};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

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
    /// Run only this benchmark (default: all of them).
    #[arg(long, value_enum)]
    pub only: Option<Which>,
    /// Entries of the map benchmark's hash map.
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u32,
    /// Ring-buffer records per run of the events benchmark (perf buffers
    /// get a tenth: each of their records wakes the consumer).
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Runs per `BPF_PROG_TEST_RUN` call of the programs benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    pub repeat: u32,
    /// `BPF_PROG_TEST_RUN` calls per packet, program and round (the kernel
    /// reports whole nanoseconds per call; their mean has finer grain).
    #[arg(long, default_value_t = 3)]
    pub test_runs: u32,
    /// Extra arguments for the BMC benchmark's `bmc_bench`, one string
    /// (e.g. `--bmc-args "--client xsk --seconds 5"`; `bmc_bench --help`).
    #[arg(long, allow_hyphen_values = true)]
    pub bmc_args: Option<String>,
}

/// A benchmark section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Open + load + attach of `hello`.
    Load,
    /// Insert into and dump a large hash map.
    Maps,
    /// Stream events through ring buffers and perf buffers.
    Events,
    /// The XDP and tc examples against C programs built by clang.
    Programs,
    /// Load of a C object with 51 CO-RE relocations: libbpf against iu.
    Core,
    /// The BMC example in front of memcached, against memcached alone.
    Bmc,
    /// Load of an object with 100 programs and 50 maps (generated in C and
    /// in Rust): libbpf, iu and aya.
    Many,
}

/// One peer: how to run it, and its results per round.
struct Peer {
    name: &'static str,
    command: Command,
    rounds: Vec<BTreeMap<String, f64>>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if args.only.is_none_or(|w| w == Which::Load) {
        run_load(args)?;
    }
    if args.only.is_none_or(|w| w == Which::Maps) {
        run_maps(args)?;
    }
    if args.only.is_none_or(|w| w == Which::Events) {
        run_events(args)?;
    }
    if args.only.is_none_or(|w| w == Which::Programs) {
        run_programs(args)?;
    }
    if args.only.is_none_or(|w| w == Which::Core) {
        run_core(args)?;
    }
    if args.only.is_none_or(|w| w == Which::Many) {
        run_many(args)?;
    }
    if args.only.is_none_or(|w| w == Which::Bmc) {
        run_bmc(args)?;
    }
    let missed = MISSED.lock().map(|m| m.clone()).unwrap_or_default();
    if !missed.is_empty() {
        println!("\n{} goal(s) missed:", missed.len());
        for what in &missed {
            println!("FAIL: {what}");
        }
    }
    Ok(())
}

/// BMC (examples/bmc) in front of Debian's memcached against memcached
/// alone, in network namespaces joined by veth pairs: the example's own
/// load generator (`bmc_bench`), `--rounds` interleaved rounds, then
/// `BPF_PROG_TEST_RUN` ns per hit and per miss and the instruction counts.
fn run_bmc(args: &BenchArgs) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    build::build_programs(&toolchain, Some("bmc"))?;
    toolchain::apt_install(&["memcached", "iproute2", "util-linux"])?;
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "bmc"]))?;
    crate::run_cmd(
        Command::new(crate::root().join("target/release/bmc_bench"))
            .args(["--rounds", &args.rounds.to_string()])
            .args(args.bmc_args.iter().flat_map(|a| a.split_whitespace()))
            .env("IU_OBJECT_DIR", build::object_dir()),
    )
}

/// Open + load + attach of `xtask/peers/core_bench.bpf.c` (51 CO-RE
/// relocations against the running kernel's BTF), by C libbpf and by iu.
fn run_core(args: &BenchArgs) -> Result<()> {
    // Also writes target/bpf/include/vmlinux.h.
    build::build_c_objects()?;
    let root = crate::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let object = out.join("core_bench.bpf.o");
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-g", "-O2", "-target", "bpf", "-mcpu=v3"])
            .args(["-D__TARGET_ARCH_x86", "-mlittle-endian", "-I"])
            .arg(root.join("target/bpf/include"))
            .arg("-c")
            .arg(root.join("xtask/peers/core_bench.bpf.c"))
            .arg("-o")
            .arg(&object),
    )?;
    let object = object.to_str().context("non-UTF-8 path")?.to_owned();
    // The same reads in Rust, through generated handles.
    let toolchain = toolchain::ensure()?;
    let programs = root.join("iu/tests/programs");
    build::build_binary(&toolchain, &programs, "core_bench")?;
    build::build_binary(&toolchain, &programs, "core_read_btf")?;
    let rust_object = build::object_dir().join("core_bench");
    let rust_object = rust_object.to_str().context("non-UTF-8 path")?.to_owned();
    let mut peers = load_peers(&object, "core_bench", args)?;
    let mut rust = crate::cargo();
    rust.args(["bench", "-q", "-p", "iu", "--bench", "load", "--"]);
    rust.args([&rust_object, "core_bench", &args.iterations.to_string()]);
    peers.push(Peer {
        name: "iu, the Rust object",
        command: rust,
        rounds: vec![],
    });
    run_rounds(&mut peers, args.rounds)?;
    report_load(
        &peers,
        args,
        "an object with 34 CO-RE field reads: clang-22 C (`xtask/peers/core_bench.bpf.c`, 51 relocations) and Rust (`iu/tests/programs/src/bin/core_bench.rs`, the same 34 reads: 29 records resolved, 19 placeholder loads patched, as LLVM merges a field's loads within a function)",
    );
    // One field read (`task->tgid` into a global or map slot): xlated size.
    let xlated = |object: &str, program: &str| -> Result<String> {
        let output = crate::cargo()
            .args(["bench", "-q", "-p", "iu", "--bench", "load", "--"])
            .args([object, program, "xlated"])
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text
            .trim()
            .strip_prefix("xlated=")
            .unwrap_or("?")
            .to_owned())
    };
    let btf_object = build::object_dir().join("core_read_btf");
    let btf_object = btf_object.to_str().context("non-UTF-8 path")?.to_owned();
    println!("\nOne field read, xlated instructions of the whole program (loaded by iu)\n");
    println!("| program | read | xlated insns |");
    println!("|---|---|---:|");
    println!(
        "| C `core_one_read` | `BPF_CORE_READ(task, tgid)` (probe read), stored in a global | {} |",
        xlated(&object, "core_one_read")?
    );
    println!(
        "| Rust `core_one_read` | `current_task().tgid()` (probe read), stored in an array slot | {} |",
        xlated(&rust_object, "core_one_read")?
    );
    println!(
        "| Rust `core_read_btf` | `ctx.current_task().tgid()` (direct load, tp_btf), stored in an array slot | {} |",
        xlated(&btf_object, "core_read_btf")?
    );
    Ok(())
}

/// Programs and maps of the generated objects of [`run_many`].
const MANY_PROGRAMS: usize = 100;
const MANY_MAPS: usize = 50;

/// The C source of the many-programs object: map `m` is an array (even
/// `m`) or a hash map (odd), and program `p` counts in map `p % 50`, key
/// `p`, on `sys_enter_getppid`.
fn many_c() -> String {
    let mut c = String::from(
        "// Generated by `cargo xtask bench --only many`.\n\
         #include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\n",
    );
    for m in 0..MANY_MAPS {
        let (kind, entries) = if m.is_multiple_of(2) {
            ("BPF_MAP_TYPE_ARRAY", 128)
        } else {
            ("BPF_MAP_TYPE_HASH", 1024)
        };
        c += &format!(
            "struct {{\n\t__uint(type, {kind});\n\t__type(key, __u32);\n\t__type(value, __u64);\n\t\
             __uint(max_entries, {entries});\n}} MAP_{m} SEC(\".maps\");\n\n"
        );
    }
    for p in 0..MANY_PROGRAMS {
        let m = p % MANY_MAPS;
        let body = if m.is_multiple_of(2) {
            "\t__u64 *v = bpf_map_lookup_elem(&MAP_{m}, &key);\n\tif (v)\n\t\t__sync_fetch_and_add(v, 1);\n"
                .replace("{m}", &m.to_string())
        } else {
            "\t__u64 *v = bpf_map_lookup_elem(&MAP_{m}, &key);\n\tif (v) {\n\t\t__sync_fetch_and_add(v, 1);\n\t\treturn 0;\n\t}\n\
             \t__u64 one = 1;\n\tbpf_map_update_elem(&MAP_{m}, &key, &one, BPF_NOEXIST);\n"
                .replace("{m}", &m.to_string())
        };
        c += &format!(
            "SEC(\"tracepoint/syscalls/sys_enter_getppid\")\nint prog_{p}(void *ctx)\n{{\n\t__u32 key = {p};\n{body}\treturn 0;\n}}\n\n"
        );
    }
    c + "char LICENSE[] SEC(\"license\") = \"GPL\";\n"
}

/// The same object in Rust: a program crate for iu-ebpf.
fn many_rust() -> (String, String) {
    let iu_ebpf = crate::root().join("iu-ebpf");
    let manifest = format!(
        "# Generated by `cargo xtask bench --only many`.\n[workspace]\n\n[package]\nname = \"many\"\n\
         version = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n\
         iu-ebpf = {{ path = {:?} }}\n\n[profile.release]\npanic = \"abort\"\ndebug = 2\n\
         codegen-units = 1\nlto = true\nopt-level = 3\n",
        iu_ebpf.display().to_string()
    );
    let mut rs = String::from(
        "//! Generated by `cargo xtask bench --only many`.\n#![no_std]\n#![no_main]\n#![forbid(unsafe_code)]\n\n\
         use iu_ebpf::{map, maps::{Array, HashMap}, programs::TracePointContext, tracepoint, \
         tracepoints::syscalls::SysEnter};\n\niu_ebpf::license!(\"GPL\");\n\n",
    );
    for m in 0..MANY_MAPS {
        rs += &if m.is_multiple_of(2) {
            format!("#[map]\nstatic MAP_{m}: Array<u64, 128> = Array::new();\n")
        } else {
            format!("#[map]\nstatic MAP_{m}: HashMap<u32, u64, 1024> = HashMap::new();\n")
        };
    }
    for p in 0..MANY_PROGRAMS {
        let m = p % MANY_MAPS;
        let body = if m.is_multiple_of(2) {
            format!("    let _ = MAP_{m}.add({p}, 1);")
        } else {
            format!("    let _ = MAP_{m}.add(&{p}, 1);")
        };
        rs += &format!(
            "\n#[tracepoint(category = \"syscalls\", name = \"sys_enter_getppid\")]\n\
             fn prog_{p}(_ctx: TracePointContext<SysEnter>) -> u32 {{\n{body}\n    0\n}}\n"
        );
    }
    (manifest, rs)
}

/// Load (open + load, nothing attached) of an object with 100 tracepoint
/// programs and 50 maps, generated in C (clang-22) and in Rust (iu-ebpf):
/// C libbpf, iu and aya on the C object, iu on the Rust one.
fn run_many(args: &BenchArgs) -> Result<()> {
    toolchain::apt_install(&["clang-22", "libbpf-dev"])?;
    let root = crate::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let c_source = out.join("many.bpf.c");
    std::fs::write(&c_source, many_c())?;
    let c_object = out.join("many.bpf.o");
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-g", "-Wall", "-target", "bpf", "-mcpu=v3", "-I"])
            .arg(&multiarch)
            .arg("-c")
            .arg(&c_source)
            .arg("-o")
            .arg(&c_object),
    )?;
    let krate = out.join("many-ebpf");
    std::fs::create_dir_all(krate.join("src"))?;
    let (manifest, rs) = many_rust();
    std::fs::write(krate.join("Cargo.toml"), manifest)?;
    std::fs::write(krate.join("src/main.rs"), rs)?;
    let toolchain = toolchain::ensure()?;
    build::build_binary(&toolchain, &krate, "many")?;
    let rust_object = build::object_dir().join("many");
    let rust_object = rust_object.to_str().context("non-UTF-8 path")?.to_owned();
    let c_object = c_object.to_str().context("non-UTF-8 path")?.to_owned();
    let mut peers = load_peers(&c_object, "-", args)?;
    let mut rust = crate::cargo();
    rust.args(["bench", "-q", "-p", "iu", "--bench", "load", "--"]);
    rust.args([&rust_object, "-", &args.iterations.to_string()]);
    peers.push(Peer {
        name: "iu, the Rust object",
        command: rust,
        rounds: vec![],
    });
    // libbpf on the Rust object: its BTF and line info are larger than the
    // C object's, so each loader is compared with the other on the same
    // object.
    let mut libbpf_rust = Command::new(root.join("target/bench/libbpf_load"));
    libbpf_rust.args([&rust_object, "-", &args.iterations.to_string()]);
    peers.push(Peer {
        name: "C libbpf, the Rust object",
        command: libbpf_rust,
        rounds: vec![],
    });
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
        aya.args([&c_object, "-", "-", "-", &args.iterations.to_string()]);
        peers.push(Peer {
            name: "aya 0.13, the C object",
            command: aya,
            rounds: vec![],
        });
    }
    run_rounds(&mut peers, args.rounds)?;
    report_load(
        &peers,
        args,
        "an object with 100 tracepoint programs and 50 maps (25 arrays, 25 hash maps; `target/bench/many.bpf.c` by clang-22, `target/bench/many-ebpf` in Rust; nothing attached)",
    );
    let ratio = median_of(&peers[1], "median_us") / median_of(&peers[0], "median_us");
    let rust_ratio = median_of(&peers[2], "median_us") / median_of(&peers[3], "median_us");
    let rust_vs_c = median_of(&peers[2], "median_us") / median_of(&peers[0], "median_us");
    println!();
    goal(
        &format!("many: iu loads the C object in {ratio:.3}x libbpf's time (goal: at most 1.00x)"),
        ratio <= 1.0,
    );
    goal(
        &format!(
            "many: iu loads the Rust object in {rust_ratio:.3}x libbpf's time for the same object (goal: at most 1.00x)"
        ),
        rust_ratio <= 1.0,
    );
    println!(
        "many: iu on the Rust object takes {rust_vs_c:.3}x libbpf's time on the C object (a larger object: no goal)"
    );
    Ok(())
}

/// The C libbpf and iu peers of a load benchmark: each opens, loads and
/// attaches program `program` of `object` `--iterations` times.
fn load_peers(object: &str, program: &str, args: &BenchArgs) -> Result<Vec<Peer>> {
    let root = crate::root();
    let libbpf = root.join("target/bench/libbpf_load");
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-Wall", "-o"])
            .arg(&libbpf)
            .arg(root.join("xtask/peers/libbpf_load.c"))
            .arg("-lbpf"),
    )?;
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "iu", "--bench", "load"]))?;
    let iterations = args.iterations.to_string();
    let mut libbpf_cmd = Command::new(&libbpf);
    libbpf_cmd.args([object, program, &iterations]);
    let mut iu_cmd = crate::cargo();
    iu_cmd.args(["bench", "-q", "-p", "iu", "--bench", "load", "--"]);
    iu_cmd.args([object, program, &iterations]);
    Ok(vec![
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
    ])
}

fn run_load(args: &BenchArgs) -> Result<()> {
    let toolchain = toolchain::ensure()?;
    build::build_programs(&toolchain, Some("hello"))?;
    toolchain::apt_install(&["clang-22", "libbpf-dev"])?;
    let root = crate::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let object = build::object_dir().join("hello");
    let object = object.to_str().context("non-UTF-8 path")?.to_owned();
    let iterations = args.iterations.to_string();
    let mut peers = load_peers(&object, "hello", args)?;
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

    run_rounds(&mut peers, args.rounds)?;
    report(&peers, args);
    Ok(())
}

/// Runs every peer once per round, in turn.
fn run_rounds(peers: &mut [Peer], rounds: usize) -> Result<()> {
    for round in 1..=rounds {
        for peer in peers.iter_mut() {
            eprintln!("xtask: round {round}/{rounds}: {}", peer.name);
            let output = peer
                .command
                .output()
                .with_context(|| format!("cannot start {}", crate::describe(&peer.command)))?;
            if !output.status.success() {
                bail!(
                    "{} failed ({}): {}",
                    peer.name,
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            peer.rounds
                .push(parse(&String::from_utf8_lossy(&output.stdout)));
        }
    }
    Ok(())
}

fn run_maps(args: &BenchArgs) -> Result<()> {
    toolchain::apt_install(&["clang-22", "libbpf-dev", "bpftool"])?;
    let root = crate::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    if args.entries == 0 {
        bail!("--entries must be at least 1");
    }
    let entries = args.entries.to_string();

    let libbpf = out.join("libbpf_maps");
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-Wall", "-o"])
            .arg(&libbpf)
            .arg(root.join("xtask/peers/libbpf_maps.c"))
            .arg("-lbpf"),
    )?;
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "iu", "--bench", "maps"]))?;
    // Debian puts bpftool in /usr/sbin, which a non-root PATH lacks.
    let bpftool = ["/usr/sbin/bpftool", "/usr/bin/bpftool"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("bpftool");

    let mut libbpf_cmd = Command::new(&libbpf);
    libbpf_cmd.arg(&entries);
    let mut iu_cmd = crate::cargo();
    iu_cmd.args(["bench", "-q", "-p", "iu", "--bench", "maps", "--"]);
    iu_cmd.args([entries.as_str(), "--bpftool", bpftool]);
    let mut peers = vec![
        Peer {
            name: "C libbpf (maps)",
            command: libbpf_cmd,
            rounds: vec![],
        },
        Peer {
            name: "iu (maps) + bpftool",
            command: iu_cmd,
            rounds: vec![],
        },
    ];
    run_rounds(&mut peers, args.rounds)?;
    for peer in &peers {
        for round in &peer.rounds {
            if round.get("entries") != Some(&f64::from(args.entries)) {
                bail!(
                    "{} did not report {} entries: {round:?}",
                    peer.name,
                    args.entries
                );
            }
        }
    }
    let bpftool_version = Command::new(bpftool)
        .arg("version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    report_maps(&peers, args, &bpftool_version);
    Ok(())
}

/// The goals missed so far in this run: each section reports its own and
/// the run goes on, `run` lists them all at the end.
static MISSED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Prints one goal's outcome, a `FAIL:` line when it is missed.
fn goal(what: &str, met: bool) {
    if met {
        println!("met: {what}");
    } else {
        println!("FAIL: {what}");
        if let Ok(mut missed) = MISSED.lock() {
            missed.push(what.to_owned());
        }
    }
}

/// Parses `key=value key=value` output.
fn parse(line: &str) -> BTreeMap<String, f64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

/// The values of `key` over the rounds, sorted.
fn sorted_values(peer: &Peer, key: &str) -> Vec<f64> {
    let mut values: Vec<f64> = peer
        .rounds
        .iter()
        .filter_map(|r| r.get(key).copied())
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

fn median_of(peer: &Peer, key: &str) -> f64 {
    let values = sorted_values(peer, key);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `min–max` of `key` over the rounds.
fn range_of(peer: &Peer, key: &str) -> String {
    let values = sorted_values(peer, key);
    match (values.first(), values.last()) {
        (Some(lo), Some(hi)) => format!("{lo:.0}–{hi:.0}"),
        _ => "-".into(),
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn report_maps(peers: &[Peer], args: &BenchArgs, bpftool_version: &str) {
    let [c, iu] = peers else {
        return;
    };
    println!(
        "\nMaps: HashMap<u32, u64> of {} entries (kernel {}; {} rounds; median of rounds, wall time)\n",
        args.entries,
        kernel_release(),
        args.rounds
    );
    let row = |what: &str, peer: &Peer, key: &str, base: f64| {
        let median = median_of(peer, key);
        println!(
            "| {what} | {median:.0} | {} | {:.2}x |",
            range_of(peer, key),
            median / base
        );
    };
    let c_dump = median_of(c, "dump_batch_ms");
    let dump_row = |what: &str, peer: &Peer, key: &str, same: Option<(&Peer, &str)>| {
        let median = median_of(peer, &format!("{key}_ms"));
        let vs_same = same.map_or(String::new(), |(p, k)| {
            format!("{:.3}x", median / median_of(p, &format!("{k}_ms")))
        });
        let faults = median_of(peer, &format!("{key}_minflt"));
        println!(
            "| {what} | {median:.0} | {} | {:.3}x | {vs_same} | {} |",
            range_of(peer, &format!("{key}_ms")),
            median / c_dump,
            if faults.is_nan() {
                "-".to_owned()
            } else {
                format!("{faults:.0}")
            }
        );
    };
    println!(
        "| dump | median (ms) | min–max (ms) | vs C one call | vs C, same method | minor page faults (median) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    dump_row(
        "C libbpf, `bpf_map_lookup_batch`, one call into fresh arrays",
        c,
        "dump_batch",
        None,
    );
    dump_row(
        "C libbpf, 4096 per call into fresh arrays",
        c,
        "dump_chunk_4096",
        None,
    );
    dump_row(
        "C libbpf, 65536 per call into fresh arrays",
        c,
        "dump_chunk_65536",
        None,
    );
    dump_row(
        "iu `entries()` (4096 per call, fresh `Vec`)",
        iu,
        "dump_batch",
        Some((c, "dump_chunk_4096")),
    );
    dump_row(
        "iu `entries_into()` (4096 per call, reused `Vec`)",
        iu,
        "dump_batch_into",
        Some((c, "dump_chunk_4096")),
    );
    dump_row(
        "iu `entries_into_chunked(.., 65536)` (reused `Vec`)",
        iu,
        "dump_chunk_65536",
        Some((c, "dump_chunk_65536")),
    );
    dump_row(
        "iu `entries_into_slices()` (reused slices, 4096 per call)",
        iu,
        "dump_slices",
        Some((c, "dump_chunk_4096")),
    );
    dump_row(
        "C libbpf, `get_next_key` + `lookup_elem`",
        c,
        "dump_key_by_key",
        None,
    );
    dump_row(
        "iu `entries_key_by_key()` (`iter()`)",
        iu,
        "dump_key_by_key",
        Some((c, "dump_key_by_key")),
    );
    dump_row(
        &format!("`bpftool map dump id N > /dev/null` ({bpftool_version})"),
        iu,
        "dump_bpftool",
        None,
    );

    println!("\n| insert | median (ms) | min–max (ms) | vs C, same method |");
    println!("|---|---:|---:|---:|");
    let c_batch = median_of(c, "insert_batch_ms");
    let c_elem = median_of(c, "insert_ms");
    row(
        "C libbpf, `bpf_map_update_batch`",
        c,
        "insert_batch_ms",
        c_batch,
    );
    row("iu `insert_batch()`", iu, "insert_batch_ms", c_batch);
    row(
        "C libbpf, `bpf_map_update_elem` loop",
        c,
        "insert_ms",
        c_elem,
    );
    row("iu `insert()` loop", iu, "insert_ms", c_elem);

    let ratio = |a: &Peer, ka: &str, b: &Peer, kb: &str| median_of(a, ka) / median_of(b, kb);
    let vs_c = ratio(iu, "dump_batch_ms", c, "dump_batch_ms");
    let into_vs_c = ratio(iu, "dump_batch_into_ms", c, "dump_batch_ms");
    let slices_vs_c = ratio(iu, "dump_slices_ms", c, "dump_batch_ms");
    let walk_vs_c = ratio(iu, "dump_key_by_key_ms", c, "dump_key_by_key_ms");
    println!();
    goal(
        &format!("maps: iu batch dump {vs_c:.3}x C batch (goal: at most 1.20x)"),
        vs_c <= 1.2,
    );
    goal(
        &format!(
            "maps: iu batch dump into the caller's slices {slices_vs_c:.3}x C's one-call batch dump (goal: at most 0.98x)"
        ),
        slices_vs_c <= 0.98,
    );
    goal(
        &format!(
            "maps: iu batch dump into a reused Vec {into_vs_c:.3}x C's one-call batch dump (goal: at most 1.00x)"
        ),
        into_vs_c <= 1.0,
    );
    goal(
        &format!("maps: iu key by key {walk_vs_c:.3}x C key by key (goal: at most 1.00x)"),
        walk_vs_c <= 1.0,
    );
    for chunk in [4096, 65536] {
        let iu_key = if chunk == 4096 {
            "dump_batch_into_ms".to_owned()
        } else {
            format!("dump_chunk_{chunk}_ms")
        };
        let r = ratio(iu, &iu_key, c, &format!("dump_chunk_{chunk}_ms"));
        goal(
            &format!(
                "maps: iu batch dump, {chunk} per call, {r:.3}x C at the same chunk size (goal: at most 1.00x)"
            ),
            r <= 1.0,
        );
    }
}

fn report(peers: &[Peer], args: &BenchArgs) {
    report_load(peers, args, "`hello`");
}

fn report_load(peers: &[Peer], args: &BenchArgs, what: &str) {
    println!(
        "\nLoad of {what} (open + load, + attach of the named program; kernel {}; {} iterations x {} rounds; median of rounds)\n",
        kernel_release(),
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

/// CPUs of the events benchmark: the consumer, and the producer.
const CONSUMER_CPU: &str = "0";
const PRODUCER_CPU: &str = "1";
/// Records per `getppid()` in the burst scenario.
const BURST: u64 = 16;

/// One events peer: scenario, buffer and consumer.
struct EventsPeer {
    scenario: &'static str,
    buffer: &'static str,
    consumer: &'static str,
    /// The C peer that this one is compared with (its index).
    baseline: usize,
    calls: u64,
    batch: u64,
    peer: Peer,
}

/// Calls of the drain scenario: 48,000 records of 72 bytes with their
/// headers, which fit in the 4 MiB ring.
const DRAIN_CALLS: u64 = 3_000;

fn run_events(args: &BenchArgs) -> Result<()> {
    if args.events < 10 * BURST {
        bail!("--events must be at least {}", 10 * BURST);
    }
    let toolchain = toolchain::ensure()?;
    let root = crate::root();
    build::build_binary(&toolchain, &root.join("iu/tests/programs"), "bench_events")?;
    toolchain::apt_install(&["clang-22", "libbpf-dev"])?;
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let producer = out.join("events_producer");
    let libbpf = out.join("libbpf_events");
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-Wall", "-o"])
            .arg(&producer)
            .arg(root.join("xtask/peers/events_producer.c")),
    )?;
    crate::run_cmd(
        Command::new("clang-22")
            .args(["-O2", "-Wall", "-o"])
            .arg(&libbpf)
            .arg(root.join("xtask/peers/libbpf_events.c"))
            .arg("-lbpf"),
    )?;
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "iu", "--bench", "events"]))?;
    let object = build::object_dir().join("bench_events");
    let object = object.to_str().context("non-UTF-8 path")?.to_owned();
    let producer = producer.to_str().context("non-UTF-8 path")?.to_owned();

    let c = |mode: &str, calls: u64, batch: u64| {
        let mut cmd = Command::new(&libbpf);
        cmd.args([&object, mode, &producer])
            .args([calls.to_string(), batch.to_string()])
            .args([CONSUMER_CPU, PRODUCER_CPU]);
        cmd
    };
    let iu = |mode: &str, calls: u64, batch: u64| {
        let mut cmd = crate::cargo();
        cmd.args(["bench", "-q", "-p", "iu", "--bench", "events", "--"])
            .args([&object, mode, &producer])
            .args([calls.to_string(), batch.to_string()])
            .args([CONSUMER_CPU, PRODUCER_CPU]);
        cmd
    };
    let peer = |name: &'static str, command: Command| Peer {
        name,
        command,
        rounds: vec![],
    };
    let steady = "steady (1 record per call)";
    let burst = "burst (16 records per call)";
    let (ring_calls, perf_calls, burst_calls) =
        (args.events, args.events / 10, args.events / BURST);
    let mut peers = vec![];
    // Each peer is compared with the C peer added last (itself for C).
    let mut baseline = 0;
    let mut add = |scenario, buffer, consumer: &'static str, calls, batch, p| {
        if consumer.starts_with("C ") {
            baseline = peers.len();
        }
        peers.push(EventsPeer {
            scenario,
            buffer,
            consumer,
            baseline,
            calls,
            batch,
            peer: p,
        });
    };
    add(
        steady,
        "RingBuf",
        "C libbpf `ring_buffer__poll`",
        ring_calls,
        1,
        peer("C ring (steady)", c("ring", ring_calls, 1)),
    );
    add(
        steady,
        "RingBuf",
        "iu `RingBuf::next().await`",
        ring_calls,
        1,
        peer("iu ring stream (steady)", iu("ring-stream", ring_calls, 1)),
    );
    add(
        steady,
        "RingBuf",
        "iu `readable().await` + `consume`",
        ring_calls,
        1,
        peer(
            "iu ring consume (steady)",
            iu("ring-consume", ring_calls, 1),
        ),
    );
    add(
        steady,
        "PerfEventArray",
        "C libbpf `perf_buffer__poll`",
        perf_calls,
        1,
        peer("C perf (steady)", c("perf", perf_calls, 1)),
    );
    add(
        steady,
        "PerfEventArray",
        "iu `PerfEventArray::next().await`",
        perf_calls,
        1,
        peer("iu perf stream (steady)", iu("perf-stream", perf_calls, 1)),
    );
    add(
        burst,
        "RingBuf",
        "C libbpf `ring_buffer__poll`",
        burst_calls,
        BURST,
        peer("C ring (burst)", c("ring", burst_calls, BURST)),
    );
    add(
        burst,
        "RingBuf",
        "iu `RingBuf::next().await`",
        burst_calls,
        BURST,
        peer(
            "iu ring stream (burst)",
            iu("ring-stream", burst_calls, BURST),
        ),
    );
    add(
        burst,
        "RingBuf",
        "iu `readable().await` + `consume`",
        burst_calls,
        BURST,
        peer(
            "iu ring consume (burst)",
            iu("ring-consume", burst_calls, BURST),
        ),
    );
    // Woken every 64 records instead of every one.
    let batched = "steady, woken every 64 records";
    add(
        batched,
        "PerfEventArray",
        "C libbpf `perf_buffer__new_raw` + `perf_buffer__poll`",
        perf_calls,
        1,
        peer("C perf (wakeup 64)", c("perf64", perf_calls, 1)),
    );
    add(
        batched,
        "PerfEventArray",
        "iu `PerfEventArray::with_wakeup_events` + `next().await`",
        perf_calls,
        1,
        peer(
            "iu perf stream (wakeup 64)",
            iu("perf-stream-64", perf_calls, 1),
        ),
    );
    add(
        batched,
        "PerfEventArray",
        "iu `with_wakeup_events` + `readable().await` + `consume`",
        perf_calls,
        1,
        peer(
            "iu perf consume (wakeup 64)",
            iu("perf-consume-64", perf_calls, 1),
        ),
    );
    // Draining a full ring without waiting: records that fit in the 4 MiB
    // ring, read in one call once the producer is done.
    let drain = "drain (16 records per call, read after the producer exits)";
    add(
        drain,
        "RingBuf",
        "C libbpf `ring_buffer__consume`",
        DRAIN_CALLS,
        BURST,
        peer("C ring drain", c("ring-drain", DRAIN_CALLS, BURST)),
    );
    add(
        drain,
        "RingBuf",
        "iu `RingBuf::consume`",
        DRAIN_CALLS,
        BURST,
        peer("iu ring drain", iu("ring-drain", DRAIN_CALLS, BURST)),
    );

    let mut plain: Vec<Peer> = peers
        .iter_mut()
        .map(|p| Peer {
            name: p.peer.name,
            command: std::mem::replace(&mut p.peer.command, Command::new("true")),
            rounds: vec![],
        })
        .collect();
    run_rounds(&mut plain, args.rounds)?;
    for (p, done) in peers.iter_mut().zip(plain) {
        p.peer.rounds = done.rounds;
    }
    check_events(&peers)?;
    report_events(&peers, args);
    Ok(())
}

/// Every record is accounted for: produced = delivered + lost, in order,
/// intact, and the perf buffers' own loss reports match the program's.
fn check_events(peers: &[EventsPeer]) -> Result<()> {
    for p in peers {
        for round in &p.peer.rounds {
            let get = |k: &str| round.get(k).copied().unwrap_or(f64::NAN);
            let expected = (p.calls * p.batch) as f64;
            let (attempted, delivered, lost) = (get("attempted"), get("delivered"), get("lost"));
            let ok = attempted == expected
                && delivered + lost == attempted
                && get("disorder") == 0.0
                && get("bad") == 0.0
                && (p.buffer != "PerfEventArray" || get("perf_lost") == lost);
            if !ok {
                bail!(
                    "{}: records not accounted for (expected {expected} produced = delivered + lost, \
                     in order, perf losses reported): {round:?}",
                    p.peer.name
                );
            }
        }
    }
    Ok(())
}

fn report_events(peers: &[EventsPeer], args: &BenchArgs) {
    println!(
        "\nEvents: 64-byte records, producer on CPU {PRODUCER_CPU}, consumer on CPU {CONSUMER_CPU} \
         (kernel {}; {} rounds; median of rounds)\n",
        kernel_release(),
        args.rounds
    );
    println!(
        "| scenario | buffer | consumer | records | events/s | min–max | vs C | lost (sum of rounds) | consumer CPU ms per M | producer CPU ns per record |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let sum = |p: &EventsPeer, key: &str| -> f64 {
        p.peer.rounds.iter().filter_map(|r| r.get(key)).sum()
    };
    for p in peers {
        let rate = median_of(&p.peer, "events_per_s");
        let base = peers
            .get(p.baseline)
            .map_or(f64::NAN, |b| median_of(&b.peer, "events_per_s"));
        let records = p.calls * p.batch;
        let producer_ns = median_of(&p.peer, "producer_cpu_s") * 1e9 / records as f64;
        let range = {
            let v = sorted_values(&p.peer, "events_per_s");
            match (v.first(), v.last()) {
                (Some(lo), Some(hi)) => format!("{:.2}–{:.2} M", lo / 1e6, hi / 1e6),
                _ => "-".into(),
            }
        };
        println!(
            "| {} | {} | {} | {records} | {:.2} M | {range} | {:.2}x | {:.0} | {:.0} | {producer_ns:.0} |",
            p.scenario,
            p.buffer,
            p.consumer,
            rate / 1e6,
            rate / base,
            sum(p, "lost"),
            median_of(&p.peer, "cpu_ms_per_m"),
        );
    }
    println!();
    // Each iu consumer against its C peer: at least 0.90x C's events/s, and
    // no loss where C loses none.
    for p in peers.iter().filter(|p| p.peer.name.starts_with("iu ")) {
        let Some(c) = peers.get(p.baseline) else {
            continue;
        };
        let ratio = median_of(&p.peer, "events_per_s") / median_of(&c.peer, "events_per_s");
        let (lost, c_lost) = (sum(p, "lost"), sum(c, "lost"));
        goal(
            &format!(
                "events, {}: {} {ratio:.2}x C's events/s (goal: at least 0.90x), {lost:.0} records lost (C: {c_lost:.0})",
                p.scenario, p.consumer
            ),
            ratio >= 0.9 && (lost == 0.0 || c_lost > 0.0),
        );
    }
}

/// An example compared with a C program.
struct ProgramSet {
    /// An example, or a binary of `iu/tests/programs` (`test_program`).
    example: &'static str,
    test_program: bool,
    programs: &'static [&'static str],
    /// The packets each program runs on: output key and description.
    packets: &'static [(&'static str, &'static str)],
}

const PROGRAM_SETS: &[ProgramSet] = &[
    ProgramSet {
        example: "xdp_firewall",
        test_program: false,
        programs: &["xdp_firewall"],
        packets: &[
            ("blocked", "IPv4, blocked source"),
            ("passed", "IPv4, passed source"),
            ("not_ipv4", "ARP (not IPv4)"),
        ],
    },
    ProgramSet {
        example: "tc_counter",
        test_program: false,
        programs: &["ingress", "egress"],
        packets: &[("ipv4", "IPv4")],
    },
    // Issue #18: IPv4 options, UDP, LPM blocklist, `{packets, bytes}` per
    // source with atomic field adds.
    ProgramSet {
        example: "udp_firewall",
        test_program: true,
        programs: &["udp_firewall"],
        packets: &[
            ("blocked", "UDP, blocked source"),
            ("counted", "UDP, counted source"),
            ("options", "UDP, IPv4 options, counted"),
            ("not_ipv4", "ARP (not IPv4)"),
        ],
    },
];

/// Builds the examples (iu) and their C peers, then runs
/// `iu/benches/programs.rs` once per example and round: it loads both
/// objects with iu (so the measurement is the same) and alternates their
/// test runs call by call, so that changes in the machine's load hit both
/// alike; rounds are separate processes.
fn run_programs(args: &BenchArgs) -> Result<()> {
    if args.repeat < 100 || args.test_runs == 0 {
        bail!("--repeat must be at least 100 and --test-runs at least 1");
    }
    let toolchain = toolchain::ensure()?;
    let root_dir = crate::root();
    for set in PROGRAM_SETS {
        if set.test_program {
            build::build_binary(&toolchain, &root_dir.join("iu/tests/programs"), set.example)?;
        } else {
            build::build_programs(&toolchain, Some(set.example))?;
        }
    }
    toolchain::apt_install(&["clang-22", "libbpf-dev"])?;
    let root = crate::root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    // Debian's <linux/types.h> includes <asm/types.h> from the multiarch
    // directory, which `-target bpf` does not search.
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "iu", "--bench", "programs"]))?;
    let mut peers = vec![];
    for set in PROGRAM_SETS {
        let example = set.example;
        let c_object = out.join(format!("{example}.bpf.o"));
        crate::run_cmd(
            Command::new("clang-22")
                .args(["-O2", "-g", "-Wall", "-target", "bpf", "-mcpu=v3", "-I"])
                .arg(&multiarch)
                .arg("-c")
                .arg(root.join(format!("xtask/peers/{example}.bpf.c")))
                .arg("-o")
                .arg(&c_object),
        )?;
        let mut command = crate::cargo();
        command
            .args([
                "bench", "-q", "-p", "iu", "--bench", "programs", "--", example,
            ])
            .arg(build::object_dir().join(example))
            .arg(&c_object)
            .args([args.repeat.to_string(), args.test_runs.to_string()]);
        peers.push(Peer {
            name: example,
            command,
            rounds: vec![],
        });
    }
    run_rounds(&mut peers, args.rounds)?;
    // Same maps (names, types, key and value sizes, max_entries) in both.
    for peer in &peers {
        for round in &peer.rounds {
            let maps = |prefix: &str| -> Vec<(&str, f64)> {
                round
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?, *v)))
                    .collect()
            };
            if maps("iu.map.") != maps("c.map.") {
                bail!(
                    "{}: iu's object and the C one define different maps: {:?} against {:?}",
                    peer.name,
                    maps("iu.map."),
                    maps("c.map.")
                );
            }
        }
    }
    report_programs(&peers, args);
    Ok(())
}

fn report_programs(peers: &[Peer], args: &BenchArgs) {
    println!(
        "\nPrograms: iu against C (clang-22 -O2 -target bpf -mcpu=v3), both loaded by iu; \
         BPF_PROG_TEST_RUN, repeat {}, mean of {} calls per round, iu and C alternating \
         (kernel {}; {} rounds; median of rounds)\n",
        args.repeat,
        args.test_runs,
        kernel_release(),
        args.rounds
    );
    let mut worst_time: f64 = 0.0;
    let mut worst_size: f64 = 0.0;
    // Times from the benchmark thread's CPU clock around each call
    // (fractions of a nanosecond); the kernel's own figure, in whole
    // nanoseconds per call, is the last column.
    println!(
        "| program | packet | iu ns/run | min–max | C ns/run | min–max | iu / C (medians) | iu / C (median of rounds' ratios) | kernel's ns/run iu / C |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let range = |peer: &Peer, key: &str| {
        let v = sorted_values(peer, key);
        match (v.first(), v.last()) {
            (Some(lo), Some(hi)) => format!("{lo:.2}–{hi:.2}"),
            _ => "-".into(),
        }
    };
    for (set, peer) in PROGRAM_SETS.iter().zip(peers) {
        for program in set.programs {
            for (packet, description) in set.packets {
                let (iu, c) = (
                    format!("iu.{program}.{packet}.cpu_ns"),
                    format!("c.{program}.{packet}.cpu_ns"),
                );
                let (a, b) = (median_of(peer, &iu), median_of(peer, &c));
                let (kernel_a, kernel_b) = (
                    median_of(peer, &format!("iu.{program}.{packet}.ns")),
                    median_of(peer, &format!("c.{program}.{packet}.ns")),
                );
                // Both were measured in the same process, alternating: the
                // ratio within a round cancels most of the machine's drift.
                let mut ratios: Vec<f64> = peer
                    .rounds
                    .iter()
                    .filter_map(|r| Some(r.get(&iu)? / r.get(&c)?))
                    .collect();
                ratios.sort_by(f64::total_cmp);
                let paired = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
                worst_time = worst_time.max(paired);
                println!(
                    "| `{program}` | {description} | {a:.2} | {} | {b:.2} | {} | {:.3}x | {paired:.3}x | {kernel_a:.1} / {kernel_b:.1} |",
                    range(peer, &iu),
                    range(peer, &c),
                    a / b,
                );
            }
        }
    }
    println!(
        "\n| program | xlated insns iu / C | ratio | JITed bytes iu / C | ratio | verified insns iu / C | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (set, peer) in PROGRAM_SETS.iter().zip(peers) {
        for program in set.programs {
            let mut cells = vec![];
            for what in ["xlated_insns", "jited_bytes", "verified_insns"] {
                let a = median_of(peer, &format!("iu.{program}.{what}"));
                let b = median_of(peer, &format!("c.{program}.{what}"));
                if what != "verified_insns" {
                    worst_size = worst_size.max(a / b);
                }
                cells.push(format!("{a:.0} / {b:.0} | {:.2}x", a / b));
            }
            println!("| `{program}` | {} |", cells.join(" | "));
        }
    }
    println!();
    goal(
        &format!(
            "programs: iu within 1.05x of C on time (worst median of rounds' ratios: {worst_time:.3}x)"
        ),
        worst_time <= 1.05,
    );
    goal(
        &format!(
            "programs: at most 1.2x C's xlated instructions and JITed bytes (worst: {worst_size:.3}x)"
        ),
        worst_size <= 1.2,
    );
    // Issue #18's firewall: at most C's instructions, within 1.02x on time.
    if let Some(peer) = peers.iter().find(|p| p.name == "udp_firewall") {
        for what in ["xlated_insns", "jited_bytes", "verified_insns"] {
            let ratio = median_of(peer, &format!("iu.udp_firewall.{what}"))
                / median_of(peer, &format!("c.udp_firewall.{what}"));
            goal(
                &format!("udp_firewall: {what} {ratio:.3}x C's (goal: at most 1.00x)"),
                ratio <= 1.0,
            );
        }
        let set = PROGRAM_SETS.iter().find(|s| s.example == "udp_firewall");
        for (packet, _) in set.map_or(&[][..], |s| s.packets) {
            let (iu, c) = (
                format!("iu.udp_firewall.{packet}.cpu_ns"),
                format!("c.udp_firewall.{packet}.cpu_ns"),
            );
            let mut ratios: Vec<f64> = peer
                .rounds
                .iter()
                .filter_map(|r| Some(r.get(&iu)? / r.get(&c)?))
                .collect();
            ratios.sort_by(f64::total_cmp);
            let paired = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
            goal(
                &format!(
                    "udp_firewall: {packet} ns/run {paired:.3}x C's (median of rounds' ratios; goal: at most 1.02x)"
                ),
                paired <= 1.02,
            );
        }
    }
}
