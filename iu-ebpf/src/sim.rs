//! The simulated backend used when `iu-ebpf` is built for the host, so that
//! program logic runs under plain `cargo test`, without privileges.
//!
//! - **Helpers** ([`crate::helpers`]) return what the test sets here: the
//!   pid and tid ([`set_pid`]), the CPU ([`set_cpu`]), the time
//!   ([`set_ktime`], [`advance_ktime`]), uid/gid and command name, and a
//!   deterministic pseudo-random sequence ([`set_random_seed`]).
//! - **`printk!`** lines are rendered as the kernel renders them and kept
//!   until [`take_output`] (or [`output`]) collects them; **log macros**
//!   (`info!`, ...) are rendered as `LEVEL message` lines for [`take_log`].
//! - **Maps** keep their contents in memory inside the map statics, with the
//!   kernel's semantics (see `docs/testing.md`). Ring-buffer and perf records
//!   are read back with `RingBuf::take_record` and
//!   `PerfEventArray::take_record`.
//!
//! # Concurrency
//!
//! `cargo test` runs tests on several threads at once. Helper values and
//! captured output are **per thread**, so tests never see each other's.
//! Maps are **global**, as in the kernel: two tests that use the same map
//! static at the same time see each other's entries. Tests that use maps
//! should start with [`session`], which serializes them and empties every
//! map:
//!
//! ```
//! let _sim = iu_ebpf::sim::session(); // held until the end of the test
//! iu_ebpf::sim::set_pid(42, 43);
//! assert_eq!(iu_ebpf::helpers::pid(), 42);
//! assert_eq!(iu_ebpf::helpers::tid(), 43);
//! ```

mod kernel;

pub use kernel::{KernelObject, remove_field, remove_type, set_current_task, set_enum_value};
pub(crate) use kernel::{core_value, current_task};

use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Number of simulated CPUs: per-CPU maps keep this many copies of each
/// value, and [`set_cpu`] accepts `0..CPUS`.
pub const CPUS: usize = 8;

/// Size of each per-thread capture buffer (`printk!` output, log lines).
/// Lines past it are dropped, as the kernel drops trace data when its
/// buffer is full.
pub const OUTPUT_SIZE: usize = 16 * 1024;

/// Largest packet a host `XdpContext` or `TcContext` can hold (a 9000-byte
/// jumbo frame fits).
pub const MAX_PACKET: usize = 16 * 1024;

const DEFAULT_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// A packet held by a host `XdpContext` or `TcContext`.
#[derive(Clone)]
pub(crate) struct Packet {
    len: usize,
    bytes: [u8; MAX_PACKET],
}

