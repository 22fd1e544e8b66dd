//! Helpers for tests and demonstrations (feature `testing`): code run in a
//! network namespace ([`in_new_netns`], [`in_netns`]), veth pairs in a
//! network namespace, the differential check of a program in the kernel
//! against the host simulation ([`differential`]), and a seccomp filter for
//! workloads that tracing programs on `__seccomp_filter` watch
//! ([`seccomp_allow_all`]).

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
};

/// The running kernel's release (`uname -r`), for skip messages.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Reports that a test skips `what` because the running kernel lacks
/// `feature`, naming the kernel: `skipping: panics abort: kernel 6.1.0-57
/// has no BPF exceptions (bpf_throw, Linux 6.7)`. Tests call it only after
/// checking the feature with [`crate::features`], whose answers the VM
/// tier checks against each kernel of its matrix.
pub fn skip_missing(what: &str, feature: &str) {
    eprintln!(
        "skipping: {what}: kernel {} has no {feature}",
        kernel_release()
    );
}

/// Runs `f` on a thread of its own, moved into a new network namespace
/// whose loopback is up; the namespace goes away with the thread. What the
/// thread opens (sockets, links, attached programs) lives in the new
/// namespace; the caller's is untouched. A panic in `f` continues in the
/// caller.
///
/// ```no_run
/// let port = iu::testing::in_new_netns(|| {
///     let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     socket.local_addr().unwrap().port()
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn in_new_netns<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    on_own_thread(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .output()?;
        if !up.status.success() {
            return Err(std::io::Error::other(format!(
                "ip link set lo up: {}",
                String::from_utf8_lossy(&up.stderr).trim()
            )));
        }
        Ok(f())
    })
}

/// Runs `f` on a thread of its own inside the named network namespace
/// `/run/netns/<netns>` (see [`Veth::netns`]). A panic in `f` continues
/// in the caller.
///
/// ```no_run
/// let veth = iu::testing::Veth::new(7)?;
/// // The peer's address exists only in the peer's namespace.
/// let bound = iu::testing::in_netns(veth.netns(), || {
///     std::net::UdpSocket::bind((std::net::Ipv4Addr::from(veth.peer_addr()), 0)).is_ok()
/// })
/// .map_err(|e| e.to_string())?;
/// assert!(bound);
/// # Ok::<(), String>(())
/// ```
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    on_own_thread(|| {
        let file = std::fs::File::open(format!("/run/netns/{netns}"))?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)?;
        Ok(f())
    })
}

/// Runs `f` on a scoped thread and returns what it returned, resuming its
/// panic here.
fn on_own_thread<T: Send>(f: impl FnOnce() -> std::io::Result<T> + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs program `binary` with `args`, waits until its stderr has a line
/// containing `ready` (the example's "attached" log line), runs `during`,
/// then waits for the program to exit: its output, and what `during`
/// returned. For tests of example daemons that trace what the test does.
///
/// ```no_run
/// let (output, ()) = iu::testing::run_alongside(
///     "target/debug/execsnoop",
///     &["--duration", "3"],
///     "tracing execs",
///     || { std::process::Command::new("true").status().unwrap(); },
/// )?;
/// assert!(output.status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_alongside<T>(
    binary: &str,
    args: &[&str],
    ready: &str,
    during: impl FnOnce() -> T,
) -> std::io::Result<(Output, T)> {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("no stderr pipe"))?;
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        if stderr.read_line(&mut line)? == 0 {
            let output = child.wait_with_output()?;
            return Err(std::io::Error::other(format!(
                "{binary} exited ({}) before printing {ready:?}",
                output.status
            )));
        }
    }
    let value = during();
    Ok((child.wait_with_output()?, value))
}

/// Puts the calling thread, and the processes it starts afterwards, under
/// a seccomp filter that allows every syscall, so that the kernel runs
/// `__seccomp_filter` on each of their syscalls (what `examples/tracex5`
/// traces). The filter cannot be removed: call it in a process made for
/// the purpose (a child), from its only thread.
///
/// ```no_run
/// iu::testing::seccomp_allow_all()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn seccomp_allow_all() -> std::io::Result<()> {
    crate::sys::seccomp_allow_all()
}

/// A veth pair: one end (`host`) in the current network namespace with
/// `10.199.<n>.1/24`, its peer in a fresh namespace with `10.199.<n>.2/24`.
/// Both are removed on drop. Needs root and iproute2 (`ip`); `ping` needs
/// iputils.
///
/// ```no_run
/// let veth = iu::testing::Veth::new(7)?;
/// assert!(veth.ping(1));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug)]
pub struct Veth {
    netns: String,
    host: String,
    peer: String,
    subnet: u8,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Veth {
    /// Creates the pair; `subnet` picks `10.199.<subnet>.0/24`, so that
    /// concurrent tests use different ones.
    pub fn new(subnet: u8) -> Result<Self, String> {
        let tag = format!("{}x{subnet}", std::process::id() % 10_000);
        let veth = Veth {
            netns: format!("iu-{tag}"),
            host: format!("iu{tag}a"),
            peer: format!("iu{tag}b"),
            subnet,
        };
        let peer = veth.peer.clone();
        ip(&["netns", "add", &veth.netns])?;
        ip(&[
            "link", "add", &veth.host, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &veth.netns])?;
        ip(&[
            "addr",
            "add",
            &format!("10.199.{subnet}.1/24"),
            "dev",
            &veth.host,
        ])?;
        ip(&["link", "set", &veth.host, "up"])?;
        ip(&[
            "-n",
            &veth.netns,
            "addr",
            "add",
            &format!("10.199.{subnet}.2/24"),
            "dev",
            &peer,
        ])?;
        ip(&["-n", &veth.netns, "link", "set", &peer, "up"])?;
        // The link takes a moment to come up (carrier, neighbour
        // discovery), longer on a loaded machine: wait until a ping gets
        // through, up to 20 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let ready = loop {
            if veth.ping(1) {
                break true;
            }
            if std::time::Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        };
        if !ready {
            return Err(format!(
                "the veth pair {} did not pass traffic within 20 s",
                veth.host
            ));
        }
        Ok(veth)
    }

