//! The BMC benchmark (`cargo xtask bench --only bmc` runs it): a tokio UDP
//! load generator, Zipf-distributed keys, against memcached alone and
//! memcached behind BMC, interleaved round by round in one run; then the
//! programs' cost per hit and per miss with `BPF_PROG_TEST_RUN` and their
//! instruction counts. Prints Markdown tables.
#![forbid(unsafe_code)]

use std::{
    io::BufRead,
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bmc::{
    lab::{self, Lab, Server},
    packets,
};
use clap::Parser;

#[derive(Parser, Clone)]
struct Args {
    /// Rounds; each runs memcached alone, then with BMC.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of load per configuration and round.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests each client keeps in flight.
    #[arg(long, default_value_t = 8)]
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
    /// Pin memcached to CPU 1 and the clients (and so the XDP program,
    /// which a veth runs on the sender's CPU) to CPU 0.
    #[arg(long)]
    pin: bool,
    /// Client threads (tokio workers).
    #[arg(long, default_value_t = 2)]
    threads: usize,
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

/// The key of rank `i` (14 bytes, as in BMC's evaluation).
fn key(i: usize) -> String {
    format!("key:{i:010}")
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf ranks by inverse transform over the cumulative weights.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, skew: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for i in 0..n {
            sum += 1.0 / ((i + 1) as f64).powf(skew);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf(cdf)
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// What one configuration's load phase measured.
#[derive(Default, Clone)]
struct Phase {
    requests: u64,
    lost: u64,
    seconds: f64,
    latencies_ns: Vec<u64>,
    gets: u64,
    hits: u64,
    memcached_cpu_s: f64,
    machine_cpu_s: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut l = self.latencies_ns.clone();
        l.sort_unstable();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |&ns| ns as f64 / 1000.0)
    }
}

/// CPU seconds a process has used (user + system), from `/proc`.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 here.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / clock_ticks()
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

/// One client: `depth` requests in flight, each reply (or 50 ms without
/// one) making room for the next.
async fn client(
    server: Ipv4Addr,
    id: usize,
    args: Args,
    zipf: Arc<Zipf>,
    until: Instant,
) -> std::io::Result<(u64, u64, u64, Vec<u64>)> {
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
    socket.connect(SocketAddr::from((server, 11211))).await?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) * 0x1234_5678_9abc));
    let value = vec![b'v'; args.value_size];
    let (mut requests, mut lost, mut gets) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut buf = vec![0u8; 65536];
    // Send time by request id (ids cycle through 16 bits).
    let mut sent: Vec<Option<Instant>> = vec![None; 65536];
    let mut in_flight = 0usize;
    let mut request_id: u16 = 0;
    loop {
        while in_flight < args.depth && Instant::now() < until {
            request_id = request_id.wrapping_add(1);
            let k = key(zipf.sample(&mut rng));
            let body = if rng.unit() < args.gets {
                gets += 1;
                format!("get {k}\r\n").into_bytes()
            } else {
                let mut b = format!("set {k} 0 0 {}\r\n", value.len()).into_bytes();
                b.extend_from_slice(&value);
                b.extend_from_slice(b"\r\n");
                b
            };
            let datagram = packets::framed(request_id, &body);
            if sent[usize::from(request_id)].take().is_some() {
                // Its reply never came.
                lost += 1;
                in_flight -= 1;
            }
            sent[usize::from(request_id)] = Some(Instant::now());
            socket.send(&datagram).await?;
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(50), socket.recv(&mut buf)).await {
            Ok(Ok(n)) if n >= 8 => {
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                if let Some(start) = sent[usize::from(id)].take() {
                    latencies.push(start.elapsed().as_nanos() as u64);
                    requests += 1;
                    in_flight -= 1;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                // Nothing for 50 ms: what is in flight is lost.
                lost += in_flight as u64;
                in_flight = 0;
                sent.iter_mut().for_each(|s| *s = None);
            }
        }
    }
    Ok((requests, lost, gets, latencies))
}

