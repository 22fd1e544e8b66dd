//! Structured logging from programs: `info!`, `warn!`, `debug!`, `error!`,
//! `trace!`.
//!
//! Each call site stores its format string, level and location once, in
//! the object's `iu_log.<id>` sections (read by user space at load time). At run
//! time only a site id and the arguments travel, through the program's
//! `IU_LOGS` ring buffer (declared with [`crate::logger!`]). Levels below
//! `IU_LOG_LEVEL` (a global the loader sets, see `iu::EbpfLoader::log_level`)
//! are constant-false branches that the verifier removes, so disabled logs
//! cost nothing.

/// Log levels, as in the `log` crate.
pub mod level {
    /// `error!`.
    pub const ERROR: u8 = 1;
    /// `warn!`.
    pub const WARN: u8 = 2;
    /// `info!`.
    pub const INFO: u8 = 3;
    /// `debug!`.
    pub const DEBUG: u8 = 4;
    /// `trace!`.
    pub const TRACE: u8 = 5;
}

/// Size of one log record in the ring buffer.
pub const RECORD_SIZE: usize = 256;

/// Argument tags in a record.
#[doc(hidden)]
pub mod tag {
    pub const UNSIGNED: u8 = 1;
    pub const SIGNED: u8 = 2;
    pub const BYTES: u8 = 3;
}

/// A value a log macro can carry: integers and byte arrays (for
/// `{:ipv4}`, `{:ipv6}`, `{:mac}`, `{:x}`).
#[diagnostic::on_unimplemented(
    message = "log macros cannot carry `{Self}`",
    label = "integers and byte arrays (`[u8; N]`, N <= 64) only"
)]
pub trait LogArg {
    /// Appends the tagged value at `at`; returns the new end, or `at` when
    /// it does not fit.
    fn encode(&self, buf: &mut [u8; RECORD_SIZE], at: usize) -> usize;
}

macro_rules! int_arg {
    ($tag:expr, $($t:ty => $wide:ty),*) => {$(
        impl LogArg for $t {
            #[inline(always)]
            fn encode(&self, buf: &mut [u8; RECORD_SIZE], at: usize) -> usize {
                put(buf, at, $tag, &(*self as $wide).to_le_bytes())
            }
        }
    )*};
}

int_arg!(tag::UNSIGNED, u8 => u64, u16 => u64, u32 => u64, u64 => u64, usize => u64);
int_arg!(tag::SIGNED, i8 => i64, i16 => i64, i32 => i64, i64 => i64, isize => i64);

impl<const N: usize> LogArg for [u8; N] {
    #[inline(always)]
    fn encode(&self, buf: &mut [u8; RECORD_SIZE], at: usize) -> usize {
        const { assert!(N <= 64, "log byte arrays are limited to 64 bytes") };
        put(buf, at, tag::BYTES, self)
    }
}

/// Writes `tag, len, bytes` at `at` if it fits. Offsets are constants after
/// inlining, so the verifier sees fixed stack offsets.
#[inline(always)]
fn put(buf: &mut [u8; RECORD_SIZE], at: usize, tag: u8, bytes: &[u8]) -> usize {
    let end = at + 2 + bytes.len();
    match buf.get_mut(at..end) {
        Some(dst) => {
            dst[0] = tag;
            dst[1] = bytes.len() as u8;
            let mut i = 0;
            while i < bytes.len() {
                dst[2 + i] = bytes[i];
                i += 1;
            }
            end
        }
        None => at,
    }
}

/// Starts a record for site `id`: the id, then the arguments.
#[doc(hidden)]
#[inline(always)]
pub fn start(buf: &mut [u8; RECORD_SIZE], id: u64) -> usize {
    buf[..8].copy_from_slice(&id.to_le_bytes());
    8
}

/// Builds a site descriptor at compile time: `id, level, line, file,
/// module, format` (lengths as u16), as user space parses it.
#[doc(hidden)]
pub const fn site<const N: usize>(
    id: u64,
    level: u8,
    line: u32,
    file: &str,
    module: &str,
    format: &str,
) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let id = id.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        out[at] = id[i];
        at += 1;
        i += 1;
    }
    out[at] = level;
    at += 1;
    let line = line.to_le_bytes();
    let mut i = 0;
    while i < 4 {
        out[at] = line[i];
        at += 1;
        i += 1;
    }
    at = put_str(&mut out, at, file);
    at = put_str(&mut out, at, module);
    at = put_str(&mut out, at, format);
    assert!(at == N, "log site length mismatch");
    out
}

/// The size of a site descriptor.
#[doc(hidden)]
pub const fn site_len(file: &str, module: &str, format: &str) -> usize {
    8 + 1 + 4 + 2 + file.len() + 2 + module.len() + 2 + format.len()
}

const fn put_str<const N: usize>(out: &mut [u8; N], mut at: usize, s: &str) -> usize {
    let bytes = s.as_bytes();
    let len = (bytes.len() as u16).to_le_bytes();
    out[at] = len[0];
    out[at + 1] = len[1];
    at += 2;
    let mut i = 0;
    while i < bytes.len() {
        out[at] = bytes[i];
        at += 1;
        i += 1;
    }
    at
}
