//! BMC, the in-kernel memcached cache of Ghigoff et al. (NSDI'21), in safe
//! Rust: an XDP program answers UDP `get`s for cached keys before the
//! network stack, a tc egress program fills the cache from memcached's
//! `VALUE` replies, and every write command seen on the way in (UDP or
//! TCP) invalidates its key before memcached runs it.
//!
//! The programs and maps live in this library so that they can be tested
//! on the host (`cargo test`); `src/main.rs` turns them into the BPF
//! object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::ops::ControlFlow;

use bmc_common::{
    ARM_TIMEOUT_NS, CACHE_ENTRIES, Entry, HASH_INIT, MAX_DATA, MAX_KEY_LEN, MAX_PAYLOAD,
    MAX_VAL_LEN, PORT, XSK_PORT_BASE, XSK_PORTS, hash_step, key_byte, slot, stats,
};
use iu_ebpf::{
    Pod, classifier, helpers, loops, map,
    maps::{Array, PerCpuArray, PerCpuScratch, SpinLocked, XskMap, copy_prefix_under_lock},
    programs::{TcAction, TcContext, XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// The cache: one locked entry per slot, a key's slot being its hash
/// modulo the size (collisions replace each other, as in BMC).
#[map]
pub static CACHE: Array<SpinLocked<Entry>, { CACHE_ENTRIES as usize }> = Array::new();

/// Per-CPU counters, indexed by `bmc_common::stats`.
#[map]
pub static STATS: PerCpuArray<u64, { stats::COUNT as usize }> = PerCpuArray::new();

/// The flush generation: entries of an older one are invalid.
#[map]
pub static GENERATION: Array<u64, 1> = Array::new();

/// Room for a packet's payload and a copy of an entry, too large for the
/// 512-byte stack.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
pub struct Scratch {
    buf: [u8; MAX_PAYLOAD],
    entry: Entry,
}

/// One scratch area per CPU.
#[map]
pub static SCRATCH: PerCpuScratch<Scratch> = PerCpuScratch::new();

const ETH_LEN: usize = 14;
const ETH_P_IPV4: [u8; 2] = [0x08, 0x00];
const IP: usize = ETH_LEN;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// With a 20-byte IPv4 header (the only kind answered from the cache).
const UDP: usize = IP + 20;
const FRAME: usize = UDP + 8;
const REQUEST: usize = FRAME + 8;
const END: &[u8; 5] = b"END\r\n";

fn count(index: u32) {
    let _ = STATS.add(index, 1);
}

/// The current flush generation, never 0 (0 marks a slot never armed).
fn generation() -> u32 {
    (GENERATION.get(0).unwrap_or(0) as u32).wrapping_add(1) | 1
}

/// Invalidates every entry at once.
fn flush() {
    let _ = GENERATION.add(0, 2);
    count(stats::FLUSHES);
}

/// Invalidates the slot of `hash`, whatever key it holds.
fn invalidate(hash: u32) {
    if let Some(mut entry) = CACHE.lock(slot(hash)) {
        entry.valid = 0;
        entry.armed = 0;
        entry.armed_generation = 0;
        entry.armed_ns = 0;
    }
    count(stats::INVALIDATIONS);
}

/// The first bytes of a command word, packed little-endian.
const fn word(s: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < s.len() && i < 8 {
        w |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// What a command line does to the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Its first argument is a key it writes.
    WritesKey,
    /// It writes keys this scan does not locate: flush.
    Flush,
    /// A read, or nothing the cache cares about.
    Other,
}

/// The command of a line whose first word is `w` (its first 8 bytes)
/// of `len` bytes.
fn command(w: u64, len: u32) -> Command {
    const WRITES: [(u64, u32); 14] = [
        (word(b"set"), 3),
        (word(b"add"), 3),
        (word(b"replace"), 7),
        (word(b"delete"), 6),
        (word(b"incr"), 4),
        (word(b"decr"), 4),
        (word(b"append"), 6),
        (word(b"prepend"), 7),
        (word(b"cas"), 3),
        (word(b"touch"), 5),
        // Meta commands: set, delete, arithmetic, and get (its flags can
        // touch or create the item).
        (word(b"ms"), 2),
        (word(b"md"), 2),
        (word(b"ma"), 2),
        (word(b"mg"), 2),
    ];
    const FLUSHES: [(u64, u32); 3] = [
        (word(b"flush_all"), 9),
        (word(b"gat"), 3),
        (word(b"gats"), 4),
    ];
    if WRITES.contains(&(w, len)) {
        Command::WritesKey
    } else if FLUSHES.contains(&(w, len)) {
        Command::Flush
    } else {
        Command::Other
    }
}

/// Where the line scanner is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    Start,
    /// In the command word.
    Word,
    /// In the key of a write.
    Key,
    /// After a `\r` that ended a key.
    KeyCr,
    /// In the rest of a line.
    Skip,
}

struct Scan {
    state: State,
    word: u64,
    word_len: u32,
    hash: u32,
    key_len: u32,
    flush: bool,
}

impl Scan {
    /// The command word ended: what follows it.
    fn end_word(&mut self, next: State) {
        match command(self.word, self.word_len) {
            Command::WritesKey => {
                self.hash = HASH_INIT;
                self.key_len = 0;
                self.state = next;
            }
            Command::Flush => {
                self.flush = true;
                self.state = State::Skip;
            }
            Command::Other => self.state = State::Skip,
        }
    }

    /// A write's key ended (`next`: what follows).
    fn end_key(&mut self, next: State) {
        if self.key_len == 0 {
            self.flush = true;
        } else {
            invalidate(self.hash);
        }
        self.state = next;
    }

    fn byte(&mut self, b: u8) {
        match self.state {
            State::Start | State::Word => match b {
                b' ' if self.state == State::Word => self.end_word(State::Key),
                b'\n' | b'\r' if self.state == State::Word => {
                    // A write without a key is refused by memcached;
                    // `flush_all` needs none.
                    self.end_word(State::Skip);
                    if self.state == State::Key {
                        self.state = State::Skip;
                    }
                    if b == b'\n' {
                        self.state = State::Start;
                    }
                }
                b'\n' => {}
                // memcached skips leading spaces; the binary protocol's
                // magic starts a request this scan cannot read.
                b' ' | b'\r' | 0x80 => {
                    self.flush = true;
                    self.state = State::Skip;
                }
                _ => {
                    if self.state == State::Start {
                        self.word = 0;
                        self.word_len = 0;
                        self.state = State::Word;
                    }
                    if self.word_len < 8 {
                        self.word |= u64::from(b) << (8 * self.word_len);
                    }
                    self.word_len = self.word_len.saturating_add(1);
                }
            },
            State::Key => match b {
                b' ' => self.end_key(State::Skip),
                b'\n' => self.end_key(State::Start),
                b'\r' => self.state = State::KeyCr,
                _ if key_byte(b) && (self.key_len as usize) < MAX_KEY_LEN => {
                    self.hash = hash_step(self.hash, b);
                    self.key_len += 1;
                }
                // A key this cache would never hold, or one memcached
                // refuses: flushing is always safe.
                _ => {
                    self.flush = true;
                    self.state = State::Skip;
                }
            },
            State::KeyCr => {
                if b == b'\n' {
                    self.end_key(State::Start);
                } else {
                    self.flush = true;
                    self.state = State::Skip;
                }
            }
            State::Skip => {
                if b == b'\n' {
                    self.state = State::Start;
                }
            }
        }
    }
}

/// Invalidates what the request bytes `buf[..len]` write. `complete` is
/// false when the payload was longer than `buf`. Over TCP (`stream`), a
/// line that does not end in the packet (split across segments) flushes
/// the cache: its key may be in the next packet, which memcached will read
/// before this one can be checked. memcached reads each UDP datagram on
/// its own and drops an unfinished line.
fn scan_writes(buf: &[u8; MAX_PAYLOAD], len: usize, complete: bool, stream: bool) {
    let mut scan = Scan {
        state: State::Start,
        word: 0,
        word_len: 0,
        hash: HASH_INIT,
        key_len: 0,
        flush: false,
    };
    loops::for_range::<{ MAX_PAYLOAD as u32 }, _>(len as u32, &mut scan, |i, scan| {
        match buf.get(i as usize) {
            Some(&b) => {
                scan.byte(b);
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(()),
        }
    });
    if scan.flush || (stream && scan.state != State::Start) || !complete {
        flush();
    }
}

/// The request's key if `buf[..len]` is exactly `get <key>\r\n` with one
/// key this cache can hold: its length and hash.
///
/// The key is scanned with `key_at` (a `bpf_loop` body checked once),
/// not a plain loop: the verifier walked the rest of the program once for
/// each of the plain loop's 251 exits, 837k instructions in all.
fn single_get(buf: &[u8; MAX_PAYLOAD], len: usize) -> Option<(usize, u32)> {
    if buf.get(..4)? != b"get " || !(7..=4 + MAX_KEY_LEN + 2).contains(&len) {
        return None;
    }
    let (key_end, hash) = key_at(buf, 4)?;
    let key_len = key_end - 4;
    let ok =
        key_len > 0 && len == 4 + key_len + 2 && buf.get(4 + key_len..4 + key_len + 2)? == b"\r\n";
    ok.then_some((key_len, hash))
}

/// The IPv4 header checksum of `header` (20 bytes, its checksum field
/// ignored), the carry folded until none is left.
fn ip_checksum(header: &[u8; 20]) -> u16 {
    let mut sum = 0u32;
    let mut i = 0;
    while i < 20 {
        if i != 10 {
            sum += u32::from(u16::from_be_bytes([header[i], header[i + 1]]));
        }
        i += 2;
    }
    // Ten 16-bit words sum to less than 2^20: two folds leave no carry.
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Makes room for the reply `data` (memcached's `VALUE` line and data,
/// then `END\r\n`) after the frame header of a request of `request_len`
/// bytes (from its IP header: bytes past it are padding, which stays) and
/// copies it there. The packet grows at its end if the driver left room
/// there, else at its front: veth copies each packet into a buffer that
/// fits it with little room after it but 256 bytes before. `false` when
/// neither works (nothing sent; the request goes to memcached unchanged).
///
/// The length comes from the IP header, not `ctx.len()`: LLVM folded the
/// `data_end - data` inside `len()` into this arithmetic, in 32 bits, and
/// the verifier refused arithmetic on a packet pointer ("R2 32-bit pointer
/// arithmetic prohibited").
fn write_reply(ctx: &XdpContext, request_len: usize, data: &[u8]) -> bool {
    let delta = (REQUEST + data.len()) as i32 - request_len as i32;
    if !ctx.adjust_tail(delta) && !ctx.adjust_head(-delta) {
        return false;
    }
    if ctx.store_bytes(REQUEST, data) {
        return true;
    }
    // Cannot happen (the packet was just sized for it); put the length
    // back so that memcached still gets the request.
    if !ctx.adjust_tail(-delta) {
        let _ = ctx.adjust_head(delta);
    }
    false
}

/// Turns the request's headers `old` into the reply's, for a reply of
/// `new_len` bytes: swaps addresses and ports, sets the lengths, the
/// checksums and the frame header. Written as one 50-byte block (see
/// `bmc_rx`).
fn reply_headers(old: &[u8; REQUEST], new_len: usize) -> [u8; REQUEST] {
    let mut h = *old;
    h[0..6].copy_from_slice(&old[6..12]);
    h[6..12].copy_from_slice(&old[0..6]);
    let total = ((new_len - IP) as u16).to_be_bytes();
    h[IP + 2..IP + 4].copy_from_slice(&total);
    h[IP + 12..IP + 16].copy_from_slice(&old[IP + 16..IP + 20]);
    h[IP + 16..IP + 20].copy_from_slice(&old[IP + 12..IP + 16]);
    let mut ip = [0u8; 20];
    ip.copy_from_slice(&h[IP..UDP]);
    h[IP + 10..IP + 12].copy_from_slice(&ip_checksum(&ip).to_be_bytes());
    h[UDP..UDP + 2].copy_from_slice(&old[UDP + 2..UDP + 4]);
    h[UDP + 2..UDP + 4].copy_from_slice(&old[UDP..UDP + 2]);
    h[UDP + 4..UDP + 6].copy_from_slice(&((new_len - UDP) as u16).to_be_bytes());
    // No UDP checksum (allowed over IPv4).
    h[UDP + 6..UDP + 8].copy_from_slice(&[0, 0]);
    // Frame header: the request id stays; sequence 0 of 1 datagram.
    h[FRAME + 2..FRAME + 8].copy_from_slice(&[0, 0, 0, 1, 0, 0]);
    h
}

/// What `bmc_rx` does once the payload is read.
enum Verdict {
    Pass,
    /// The reply's payload is written: write these headers and send it.
    Reply([u8; REQUEST]),
}

/// Whether the first `len` bytes of `a` and `b` are the same, compared 8
/// at a time in a loop of constant bound. (`a[..len] == b[..len]` calls the
/// `bcmp` builtin, whose loop over a run-time length Linux 6.1's verifier
/// refuses: "R1 umin=11305,umax=1530", EFAULT.)
fn same_key(a: &[u8; 256], b: &[u8; 256], len: usize) -> bool {
    for w in 0..32 {
        let at = w * 8;
        if at >= len {
            return true;
        }
        let word = |k: &[u8; 256]| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&k[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let mut diff = word(a) ^ word(b);
        if len - at < 8 {
            diff &= (1u64 << (8 * (len - at))) - 1;
        }
        if diff != 0 {
            return false;
        }
    }
    true
}

/// Arms `entry` for the reply to the miss `token`, unless it is already
/// armed in this generation for less than `ARM_TIMEOUT_NS`: then that
/// earlier miss's reply fills it (one round trip to memcached for a hot
/// key, rather than a new token for every get sent during it, of which
/// only the last one's reply may fill).
fn arm(entry: &mut Entry, token: u32, generation: u32, now: u64) {
    if entry.armed != 0
        && entry.armed_generation == generation
        && now.wrapping_sub(entry.armed_ns) < ARM_TIMEOUT_NS
    {
        return;
    }
    entry.armed = token;
    entry.armed_generation = generation;
    entry.armed_ns = now;
}

/// Answers a single-key UDP `get` from the cache, or arms the key's slot
/// for the reply memcached will send.
fn get(
    ctx: &XdpContext,
    s: &mut Scratch,
    headers: &[u8; REQUEST],
    key_len: usize,
    hash: u32,
    token: u32,
) -> Verdict {
    let generation = generation();
    let now = helpers::ktime();
    let hit = match CACHE.lock(slot(hash)) {
        Some(mut entry) => {
            if entry.valid != 0 && entry.generation == generation {
                // The used bytes, copied under the lock: no torn value can
                // be sent.
                s.entry.key_len = entry.key_len;
                s.entry.data_len = entry.data_len;
                copy_prefix_under_lock(&mut s.entry.key, &entry.key, entry.key_len as usize);
                copy_prefix_under_lock(&mut s.entry.data, &entry.data, entry.data_len as usize);
                true
            } else {
                arm(&mut entry, token, generation, now);
                false
            }
        }
        None => return Verdict::Pass,
    };
    let same_key = hit
        && s.entry.key_len as usize == key_len
        && s.buf
            .get(4..)
            .and_then(<[u8]>::first_chunk::<256>)
            .is_some_and(|request| same_key(&s.entry.key.0, request, key_len));
    if !same_key {
        if hit {
            // Another key's reply is cached there: let this key's reply
            // replace it.
            if let Some(mut entry) = CACHE.lock(slot(hash)) {
                arm(&mut entry, token, generation, now);
            }
        }
        count(stats::MISSES);
        return Verdict::Pass;
    }
    // Clamped, though a fill never stores more: Linux 6.1's verifier lost
    // the bound of the checked length on its way to the store below ("R1
    // unbounded memory access").
    let len = (s.entry.data_len as usize).min(MAX_DATA - END.len());
    let Some(end) = s.entry.data.0.get_mut(len..len + END.len()) else {
        return Verdict::Pass;
    };
    end.copy_from_slice(END);
    let Some(data) = s.entry.data.0.get(..len + END.len()) else {
        return Verdict::Pass;
    };
    if write_reply(
        ctx,
        IP + usize::from(u16::from_be_bytes([headers[IP + 2], headers[IP + 3]])),
        data,
    ) {
        Verdict::Reply(reply_headers(headers, REQUEST + data.len()))
    } else {
        count(stats::TX_FAILED);
        Verdict::Pass
    }
}

/// The server side's ingress: answers cached `get`s, invalidates writes,
/// passes everything else up unchanged.
#[xdp]
pub fn bmc_rx(mut ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some(ETH_P_IPV4) {
        return XdpAction::Pass;
    }
    let Some(ip) = ctx.read::<[u8; 20]>(IP) else {
        return XdpAction::Pass;
    };
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let proto = ip[9];
    if ip[0] >> 4 != 4 || ihl < 20 || (proto != PROTO_UDP && proto != PROTO_TCP) {
        return XdpAction::Pass;
    }
    let l4 = IP + ihl;
    if ip[6] & 0x3f != 0 || ip[7] != 0 {
        // A fragment (more fragments, or an offset): its ports may be in
        // another packet, so a write to memcached could hide in it.
        flush();
        return XdpAction::Pass;
    }
    let Some(ports) = ctx.read::<[u8; 4]>(l4) else {
        return XdpAction::Pass;
    };
    if u16::from_be_bytes([ports[2], ports[3]]) != PORT {
        return XdpAction::Pass;
    }
    // The kernel drops what is shorter than the IP header says; bytes
    // past it (padding) are not part of the payload.
    if total < ihl || IP + total > ctx.len() {
        count(stats::PASSES);
        return XdpAction::Pass;
    }
    let (payload, payload_len) = if proto == PROTO_UDP {
        let Some(udp_len) = ctx.read::<[u8; 2]>(l4 + 4) else {
            return XdpAction::Pass;
        };
        let udp_len = usize::from(u16::from_be_bytes(udp_len));
        // memcached reads nothing from a datagram of 8 bytes or less.
        if udp_len > total - ihl || udp_len <= 16 {
            count(stats::PASSES);
            return XdpAction::Pass;
        }
        (l4 + 16, udp_len - 16)
    } else {
        let Some(offset) = ctx.read::<u8>(l4 + 12) else {
            return XdpAction::Pass;
        };
        let doff = usize::from(offset >> 4) * 4;
        if doff < 20 || doff > total - ihl {
            count(stats::PASSES);
            return XdpAction::Pass;
        }
        if doff == total - ihl {
            return XdpAction::Pass;
        }
        (l4 + doff, total - ihl - doff)
    };
    let frame = if proto == PROTO_UDP {
        ctx.read::<[u8; 8]>(l4 + 8)
    } else {
        None
    };
    let verdict = SCRATCH
        .with(&ctx, |s| {
            let n = payload_len.min(MAX_PAYLOAD);
            let Some(buf) = s.buf.get_mut(..n) else {
                return Verdict::Pass;
            };
            if ctx.load_bytes(payload, buf).is_none() {
                // Unreadable: nothing can be known about the writes in it.
                flush();
                return Verdict::Pass;
            }
            if let Some(frame) = frame
                && ihl == 20
                && frame[4..6] == [0, 1]
                && let Some((key_len, hash)) = single_get(&s.buf, n)
            {
                let token = u32::from_be_bytes([ports[0], ports[1], frame[0], frame[1]])
                    ^ u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
                // The headers, read once as a block: with a read per field
                // after the packet moved, LLVM used the fact that a longer
                // read cannot succeed when a shorter one failed, which the
                // verifier does not know ("R3 !read_ok").
                let Some(headers) = ctx.read::<[u8; REQUEST]>(0) else {
                    return Verdict::Pass;
                };
                return get(&ctx, s, &headers, key_len, hash, token);
            }
            if proto == PROTO_TCP && s.buf.get(..4) == Some(b"get ") {
                count(stats::TCP_GETS);
            } else {
                count(stats::PASSES);
            }
            scan_writes(&s.buf, n, n == payload_len, proto == PROTO_TCP);
            Verdict::Pass
        })
        .unwrap_or(Verdict::Pass);
    match verdict {
        Verdict::Reply(headers) if ctx.write(0, headers) => {
            count(stats::HITS);
            XdpAction::Tx
        }
        // The payload is already the reply: memcached must not see it.
        Verdict::Reply(_) => {
            count(stats::TX_FAILED);
            XdpAction::Drop
        }
        Verdict::Pass => XdpAction::Pass,
    }
}

/// The index of the first byte of `buf[from..from + max]` for which
/// `stop` holds, or `None` if there is none (or the range leaves `buf`).
///
/// A `loops::for_range` whose state changes only when it stops: the
/// verifier checks the body once. (Parsing the whole `VALUE` line in one
/// loop with a state machine, whose counters change every round, made the
/// verifier walk every combination of them, past its million
/// instructions.)
fn find(
    buf: &[u8; MAX_PAYLOAD],
    from: usize,
    max: u32,
    stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut found = None;
    loops::for_range::<MAX_PAYLOAD_U32, _>(max, &mut found, |i, found| {
        let at = from + i as usize;
        match buf.get(at) {
            Some(&b) if !stop(b) => ControlFlow::Continue(()),
            Some(_) => {
                *found = Some(at);
                ControlFlow::Break(())
            }
            None => ControlFlow::Break(()),
        }
    });
    found
}

const MAX_PAYLOAD_U32: u32 = MAX_PAYLOAD as u32;

/// The key that starts at `buf[from]`: where it ends (the first byte that
/// cannot be part of a key, within `MAX_KEY_LEN + 1` bytes) and its hash,
/// in one `loops::for_range` (the hash is not a value the verifier needs
/// to follow exactly, so it checks the body once).
fn key_at(buf: &[u8; MAX_PAYLOAD], from: usize) -> Option<(usize, u32)> {
    let mut state = (None, HASH_INIT);
    loops::for_range::<{ MAX_KEY_LEN as u32 + 1 }, _>(
        MAX_KEY_LEN as u32 + 1,
        &mut state,
        |i, (end, hash)| {
            let at = from + i as usize;
            match buf.get(at) {
                Some(&b) if key_byte(b) => {
                    *hash = hash_step(*hash, b);
                    ControlFlow::Continue(())
                }
                Some(_) => {
                    *end = Some(at);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Break(()),
            }
        },
    );
    Some((state.0?, state.1))
}

/// Parses `buf[..len]` as memcached's reply to a single-key `get`:
/// `VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n`. Returns the key's
/// length and hash and the length of the reply without its `END\r\n`.
fn value_reply(buf: &[u8; MAX_PAYLOAD], len: usize) -> Option<(usize, u32, usize)> {
    if buf.get(..6)? != b"VALUE " || len > MAX_PAYLOAD {
        return None;
    }
    let (key_end, hash) = key_at(buf, 6)?;
    let key_len = key_end - 6;
    if key_len == 0 || *buf.get(key_end)? != b' ' {
        return None;
    }
    let flags_end = find(buf, key_end + 1, 11, |b| !b.is_ascii_digit())?;
    if flags_end == key_end + 1 || flags_end > key_end + 11 || *buf.get(flags_end)? != b' ' {
        return None;
    }
    // At most four digits: larger values are never cached.
    let mut bytes = 0usize;
    let mut at = flags_end + 1;
    for _ in 0..5 {
        let b = *buf.get(at)?;
        if !b.is_ascii_digit() {
            break;
        }
        bytes = bytes * 10 + usize::from(b - b'0');
        at += 1;
    }
    if at == flags_end + 1 || at > flags_end + 5 || bytes > MAX_VAL_LEN {
        return None;
    }
    if buf.get(at..at + 2)? != b"\r\n" {
        return None;
    }
    let data_len = at + 2 + bytes + 2;
    let ok = len == data_len + END.len()
        && buf.get(data_len - 2..data_len)? == b"\r\n"
        && buf.get(data_len..data_len + END.len())? == END;
    ok.then_some((key_len, hash, data_len))
}

/// The server side's egress: fills the cache from memcached's UDP replies
/// to the `get`s that missed.
#[classifier]
pub fn bmc_tx(ctx: TcContext) -> TcAction {
    if ctx.read::<[u8; 2]>(12) != Some(ETH_P_IPV4) {
        return TcAction::Ok;
    }
    let Some(ip) = ctx.read::<[u8; 20]>(IP) else {
        return TcAction::Ok;
    };
    if ip[0] != 0x45 || ip[9] != PROTO_UDP {
        return TcAction::Ok;
    }
    let (Some(udp), Some(frame)) = (ctx.read::<[u8; 8]>(UDP), ctx.read::<[u8; 8]>(FRAME)) else {
        return TcAction::Ok;
    };
    if u16::from_be_bytes([udp[0], udp[1]]) != PORT || frame[2..6] != [0, 0, 0, 1] {
        return TcAction::Ok;
    }
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len <= 16 || UDP + udp_len > ctx.len() as usize {
        return TcAction::Ok;
    }
    let len = udp_len - 16;
    if len > MAX_PAYLOAD {
        if ctx.read::<[u8; 6]>(REQUEST) == Some(*b"VALUE ") {
            count(stats::TOO_LARGE);
        }
        return TcAction::Ok;
    }
    // The client's port and the request id, as `bmc_rx` armed the slot.
    let token = u32::from_be_bytes([udp[2], udp[3], frame[0], frame[1]])
        ^ u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    let _ = SCRATCH.with(&ctx, |s| {
        let Some(buf) = s.buf.get_mut(..len) else {
            return;
        };
        if ctx.load_bytes(REQUEST, buf).is_none() {
            return;
        }
        let Some((key_len, hash, data_len)) = value_reply(&s.buf, len) else {
            if s.buf.get(..6) == Some(b"VALUE ") {
                count(stats::TOO_LARGE);
            }
            return;
        };
        // Staged outside the lock as fixed-size copies, so that the lock
        // is held only for the used bytes. Bytes past the lengths are
        // never sent.
        let (Some(key), Some(data)) = (
            s.buf.get(6..).and_then(<[u8]>::first_chunk::<256>),
            s.buf.first_chunk::<MAX_DATA>(),
        ) else {
            return;
        };
        s.entry.key.0 = *key;
        s.entry.data.0 = *data;
        let generation = generation();
        let Some(mut entry) = CACHE.lock(slot(hash)) else {
            return;
        };
        if entry.armed != token || entry.armed_generation != generation {
            return;
        }
        entry.valid = 1;
        entry.generation = generation;
        entry.armed = 0;
        entry.armed_generation = 0;
        entry.key_len = key_len as u32;
        entry.data_len = data_len as u32;
        copy_prefix_under_lock(&mut entry.key, &s.entry.key, key_len);
        copy_prefix_under_lock(&mut entry.data, &s.entry.data, data_len);
        drop(entry);
        count(stats::FILLS);
    });
    TcAction::Ok
}

/// A pass-through XDP program for the client's end of the veth pair: a
/// veth only wakes its peer for `XDP_TX`ed packets when the peer has an
/// XDP program of its own.
#[xdp]
pub fn bmc_pass(_ctx: XdpContext) -> XdpAction {
    XdpAction::Pass
}

/// The load generator's AF_XDP socket on the client's end of a veth pair
/// (`bmc_bench --client xsk`): one per receive queue, at its index.
#[map]
pub static CLIENT_XSKS: XskMap<8> = XskMap::new();

/// The client's end of a veth pair in the benchmark: memcached's UDP
/// replies to the AF_XDP load generator's ports
/// (`XSK_PORT_BASE..XSK_PORT_BASE + XSK_PORTS`) go to its socket in
/// `CLIENT_XSKS`, everything else (ARP, the UDP-socket generator's
/// replies) passes up, as with `bmc_pass`.
#[xdp]
pub fn bmc_client(ctx: XdpContext) -> XdpAction {
    let Some(h) = ctx.read::<[u8; FRAME]>(0) else {
        return XdpAction::Pass;
    };
    let src = u16::from_be_bytes([h[UDP], h[UDP + 1]]);
    let dst = u16::from_be_bytes([h[UDP + 2], h[UDP + 3]]);
    if h[12..14] != ETH_P_IPV4
        || h[IP] != 0x45
        || h[IP + 9] != PROTO_UDP
        || src != PORT
        || !(XSK_PORT_BASE..XSK_PORT_BASE + XSK_PORTS).contains(&dst)
    {
        return XdpAction::Pass;
    }
    CLIENT_XSKS.redirect(ctx.rx_queue_index(), XdpAction::Pass)
}

#[cfg(test)]
mod tests;
