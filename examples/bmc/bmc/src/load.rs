//! A cheap UDP load generator for memcached: a few OS threads, each
//! driving several clients (one UDP socket each) with a window of requests
//! in flight, sent and received in batches with `sendmmsg`/`recvmmsg`.
//! Request bytes are written into fixed buffers (no allocation per
//! request), the key sequence is drawn before the run, and every reply is
//! matched to its request by the frame header's id and checked (the key
//! and length of a `VALUE` reply, `END`, `STORED`).
//!
//! Latency is taken per batch: a request's send time is read once before
//! the `sendmmsg` that carries it, its reply's arrival once after the
//! `recvmmsg` that returns it, so both include up to one batch of the
//! client's own work.

use std::{
    io::{IoSlice, IoSliceMut},
    net::{SocketAddrV4, UdpSocket},
    os::fd::{AsFd, AsRawFd},
    time::Instant,
};

use nix::{
    errno::Errno,
    poll::{PollFd, PollFlags},
    sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg},
};

/// Requests a client sends, and replies it takes, per system call at most.
pub const BATCH: usize = 64;
/// The largest request or reply handled (a single datagram).
pub(crate) const BUF: usize = 1536;
/// Operations drawn per client before a run (cycled if the run is longer).
const OPS: usize = 1 << 20;
/// Bit of an operation marking a `set` (the rest is the key's rank).
pub(crate) const SET: u32 = 1 << 31;
/// A request without a reply this long after nothing arrived is lost.
pub(crate) const TIMEOUT_MS: u16 = 50;

/// The key of rank `i`: `key:` and ten digits (14 bytes).
pub fn key(i: u32) -> [u8; 14] {
    let mut k = *b"key:0000000000";
    let mut n = i;
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A uniform number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf-distributed ranks by inverse transform over the cumulative
/// weights: rank `i` (from 0) has weight `1 / (i + 1)^skew`.
pub struct Zipf(Vec<f64>);

impl Zipf {
    /// `n` ranks with exponent `skew`.
    pub fn new(n: usize, skew: f64) -> Zipf {
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
    /// A rank.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
    /// The probability of the first `k` ranks together.
    pub fn top(&self, k: usize) -> f64 {
        k.checked_sub(1)
            .and_then(|i| self.0.get(i))
            .copied()
            .unwrap_or(if k == 0 { 0.0 } else { 1.0 })
    }
}

/// What to send.
pub struct Workload {
    /// Key popularity.
    pub zipf: Zipf,
    /// Fraction of requests that are gets; the rest are sets.
    pub gets: f64,
    /// The value every set stores (and every get expects).
    pub value: Vec<u8>,
    /// Requests each client keeps in flight.
    pub depth: usize,
}

/// A latency histogram: 64 buckets per power of two of nanoseconds
/// (1.6% resolution), fixed size.
#[derive(Clone)]
pub struct Histogram(Vec<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(vec![0; 64 * 64])
    }
}

impl Histogram {
    fn bucket(ns: u64) -> usize {
        if ns < 64 {
            return ns as usize;
        }
        let e = 63 - ns.leading_zeros() as usize;
        (e - 5) * 64 + ((ns >> (e - 6)) as usize & 63)
    }
    fn low(b: usize) -> u64 {
        if b < 64 {
            return b as u64;
        }
        (64 + (b % 64) as u64) << (b / 64 + 5 - 6)
    }
    /// Counts one latency of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.0[Self::bucket(ns)] += 1;
    }
    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += b;
        }
    }
    /// The `p` quantile (0 to 1) in microseconds (a bucket's lower bound).
    pub fn quantile_us(&self, p: f64) -> f64 {
        let total: u64 = self.0.iter().sum();
        let target = ((total as f64 * p) as u64).min(total.saturating_sub(1));
        let mut seen = 0;
        for (b, &c) in self.0.iter().enumerate() {
            seen += c;
            if seen > target {
                return Self::low(b) as f64 / 1000.0;
            }
        }
        0.0
    }
}

/// What a run of the load generator measured.
#[derive(Default, Clone)]
pub struct Counts {
    /// Replies received and matched to their request.
    pub requests: u64,
    /// Gets among them.
    pub gets: u64,
    /// Requests whose reply never came (within 50 ms of silence).
    pub lost: u64,
    /// Replies that did not fit their request (wrong key, length or
    /// status): must stay 0.
    pub wrong: u64,
    /// Round-trip times.
    pub latency: Histogram,
    /// Seconds from start to the last reply.
    pub seconds: f64,
}

