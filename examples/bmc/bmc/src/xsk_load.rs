//! The load generator of [`crate::load`] with its UDP path replaced by an
//! AF_XDP socket on the client's end of the veth pair: requests are whole
//! Ethernet/IPv4/UDP frames written here (IP and UDP checksums included)
//! and queued on the socket's TX ring, one `sendto` per batch of up to
//! 32 (`iu::xsk::XskSocket::enqueue`, `flush`); replies
//! come back through `bmc_client` (an XDP program on the same interface
//! that redirects memcached's replies to the generator's ports into the
//! socket's `XskMap`). The client's kernel UDP stack (socket, routing,
//! neighbour lookup, and on the way back IP/UDP receive and the socket
//! queue) is out of the path; the server's side is unchanged.
//!
//! Same workload, the same operations for a seed, the same checks and
//! the same latency taking (one clock read per batch each way) as the
//! UDP-socket generator. One thread and one socket per receive queue of
//! the client's veth (an interface queue has one AF_XDP socket), each
//! thread pinned to a CPU and its clients (one source port each, from
//! `bmc_common::XSK_PORT_BASE`) chosen so that their replies land on its
//! queue (see [`run`]).

use std::{
    io,
    net::Ipv4Addr,
    sync::{
        Barrier,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bmc_common::{PORT, XSK_PORT_BASE, XSK_PORTS};
use iu::xsk::{XskConfig, XskSocket};

use crate::load::{BUF, Client, Counts, Pending, Plan, TIMEOUT_MS, Workload};

/// Frames queued per transmit system call at most (the kernel's copy
/// mode sends up to 32 per call).
const KICK: usize = 32;
/// Ethernet + IPv4 (20 bytes) + UDP headers.
const HEADERS: usize = 14 + 20 + 8;

/// Where the generator sends from and to.
#[derive(Clone, Debug)]
pub struct XskTarget {
    /// The client's end of the veth pair (in the calling thread's network
    /// namespace), with `bmc_client` attached.
    pub iface: String,
    /// Its MAC address.
    pub client_mac: [u8; 6],
    /// The server's end's MAC address.
    pub server_mac: [u8; 6],
    /// The client's IPv4 address.
    pub client_ip: Ipv4Addr,
    /// memcached's address (port 11211).
    pub server_ip: Ipv4Addr,
}

/// The Internet checksum's 16-bit one's-complement sum of `bytes` (an odd
/// last byte padded with zero), added to `sum`, not folded.
fn sum16(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes the Ethernet, IPv4 and UDP headers in front of the `payload_len`
/// bytes of UDP payload already at `frame[HEADERS..]`, with both
/// checksums; returns the frame's length.
fn write_headers(
    frame: &mut [u8; BUF],
    t: &XskTarget,
    port: u16,
    ip_id: u16,
    payload_len: usize,
) -> usize {
    let udp_len = (8 + payload_len) as u16;
    frame[0..6].copy_from_slice(&t.server_mac);
    frame[6..12].copy_from_slice(&t.client_mac);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    // Don't fragment, TTL 64, UDP.
    ip[6..10].copy_from_slice(&[0x40, 0, 64, 17]);
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&t.client_ip.octets());
    ip[16..20].copy_from_slice(&t.server_ip.octets());
    let check = fold(sum16(0, ip));
    ip[10..12].copy_from_slice(&check.to_be_bytes());
    let udp = 34;
    frame[udp..udp + 2].copy_from_slice(&port.to_be_bytes());
    frame[udp + 2..udp + 4].copy_from_slice(&PORT.to_be_bytes());
    frame[udp + 4..udp + 6].copy_from_slice(&udp_len.to_be_bytes());
    frame[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
    // Pseudo-header (addresses, protocol, UDP length), then the UDP header
    // and payload.
    let mut sum = sum16(0, &frame[26..34]);
    sum += 17 + u32::from(udp_len);
    sum = sum16(sum, &frame[udp..udp + udp_len as usize]);
    let check = match fold(sum) {
        0 => 0xffff,
        c => c,
    };
    frame[udp + 6..udp + 8].copy_from_slice(&check.to_be_bytes());
    HEADERS + payload_len
}

/// The client index and the UDP payload of a reply frame from memcached to
/// one of the generator's ports.
fn reply_payload(frame: &[u8]) -> Option<(usize, &[u8])> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 17 {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    let udp = 14 + ihl;
    let h = frame.get(udp..udp + 8)?;
    let dst = u16::from_be_bytes([h[2], h[3]]);
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let client = usize::from(dst.checked_sub(XSK_PORT_BASE)?);
    Some((client, frame.get(udp + 8..udp + len.max(8))?))
}

/// Source ports probed to find which receive queue each one's replies
/// from memcached land on.
const PROBE_PORTS: u16 = 64;

/// Runs the clients of `plan` against `target` through one AF_XDP socket
/// per receive queue of `target.iface` (`queues` of them, each put in
/// `ebpf`'s `CLIENT_XSKS` at its queue's index and driven by its own
/// thread, pinned to CPU `queue % CPUs` when there are several), until `until`, then waits for
/// the replies in flight (or 50 ms of silence). Call it from a thread in
/// the client's network namespace: the threads it starts are there too.
///
/// Where a reply lands decides which socket may take it: a veth pair puts
/// an `XDP_TX`ed reply (a hit) on the receive queue of the CPU that runs
/// the server's XDP program, which for a request sent from a pinned
/// thread's socket is that thread's CPU, and memcached's replies (misses,
/// sets) on the queue its transmit path picked by a hash of the flow.
/// So before the run, the first thread sends a `get` of a missing key from
/// each of 64 source ports and every thread notes the ports whose replies
/// arrive on its queue; each thread's clients then use only its ports.
///
/// ```no_run
/// # fn f(ebpf: &iu::Ebpf, target: &bmc::xsk_load::XskTarget) -> std::io::Result<()> {
/// use bmc::load::{Plan, Workload, Zipf};
/// let w = Workload { zipf: Zipf::new(100_000, 0.99), gets: 0.9, value: vec![b'v'; 32], depth: 16 };
/// let plan = Plan::draw(&w, 4, 1);
/// let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
/// let counts = bmc::xsk_load::run(ebpf, target, &w, plan, 2, until)?;
/// println!("{} requests/s", counts.requests as f64 / counts.seconds);
/// # Ok(()) }
/// ```
pub fn run(
    ebpf: &iu::Ebpf,
    target: &XskTarget,
    w: &Workload,
    plan: Plan,
    queues: usize,
    until: Instant,
) -> io::Result<Counts> {
    let threads = queues.clamp(1, 8).min(plan.0.len().max(1));
    let mut per_thread: Vec<Vec<Client>> = (0..threads).map(|_| Vec::new()).collect();
    for (c, client) in plan.0.into_iter().enumerate() {
        per_thread[c % threads].push(client);
    }
    let owners: Vec<AtomicUsize> = (0..PROBE_PORTS)
        .map(|_| AtomicUsize::new(usize::MAX))
        .collect();
    let barrier = Barrier::new(threads);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Vec<io::Result<Counts>> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .enumerate()
            .map(|(q, clients)| {
                let (owners, barrier) = (&owners, &barrier);
                s.spawn(move || {
                    let shared = Shared {
                        ebpf,
                        target,
                        w,
                        owners,
                        barrier,
                        threads,
                        until,
                    };
                    queue_thread(&shared, q, q % cpus, clients)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("an AF_XDP load thread panicked")))
            })
            .collect()
    });
    let mut total = Counts::default();
    for r in results {
        total.merge(&r?);
    }
    Ok(total)
}

/// What every queue's thread shares.
struct Shared<'a> {
    ebpf: &'a iu::Ebpf,
    target: &'a XskTarget,
    w: &'a Workload,
    /// Per probed port, the queue its replies arrived on.
    owners: &'a [AtomicUsize],
    barrier: &'a Barrier,
    threads: usize,
    until: Instant,
}