impl Packet {
    pub(crate) fn new(packet: &[u8]) -> Self {
        assert!(
            packet.len() <= MAX_PACKET,
            "host contexts hold packets of up to {MAX_PACKET} bytes; this one has {}",
            packet.len()
        );
        let mut bytes = [0; MAX_PACKET];
        bytes[..packet.len()].copy_from_slice(packet);
        Self {
            len: packet.len(),
            bytes,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }

    /// Grows (zero-filled) or shrinks the packet by `delta` bytes at its
    /// start, as `bpf_xdp_adjust_head` (with no headroom limit but the
    /// buffer's); `false` (unchanged) otherwise.
    pub(crate) fn adjust_head(&mut self, delta: i32) -> bool {
        let Some(len) = self.len.checked_add_signed(-(delta as isize)) else {
            return false;
        };
        if len > MAX_PACKET {
            return false;
        }
        if delta < 0 {
            let grow = len - self.len;
            self.bytes.copy_within(0..self.len, grow);
            self.bytes[..grow].fill(0);
        } else {
            self.bytes.copy_within(delta as usize..self.len, 0);
        }
        self.len = len;
        true
    }

    /// Grows (zero-filled) or shrinks the packet by `delta` bytes at its
    /// end, as `bpf_xdp_adjust_tail`; `false` (unchanged) past the buffer
    /// or below an empty packet.
    pub(crate) fn adjust_tail(&mut self, delta: i32) -> bool {
        let Some(len) = self.len.checked_add_signed(delta as isize) else {
            return false;
        };
        if len > MAX_PACKET {
            return false;
        }
        if len > self.len {
            self.bytes[self.len..len].fill(0);
        }
        self.len = len;
        true
    }
}

/// The helper values and captured output of one thread.
struct State {
    pid_tgid: Cell<u64>,
    cpu: Cell<u32>,
    ktime: Cell<u64>,
    uid_gid: Cell<u64>,
    comm: Cell<[u8; 16]>,
    random: Cell<u64>,
    tail_call: Cell<Option<u32>>,
    override_return: Cell<Option<u64>>,
    output: RefCell<Buffer>,
    log: RefCell<Buffer>,
    /// What `ProbeContext::syscall_args` returns.
    syscall_args: Cell<Option<[u64; 6]>>,
    /// Memory that `iu_ebpf::memory` reads: its address and contents.
    memory: RefCell<(u64, Buffer)>,
}

std::thread_local! {
    // Each thread's state, made once and leaked (a few KiB per thread that
    // runs simulated programs), so that `state()` can hand out a plain
    // reference: `State` is not `Sync`, so the reference stays on its
    // thread. (`std`'s `thread_local!` rather than `#[thread_local]`, so
    // that `iu-ebpf` builds on stable Rust.)
    static STATE: &'static State = std::boxed::Box::leak(std::boxed::Box::new(State {
    pid_tgid: Cell::new(0),
    cpu: Cell::new(0),
    ktime: Cell::new(0),
    uid_gid: Cell::new(0),
    comm: Cell::new([0; 16]),
    random: Cell::new(DEFAULT_SEED),
    tail_call: Cell::new(None),
    override_return: Cell::new(None),
    output: RefCell::new(Buffer::new()),
    log: RefCell::new(Buffer::new()),
    syscall_args: Cell::new(None),
    memory: RefCell::new((0, Buffer::new())),
}));
}

/// This thread's simulated helper state.
fn state() -> &'static State {
    STATE.with(|s| *s)
}

/// Bumped by [`reset`]; each map empties itself when it sees a new value.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Held by the [`Session`] in progress.
static SESSION: AtomicBool = AtomicBool::new(false);

/// Exclusive use of the simulation for one test; see [`session`].
#[must_use = "the session ends when this guard is dropped"]
pub struct Session {
    _private: (),
}

/// Waits until no other test holds a session, then resets the simulation
/// ([`reset`]) and returns a guard that keeps other sessions out until it is
/// dropped (also when the test panics).
///
/// Waiting spins: keep sessions short, as unit tests are.
pub fn session() -> Session {
    while SESSION
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    reset();
    Session { _private: () }
}

impl Drop for Session {
    fn drop(&mut self) {
        SESSION.store(false, Ordering::Release);
    }
}

/// Empties every map (each one on its next use: arrays back to zeros) and
/// resets this thread's helper values and captured output.
pub fn reset() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
    state().pid_tgid.set(0);
    state().cpu.set(0);
    state().ktime.set(0);
    state().uid_gid.set(0);
    state().comm.set([0; 16]);
    state().random.set(DEFAULT_SEED);
    state().tail_call.set(None);
    state().override_return.set(None);
    state().output.borrow_mut().len = 0;
    state().log.borrow_mut().len = 0;
    state().memory.borrow_mut().1.len = 0;
    state().syscall_args.set(None);
    kernel::reset();
}

pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::SeqCst)
}

