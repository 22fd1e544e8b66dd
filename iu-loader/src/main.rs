//! `iu-loader`: loads any BPF object, attaches every program to the hook its
//! section names, and streams the trace output until Ctrl-C or
//! `--duration`; also lists the programs loaded in the kernel.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use iu::{Ebpf, TracePipe, programs::TracePointLink};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load every program of OBJECT, attach each one, and stream its trace
    /// output until Ctrl-C or --duration. Everything detaches on exit.
    Run {
        /// The BPF object (ELF) to load.
        object: PathBuf,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<u64>,
        /// Print every trace-pipe line, not only this object's `printk!`s.
        #[arg(long)]
        all: bool,
    },
    /// List the programs loaded in the kernel.
    List,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match Cli::parse().command {
        Command::Run {
            object,
            duration,
            all,
        } => run(object, duration.map(Duration::from_secs), all).await,
        Command::List => list(),
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
    TracePoint(TracePointLink),
}

impl Link {
    fn target(&self) -> &str {
        match self {
            Link::TracePoint(l) => l.target(),
        }
    }
}

fn attach(ebpf: &Ebpf) -> Result<Vec<Link>, iu::Error> {
    let mut programs: Vec<_> = ebpf.programs().collect();
    programs.sort_by_key(|p| p.name().to_owned());
    let mut links = vec![];
    for program in programs {
        let link = match program.section() {
            iu::programs::ProgramSection::TracePoint => {
                Link::TracePoint(ebpf.tracepoint(program.name())?.attach()?)
            }
            _ => {
                return Err(iu::Error::UnsupportedProgram {
                    name: program.name().to_owned(),
                    section: program.section_name().to_owned(),
                    reason: "iu-loader cannot attach this program type yet",
                });
            }
        };
        log::info!("attached `{}` to {}", program.name(), link.target());
        links.push(link);
    }
    Ok(links)
}

async fn run(
    object: PathBuf,
    duration: Option<Duration>,
    all: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let ebpf = Ebpf::load_file(&object)?;
    let mut trace = TracePipe::open()?;
    if !all {
        trace = trace.only(ebpf.printk_formats());
    }
    let links = attach(&ebpf)?;
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
    Ok(())
}

fn list() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "{:>6}  {:>4}  {:<16} {:>7} {:>7} {:>9}",
        "id", "type", "name", "xlated", "jited", "verified"
    );
    for p in iu::programs::loaded()? {
        println!(
            "{:>6}  {:>4}  {:<16} {:>7} {:>7} {:>9}",
            p.id, p.prog_type, p.name, p.xlated_insns, p.jited_bytes, p.verified_insns
        );
    }
    Ok(())
}