/// One queue's socket and clients. Every thread reaches both barriers,
/// whatever fails, so that none waits forever.
fn queue_thread(sh: &Shared, q: usize, cpu: usize, mut cs: Vec<Client>) -> io::Result<Counts> {
    let setup = (|| -> io::Result<XskSocket> {
        if sh.threads > 1 {
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu).map_err(io::Error::other)?;
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .map_err(io::Error::other)?;
        }
        let depth = sh.w.depth.clamp(1, crate::load::BATCH);
        let config = XskConfig {
            frame_size: 2048,
            // Room for every request in flight, twice.
            ring_size: (2 * cs.len().max(1) * depth)
                .next_power_of_two()
                .clamp(64, 4096) as u32,
            need_wakeup: true,
        };
        let socket =
            XskSocket::new(&sh.target.iface, q as u32, config).map_err(io::Error::other)?;
        sh.ebpf
            .xsk_map("CLIENT_XSKS")
            .and_then(|m| m.set(q as u32, &socket))
            .map_err(io::Error::other)?;
        Ok(socket)
    })();
    sh.barrier.wait();
    let mut socket = match setup {
        Ok(socket) => socket,
        Err(e) => {
            sh.barrier.wait();
            return Err(e);
        }
    };
    let probed = probe(sh, q, &mut socket);
    sh.barrier.wait();
    probed?;
    let mut mine = (0..PROBE_PORTS)
        .filter(|&p| sh.threads == 1 || sh.owners[usize::from(p)].load(Ordering::SeqCst) == q);
    let mut client_ports = Vec::new();
    for _ in &cs {
        client_ports.push(
            XSK_PORT_BASE + mine.next().ok_or_else(|| {
                io::Error::other(format!(
                    "only {} of {PROBE_PORTS} source ports get their replies on queue {q} of {}",
                    client_ports.len(),
                    sh.target.iface
                ))
            })?,
        );
    }
    drive(sh, &mut socket, &mut cs, &client_ports)
}

