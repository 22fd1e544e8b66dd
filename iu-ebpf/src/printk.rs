//! Support code for [`printk!`](crate::printk!): writing formatted lines to
//! the kernel's trace pipe.
//!
//! `printk!` turns a Rust format string into a `bpf_trace_printk` format at
//! compile time: every `{}` becomes `%lld` or `%llu` depending on the
//! argument's type, `{:x}` becomes `%llx`, and width, zero-padding and
//! left-alignment carry over. The format string lives once in `.rodata`; only
//! the arguments are passed at run time. Up to three arguments use
//! `bpf_trace_printk`, up to twelve `bpf_trace_vprintk` (Linux 5.16+).

/// An integer that `printk!` can print.
#[diagnostic::on_unimplemented(
    message = "`printk!` cannot print `{Self}`",
    label = "only integers can be printed",
    note = "the kernel's trace_printk formats integers only; print a field or convert with `as`"
)]
pub trait Arg: Copy {
    /// The conversion `{}` maps to, without `%` and flags.
    const DISPLAY: &'static [u8];
    /// The value widened to 64 bits (sign-extended for signed types).
    fn to_u64(self) -> u64;
    /// The value's bits zero-extended to 64 bits, for `{:x}` and `{:X}`.
    fn to_bits(self) -> u64;
}

macro_rules! impl_arg {
    ($conv:literal, $($t:ty => $unsigned:ty),*) => {$(
        impl Arg for $t {
            const DISPLAY: &'static [u8] = $conv;
            #[inline(always)]
            fn to_u64(self) -> u64 {
                self as u64
            }
            #[inline(always)]
            fn to_bits(self) -> u64 {
                self as $unsigned as u64
            }
        }
    )*};
}

impl_arg!(b"llu", u8 => u8, u16 => u16, u32 => u32, u64 => u64, usize => usize);
impl_arg!(b"lld", i8 => u8, i16 => u16, i32 => u32, i64 => u64, isize => usize);

/// Conversion of `{:x}`.
pub const LOWER_HEX: &[u8] = b"llx";
/// Conversion of `{:X}`.
pub const UPPER_HEX: &[u8] = b"llX";

/// Concatenates `literals[0] % flags[0] conversions[0] literals[1] ...` and a
/// terminating NUL into an array of exactly `N` bytes, at compile time.
#[doc(hidden)]
pub const fn build<const N: usize>(
    literals: &[&[u8]],
    flags: &[&[u8]],
    conversions: &[&[u8]],
) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < literals.len() {
        at = append(&mut out, at, literals[i]);
        if i < conversions.len() {
            at = append(&mut out, at, b"%");
            at = append(&mut out, at, flags[i]);
            at = append(&mut out, at, conversions[i]);
        }
        i += 1;
    }
    // The last byte stays 0: the terminating NUL. A length mismatch is a
    // bug in the macro and fails compilation here.
    assert!(at + 1 == N, "printk!: format length mismatch");
    out
}

const fn append<const N: usize>(out: &mut [u8; N], mut at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at] = bytes[i];
        at += 1;
        i += 1;
    }
    at
}

/// Writes one line to the trace pipe. `fmt` is NUL-terminated and holds one
/// conversion per element of `args`.
#[doc(hidden)]
#[inline(always)]
pub fn trace_printk(fmt: &'static [u8], args: &[u64]) {
    #[cfg(target_arch = "bpf")]
    {
        use crate::helpers::id;
        let len = fmt.len() as u32;
        if args.len() <= 3 {
            let a = |i: usize| if i < args.len() { args[i] } else { 0 };
            // SAFETY: `bpf_trace_printk(fmt, fmt_size, a1, a2, a3)`. `fmt` is
            // a NUL-terminated static string of `len` bytes whose
            // conversions all take 64-bit integers; `a*` are plain values.
            let f: extern "C" fn(*const u8, u32, u64, u64, u64) -> i64 =
                unsafe { core::mem::transmute(id::TRACE_PRINTK) };
            f(fmt.as_ptr(), len, a(0), a(1), a(2));
        } else {
            // SAFETY: `bpf_trace_vprintk(fmt, fmt_size, data, data_len)`.
            // `fmt` is as above, `data` points to `args.len()` readable u64s
            // (`printk!` rejects more than 12), and `data_len` is their size.
            let f: extern "C" fn(*const u8, u32, *const u64, u32) -> i64 =
                unsafe { core::mem::transmute(id::TRACE_VPRINTK) };
            f(fmt.as_ptr(), len, args.as_ptr(), (args.len() * 8) as u32);
        }
    }
    #[cfg(not(target_arch = "bpf"))]
    crate::sim::trace_printk(fmt, args);
}
