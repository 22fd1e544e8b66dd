//! The BMC benchmark (`cargo xtask bench --only bmc` runs it): a load
//! generator with Zipf-distributed keys, over UDP sockets (`bmc::load`: OS
//! threads, `sendmmsg`/`recvmmsg` batches) and over an AF_XDP socket on
//! the client's veth (`bmc::xsk_load`), against memcached alone and
//! memcached behind BMC, interleaved round by round in one run; then the
//! programs' cost per hit and per miss with `BPF_PROG_TEST_RUN` and their
//! instruction counts. Prints Markdown tables.
#![forbid(unsafe_code)]

use std::{
    io::BufRead,
    net::{Ipv4Addr, SocketAddrV4},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bmc::{
    lab::{self, Lab, Server},
    load::{Counts, Plan, Workload, Zipf},
    packets,
    xsk_load::XskTarget,
};
use clap::{Parser, ValueEnum};

/// How the load generator reaches the servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ClientMode {
    /// UDP sockets (`sendmmsg`/`recvmmsg`), through the client's kernel
    /// UDP stack.
    Udp,
    /// An AF_XDP socket on the client's veth: frames built in user space,
    /// replies redirected to it by `bmc_client`.
    Xsk,
    /// Both, interleaved in each round.
    Both,
}

impl ClientMode {
    fn modes(self) -> Vec<ClientMode> {
        match self {
            ClientMode::Both => vec![ClientMode::Udp, ClientMode::Xsk],
            m => vec![m],
        }
    }
    fn name(self) -> &'static str {
        match self {
            ClientMode::Udp => "UDP sockets",
            ClientMode::Xsk => "AF_XDP",
            ClientMode::Both => "both",
        }
    }
}

#[derive(Parser, Clone)]
struct Args {
    /// Rounds; each runs memcached alone, then with BMC.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of load per configuration and round.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests each client keeps in flight (at most 64).
    #[arg(long, default_value_t = 32)]
    depth: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
    /// Zipf skew of key popularity.
    #[arg(long, default_value_t = 0.99)]
    skew: f64,
    /// Fraction of requests that are gets (the rest are sets).
    #[arg(long, default_value_t = 0.9)]
    gets: f64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 32)]
    value_size: usize,
    /// Pin memcached to the last CPU and the load generator (and so the
    /// XDP program, which a veth runs on the sender's CPU) to the others.
    #[arg(long)]
    pin: bool,
    /// Load generator threads (the clients are spread over them).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// memcached's worker threads (`-t`), the same for both servers.
    #[arg(long, default_value_t = 1)]
    memcached_threads: u32,
    /// The load generator's path: UDP sockets, AF_XDP, or both
    /// interleaved (the AF_XDP client runs its clients on one thread).
    #[arg(long, value_enum, default_value_t = ClientMode::Both)]
    client: ClientMode,
    /// Queues of each veth end, and so AF_XDP sockets and threads of the
    /// AF_XDP client (one per queue; with more than one, each thread is
    /// pinned to CPU `queue % CPUs`, which the replies' steering needs);
    /// 0: one per CPU.
    #[arg(long, default_value_t = 1)]
    queues: usize,
    /// `BPF_PROG_TEST_RUN` calls per measured path.
    #[arg(long, default_value_t = 20_000)]
    test_runs: u32,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bmc_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one configuration's load phase measured.
#[derive(Default, Clone)]
struct Phase {
    counts: Counts,
    hits: u64,
    memcached_cpu_s: f64,
    /// The load generator's user time.
    client_user_s: f64,
    /// The load generator's system time (with the softirqs in its
    /// context).
    client_sys_s: f64,
    ksoftirqd_s: f64,
    machine_cpu_s: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.counts.requests as f64 / self.counts.seconds.max(1e-9)
    }
    fn percentile(&self, p: f64) -> f64 {
        self.counts.latency.quantile_us(p)
    }
    /// CPU seconds of the processes that serve and load: memcached, the
    /// load generator, ksoftirqd.
    fn ours(&self) -> f64 {
        self.memcached_cpu_s + self.client_user_s + self.client_sys_s + self.ksoftirqd_s
    }
    /// CPU µs per request answered.
    fn per_request(&self, cpu_s: f64) -> f64 {
        1e6 * cpu_s / self.counts.requests.max(1) as f64
    }
}

