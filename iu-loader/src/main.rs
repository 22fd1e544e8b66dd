//! `iu-loader`: loads any BPF object, attaches every program to the hook its
//! section names, and streams the trace output until Ctrl-C or
//! `--duration`; also lists the programs loaded in the kernel.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use iu::{
    Ebpf, TracePipe,
    programs::{PerfLink, RawTracePointLink, XdpLink, XdpMode},
};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load every program of OBJECT, attach each one to the hook its section
    /// names (tracepoints, kprobes, raw tracepoints; XDP with --iface), and
    /// stream the trace output until Ctrl-C or --duration. Everything
    /// detaches on exit.
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
        /// Skip the programs that cannot attach here (a program type
        /// iu-loader does not attach, a hook this kernel lacks, XDP without
        /// --iface), saying which and why, instead of failing the run.
        #[arg(long)]
        skip_unsupported: bool,
    },
    /// List the programs loaded in the kernel.
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
    let result = match Cli::parse().command {
        Command::Run {
            object,
            duration,
            all,
            iface,
            skip_unsupported,
        } => {
            let options = RunOptions {
                duration: duration.map(Duration::from_secs),
                all,
                iface,
                skip_unsupported,
            };
            run(object, options).await
        }
        Command::List => list(),
        Command::Cleanup => cleanup(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iu-loader: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An attachment that detaches when dropped.
enum Link {
    Perf(PerfLink),
    RawTracePoint(RawTracePointLink),
    Xdp(XdpLink),
}

impl Link {
    fn target(&self) -> &str {
        match self {
            Link::Perf(l) => l.target(),
            Link::RawTracePoint(l) => l.target(),
            Link::Xdp(l) => l.target(),
        }
    }
}

/// What `run` does besides loading the object.
struct RunOptions {
    duration: Option<Duration>,
    all: bool,
    iface: Option<String>,
    skip_unsupported: bool,
}

/// Why a program was not attached.
enum NotAttached {
    /// It cannot attach on this host or with these options.
    Unsupported(String),
    /// Attaching failed.
    Failed(iu::Error),
}

impl From<iu::Error> for NotAttached {
    fn from(e: iu::Error) -> Self {
        match e {
            iu::Error::MissingFeature { .. }
            | iu::Error::UnknownTracePoint { .. }
            | iu::Error::UnknownBtfTracepoint { .. } => NotAttached::Unsupported(e.to_string()),
            e => NotAttached::Failed(e),
        }
    }
}

/// Attaches `program` to the hook its section names.
fn attach_one(
    ebpf: &Ebpf,
    program: &iu::programs::Program,
    iface: Option<&str>,
) -> Result<Link, NotAttached> {
    use iu::programs::ProgramSection as S;
    Ok(match (program.section(), iface) {
        (S::TracePoint, _) => Link::Perf(ebpf.tracepoint(program.name())?.attach()?),
        (S::KProbe | S::KRetProbe, _) => Link::Perf(ebpf.kprobe(program.name())?.attach()?),
        (S::RawTracePoint, _) => {
            Link::RawTracePoint(ebpf.raw_tracepoint(program.name())?.attach()?)
        }
        // Raw tracepoint opens too: the same kind of link.
        (S::BtfTracePoint, _) => {
            Link::RawTracePoint(ebpf.btf_tracepoint(program.name())?.attach()?)
        }
        (S::Xdp { .. }, Some(iface)) => {
            Link::Xdp(ebpf.xdp(program.name())?.attach(iface, XdpMode::Generic)?)
        }
        (S::Xdp { .. }, None) => {
            return Err(NotAttached::Unsupported(
                "an XDP program: pass --iface".to_owned(),
            ));
        }
        _ => {
            return Err(NotAttached::Unsupported(format!(
                "iu-loader does not attach `{}` programs yet",
                program.section_name()
            )));
        }
    })
}

/// Attaches every program; with `skip_unsupported`, the ones that cannot
/// attach here are left out with a warning that says why.
fn attach(
    ebpf: &Ebpf,
    iface: Option<&str>,
    skip_unsupported: bool,
) -> Result<Vec<Link>, Box<dyn std::error::Error>> {
    let mut programs: Vec<_> = ebpf.programs().collect();
    programs.sort_by_key(|p| p.name().to_owned());
    let mut links = vec![];
    for program in programs {
        match attach_one(ebpf, program, iface) {
            Ok(link) => {
                log::info!("attached `{}` to {}", program.name(), link.target());
                links.push(link);
            }
            Err(NotAttached::Unsupported(why)) if skip_unsupported => {
                log::warn!("skipped `{}`: {why}", program.name());
            }
            Err(NotAttached::Unsupported(why)) => {
                return Err(format!(
                    "cannot attach `{}`: {why} (pass --skip-unsupported to run the other programs)",
                    program.name()
                )
                .into());
            }
            Err(NotAttached::Failed(e)) => return Err(e.into()),
        }
    }
    Ok(links)
}

async fn run(object: PathBuf, options: RunOptions) -> Result<(), Box<dyn std::error::Error>> {
    let RunOptions {
        duration,
        all,
        iface,
        skip_unsupported,
    } = options;
    let ebpf = Ebpf::load_file(&object)?;
    let mut trace = TracePipe::open()?;
    if !all {
        trace = trace.only(ebpf.printk_formats());
    }
    let links = attach(&ebpf, iface.as_deref(), skip_unsupported)?;
    log::info!(
        "{} program(s) attached; streaming trace output ({})",
        links.len(),
        duration.map_or("Ctrl-C to stop".to_owned(), |d| format!(
            "for {}s",
            d.as_secs()
        ))
    );
    let stop = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            line = trace.next_line() => match line {
                Some(line) => {
                    let line = line?;
                    println!("{:>16}-{:<7} [{:03}] {:.6}: {}", line.task, line.tid, line.cpu, line.timestamp, line.message);
                }
                None => break,
            },
            () = &mut stop => break,
        }
    }
    drop(links);
    log::info!("detached");
    for program in ebpf.programs() {
        let aborts = ebpf.aborts(program.name())?;
        if aborts > 0 {
            log::warn!(
                "`{}` aborted {aborts} time(s) on a panic (see `cargo xtask build`'s list of panic paths)",
                program.name()
            );
        }
    }
    Ok(())
}

fn list() -> Result<(), Box<dyn std::error::Error>> {
    // Listed before the header, so that a refusal prints nothing else.
    let programs = iu::programs::loaded()?;
    println!(
        "{:>6}  {:>4}  {:<16} {:>7} {:>7} {:>9}",
        "id", "type", "name", "xlated", "jited", "verified"
    );
    for p in programs {
        println!(
            "{:>6}  {:>4}  {:<16} {:>7} {:>7} {:>9}",
            p.id, p.prog_type, p.name, p.xlated_insns, p.jited_bytes, p.verified_insns
        );
    }
    Ok(())
}

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
