//! `iu-loader run`: load an object, attach each program to the hook its
//! section names, stream trace output and the object's iu logs.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use iu::{
    Ebpf, EbpfLoader, EbpfLogger, TracePipe,
    programs::{FdLink, PerfLink, RawTracePointLink, XdpLink, XdpMode},
};

/// An attachment that detaches when dropped.
enum Link {
    Perf(PerfLink),
    RawTracePoint(RawTracePointLink),
    Xdp(XdpLink),
    Fd(FdLink),
    StructOps(iu::programs::StructOpsLink),
}

impl Link {
    fn target(&self) -> &str {
        match self {
            Link::Perf(l) => l.target(),
            Link::RawTracePoint(l) => l.target(),
            Link::Xdp(l) => l.target(),
            Link::Fd(l) => l.target(),
            Link::StructOps(l) => l.name(),
        }
    }
}

/// What `run` does besides loading the object.
pub struct RunOptions {
    pub duration: Option<Duration>,
    pub all: bool,
    pub iface: Option<String>,
    pub cgroup: Option<PathBuf>,
    pub skip_unsupported: bool,
}

/// Where programs that need a target attach.
struct Targets<'a> {
    iface: Option<&'a str>,
    cgroup: Option<&'a Path>,
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
            | iu::Error::UnknownBtfTracepoint { .. }
            | iu::Error::NoAttachTarget(_) => NotAttached::Unsupported(e.to_string()),
            e => NotAttached::Failed(e),
        }
    }
}

/// Attaches `program` to the hook its section names.
fn attach_one(
    ebpf: &Ebpf,
    program: &iu::programs::Program,
    targets: &Targets<'_>,
) -> Result<Link, NotAttached> {
    use iu::programs::ProgramSection as S;
    let name = program.name();
    if let Some(cgroup) = targets.cgroup {
        let link = match program.section() {
            S::CgroupSkb { .. } => Some(ebpf.cgroup_skb(name)?.attach(cgroup)?),
            S::CgroupSock { .. } => Some(ebpf.cgroup_sock(name)?.attach(cgroup)?),
            S::CgroupSockAddr { .. } => Some(ebpf.cgroup_sock_addr(name)?.attach(cgroup)?),
            S::CgroupSysctl => Some(ebpf.cgroup_sysctl(name)?.attach(cgroup)?),
            S::CgroupSockopt { .. } => Some(ebpf.cgroup_sockopt(name)?.attach(cgroup)?),
            S::CgroupDevice => Some(ebpf.cgroup_device(name)?.attach(cgroup)?),
            S::SockOps => Some(ebpf.sock_ops(name)?.attach(cgroup)?),
            _ => None,
        };
        if let Some(link) = link {
            return Ok(Link::Fd(link));
        }
    }
    if matches!(
        program.section(),
        S::CgroupSkb { .. }
            | S::CgroupSock { .. }
            | S::CgroupSockAddr { .. }
            | S::CgroupSysctl
            | S::CgroupSockopt { .. }
            | S::CgroupDevice
            | S::SockOps
    ) {
        return Err(NotAttached::Unsupported(
            "a cgroup program: pass --cgroup".to_owned(),
        ));
    }
    Ok(match (program.section(), targets.iface) {
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
    targets: &Targets<'_>,
    skip_unsupported: bool,
) -> Result<Vec<Link>, Box<dyn std::error::Error>> {
    let mut programs: Vec<_> = ebpf.programs().collect();
    programs.sort_by_key(|p| p.name().to_owned());
    let mut links = vec![];
    // A struct_ops' callbacks are registered together, as its struct.
    for ops in ebpf.all_struct_ops() {
        let registration = ops.register()?;
        log::info!(
            "registered struct_ops `{}` (struct {})",
            ops.name(),
            ops.kernel_struct()
        );
        links.push(Link::StructOps(registration));
    }
    for program in programs {
        // Registered with their struct_ops above (`struct_ops`, `struct_ops/...`, `struct_ops.s...`).
        if program.section_name().starts_with("struct_ops") {
            continue;
        }
        match attach_one(ebpf, program, targets) {
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

/// Loads `object`, attaches its programs, streams their trace output and
/// iu logs until Ctrl-C or the duration.
pub async fn run(object: PathBuf, options: RunOptions) -> Result<(), Box<dyn std::error::Error>> {
    let RunOptions {
        duration,
        all,
        iface,
        cgroup,
        skip_unsupported,
    } = options;
    let ebpf = EbpfLoader::new()
        .log_level(log::max_level())
        .load_file(&object)?;
    // The object's `info!`... records, through `log` (objects without
    // `iu_ebpf::logger!()` have no IU_LOGS map).
    let logger = match EbpfLogger::new(&ebpf) {
        Ok(logger) => Some(tokio::spawn(logger.run())),
        Err(iu::Error::UnknownMap { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let mut trace = TracePipe::open()?;
    if !all {
        trace = trace.only(ebpf.printk_formats());
    }
    let targets = Targets {
        iface: iface.as_deref(),
        cgroup: cgroup.as_deref(),
    };
    let links = attach(&ebpf, &targets, skip_unsupported)?;
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
    if let Some(logger) = logger {
        // Records written before the detach are in the ring already.
        tokio::time::sleep(Duration::from_millis(100)).await;
        logger.abort();
    }
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