/// `clients` clients against `server` for `seconds`.
fn load(
    runtime: &tokio::runtime::Runtime,
    server: Ipv4Addr,
    args: &Args,
    zipf: &Arc<Zipf>,
    seconds: f64,
) -> Result<Phase, String> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..args.clients)
            .map(|i| tokio::spawn(client(server, i, args.clone(), zipf.clone(), until)))
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await);
        }
        results
    });
    let mut phase = Phase {
        seconds: start.elapsed().as_secs_f64(),
        ..Phase::default()
    };
    for r in results {
        let (requests, lost, gets, latencies) = r
            .map_err(|e| format!("a client task failed: {e}"))?
            .map_err(|e| format!("a client failed: {e}"))?;
        phase.requests += requests;
        phase.lost += lost;
        phase.gets += gets;
        phase.latencies_ns.extend(latencies);
    }
    Ok(phase)
}

/// Stores every key once, `clients` at a time.
fn preload(runtime: &tokio::runtime::Runtime, server: Ipv4Addr, args: &Args) -> Result<(), String> {
    runtime.block_on(async {
        let tasks: Vec<_> = (0..args.clients)
            .map(|c| {
                let args = args.clone();
                tokio::spawn(async move {
                    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
                    socket.connect(SocketAddr::from((server, 11211))).await?;
                    let mut buf = vec![0u8; 2048];
                    let value = vec![b'v'; args.value_size];
                    for i in (c..args.keys).step_by(args.clients) {
                        let mut b = format!("set {} 0 0 {}\r\n", key(i), value.len()).into_bytes();
                        b.extend_from_slice(&value);
                        b.extend_from_slice(b"\r\n");
                        let id = i as u16;
                        socket.send(&packets::framed(id, &b)).await?;
                        // A lost reply only slows this down.
                        let _ =
                            tokio::time::timeout(Duration::from_millis(50), socket.recv(&mut buf))
                                .await;
                    }
                    Ok::<(), std::io::Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })
}

/// The hits and misses BMC's daemon reported, summed as its lines come.
fn count_hits(mut lines: std::io::BufReader<std::process::ChildStdout>) -> Arc<[AtomicU64; 2]> {
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let c = counts.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if !line.starts_with("total") {
                c[0].fetch_add(lab::stat(&line, "hits").unwrap_or(0), Ordering::SeqCst);
                c[1].fetch_add(lab::stat(&line, "misses").unwrap_or(0), Ordering::SeqCst);
            }
            line.clear();
        }
    });
    counts
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Pins the calling thread (and the threads it starts) to `cpu`.
fn pin(pid: nix::unistd::Pid, cpu: usize) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).map_err(|e| e.to_string())?;
    nix::sched::sched_setaffinity(pid, &set).map_err(|e| format!("pinning to CPU {cpu}: {e}"))
}

