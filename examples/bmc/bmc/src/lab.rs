//! A lab on the running kernel: one client network namespace joined by a
//! veth pair to each of several server namespaces, each server running
//! Debian's memcached (UDP and TCP on port 11211), optionally behind the
//! BMC daemon. Everything is named `iubmc<pid><letter>` and removed on
//! drop, even after a failure; nothing touches the host's interfaces.

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

/// How the server's side of a veth pair is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// memcached alone, with the pass-through XDP program on the server's
    /// interface (the same packet path as with BMC, minus the cache).
    Alone,
    /// memcached behind BMC (XDP ingress and tc egress programs).
    Bmc,
}

/// One server namespace: its memcached, its daemon and its address.
pub struct ServerNs {
    /// The namespace's name (`/run/netns/<name>`).
    pub netns: String,
    /// The server's interface, in its namespace.
    pub iface: String,
    /// The client's interface to it, in the client namespace.
    pub client_iface: String,
    /// The server's IPv4 address (`10.213.<n>.1`).
    pub addr: [u8; 4],
    /// How it was set up.
    pub kind: Server,
    memcached: Option<Child>,
    daemon: Option<Daemon>,
    client_daemon: Option<Daemon>,
}

/// The namespaces, processes and links of one lab.
pub struct Lab {
    /// The client namespace.
    pub client_netns: String,
    /// The servers, in the order given to [`Lab::new`].
    pub servers: Vec<ServerNs>,
}

/// A daemon and its output (unless taken).
type Daemon = (Child, Option<BufReader<ChildStdout>>);

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args))
}

/// `nsenter --net=/run/netns/<netns>` (which, unlike `ip netns exec`,
/// keeps the mounts as they are).
fn nsenter(netns: &str) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{netns}"));
    cmd
}

/// Starts the daemon in `netns` and waits for its `ready` line.
fn start_daemon(
    binary: &std::path::Path,
    netns: &str,
    iface: &str,
    pass_only: bool,
    interval: f64,
) -> Result<Daemon, String> {
    let mut cmd = nsenter(netns);
    cmd.arg(binary)
        .args(["--iface", iface, "--interval"])
        .arg(interval.to_string());
    if pass_only {
        cmd.arg("--pass-only");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let Some(stdout) = child.stdout.take() else {
        return Err("the daemon's stdout is not piped".into());
    };
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let status = child.wait();
                return Err(format!(
                    "the bmc daemon on {iface} exited before it was ready: {status:?}"
                ));
            }
            Ok(_) if line.trim() == "ready" => return Ok((child, Some(stdout))),
            Ok(_) => {}
        }
    }
}

/// Stops a daemon with SIGTERM and returns what it printed last (the
/// `total` line of the full daemon).
fn stop_daemon((mut child, stdout): Daemon) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut last = String::new();
    let mut line = String::new();
    if let Some(mut stdout) = stdout {
        while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            last = line.trim().to_owned();
            line.clear();
        }
    }
    let _ = child.wait();
    last
}

impl Lab {
    /// Creates the client namespace and one server namespace per entry of
    /// `servers`, starts memcached (`-t threads`) in each and the daemons,
    /// and waits until every memcached answers.
    pub fn new(daemon: &std::path::Path, servers: &[Server], threads: u32) -> Result<Lab, String> {
        Self::with_interval(daemon, servers, threads, 3600.0)
    }

    /// [`Lab::new`], with the daemons printing their statistics every
    /// `interval` seconds (read them with [`Lab::take_stats`]).
    pub fn with_interval(
        daemon: &std::path::Path,
        servers: &[Server],
        threads: u32,
        interval: f64,
    ) -> Result<Lab, String> {
        Self::with_options(daemon, servers, threads, interval, true, 1)
    }