/// CPU seconds a process has used, user and system (which, without
/// `CONFIG_IRQ_TIME_ACCOUNTING`, includes the softirqs that ran in its
/// context: on a veth, the receive path of what it sends), from `/proc`.
fn process_cpu(pid: u32) -> [f64; 2] {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 here.
    [
        f.get(11).unwrap_or(&0.0) / clock_ticks(),
        f.get(12).unwrap_or(&0.0) / clock_ticks(),
    ]
}

/// The ksoftirqd threads (softirqs deferred from interrupts or under load
/// run there).
fn ksoftirqd() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            comm.starts_with("ksoftirqd").then_some(pid)
        })
        .collect()
}

fn cpu_sum(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|&p| process_cpu(p).iter().sum::<f64>())
        .sum()
}

fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// Busy CPU seconds of the whole machine (all but idle and iowait).
fn machine_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0.0;
    };
    let f: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let busy: f64 =
        f.iter().take(8).sum::<f64>() - f.get(3).unwrap_or(&0.0) - f.get(4).unwrap_or(&0.0);
    busy / clock_ticks()
}

/// The veth pairs' queues (`--queues`, 0 for one per CPU).
fn queues(args: &Args) -> usize {
    match args.queues {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n.min(8),
    }
}

/// How to reach one server, both ways.
struct Target {
    addr: Ipv4Addr,
    xsk: XskTarget,
}

/// The clients of `plan` against `server` for `seconds`, over `mode`.
#[allow(clippy::too_many_arguments)]
fn load(
    ebpf: &iu::Ebpf,
    server: &Target,
    mode: ClientMode,
    args: &Args,
    w: &Workload,
    plan: Plan,
    seconds: f64,
) -> Result<Phase, String> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let counts = match mode {
        ClientMode::Xsk => bmc::xsk_load::run(ebpf, &server.xsk, w, plan, queues(args), until),
        _ => bmc::load::run(
            SocketAddrV4::new(server.addr, 11211),
            w,
            plan,
            args.threads,
            until,
        ),
    }
    .map_err(|e| format!("the load generator ({}) failed: {e}", mode.name()))?;
    Ok(Phase {
        counts,
        ..Phase::default()
    })
}