fn run(args: Args) -> Result<(), String> {
    let daemon = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("bmc");
    let mut lab = Lab::with_interval(&daemon, &[Server::Alone, Server::Bmc], 1, 0.2)?;
    let hits = count_hits(lab.take_stats(1).ok_or("the BMC daemon's output")?);
    let addrs = lab.addrs();
    // memcached (one worker thread) on CPU 1, the clients on CPU 0, where
    // the veth also runs the XDP program (its NAPI runs on the sender's
    // CPU).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memcached_pids: Vec<u32> = (0..2).filter_map(|i| lab.memcached_pid(i)).collect();
    if cpus >= 2 && args.pin {
        for &pid in &memcached_pids {
            let tasks =
                std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
            for t in tasks.flatten() {
                if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse().ok()) {
                    pin(nix::unistd::Pid::from_raw(tid), 1)?;
                }
            }
        }
        pin(nix::unistd::Pid::from_raw(0), 0)?;
    }
    lab::enter(&lab.client_netns.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let zipf = Arc::new(Zipf::new(args.keys, args.skew));
    eprintln!("bmc_bench: storing {} keys on each server", args.keys);
    for &a in &addrs {
        preload(&runtime, a, &args)?;
    }
    // Warm BMC's cache (a miss fills it) and the client's path.
    load(&runtime, addrs[1], &args, &zipf, 1.0)?;
    load(&runtime, addrs[0], &args, &zipf, 1.0)?;
    let mut phases: [Vec<Phase>; 2] = [Vec::new(), Vec::new()];
    for round in 0..args.rounds {
        for (i, &addr) in addrs.iter().enumerate() {
            let pid = memcached_pids.get(i).copied().unwrap_or(0);
            let (cpu0, machine0) = (process_cpu(pid), machine_cpu());
            let (h0, m0) = (
                hits[0].load(Ordering::SeqCst),
                hits[1].load(Ordering::SeqCst),
            );
            let mut phase = load(&runtime, addr, &args, &zipf, args.seconds)?;
            // Let the daemon's last line of the phase arrive.
            std::thread::sleep(Duration::from_millis(300));
            phase.memcached_cpu_s = process_cpu(pid) - cpu0;
            phase.machine_cpu_s = machine_cpu() - machine0;
            phase.hits = hits[0].load(Ordering::SeqCst) - h0;
            let _ = hits[1].load(Ordering::SeqCst) - m0;
            eprintln!(
                "bmc_bench: round {round} {}: {:.0} req/s, p50 {:.1} us, p99 {:.1} us, lost {}",
                ["memcached alone", "memcached + BMC"][i],
                phase.rate(),
                phase.percentile(0.5),
                phase.percentile(0.99),
                phase.lost
            );
            phases[i].push(phase);
        }
    }
    drop(runtime);
    let totals = lab.stop_daemons();
    drop(lab);

    println!(
        "\n| configuration | requests/s | p50 µs | p99 µs | answered in XDP | memcached CPU µs/req | machine CPU µs/req | lost |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rates = [0.0; 2];
    for (i, name) in ["memcached alone", "memcached + BMC"].iter().enumerate() {
        let p = &phases[i];
        let m = |f: &dyn Fn(&Phase) -> f64| median(p.iter().map(f).collect());
        rates[i] = m(&|p| p.rate());
        let hit = if i == 1 {
            format!(
                "{:.1}% of gets",
                m(&|p| 100.0 * p.hits as f64 / p.gets.max(1) as f64)
            )
        } else {
            "—".into()
        };
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {hit} | {:.2} | {:.2} | {:.0} |",
            rates[i],
            m(&|p| p.percentile(0.5)),
            m(&|p| p.percentile(0.99)),
            m(&|p| 1e6 * p.memcached_cpu_s / p.requests.max(1) as f64),
            m(&|p| 1e6 * p.machine_cpu_s / p.requests.max(1) as f64),
            m(&|p| p.lost as f64),
        );
    }
    println!(
        "\nThroughput with BMC: {:.2}x memcached alone (median of {} rounds of {} s, {} clients with {} requests in flight each on {} threads, Zipf {} over {} keys, {:.0}% gets, {}-byte values).{}",
        rates[1] / rates[0].max(1.0),
        args.rounds,
        args.seconds,
        args.clients,
        args.depth,
        args.threads,
        args.skew,
        args.keys,
        args.gets * 100.0,
        args.value_size,
        totals.get(1).map_or(String::new(), |t| if t.is_empty() {
            String::new()
        } else {
            format!(" Daemon: {t}")
        }),
    );
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
    let k = key(1);
    let value = vec![b'v'; args.value_size];
    let get = packets::request(40000, 1, format!("get {k}\r\n").as_bytes());
    let reply = packets::reply(40000, 1, &packets::value_body(k.as_bytes(), 0, &value));
    let miss_get = packets::request(40000, 2, format!("get {}\r\n", key(2)).as_bytes());
    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..args.test_runs {
        // A miss (arms the slot), the reply (fills it), a hit.
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
    for name in ["bmc_rx", "bmc_tx", "bmc_pass"] {
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
