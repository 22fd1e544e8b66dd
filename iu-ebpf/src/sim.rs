//! The simulated backend used when `iu-ebpf` is built for the host, so that
//! program logic runs under plain `cargo test`.
//!
//! Helpers return values the test sets here, and `printk!` output is
//! rendered the way the kernel would render it and kept until
//! [`take_output`] collects it. State is global to the process, so tests
//! that depend on it should not run concurrently with each other.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

static PID_TGID: AtomicU64 = AtomicU64::new(0);
static CPU: AtomicU32 = AtomicU32::new(0);
static KTIME: AtomicU64 = AtomicU64::new(0);

/// Sets the process id and thread id that [`crate::helpers`] report.
///
/// ```
/// iu_ebpf::sim::set_pid(42, 43);
/// assert_eq!(iu_ebpf::helpers::pid(), 42);
/// assert_eq!(iu_ebpf::helpers::tid(), 43);
/// ```
pub fn set_pid(pid: u32, tid: u32) {
    PID_TGID.store(((pid as u64) << 32) | tid as u64, Ordering::SeqCst);
}

/// Sets the CPU id that [`crate::helpers::cpu`] reports.
pub fn set_cpu(cpu: u32) {
    CPU.store(cpu, Ordering::SeqCst);
}

/// Sets the time that [`crate::helpers::ktime`] reports.
pub fn set_ktime(ns: u64) {
    KTIME.store(ns, Ordering::SeqCst);
}

pub(crate) fn pid_tgid() -> u64 {
    PID_TGID.load(Ordering::SeqCst)
}

pub(crate) fn cpu() -> u32 {
    CPU.load(Ordering::SeqCst)
}

pub(crate) fn ktime() -> u64 {
    KTIME.load(Ordering::SeqCst)
}

const OUTPUT_SIZE: usize = 8192;

/// Rendered `printk!` output, behind a spin lock (no `std` here).
struct Output {
    locked: AtomicBool,
    len: AtomicUsize,
    bytes: core::cell::UnsafeCell<[u8; OUTPUT_SIZE]>,
}

// SAFETY: `bytes` is only touched while `locked` is held (see `with`).
unsafe impl Sync for Output {}

static OUTPUT: Output = Output {
    locked: AtomicBool::new(false),
    len: AtomicUsize::new(0),
    bytes: core::cell::UnsafeCell::new([0; OUTPUT_SIZE]),
};

impl Output {
    fn with<R>(&self, f: impl FnOnce(&mut [u8; OUTPUT_SIZE], &AtomicUsize) -> R) -> R {
        while self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock acquired above gives exclusive access until the
        // release below.
        let r = f(unsafe { &mut *self.bytes.get() }, &self.len);
        self.locked.store(false, Ordering::Release);
        r
    }
}

/// Moves the `printk!` output collected so far into `out` and returns the
/// number of bytes written. Each line ends with `\n`, as in the trace pipe.
///
/// ```
/// let mut out = [0u8; 64];
/// let n = iu_ebpf::sim::take_output(&mut out);
/// assert_eq!(n, 0);
/// ```
pub fn take_output(out: &mut [u8]) -> usize {
    OUTPUT.with(|bytes, len| {
        let n = len.load(Ordering::Relaxed).min(out.len());
        out[..n].copy_from_slice(&bytes[..n]);
        bytes.copy_within(n..len.load(Ordering::Relaxed), 0);
        len.fetch_sub(n, Ordering::Relaxed);
        n
    })
}

/// Renders a `printk!` format the way the kernel's `bstr_printf` does for the
/// conversions `printk!` emits, and appends it as one line.
pub(crate) fn trace_printk(fmt: &[u8], args: &[u64]) {
    OUTPUT.with(|bytes, len| {
        let mut w = Writer {
            bytes,
            len: len.load(Ordering::Relaxed),
        };
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
        len.store(w.len, Ordering::Relaxed);
    });
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

struct Writer<'a> {
    bytes: &'a mut [u8; OUTPUT_SIZE],
    len: usize,
}

impl Writer<'_> {
    /// Appends a byte; output beyond the buffer is dropped, as the kernel
    /// drops trace data when its buffer is full.
    fn push(&mut self, b: u8) {
        if self.len < OUTPUT_SIZE {
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }
}