/// Sets the arguments of the current syscall, as
/// `ProbeContext::syscall_args` reads them (`None` until set).
///
/// ```
/// iu_ebpf::sim::set_syscall_args([1, 2, 3, 0, 0, 0]);
/// let ctx = iu_ebpf::programs::ProbeContext::from_registers([0; 6], 0);
/// assert_eq!(ctx.syscall_args(), Some([1, 2, 3, 0, 0, 0]));
/// ```
pub fn set_syscall_args(args: [u64; 6]) {
    state().syscall_args.set(Some(args));
}

pub(crate) fn syscall_args() -> Option<[u64; 6]> {
    state().syscall_args.get()
}

/// Makes `bytes` readable at address `addr` through [`crate::memory`]
/// (kernel and user alike), in place of what was set before; every other
/// address reads as a fault (`None`).
///
/// ```
/// iu_ebpf::sim::set_memory(0x1000, b"/etc/passwd\0");
/// let mut buf = [0u8; 32];
/// assert_eq!(iu_ebpf::memory::read_user_str(0x1000, &mut buf), Some(&b"/etc/passwd"[..]));
/// assert_eq!(iu_ebpf::memory::read_user::<u32>(0x2000), None);
/// ```
pub fn set_memory(addr: u64, bytes: &[u8]) {
    let mut memory = state().memory.borrow_mut();
    memory.0 = addr;
    memory.1.len = 0;
    for &b in bytes {
        memory.1.push(b);
    }
}

/// The registered bytes from `addr` to the end of the region.
fn memory_at<R>(addr: u64, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    let memory = state().memory.borrow();
    let (base, buffer) = &*memory;
    let bytes = addr
        .checked_sub(*base)
        .and_then(|off| buffer.bytes[..buffer.len].get(usize::try_from(off).ok()?..));
    f(bytes)
}

pub(crate) fn read_memory<T: crate::Pod>(addr: u64) -> Option<T> {
    memory_at(addr, |bytes| {
        T::from_bytes(bytes?.get(..core::mem::size_of::<T>())?)
    })
    // Then the objects of the simulated kernel (`KernelObject`).
    .or_else(|| T::from_bytes(&kernel::read(addr, core::mem::size_of::<T>())?))
}

/// Writes into a simulated kernel object (`KernelObject`).
pub(crate) fn write_kernel(addr: u64, bytes: &[u8]) -> bool {
    kernel::write(addr, bytes)
}

pub(crate) fn read_memory_str(addr: u64, buf: &mut [u8]) -> Option<&[u8]> {
    let room = buf.len().checked_sub(1)?;
    let len = memory_at(addr, |bytes| {
        let bytes = bytes?;
        // Up to the NUL or `room` bytes; a region that ends first faults.
        let len = match bytes.iter().take(room).position(|&b| b == 0) {
            Some(len) => len,
            None if bytes.len() >= room => room,
            None => return None,
        };
        buf[..len].copy_from_slice(&bytes[..len]);
        Some(len)
    })?;
    buf[len] = 0;
    buf.get(..len)
}

/// Sets the process id and thread id that [`crate::helpers`] report.
///
/// ```
/// iu_ebpf::sim::set_pid(42, 43);
/// assert_eq!(iu_ebpf::helpers::pid(), 42);
/// assert_eq!(iu_ebpf::helpers::tid(), 43);
/// ```
pub fn set_pid(pid: u32, tid: u32) {
    state().pid_tgid.set(((pid as u64) << 32) | tid as u64);
}

/// Sets the CPU that [`crate::helpers::cpu`] reports and whose copy of
/// per-CPU map values programs see.
///
/// # Panics
///
/// If `cpu` is not below [`CPUS`].
pub fn set_cpu(cpu: u32) {
    assert!(
        (cpu as usize) < CPUS,
        "iu_ebpf::sim simulates {CPUS} CPUs; CPU {cpu} does not exist"
    );
    state().cpu.set(cpu);
}

/// Sets the time that [`crate::helpers::ktime`] reports, in nanoseconds.
pub fn set_ktime(ns: u64) {
    state().ktime.set(ns);
}