    /// [`Lab::with_interval`]; without `client_daemons`, nothing is
    /// attached to the client's ends of the veth pairs (the caller attaches
    /// its own XDP program there, which a veth needs to wake its peer for
    /// `XDP_TX`ed frames: `bmc_pass` or `bmc_client`). Each veth end has
    /// `queues` transmit and receive queues.
    pub fn with_options(
        daemon: &std::path::Path,
        servers: &[Server],
        threads: u32,
        interval: f64,
        client_daemons: bool,
        queues: u32,
    ) -> Result<Lab, String> {
        let queues = queues.max(1).to_string();
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Interface names have at most 15 bytes: `iubmc` + 5 + 1 + 1 + 1.
        let tag = format!(
            "iubmc{}{}",
            std::process::id() % 100_000,
            (b'a' + (n % 26) as u8) as char
        );
        let mut lab = Lab {
            client_netns: format!("{tag}c"),
            servers: Vec::new(),
        };
        ip(&["netns", "add", &lab.client_netns])?;
        ip(&["-n", &lab.client_netns, "link", "set", "lo", "up"])?;
        for (i, &kind) in servers.iter().enumerate() {
            let n = i as u8 + 1;
            let server = ServerNs {
                netns: format!("{tag}s{n}"),
                iface: format!("{tag}a{n}"),
                client_iface: format!("{tag}b{n}"),
                addr: [10, 213, n, 1],
                kind,
                memcached: None,
                daemon: None,
                client_daemon: None,
            };
            // Pushed first, so that drop removes whatever was created.
            lab.servers.push(server);
            let s = lab.servers.last_mut().ok_or("no server")?;
            ip(&["netns", "add", &s.netns])?;
            ip(&["-n", &s.netns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                &s.netns,
                "link",
                "add",
                &s.iface,
                "numtxqueues",
                &queues,
                "numrxqueues",
                &queues,
                "type",
                "veth",
                "peer",
                "name",
                &s.client_iface,
                "numtxqueues",
                &queues,
                "numrxqueues",
                &queues,
                "netns",
                &lab.client_netns,
            ])?;
            ip(&[
                "-n",
                &s.netns,
                "addr",
                "add",
                &format!("10.213.{n}.1/24"),
                "dev",
                &s.iface,
            ])?;
            ip(&[
                "-n",
                &lab.client_netns,
                "addr",
                "add",
                &format!("10.213.{n}.2/24"),
                "dev",
                &s.client_iface,
            ])?;
            ip(&["-n", &s.netns, "link", "set", &s.iface, "up"])?;
            ip(&[
                "-n",
                &lab.client_netns,
                "link",
                "set",
                &s.client_iface,
                "up",
            ])?;
            let memcached = nsenter(&s.netns)
                .args(["memcached", "-u", "nobody", "-l"])
                .arg(format!("10.213.{n}.1"))
                .args([
                    "-p", "11211", "-U", "11211", "-m", "256", "-c", "4096", "-B", "ascii",
                ])
                .args(["-t", &threads.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting memcached: {e} (install Debian's memcached)"))?;
            s.memcached = Some(memcached);
            s.daemon = Some(start_daemon(
                daemon,
                &s.netns,
                &s.iface,
                kind == Server::Alone,
                interval,
            )?);
            if client_daemons {
                s.client_daemon = Some(start_daemon(
                    daemon,
                    &lab.client_netns,
                    &s.client_iface,
                    true,
                    interval,
                )?);
            }
        }
        lab.wait_for_memcached()?;
        Ok(lab)
    }

    fn wait_for_memcached(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        for s in &self.servers {
            loop {
                let out = nsenter(&self.client_netns)
                    .args(["bash", "-c"])
                    .arg(format!(
                        "exec 3<>/dev/tcp/{}.{}.{}.{}/11211",
                        s.addr[0], s.addr[1], s.addr[2], s.addr[3]
                    ))
                    .stderr(Stdio::null())
                    .status();
                if out.is_ok_and(|o| o.success()) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "memcached in {} did not accept connections within 10 s",
                        s.netns
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Stops the BMC daemons and returns each server's final statistics
    /// line (`total hits=… misses=…`; empty for memcached alone).
    pub fn stop_daemons(&mut self) -> Vec<String> {
        self.servers
            .iter_mut()
            .map(|s| {
                if let Some(d) = s.client_daemon.take() {
                    stop_daemon(d);
                }
                s.daemon.take().map(stop_daemon).unwrap_or_default()
            })
            .collect()
    }

    /// Takes server `i`'s daemon's output: one line of statistics (the
    /// counts of the last interval) per interval. The daemon's final line
    /// then goes there too, not to [`Lab::stop_daemons`].
    pub fn take_stats(&mut self, i: usize) -> Option<BufReader<ChildStdout>> {
        self.servers.get_mut(i)?.daemon.as_mut()?.1.take()
    }

    /// The pid of server `i`'s memcached.
    pub fn memcached_pid(&self, i: usize) -> Option<u32> {
        self.servers.get(i)?.memcached.as_ref().map(Child::id)
    }

    /// The MAC addresses of server `i`'s veth pair: the client's end, the
    /// server's end.
    pub fn macs(&self, i: usize) -> Result<([u8; 6], [u8; 6]), String> {
        let s = self.servers.get(i).ok_or("no such server")?;
        Ok((
            mac(&self.client_netns, &s.client_iface)?,
            mac(&s.netns, &s.iface)?,
        ))
    }

    /// The servers' addresses, in order.
    pub fn addrs(&self) -> Vec<std::net::Ipv4Addr> {
        self.servers.iter().map(|s| s.addr.into()).collect()
    }
}

/// Moves the calling thread into network namespace `netns` (sockets it
/// opens afterwards are there). Other threads stay where they are.
pub fn enter(netns: &str) -> Result<(), String> {
    let file = std::fs::File::open(format!("/run/netns/{netns}"))
        .map_err(|e| format!("opening namespace {netns}: {e}"))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering namespace {netns}: {e}"))
}

/// The MAC address of `iface` in `netns` (from `ip -o link show`).
fn mac(netns: &str, iface: &str) -> Result<[u8; 6], String> {
    let out = Command::new("ip")
        .args(["-n", netns, "-o", "link", "show", "dev", iface])
        .output()
        .map_err(|e| format!("ip link show {iface}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = text
        .split_whitespace()
        .skip_while(|f| *f != "link/ether")
        .nth(1)
        .ok_or_else(|| format!("no MAC address for {iface} in {netns}: {text}"))?;
    let mut mac = [0u8; 6];
    let mut parts = field.split(':');
    for b in &mut mac {
        *b = parts
            .next()
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("bad MAC address {field} for {iface}"))?;
    }
    Ok(mac)
}

/// The value of `name=` in a daemon's `total` line.
pub fn stat(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// Whether the lab's tools are installed: `ip`, `nsenter` and memcached.
pub fn tools_available() -> bool {
    ["ip", "nsenter", "memcached"].iter().all(|tool| {
        Command::new(tool)
            .arg(if *tool == "ip" { "-V" } else { "--version" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_daemons();
        for s in &mut self.servers {
            if let Some(mut m) = s.memcached.take() {
                let _ = m.kill();
                let _ = m.wait();
            }
            // Deleting a namespace deletes the veth end in it, and so the
            // pair.
            let _ = ip(&["netns", "del", &s.netns]);
        }
        let _ = ip(&["netns", "del", &self.client_netns]);
    }
}