/// With several queues: the first thread sends a `get` of a missing key
/// from each probed port, every thread notes in `owners` the ports whose
/// replies reach its socket.
fn probe(sh: &Shared, q: usize, socket: &mut XskSocket) -> io::Result<()> {
    if sh.threads == 1 {
        return Ok(());
    }
    let mut frame = [0u8; BUF];
    if q == 0 {
        for p in 0..PROBE_PORTS {
            let body = b"\0\0\0\0\0\x01\0\0get iu-bmc-probe\r\n";
            frame[HEADERS..HEADERS + body.len()].copy_from_slice(body);
            let len = write_headers(&mut frame, sh.target, XSK_PORT_BASE + p, p, body.len());
            if !socket.enqueue(&frame[..len]).map_err(io::Error::other)? {
                break;
            }
            if (p as usize + 1).is_multiple_of(KICK) {
                socket.flush().map_err(io::Error::other)?;
            }
        }
        socket.flush().map_err(io::Error::other)?;
    }
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        socket
            .recv_batch(crate::load::BATCH, |f| {
                if let Some((p, _)) = reply_payload(f)
                    && let Some(owner) = sh.owners.get(p)
                {
                    owner.store(q, Ordering::SeqCst);
                }
            })
            .map_err(io::Error::other)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// The load loop of one queue's clients, `ports[i]` being client `i`'s
/// source port.
fn drive(
    sh: &Shared,
    socket: &mut XskSocket,
    cs: &mut [Client],
    ports: &[u16],
) -> io::Result<Counts> {
    let w = sh.w;
    let depth = w.depth.clamp(1, crate::load::BATCH);
    let mut local = [usize::MAX; XSK_PORTS as usize];
    for (i, &p) in ports.iter().enumerate() {
        local[usize::from(p - XSK_PORT_BASE)] = i;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut counts = Counts::default();
    let mut frame = [0u8; BUF];
    let mut payload = [0u8; BUF];
    let mut ip_id = 0u16;
    // After the setup and the probe: the rate counts only the load.
    let start = Instant::now();
    let ns = |t: Instant| t.duration_since(start).as_nanos() as u64;
    loop {
        let sending = Instant::now() < sh.until;
        // Take what has arrived.
        loop {
            let now = ns(Instant::now());
            let received = socket
                .recv_batch(crate::load::BATCH, |f| {
                    let Some((p, reply)) = reply_payload(f) else {
                        return;
                    };
                    if let Some(client) = local.get(p).and_then(|&c| cs.get_mut(c)) {
                        client.take_reply(reply, &w.value, now, &mut counts);
                    }
                })
                .map_err(io::Error::other)?;
            if received == 0 {
                break;
            }
            counts.seconds = start.elapsed().as_secs_f64();
        }
        if sending {
            let now = ns(Instant::now());
            let mut queued = 0usize;
            'clients: for (c, &port) in cs.iter_mut().zip(ports) {
                while c.in_flight < depth {
                    let id = c.next_id.wrapping_add(1);
                    let op = c.ops[c.next_op];
                    let n = crate::load::write_request(&mut payload, id, op, &w.value);
                    frame[HEADERS..HEADERS + n].copy_from_slice(&payload[..n]);
                    ip_id = ip_id.wrapping_add(1);
                    let len = write_headers(&mut frame, sh.target, port, ip_id, n);
                    if !socket.enqueue(&frame[..len]).map_err(io::Error::other)? {
                        // Every transmit frame in flight: later.
                        break 'clients;
                    }
                    queued += 1;
                    if queued.is_multiple_of(KICK) {
                        socket.flush().map_err(io::Error::other)?;
                    }
                    c.next_id = id;
                    c.next_op = (c.next_op + 1) % c.ops.len();
                    let p = &mut c.pending[usize::from(id)];
                    if p.live {
                        // Its id came round again without a reply.
                        counts.lost += 1;
                        c.in_flight -= 1;
                    }
                    *p = Pending {
                        sent_ns: now,
                        op,
                        live: true,
                    };
                    c.in_flight += 1;
                }
            }
            if !queued.is_multiple_of(KICK) {
                socket.flush().map_err(io::Error::other)?;
            }
        }
        let in_flight: usize = cs.iter().map(|c| c.in_flight).sum();
        if in_flight == 0 && !sending {
            break;
        }
        // Everything in flight: wait for a reply (or silence).
        if !sending || cs.iter().all(|c| c.in_flight >= depth) {
            let ready = runtime.block_on(async {
                tokio::time::timeout(
                    Duration::from_millis(u64::from(TIMEOUT_MS)),
                    socket.readable(),
                )
                .await
            });
            match ready {
                Ok(r) => r.map_err(io::Error::other)?,
                Err(_) => {
                    // Silence: what is in flight is lost.
                    for c in cs.iter_mut() {
                        counts.lost += c.in_flight as u64;
                        c.in_flight = 0;
                        c.pending.iter_mut().for_each(|p| p.live = false);
                    }
                    if !sending {
                        break;
                    }
                }
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_frames_carry_valid_ip_and_udp_checksums() {
        let t = XskTarget {
            iface: "x".into(),
            client_mac: [2, 0, 0, 0, 0, 2],
            server_mac: [2, 0, 0, 0, 0, 1],
            client_ip: Ipv4Addr::new(10, 213, 1, 2),
            server_ip: Ipv4Addr::new(10, 213, 1, 1),
        };
        for body in [&b"get key:0000000042\r\n"[..], b"odd"] {
            let mut frame = [0u8; BUF];
            frame[HEADERS..HEADERS + body.len()].copy_from_slice(body);
            let len = write_headers(&mut frame, &t, 61000, 7, body.len());
            let f = &frame[..len];
            assert_eq!(crate::packets::ip_checksum(&f[14..34]), 0);
            // The UDP checksum over the pseudo-header and the datagram
            // sums to 0xffff.
            let mut sum = sum16(0, &f[26..34]) + 17 + (8 + body.len()) as u32;
            sum = sum16(sum, &f[34..]);
            assert_eq!(fold(sum), 0, "body {body:?}");
            assert_eq!(reply_payload(f), None, "to port 11211, not a reply");
        }
        // A reply: from 11211 to the generator's port 61003.
        let reply = crate::packets::udp(
            ([2, 0, 0, 0, 0, 1], [10, 213, 1, 1], 11211),
            ([2, 0, 0, 0, 0, 2], [10, 213, 1, 2], 61003),
            b"\0\x01\0\0\0\x01\0\0END\r\n",
        );
        let (client, payload) = reply_payload(&reply).unwrap();
        assert_eq!(client, 3);
        assert_eq!(payload, b"\0\x01\0\0\0\x01\0\0END\r\n");
    }
}