/// Moves the time that [`crate::helpers::ktime`] reports forward.
pub fn advance_ktime(ns: u64) {
    state().ktime.set(state().ktime.get().wrapping_add(ns));
}

/// Sets the user and group id that [`crate::helpers::uid_gid`] reports.
pub fn set_uid_gid(uid: u32, gid: u32) {
    state().uid_gid.set(((gid as u64) << 32) | uid as u64);
}

/// Sets the command name that [`crate::helpers::comm`] reports (truncated
/// to 15 bytes and NUL-padded, as the kernel's `comm`).
pub fn set_comm(comm: &str) {
    let mut out = [0u8; 16];
    let n = comm.len().min(15);
    out[..n].copy_from_slice(&comm.as_bytes()[..n]);
    state().comm.set(out);
}

/// Restarts the sequence [`crate::helpers::random`] returns from `seed`:
/// the same seed gives the same numbers.
pub fn set_random_seed(seed: u64) {
    state().random.set(seed.max(1));
}

/// The slot of the last `ProgramArray::tail_call` this thread made since
/// the previous call (on the host a tail call returns, as for an empty slot).
pub fn take_tail_call() -> Option<u32> {
    state().tail_call.take()
}

pub(crate) fn record_tail_call(index: u32) {
    state().tail_call.set(Some(index));
}

/// The value of the last `ProbeContext::override_return` this thread made
/// since the previous call: what the probed function would have returned
/// instead of running.
///
/// ```
/// use iu_ebpf::{programs::ProbeContext, sim};
/// ProbeContext::from_registers([0; 6], 0).override_return(7);
/// assert_eq!(sim::take_override_return(), Some(7));
/// assert_eq!(sim::take_override_return(), None);
/// ```
pub fn take_override_return() -> Option<u64> {
    state().override_return.take()
}

pub(crate) fn record_override_return(rc: u64) {
    state().override_return.set(Some(rc));
}

pub(crate) fn pid_tgid() -> u64 {
    state().pid_tgid.get()
}

pub(crate) fn cpu() -> u32 {
    state().cpu.get()
}

/// The simulated CPU as an index into per-CPU values.
pub(crate) fn cpu_index() -> usize {
    state().cpu.get() as usize
}

pub(crate) fn ktime() -> u64 {
    state().ktime.get()
}

pub(crate) fn uid_gid() -> u64 {
    state().uid_gid.get()
}

pub(crate) fn comm() -> [u8; 16] {
    state().comm.get()
}

/// xorshift64*: deterministic, and good enough for sampling decisions.
pub(crate) fn random() -> u32 {
    let mut x = state().random.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state().random.set(x);
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
}

/// A capture buffer.
struct Buffer {
    len: usize,
    bytes: [u8; OUTPUT_SIZE],
}

impl Buffer {
    const fn new() -> Self {
        Self {
            len: 0,
            bytes: [0; OUTPUT_SIZE],
        }
    }

    /// Appends a byte; bytes beyond the buffer are dropped.
    fn push(&mut self, b: u8) {
        if self.len < OUTPUT_SIZE {
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }

    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = self.len.min(out.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
        n
    }
}

impl core::fmt::Write for Buffer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.bytes().for_each(|b| self.push(b));
        Ok(())
    }
}

/// Moves this thread's `printk!` output collected so far into `out` and
/// returns the number of bytes written. Each line ends with `\n`, as in the
/// trace pipe.
///
/// ```
/// let mut out = [0u8; 64];
/// let n = iu_ebpf::sim::take_output(&mut out);
/// assert_eq!(n, 0);
/// ```
pub fn take_output(out: &mut [u8]) -> usize {
    state().output.borrow_mut().take(out)
}