    /// The end in this namespace (attach programs here).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The peer end's name, inside [`Veth::netns`].
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The network namespace of the peer end (`/run/netns/<name>`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// This end's address, `10.199.<subnet>.1`.
    pub fn host_addr(&self) -> [u8; 4] {
        [10, 199, self.subnet, 1]
    }

    /// The peer's address, `10.199.<subnet>.2`.
    pub fn peer_addr(&self) -> [u8; 4] {
        [10, 199, self.subnet, 2]
    }

    /// Sends `count` pings from the peer namespace to this end; returns
    /// whether replies came back.
    pub fn ping(&self, count: u32) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "ping",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "1",
            ])
            .arg(format!("10.199.{}.1", self.subnet))
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Whether `ip` and `ping` are installed, for tests that skip without
    /// them outside the host tier.
    pub fn tools_available() -> bool {
        Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
            && Command::new("ping").arg("-V").output().is_ok()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host]);
        let _ = ip(&["netns", "del", &self.netns]);
    }
}

/// A packet context that the host simulation can build from bytes: what
/// [`differential`] feeds the host side of a program.
pub trait HostPacketContext: Sized {
    /// The context over a copy of `packet`.
    fn from_packet(packet: &[u8]) -> Self;
}

impl HostPacketContext for iu_ebpf::programs::XdpContext {
    fn from_packet(packet: &[u8]) -> Self {
        iu_ebpf::programs::XdpContext::from_packet(packet)
    }
}

impl HostPacketContext for iu_ebpf::programs::TcContext {
    fn from_packet(packet: &[u8]) -> Self {
        iu_ebpf::programs::TcContext::from_packet(packet)
    }
}

/// What a [`differential`] run compared.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Differential {
    /// Packets that both sides ran, with the same verdict and output.
    pub compared: usize,
    /// Packets the kernel refused to run (`BPF_PROG_TEST_RUN` failed, for
    /// example below 14 bytes or above what fits a page), with the error.
    /// The host side does not run them, so that maps stay in step.
    pub refused: Vec<(usize, String)>,
}

/// Runs every packet through the kernel (`Program::test_run`) and through
/// the host simulation (`host`, the same program function called with a
/// host context), in order, and checks that both return the same value and
/// that the kernel's output packet is the packet the host program leaves
/// (host contexts are read-only, so that is the input).
///
/// Maps are not shared: seed the kernel's maps (through `iu`) and the
/// simulated ones (the program crate's statics) the same way before the
/// run, and hold an `iu_ebpf::sim::session()` so that no other test
/// touches the statics meanwhile. Side effects then stay in step, since
/// packets run in the same order on both sides.
///
/// Returns an error that names the first packet whose results differ.
///
/// ```no_run
/// # fn f(ebpf: &iu::Ebpf, packets: &[Vec<u8>]) -> Result<(), String> {
/// # fn xdp_firewall(_: iu_ebpf::programs::XdpContext) -> u32 { 2 }
/// let program = ebpf.program("xdp_firewall").map_err(|e| e.to_string())?;
/// let _sim = iu_ebpf::sim::session();
/// let report = iu::testing::differential(program, packets, xdp_firewall)?;
/// assert!(report.compared > 0);
/// # Ok(()) }
/// ```
pub fn differential<C, R, P>(
    program: &crate::programs::Program,
    packets: impl IntoIterator<Item = P>,
    mut host: impl FnMut(C) -> R,
) -> Result<Differential, String>
where
    C: HostPacketContext,
    R: iu_ebpf::ProgramReturn,
    P: AsRef<[u8]>,
{
    let mut report = Differential::default();
    for (index, packet) in packets.into_iter().enumerate() {
        let packet = packet.as_ref();
        let kernel = match program.test_run(&crate::programs::TestRun::packet(packet)) {
            Ok(out) => out,
            Err(e) => {
                report.refused.push((index, e.to_string()));
                continue;
            }
        };
        if packet.len() > iu_ebpf::sim::MAX_PACKET {
            return Err(format!(
                "packet {index} ({} bytes) ran in the kernel but is larger than the host \
                 simulation's {} bytes",
                packet.len(),
                iu_ebpf::sim::MAX_PACKET
            ));
        }
        let retval = host(C::from_packet(packet)).into_return_code();
        if retval != kernel.retval {
            return Err(format!(
                "packet {index} ({} bytes): the kernel returned {}, the host simulation {retval}\n\
                 packet: {}",
                packet.len(),
                kernel.retval,
                hex(packet)
            ));
        }
        if kernel.data != packet {
            return Err(format!(
                "packet {index} ({} bytes): the kernel's output packet differs from the host's\n\
                 host:   {}\nkernel: {}",
                packet.len(),
                hex(packet),
                hex(&kernel.data)
            ));
        }
        report.compared += 1;
    }
    Ok(report)
}

/// The first 64 bytes of a packet in hex, for messages.
fn hex(bytes: &[u8]) -> String {
    let mut out: String = bytes.iter().take(64).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 64 {
        out.push_str(&format!("... ({} more bytes)", bytes.len() - 64));
    }
    out
}