/// Stores every key once, one thread per client, each waiting for its
/// `STORED`.
fn preload(server: Ipv4Addr, args: &Args, value: &[u8]) -> Result<(), String> {
    std::thread::scope(|s| {
        let tasks: Vec<_> = (0..args.clients)
            .map(|c| {
                s.spawn(move || -> std::io::Result<()> {
                    let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
                    socket.connect(SocketAddrV4::new(server, 11211))?;
                    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
                    let mut buf = vec![0u8; 2048];
                    for i in (c..args.keys).step_by(args.clients) {
                        let k = bmc::load::key(i as u32);
                        let mut b = format!(
                            "set {} 0 0 {}\r\n",
                            String::from_utf8_lossy(&k),
                            value.len()
                        )
                        .into_bytes();
                        b.extend_from_slice(value);
                        b.extend_from_slice(b"\r\n");
                        socket.send(&packets::framed(i as u16, &b))?;
                        // A lost reply only slows this down.
                        let _ = socket.recv(&mut buf);
                    }
                    Ok(())
                })
            })
            .collect();
        for t in tasks {
            t.join()
                .map_err(|_| "a preload thread panicked".to_owned())?
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// The hits and misses BMC's daemon reported, summed as its lines come;
/// the thread returns the daemon's final `total` line when it exits.
fn count_hits(
    mut lines: std::io::BufReader<std::process::ChildStdout>,
) -> (Arc<[AtomicU64; 2]>, std::thread::JoinHandle<String>) {
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let c = counts.clone();
    let total = std::thread::spawn(move || {
        let mut line = String::new();
        let mut total = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.starts_with("total") {
                total = line.trim().to_owned();
            } else {
                c[0].fetch_add(lab::stat(&line, "hits").unwrap_or(0), Ordering::SeqCst);
                c[1].fetch_add(lab::stat(&line, "misses").unwrap_or(0), Ordering::SeqCst);
            }
            line.clear();
        }
        total
    });
    (counts, total)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Pins a thread (and the threads it starts afterwards) to `cpus`.
fn pin(pid: nix::unistd::Pid, cpus: &[usize]) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|e| e.to_string())?;
    }
    nix::sched::sched_setaffinity(pid, &set).map_err(|e| format!("pinning to CPUs {cpus:?}: {e}"))
}

fn run(args: Args) -> Result<(), String> {
    let daemon = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("bmc");
    // The client's ends get `bmc_client` from this process (below), not
    // the daemon's `bmc_pass`: it also passes everything but the AF_XDP
    // generator's replies.
    let mut lab = Lab::with_options(
        &daemon,
        &[Server::Alone, Server::Bmc],
        args.memcached_threads,
        0.2,
        false,
        queues(&args) as u32,
    )?;
    let (hits, daemon_total) = count_hits(lab.take_stats(1).ok_or("the BMC daemon's output")?);
    let addrs = lab.addrs();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memcached_pids: Vec<u32> = (0..2).filter_map(|i| lab.memcached_pid(i)).collect();
    if cpus >= 2 && args.pin {
        // memcached on the last CPU, the load generator on the others
        // (and so, on a veth, the XDP program and the replies' receive:
        // a veth runs its peer's NAPI on the sender's CPU).
        for &pid in &memcached_pids {
            let tasks =
                std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
            for t in tasks.flatten() {
                if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) {
                    pin(nix::unistd::Pid::from_raw(tid), &[cpus - 1])?;
                }
            }
        }
        pin(
            nix::unistd::Pid::from_raw(0),
            &(0..cpus - 1).collect::<Vec<_>>(),
        )?;
    }
    lab::enter(&lab.client_netns.clone())?;
    let client_ebpf =
        iu::Ebpf::load_file(iu::object_dir().join("bmc")).map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    let mut links = Vec::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let iface = lab.servers[i].client_iface.clone();
        links.push(
            client_ebpf
                .xdp("bmc_client")
                .and_then(|p| p.attach(&iface, iu::programs::XdpMode::Driver))
                .map_err(|e| e.to_string())?,
        );
        let (client_mac, server_mac) = lab.macs(i)?;
        let o = addr.octets();
        targets.push(Target {
            addr,
            xsk: XskTarget {
                iface,
                client_mac,
                server_mac,
                client_ip: Ipv4Addr::new(o[0], o[1], o[2], 2),
                server_ip: addr,
            },
        });
    }
    let modes = args.client.modes();
    let w = Workload {
        zipf: Zipf::new(args.keys, args.skew),
        gets: args.gets,
        value: vec![b'v'; args.value_size],
        depth: args.depth,
    };
    eprintln!(
        "bmc_bench: storing {} keys on each server; {:.1}% of requests go to the {} most popular keys",
        args.keys,
        100.0 * w.zipf.top(bmc_common::CACHE_ENTRIES as usize),
        bmc_common::CACHE_ENTRIES
    );
    for &a in &addrs {
        preload(a, &args, &w.value)?;
    }
    // Warm BMC's cache (a miss fills it) and the client's paths.
    for &mode in &modes {
        for t in [&targets[1], &targets[0]] {
            let plan = Plan::draw(&w, args.clients, 1);
            load(&client_ebpf, t, mode, &args, &w, plan, 1.0)?;
        }
    }
    let softirq_pids = ksoftirqd();
    // By client mode, then configuration.
    let mut phases: Vec<[Vec<Phase>; 2]> = modes.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for round in 0..args.rounds {
        for (mi, &mode) in modes.iter().enumerate() {
            for (i, target) in targets.iter().enumerate() {
                // Drawn before the CPU times are taken.
                let plan = Plan::draw(&w, args.clients, round as u64 + 2);
                let pid = memcached_pids.get(i).copied().unwrap_or(0);
                let me = std::process::id();
                let (cpu0, client0, soft0, machine0) = (
                    process_cpu(pid),
                    process_cpu(me),
                    cpu_sum(&softirq_pids),
                    machine_cpu(),
                );
                let h0 = hits[0].load(Ordering::SeqCst);
                let mut phase = load(&client_ebpf, target, mode, &args, &w, plan, args.seconds)?;
                let (cpu1, client1) = (process_cpu(pid), process_cpu(me));
                phase.memcached_cpu_s = cpu1[0] + cpu1[1] - cpu0[0] - cpu0[1];
                phase.client_user_s = client1[0] - client0[0];
                phase.client_sys_s = client1[1] - client0[1];
                phase.ksoftirqd_s = cpu_sum(&softirq_pids) - soft0;
                phase.machine_cpu_s = machine_cpu() - machine0;
                // Let the daemon's last line of the phase arrive.
                std::thread::sleep(Duration::from_millis(300));
                phase.hits = hits[0].load(Ordering::SeqCst) - h0;
                eprintln!(
                    "bmc_bench: round {round} {}, {}: {:.0} req/s, p50 {:.1} us, p99 {:.1} us, lost {}, wrong {}, CPU us/req memcached {:.2}, load generator user {:.2} system {:.2}, ksoftirqd {:.2}, all of these {:.2}, machine {:.2}",
                    mode.name(),
                    ["memcached alone", "memcached + BMC"][i],
                    phase.rate(),
                    phase.percentile(0.5),
                    phase.percentile(0.99),
                    phase.counts.lost,
                    phase.counts.wrong,
                    phase.per_request(phase.memcached_cpu_s),
                    phase.per_request(phase.client_user_s),
                    phase.per_request(phase.client_sys_s),
                    phase.per_request(phase.ksoftirqd_s),
                    phase.per_request(phase.ours()),
                    phase.per_request(phase.machine_cpu_s),
                );
                phases[mi][i].push(phase);
            }
        }
    }
    drop(links);
    lab.stop_daemons();
    drop(lab);
    let daemon_total = daemon_total.join().unwrap_or_default();

    println!(
        "\n| client | configuration | requests/s (median) | range | p50 µs | p99 µs | answered in XDP | CPU µs/req: memcached | load generator, user | load generator, system + softirq | ksoftirqd | all of these | machine | lost | wrong |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut wrong = 0;
    let mut ratios = Vec::new();
    for (mi, &mode) in modes.iter().enumerate() {
        let mut rates = [0.0; 2];
        for (i, name) in ["memcached alone", "memcached + BMC"].iter().enumerate() {
            let p = &phases[mi][i];
            let m = |f: &dyn Fn(&Phase) -> f64| median(p.iter().map(f).collect());
            rates[i] = m(&|p| p.rate());
            let (lo, hi) = p
                .iter()
                .map(Phase::rate)
                .fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(r), h.max(r)));
            wrong += p.iter().map(|p| p.counts.wrong).sum::<u64>();
            let hit = if i == 1 {
                format!(
                    "{:.1}% of gets",
                    m(&|p| 100.0 * p.hits as f64 / p.counts.gets.max(1) as f64)
                )
            } else {
                "—".into()
            };
            println!(
                "| {} | {name} | {:.0} | {:.0}–{:.0} | {:.1} | {:.1} | {hit} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
                mode.name(),
                rates[i],
                lo,
                hi,
                m(&|p| p.percentile(0.5)),
                m(&|p| p.percentile(0.99)),
                m(&|p| p.per_request(p.memcached_cpu_s)),
                m(&|p| p.per_request(p.client_user_s)),
                m(&|p| p.per_request(p.client_sys_s)),
                m(&|p| p.per_request(p.ksoftirqd_s)),
                m(&|p| p.per_request(p.ours())),
                m(&|p| p.per_request(p.machine_cpu_s)),
                m(&|p| p.counts.lost as f64),
                p.iter().map(|p| p.counts.wrong).sum::<u64>(),
            );
        }
        let per_round: Vec<String> = phases[mi][0]
            .iter()
            .zip(&phases[mi][1])
            .map(|(a, b)| format!("{:.2}x", b.rate() / a.rate().max(1.0)))
            .collect();
        ratios.push(format!(
            "{}: {:.2}x (per round: {})",
            mode.name(),
            rates[1] / rates[0].max(1.0),
            per_round.join(", ")
        ));
    }
    println!(
        "\nThroughput with BMC against memcached alone, medians: {} ({} rounds of {} s; {} clients with {} requests in flight each, UDP sockets on {} threads{}, AF_XDP on {} (one per veth queue); memcached -t {}; Zipf {} over {} keys, {:.0}% gets, {}-byte values).{}",
        ratios.join("; "),
        args.rounds,
        args.seconds,
        args.clients,
        args.depth,
        args.threads,
        if args.pin { ", pinned" } else { "" },
        queues(&args),
        args.memcached_threads,
        args.skew,
        args.keys,
        args.gets * 100.0,
        args.value_size,
        if daemon_total.is_empty() {
            String::new()
        } else {
            format!(" BMC's daemon, whole run: {daemon_total}")
        },
    );
    if wrong > 0 {
        return Err(format!("{wrong} replies did not fit their request"));
    }
    programs(&args)
}