impl Counts {
    pub(crate) fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.gets += o.gets;
        self.lost += o.lost;
        self.wrong += o.wrong;
        self.latency.merge(&o.latency);
        self.seconds = self.seconds.max(o.seconds);
    }
}

/// A request in flight, by request id.
#[derive(Clone, Copy, Default)]
pub(crate) struct Pending {
    pub(crate) sent_ns: u64,
    pub(crate) op: u32,
    pub(crate) live: bool,
}

/// One client: its socket's state and the operations it sends.
pub(crate) struct Client {
    pub(crate) ops: Vec<u32>,
    pub(crate) next_op: usize,
    pub(crate) pending: Vec<Pending>,
    pub(crate) next_id: u16,
    pub(crate) in_flight: usize,
}

impl Client {
    /// Matches a reply (its memcached UDP frame header and payload) to its
    /// request by the frame's request id and counts it at `now_ns`: too
    /// short, or not the reply its request asked for, is wrong; a late
    /// reply to a request already counted as lost is left out.
    pub(crate) fn take_reply(
        &mut self,
        reply: &[u8],
        value: &[u8],
        now_ns: u64,
        counts: &mut Counts,
    ) {
        if reply.len() < 8 {
            counts.wrong += 1;
            return;
        }
        let id = u16::from_be_bytes([reply[0], reply[1]]);
        let Some(p) = self.pending.get_mut(usize::from(id)).filter(|p| p.live) else {
            return;
        };
        p.live = false;
        self.in_flight -= 1;
        counts.requests += 1;
        if p.op & SET == 0 {
            counts.gets += 1;
        }
        if !reply_fits(reply, p.op, value) {
            counts.wrong += 1;
        }
        counts.latency.record(now_ns.saturating_sub(p.sent_ns));
    }
}

/// Writes request `op` with frame id `id` into `buf`; returns its length.
pub(crate) fn write_request(buf: &mut [u8; BUF], id: u16, op: u32, value: &[u8]) -> usize {
    buf[..2].copy_from_slice(&id.to_be_bytes());
    buf[2..8].copy_from_slice(&[0, 0, 0, 1, 0, 0]);
    let k = key(op & !SET);
    if op & SET == 0 {
        buf[8..12].copy_from_slice(b"get ");
        buf[12..26].copy_from_slice(&k);
        buf[26..28].copy_from_slice(b"\r\n");
        return 28;
    }
    buf[8..12].copy_from_slice(b"set ");
    buf[12..26].copy_from_slice(&k);
    buf[26..31].copy_from_slice(b" 0 0 ");
    let mut n = 31 + write_decimal(&mut buf[31..], value.len());
    buf[n..n + 2].copy_from_slice(b"\r\n");
    n += 2;
    buf[n..n + value.len()].copy_from_slice(value);
    n += value.len();
    buf[n..n + 2].copy_from_slice(b"\r\n");
    n + 2
}

/// Writes `v` in decimal at the start of `out`; returns the digits' count.
fn write_decimal(out: &mut [u8], v: usize) -> usize {
    let mut digits = [0u8; 20];
    let (mut i, mut n) = (digits.len(), v);
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[..len].copy_from_slice(&digits[i..]);
    len
}

/// Whether `reply` (a whole datagram) is memcached's answer to `op`.
pub(crate) fn reply_fits(reply: &[u8], op: u32, value: &[u8]) -> bool {
    // One datagram: sequence 0 of 1.
    if reply.len() < 8 || reply[2..8] != [0, 0, 0, 1, 0, 0] {
        return false;
    }
    let body = &reply[8..];
    if op & SET != 0 {
        return body == b"STORED\r\n";
    }
    if body == b"END\r\n" {
        return true;
    }
    let mut head = [0u8; 48];
    head[..6].copy_from_slice(b"VALUE ");
    head[6..20].copy_from_slice(&key(op & !SET));
    head[20..23].copy_from_slice(b" 0 ");
    let mut n = 23 + write_decimal(&mut head[23..], value.len());
    head[n..n + 2].copy_from_slice(b"\r\n");
    n += 2;
    body.len() == n + value.len() + 7
        && body[..n] == head[..n]
        && body[n..n + value.len()] == *value
        && body.ends_with(b"\r\nEND\r\n")
}

