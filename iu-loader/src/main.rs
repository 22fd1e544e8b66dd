//! `iu-loader`: a bpftool-class CLI for iu's users. It loads any BPF
//! object and runs it (attaching every program to the hook its section
//! names, streaming trace output and iu logs), and inspects what is loaded
//! in the kernel: `prog`, `map` and `link` listings (`--json` on every
//! one), `prog dump xlated` with the Rust source lines, `map dump` from the
//! map's BTF, `map update|delete` from JSON, pins, `net` (XDP, TCX) and `cgroup`
//! attach/detach, and `features`. Subcommands, flags and JSON field names
//! follow bpftool's.

mod btf_json;
mod disasm;
mod inspect;
mod names;
mod run;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Print JSON (bpftool's field names), one document per command.
    #[arg(short, long, global = true)]
    json: bool,
    /// Print indented JSON (implies --json).
    #[arg(short, long, global = true)]
    pretty: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load every program of OBJECT, attach each one to the hook its section
    /// names (tracepoints, kprobes, raw tracepoints; XDP with --iface;
    /// cgroup programs with --cgroup), register its struct_ops (a TCP
    /// congestion control), and stream the trace output and the object's
    /// iu logs (`info!`...) until Ctrl-C or --duration. Everything detaches
    /// (and unregisters) on exit.
    Run {
        /// The BPF object (ELF) to load.
        object: PathBuf,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<u64>,
        /// Print every trace-pipe line, not only this object's `printk!`s.
        #[arg(long)]
        all: bool,
        /// The interface XDP programs attach to (generic mode).
        #[arg(long)]
        iface: Option<String>,
        /// The cgroup v2 directory cgroup programs attach to.
        #[arg(long)]
        cgroup: Option<PathBuf>,
        /// Skip the programs that cannot attach here (a program type
        /// iu-loader does not attach, a hook this kernel lacks, XDP without
        /// --iface), saying which and why, instead of failing the run.
        #[arg(long)]
        skip_unsupported: bool,
    },
    /// Load every program and map of OBJECT, say how many, and unload them
    /// (nothing is attached): a check that an object loads here, as
    /// `bpftool prog loadall` without the pins.
    Load {
        /// The BPF object (ELF) to load.
        object: PathBuf,
    },
    /// Programs: `list`, `show PROG`, `dump xlated PROG`, `pin PROG FILE`,
    /// `unpin FILE`. PROG is `id ID`, `ID`, `name NAME`, `tag TAG` or
    /// `pinned FILE`.
    Prog {
        #[command(subcommand)]
        command: inspect::ProgCommand,
    },
    /// Maps: `list`, `show MAP`, `dump MAP`, `lookup MAP key JSON`,
    /// `update MAP key JSON value JSON`, `delete MAP key JSON`, `pin MAP
    /// FILE`, `unpin FILE`. MAP is `id ID`, `ID`, `name NAME` or `pinned
    /// FILE`.
    Map {
        #[command(subcommand)]
        command: inspect::MapCommand,
    },
    /// bpf_links: `list`, `show id ID`.
    Link {
        #[command(subcommand)]
        command: inspect::LinkCommand,
    },
    /// XDP and TCX attachments that outlive this process (as `bpftool
    /// net`): `attach xdp|xdpgeneric|xdpdrv|tcx_ingress|tcx_egress PROG dev
    /// IFACE`, `detach ATTACH_TYPE dev IFACE` (TCX: `[PROG] dev IFACE`).
    Net {
        #[command(subcommand)]
        command: inspect::NetCommand,
    },
    /// cgroup attachments (as `bpftool cgroup`): `show CGROUP`, `attach CGROUP TYPE PROG`,
    /// `detach CGROUP TYPE PROG`, TYPE as bpftool names it (`ingress`,
    /// `egress`, `sock_create`, `connect4`, `sysctl`, ...).
    Cgroup {
        #[command(subcommand)]
        command: inspect::CgroupCommand,
    },
    /// What the running kernel supports, as `iu::features` sees it.
    #[command(alias = "feature")]
    Features,
    /// The programs loaded in the kernel (the same as `prog list`).
    List,
    /// Remove what iu processes that died without detaching (SIGKILL, a
    /// crash) left attached: XDP programs and tc filters set through
    /// netlink, and kprobe events in tracefs. Entries of live processes
    /// and entries iu did not create are left alone.
    Cleanup,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let out = inspect::Output {
        json: cli.json || cli.pretty,
        pretty: cli.pretty,
    };
    let result = match cli.command {
        Command::Run {
            object,
            duration,
            all,
            iface,
            cgroup,
            skip_unsupported,
        } => {
            let options = run::RunOptions {
                duration: duration.map(Duration::from_secs),
                all,
                iface,
                cgroup,
                skip_unsupported,
            };
            run::run(object, options).await
        }
        Command::Load { object } => load(&object, out),
        Command::Prog { command } => inspect::prog(command, out),
        Command::Map { command } => inspect::map(command, out),
        Command::Link { command } => inspect::link(command, out),
        Command::Net { command } => inspect::net(command),
        Command::Cgroup { command } => inspect::cgroup(command, out),
        Command::Features => inspect::features(out),
        Command::List => inspect::prog(inspect::ProgCommand::List, out),
        Command::Cleanup => cleanup(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): not an error of ours.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("iu-loader: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads `object` and reports what loaded.
fn load(object: &std::path::Path, out: inspect::Output) -> Result<(), Box<dyn std::error::Error>> {
    let ebpf = iu::Ebpf::load_file(object)?;
    let (programs, maps) = (ebpf.programs().count(), ebpf.maps().count());
    if out.json {
        println!("{{\"programs\":{programs},\"maps\":{maps}}}");
    } else {
        println!("loaded {programs} programs, {maps} maps");
    }
    Ok(())
}

/// Removes what dead iu processes left attached (`iu::cleanup`).
fn cleanup() -> Result<(), Box<dyn std::error::Error>> {
    let report = iu::cleanup::remove_stale()?;
    for entry in &report.removed {
        println!("removed {entry}");
    }
    for failure in &report.failed {
        eprintln!("iu-loader: cannot remove {failure}");
    }
    println!(
        "{} stale entr{} removed",
        report.removed.len(),
        if report.removed.len() == 1 {
            "y"
        } else {
            "ies"
        }
    );
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} stale entries could not be removed", report.failed.len()).into())
    }
}