/// ns per hit and per miss of `bmc_rx` (and per fill of `bmc_tx`) with
/// `BPF_PROG_TEST_RUN`, one run per call (a hit rewrites its packet, so
/// repeated runs would not be hits), and the instruction counts.
fn programs(args: &Args) -> Result<(), String> {
    let object = iu::object_dir().join("bmc");
    let ebpf = iu::Ebpf::load_file(&object).map_err(|e| e.to_string())?;
    let run = |name: &str, packet: &[u8]| -> Result<(u32, u32), String> {
        let out = ebpf
            .program(name)
            .and_then(|p| p.test_run(&iu::programs::TestRun::packet(packet).output_room(2048)))
            .map_err(|e| e.to_string())?;
        Ok((out.retval, out.duration_ns))
    };
    let k = String::from_utf8_lossy(&bmc::load::key(1)).into_owned();
    let value = vec![b'v'; args.value_size];
    let get = packets::request(40000, 1, format!("get {k}\r\n").as_bytes());
    let reply = packets::reply(40000, 1, &packets::value_body(k.as_bytes(), 0, &value));
    let miss_get = packets::request(
        40000,
        2,
        format!("get {}\r\n", String::from_utf8_lossy(&bmc::load::key(2))).as_bytes(),
    );
    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let set = packets::request(
        40001,
        1,
        format!(
            "set {k} 0 0 {}\r\n{}\r\n",
            value.len(),
            String::from_utf8_lossy(&value)
        )
        .as_bytes(),
    );
    for _ in 0..args.test_runs {
        // A set (empties and disarms the slot), a miss (arms it), the
        // reply (fills it), a hit.
        run("bmc_rx", &set)?;
        let (action, ns) = run("bmc_rx", &miss_get)?;
        if action != 2 {
            return Err(format!("a miss returned {action}"));
        }
        times[0].push(f64::from(ns));
        run("bmc_rx", &get)?;
        let (_, ns) = run("bmc_tx", &reply)?;
        times[2].push(f64::from(ns));
        let (action, ns) = run("bmc_rx", &get)?;
        if action != 3 {
            return Err(format!("a hit returned {action}, not XDP_TX"));
        }
        times[1].push(f64::from(ns));
    }
    println!(
        "\n| program, path | ns per run (median of {} `BPF_PROG_TEST_RUN` calls) |",
        args.test_runs
    );
    println!("|---|---:|");
    for (i, what) in [
        "bmc_rx, get miss",
        "bmc_rx, get hit (reply built, XDP_TX)",
        "bmc_tx, fill from a VALUE reply",
    ]
    .iter()
    .enumerate()
    {
        println!("| {what} | {:.0} |", median(times[i].clone()));
    }
    println!("\n| program | xlated insns | JITed bytes | verified insns |");
    println!("|---|---:|---:|---:|");
    for name in ["bmc_rx", "bmc_tx", "bmc_pass", "bmc_client"] {
        let info = ebpf
            .program(name)
            .and_then(|p| p.info())
            .map_err(|e| e.to_string())?;
        println!(
            "| {name} | {} | {} | {} |",
            info.xlated_insns, info.jited_bytes, info.verified_insns
        );
    }
    Ok(())
}