/// Runs the clients of `plan` against `server` on `threads` OS threads until
/// `until`, then waits for the replies in flight (or 50 ms of silence).
/// Call it from a thread in the client's network namespace: the threads
/// it starts are there too.
///
/// ```no_run
/// use bmc::load::{Plan, Workload, Zipf, run};
/// let w = Workload { zipf: Zipf::new(100_000, 0.99), gets: 0.9, value: vec![b'v'; 32], depth: 16 };
/// let plan = Plan::draw(&w, 4, 1);
/// let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
/// let counts = run("10.213.1.1:11211".parse().unwrap(), &w, plan, 2, until).unwrap();
/// println!("{} requests/s", counts.requests as f64 / counts.seconds);
/// ```
pub fn run(
    server: SocketAddrV4,
    w: &Workload,
    plan: Plan,
    threads: usize,
    until: Instant,
) -> std::io::Result<Counts> {
    let threads = threads.clamp(1, plan.0.len().max(1));
    let mut per_thread: Vec<Vec<Client>> = (0..threads).map(|_| Vec::new()).collect();
    for (c, client) in plan.0.into_iter().enumerate() {
        per_thread[c % threads].push(client);
    }
    let start = Instant::now();
    let results: Vec<std::io::Result<Counts>> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|clients| s.spawn(move || thread(server, w, clients, start, until)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a load thread panicked")))
            })
            .collect()
    });
    let mut total = Counts::default();
    for r in results {
        total.merge(&r?);
    }
    Ok(total)
}

/// The clients of one run with their operations, drawn before it (and
/// before its CPU time is taken): the same for a seed, whichever way they
/// are sent.
pub struct Plan(pub(crate) Vec<Client>);

impl Plan {
    /// `clients` clients' operations for `w`, from `seed`.
    pub fn draw(w: &Workload, clients: usize, seed: u64) -> Plan {
        Plan(draw_clients(w, clients, seed))
    }
}

fn draw_clients(w: &Workload, clients: usize, seed: u64) -> Vec<Client> {
    (0..clients)
        .map(|c| {
            let mut rng =
                Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x1234_5678_9abc) ^ (c as u64 + 1));
            let ops = (0..OPS)
                .map(|_| {
                    let k = w.zipf.sample(&mut rng) as u32;
                    if rng.unit() < w.gets { k } else { k | SET }
                })
                .collect();
            Client {
                ops,
                next_op: 0,
                pending: vec![Pending::default(); 65536],
                next_id: 0,
                in_flight: 0,
            }
        })
        .collect()
}