/// Calls `f` with this thread's `printk!` output (whole lines, each ending
/// with `\n`) and clears it.
///
/// ```
/// iu_ebpf::printk!("{} + {} = {}", 1, 2, 3u8);
/// iu_ebpf::sim::output(|out| assert_eq!(out, "1 + 2 = 3\n"));
/// ```
pub fn output<R>(f: impl FnOnce(&str) -> R) -> R {
    let mut buffer = state().output.borrow_mut();
    let r = f(core::str::from_utf8(&buffer.bytes[..buffer.len]).unwrap_or_default());
    buffer.len = 0;
    r
}

/// Moves this thread's log lines (`LEVEL message\n`, from `info!` and the
/// other log macros) into `out`; returns the number of bytes written.
pub fn take_log(out: &mut [u8]) -> usize {
    state().log.borrow_mut().take(out)
}

/// Calls `f` with this thread's log lines and clears them.
pub fn log<R>(f: impl FnOnce(&str) -> R) -> R {
    let mut buffer = state().log.borrow_mut();
    let r = f(core::str::from_utf8(&buffer.bytes[..buffer.len]).unwrap_or_default());
    buffer.len = 0;
    r
}

/// Renders a log record the way `iu`'s logger does and appends it as a
/// line. `args` holds the tagged arguments (after the 8-byte site id).
#[doc(hidden)]
pub fn log_record(level: u8, format: &str, args: &[u8]) {
    use core::fmt::Write;
    let mut buffer = state().log.borrow_mut();
    let name = match level {
        crate::log::level::ERROR => "ERROR",
        crate::log::level::WARN => "WARN",
        crate::log::level::INFO => "INFO",
        crate::log::level::DEBUG => "DEBUG",
        _ => "TRACE",
    };
    let _ = write!(buffer, "{name} ");
    let mut args = LogArgs(args);
    let mut rest = format;
    while let Some(at) = rest.find(['{', '}']) {
        let _ = buffer.write_str(&rest[..at]);
        let (c, tail) = (rest.as_bytes()[at], &rest[at + 1..]);
        if tail.as_bytes().first() == Some(&c) {
            buffer.push(c);
            rest = &tail[1..];
            continue;
        }
        if c == b'}' {
            buffer.push(c);
            rest = tail;
            continue;
        }
        let end = tail.find('}').unwrap_or(tail.len());
        let hint = tail[..end].strip_prefix(':').unwrap_or("");
        rest = tail.get(end + 1..).unwrap_or_default();
        match args.next() {
            Some(arg) => render_log_arg(&mut buffer, arg, hint),
            None => {
                let _ = buffer.write_str("<missing>");
            }
        }
    }
    let _ = buffer.write_str(rest);
    buffer.push(b'\n');
}

enum LogArg<'a> {
    Unsigned(u64),
    Signed(i64),
    Bytes(&'a [u8]),
}

struct LogArgs<'a>(&'a [u8]);

impl<'a> Iterator for LogArgs<'a> {
    type Item = LogArg<'a>;

    fn next(&mut self) -> Option<LogArg<'a>> {
        let (&tag, &len) = (self.0.first()?, self.0.get(1)?);
        let bytes = self.0.get(2..2 + len as usize)?;
        self.0 = &self.0[2 + len as usize..];
        let word = || bytes.try_into().map(u64::from_le_bytes).unwrap_or(0);
        match tag {
            crate::log::tag::UNSIGNED => Some(LogArg::Unsigned(word())),
            crate::log::tag::SIGNED => Some(LogArg::Signed(word() as i64)),
            crate::log::tag::BYTES => Some(LogArg::Bytes(bytes)),
            _ => None,
        }
    }
}