/// One thread's loop over its clients.
fn thread(
    server: SocketAddrV4,
    w: &Workload,
    mut clients: Vec<Client>,
    start: Instant,
    until: Instant,
) -> std::io::Result<Counts> {
    let sockets = clients
        .iter()
        .map(|_| {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.connect(server)?;
            Ok(s)
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut counts = Counts::default();
    let mut send_bufs = vec![[0u8; BUF]; BATCH];
    let mut send_lens = [0usize; BATCH];
    let mut recv_bufs = vec![[0u8; BUF]; BATCH];
    let mut recv_lens = [0usize; BATCH];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let no_addrs = [None::<SockaddrIn>; BATCH];
    let mut fds: Vec<PollFd> = sockets
        .iter()
        .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
        .collect();
    let ns = |t: Instant| t.duration_since(start).as_nanos() as u64;
    let depth = w.depth.clamp(1, BATCH);
    loop {
        let sending = Instant::now() < until;
        let mut in_flight = 0;
        for (c, socket) in clients.iter_mut().zip(&sockets) {
            // Take what has arrived.
            loop {
                let received = {
                    let mut iovs: [[IoSliceMut; 1]; BATCH] = {
                        let mut bufs = recv_bufs.iter_mut();
                        std::array::from_fn(|_| {
                            [IoSliceMut::new(
                                bufs.next().map_or(&mut [][..], |b| &mut b[..]),
                            )]
                        })
                    };
                    match recvmmsg(
                        socket.as_raw_fd(),
                        &mut headers,
                        iovs.iter_mut(),
                        MsgFlags::MSG_DONTWAIT,
                        None,
                    ) {
                        Ok(r) => {
                            let mut n = 0;
                            for (m, len) in r.zip(&mut recv_lens) {
                                *len = m.bytes;
                                n += 1;
                            }
                            n
                        }
                        Err(Errno::EAGAIN) => 0,
                        Err(e) => return Err(e.into()),
                    }
                };
                if received == 0 {
                    break;
                }
                let now = ns(Instant::now());
                for (buf, &len) in recv_bufs.iter().zip(&recv_lens).take(received) {
                    c.take_reply(&buf[..len.min(BUF)], &w.value, now, &mut counts);
                }
                counts.seconds = start.elapsed().as_secs_f64();
                if received < BATCH {
                    break;
                }
            }
            if sending && c.in_flight < depth {
                let want = depth - c.in_flight;
                let now = ns(Instant::now());
                for (buf, len) in send_bufs.iter_mut().zip(&mut send_lens).take(want) {
                    c.next_id = c.next_id.wrapping_add(1);
                    let p = &mut c.pending[usize::from(c.next_id)];
                    if p.live {
                        // Its id came round again without a reply.
                        counts.lost += 1;
                        c.in_flight -= 1;
                    }
                    let op = c.ops[c.next_op];
                    c.next_op = (c.next_op + 1) % c.ops.len();
                    *p = Pending {
                        sent_ns: now,
                        op,
                        live: true,
                    };
                    *len = write_request(buf, c.next_id, op, &w.value);
                }
                let iovs: [[IoSlice; 1]; BATCH] =
                    std::array::from_fn(|i| [IoSlice::new(&send_bufs[i][..send_lens[i]])]);
                let sent = match sendmmsg(
                    socket.as_raw_fd(),
                    &mut headers,
                    &iovs[..want],
                    &no_addrs[..want],
                    [],
                    MsgFlags::empty(),
                ) {
                    Ok(r) => r.count(),
                    Err(Errno::EAGAIN | Errno::ENOBUFS) => 0,
                    Err(e) => return Err(e.into()),
                };
                // Requests not sent are not in flight.
                for back in 0..want - sent {
                    let id = c.next_id.wrapping_sub(back as u16);
                    c.pending[usize::from(id)].live = false;
                }
                c.in_flight += sent;
            }
            in_flight += c.in_flight;
        }
        if in_flight == 0 && !sending {
            break;
        }
        // Everything in flight and nothing to read: wait for a reply.
        let all_full = clients.iter().all(|c| c.in_flight >= depth) || !sending;
        if all_full {
            match nix::poll::poll(&mut fds, TIMEOUT_MS) {
                Ok(0) => {
                    // Silence: what is in flight is lost.
                    for c in &mut clients {
                        counts.lost += c.in_flight as u64;
                        c.in_flight = 0;
                        c.pending.iter_mut().for_each(|p| p.live = false);
                    }
                    if !sending {
                        break;
                    }
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_memcached_udp_frames() {
        let mut buf = [0u8; BUF];
        let n = write_request(&mut buf, 0x0102, 42, b"xy");
        assert_eq!(&buf[..n], b"\x01\x02\0\0\0\x01\0\0get key:0000000042\r\n");
        let n = write_request(&mut buf, 7, 4_294_967 | SET, b"xy");
        assert_eq!(
            &buf[..n],
            b"\0\x07\0\0\0\x01\0\0set key:0004294967 0 0 2\r\nxy\r\n"
        );
    }

    #[test]
    fn replies_must_fit_their_request() {
        let value = vec![b'v'; 32];
        let frame = |body: &[u8]| {
            let mut f = vec![0, 9, 0, 0, 0, 1, 0, 0];
            f.extend_from_slice(body);
            f
        };
        let mut hit = b"VALUE key:0000000005 0 32\r\n".to_vec();
        hit.extend_from_slice(&value);
        hit.extend_from_slice(b"\r\nEND\r\n");
        assert!(reply_fits(&frame(&hit), 5, &value));
        // Another key, a changed value byte, a cut reply, a second datagram.
        assert!(!reply_fits(&frame(&hit), 6, &value));
        let mut bad = hit.clone();
        bad[30] = b'w';
        assert!(!reply_fits(&frame(&bad), 5, &value));
        assert!(!reply_fits(&frame(&hit[..hit.len() - 1]), 5, &value));
        let mut second = frame(&hit);
        second[3] = 1;
        assert!(!reply_fits(&second, 5, &value));
        assert!(reply_fits(&frame(b"END\r\n"), 5, &value));
        assert!(reply_fits(&frame(b"STORED\r\n"), 5 | SET, &value));
        assert!(!reply_fits(&frame(b"STORED\r\n"), 5, &value));
        assert!(!reply_fits(&frame(b"NOT_STORED\r\n"), 5 | SET, &value));
    }

    #[test]
    fn the_histogram_keeps_quantiles_within_two_percent() {
        let mut h = Histogram::default();
        for ns in 1..=100_000u64 {
            h.record(ns * 10);
        }
        for (p, want) in [(0.5, 500.0), (0.99, 990.0)] {
            let got = h.quantile_us(p);
            assert!(
                (got - want).abs() / want < 0.02,
                "p{p}: {got} µs, want {want}"
            );
        }
    }
}