fn render_log_arg(out: &mut Buffer, arg: LogArg<'_>, hint: &str) {
    use core::fmt::Write;
    use core::net::{Ipv4Addr, Ipv6Addr};
    let _ = match (arg, hint) {
        (LogArg::Unsigned(v), "x") => write!(out, "{v:x}"),
        (LogArg::Unsigned(v), "X") => write!(out, "{v:X}"),
        (LogArg::Signed(v), "x") => write!(out, "{v:x}"),
        (LogArg::Signed(v), "X") => write!(out, "{v:X}"),
        (LogArg::Unsigned(v), "ipv4") => write!(out, "{}", Ipv4Addr::from(v as u32)),
        (LogArg::Unsigned(v), _) => write!(out, "{v}"),
        (LogArg::Signed(v), _) => write!(out, "{v}"),
        (LogArg::Bytes(b), "ipv4") if b.len() == 4 => {
            write!(out, "{}", Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        (LogArg::Bytes(b), "ipv6") if b.len() == 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(b);
            write!(out, "{}", Ipv6Addr::from(octets))
        }
        (LogArg::Bytes(b), "mac") => b.iter().enumerate().try_for_each(|(i, x)| {
            if i > 0 {
                out.push(b':');
            }
            write!(out, "{x:02x}")
        }),
        (LogArg::Bytes(b), "x") => b.iter().try_for_each(|x| write!(out, "{x:02x}")),
        (LogArg::Bytes(b), "X") => b.iter().try_for_each(|x| write!(out, "{x:02X}")),
        (LogArg::Bytes(b), _) => write!(out, "{b:?}"),
    };
}

/// Renders a `printk!` format the way the kernel's `bstr_printf` does for the
/// conversions `printk!` emits, and appends it as one line.
pub(crate) fn trace_printk(fmt: &[u8], args: &[u64]) {
    let mut w = state().output.borrow_mut();
    let fmt = fmt.strip_suffix(b"\0").unwrap_or(fmt);
    let mut args = args.iter();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            w.push(fmt[i]);
            i += 1;
            continue;
        }
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            w.push(b'%');
            i += 1;
            continue;
        }
        let (mut left, mut zero, mut width) = (false, false, 0usize);
        while let Some(&c @ (b'-' | b'0')) = fmt.get(i) {
            left |= c == b'-';
            zero |= c == b'0';
            i += 1;
        }
        while let Some(&c @ b'0'..=b'9') = fmt.get(i) {
            width = width * 10 + (c - b'0') as usize;
            i += 1;
        }
        // Every conversion printk! emits is `ll` + one of d, u, x, X.
        let conv = fmt.get(i + 2).copied().unwrap_or(b'u');
        i += 3;
        let value = args.next().copied().unwrap_or(0);
        let mut digits = [0u8; 24];
        let n = render(value, conv, &mut digits);
        let pad = width.saturating_sub(n);
        if !left {
            for _ in 0..pad {
                w.push(if zero { b'0' } else { b' ' });
            }
        }
        for &d in &digits[24 - n..] {
            w.push(d);
        }
        if left {
            for _ in 0..pad {
                w.push(b' ');
            }
        }
    }
    w.push(b'\n');
}

/// Writes `value` right-aligned into `out`; returns the number of bytes.
fn render(value: u64, conv: u8, out: &mut [u8; 24]) -> usize {
    let (negative, mut v, base) = match conv {
        b'd' if (value as i64) < 0 => (true, (value as i64).unsigned_abs(), 10),
        b'x' | b'X' => (false, value, 16),
        _ => (false, value, 10),
    };
    let digits: &[u8; 16] = if conv == b'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut at = out.len();
    loop {
        at -= 1;
        out[at] = digits[(v % base) as usize];
        v /= base;
        if v == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        out[at] = b'-';
    }
    out.len() - at
}

/// The host counterpart of the contexts' `load_bytes`: copies
/// `buf.len()` bytes of `packet` from `offset`.
pub(crate) fn load_bytes_from<'b>(
    packet: &[u8],
    offset: usize,
    buf: &'b mut [u8],
) -> Option<&'b [u8]> {
    if buf.is_empty() {
        return Some(buf);
    }
    buf.copy_from_slice(packet.get(offset..offset.checked_add(buf.len())?)?);
    Some(buf)
}
