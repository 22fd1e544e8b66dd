//! USDT probes (SystemTap SDT, `sys/sdt.h`, `DTRACE_PROBE`): uprobes at
//! the call sites a binary lists in its `.note.stapsdt` notes, each with
//! an argument spec (`-4@%edi 8@-8(%rbp) -4@$5`) that says where the
//! arguments are at that site. User space (`iu::programs::Usdt`) parses
//! the specs into `IU_USDT_SPECS` and gives each attached site a BPF
//! cookie naming its spec; [`UsdtContext::arg`] reads the argument the
//! spec describes, as libbpf's `usdt.bpf.h` does.
//!
//! The map's layout, shared with `iu/src/programs/usdt.rs`: each spec
//! takes [`WORDS_PER_SPEC`] consecutive 16-byte words, starting at
//! `cookie * WORDS_PER_SPEC`. The first is a header (kind
//! [`KIND_HEADER`], `value` the user's attach cookie, `reg` the argument
//! count); word `1 + i` describes argument `i`.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// Most arguments a USDT probe has (`STAP_PROBE12`).
pub const MAX_ARGS: usize = 12;
/// Specs (distinct argument layouts) one object can hold at once.
pub const MAX_SPECS: usize = 256;
/// 16-byte words per spec: a header, then one per argument.
pub const WORDS_PER_SPEC: usize = 1 + MAX_ARGS;

/// Word kinds.
#[doc(hidden)]
pub const KIND_HEADER: u8 = 0xff;
#[doc(hidden)]
pub const KIND_CONST: u8 = 1;
#[doc(hidden)]
pub const KIND_REG: u8 = 2;
#[doc(hidden)]
pub const KIND_REG_DEREF: u8 = 3;
#[doc(hidden)]
pub const KIND_SIB: u8 = 4;

/// Size of x86-64's `struct pt_regs`: register offsets are below it.
#[cfg(target_arch = "bpf")]
const PT_REGS_SIZE: u16 = 168;

/// One word of a spec (see the module's documentation).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SpecWord {
    /// The constant, or the displacement added to the register(s) before
    /// the dereference; for the header, the user's attach cookie.
    value: u64,
    /// Offset in `pt_regs` of the (base) register; for the header, the
    /// argument count.
    reg: u16,
    /// Offset in `pt_regs` of the index register (`KIND_SIB`).
    index_reg: u16,
    kind: u8,
    /// `64 - 8 * size`: shifting left then right by it sign- or
    /// zero-extends a value of the argument's size.
    shift: u8,
    /// Non-zero for a signed argument (negative size in the spec).
    signed: u8,
    /// log2 of the index register's scale (`KIND_SIB`).
    scale_shift: u8,
}

// SAFETY: integers only, 16 bytes with no padding (8 + 2 + 2 + 4 * 1).
unsafe impl crate::Pod for SpecWord {}

/// The parsed argument specs, written by user space when it attaches.
#[cfg_attr(target_arch = "bpf", unsafe(export_name = "IU_USDT_SPECS"))]
#[cfg_attr(target_arch = "bpf", unsafe(link_section = ".maps"))]
#[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
pub(crate) static IU_USDT_SPECS: crate::maps::Array<SpecWord, { MAX_SPECS * WORDS_PER_SPEC }> =
    crate::maps::Array::new();

/// Why [`UsdtContext::arg`] has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdtError {
    /// The site's cookie names no spec: the program was attached other
    /// than by `iu::programs::Usdt` (as a plain uprobe with a cookie, say).
    NoSpec,
    /// The probe has fewer arguments ([`UsdtContext::arg_count`]), or the
    /// site has no spec at all.
    NoSuchArgument,
    /// The argument is in memory that could not be read (paged out, or a
    /// bad address in the traced process).
    Unreadable,
}

/// A probe's arguments, read together ([`UsdtContext::args`]).
#[derive(Debug, Clone, Copy)]
pub struct UsdtArgs {
    values: [i64; MAX_ARGS],
    count: usize,
    /// Bit `i`: argument `i` could not be read.
    unreadable: u16,
}

impl UsdtArgs {
    /// The number of arguments (0 without a spec).
    #[inline(always)]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Argument `n`, as [`UsdtContext::arg`] gives it.
    #[inline(always)]
    pub fn get(&self, n: usize) -> Result<i64, UsdtError> {
        if n >= self.count {
            return Err(UsdtError::NoSuchArgument);
        }
        if self.unreadable & 1u16.wrapping_shl(n as u32) != 0 {
            return Err(UsdtError::Unreadable);
        }
        self.values.get(n).copied().ok_or(UsdtError::NoSuchArgument)
    }

    /// All 12 slots: the arguments, then zeros (an unreadable argument is
    /// 0 too; [`UsdtArgs::get`] tells).
    #[inline(always)]
    pub fn values(&self) -> [i64; MAX_ARGS] {
        self.values
    }

    /// Bit `i` set: argument `i` could not be read.
    #[inline(always)]
    pub fn unreadable(&self) -> u16 {
        self.unreadable
    }
}

/// The context of a `#[usdt]` program: the registers at the probe's call
/// site, and the argument spec of that site.
///
/// ```
/// use iu_ebpf::programs::{UsdtContext, UsdtError};
///
/// // On the host, a context with the arguments a probe fired with.
/// let ctx = UsdtContext::from_args(&[-3, 250, 1 << 40]).with_cookie(9);
/// assert_eq!(ctx.arg_count(), 3);
/// assert_eq!(ctx.arg(0), Ok(-3));
/// assert_eq!(ctx.arg(2), Ok(1 << 40));
/// assert_eq!(ctx.arg(3), Err(UsdtError::NoSuchArgument));
/// assert_eq!(ctx.cookie(), 9);
/// ```
pub struct UsdtContext {
    #[cfg(target_arch = "bpf")]
    regs: *const u8,
    /// On the host: the arguments, their count and the attach cookie.
    #[cfg(not(target_arch = "bpf"))]
    args: ([i64; MAX_ARGS], usize, u64),
}

impl UsdtContext {
    /// The header word of this site's spec.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn header(&self) -> Option<(SpecWord, u32)> {
        // SAFETY: the helper takes the program's own context.
        let cookie = unsafe { crate::helpers::raw::get_attach_cookie(self.regs.cast_mut().cast()) };
        let spec = u32::try_from(cookie)
            .ok()
            .filter(|&s| (s as usize) < MAX_SPECS)?;
        let first = spec * WORDS_PER_SPEC as u32;
        let header = IU_USDT_SPECS.get(first)?;
        (header.kind == KIND_HEADER).then_some((header, first))
    }

    /// The number of arguments the probe has (0 to 12); 0 without a spec.
    #[inline(always)]
    pub fn arg_count(&self) -> usize {
        #[cfg(target_arch = "bpf")]
        {
            self.header()
                .map_or(0, |(h, _)| usize::from(h.reg).min(MAX_ARGS))
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args.1
        }
    }

    /// The cookie user space gave when attaching
    /// (`iu::programs::Usdt::with_cookie`), 0 by default: with one program
    /// on several probes, it tells them apart.
    #[inline(always)]
    pub fn cookie(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            self.header().map_or(0, |(h, _)| h.value)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.args.2
        }
    }

    /// Argument `n` (from 0) of the probe, sign- or zero-extended from its
    /// size (1, 2, 4 or 8 bytes; signed when the spec's size is negative)
    /// to 64 bits. An unsigned 8-byte argument comes back with its bits
    /// unchanged: `as u64` restores it.
    ///
    /// It takes few branches (one map lookup, the location's kind, one
    /// read per register or memory operand), so that a loop over the
    /// arguments verifies on kernels that walk every iteration (6.1).
    #[inline(always)]
    pub fn arg(&self, n: usize) -> Result<i64, UsdtError> {
        #[cfg(target_arch = "bpf")]
        {
            if n >= MAX_ARGS {
                return Err(UsdtError::NoSuchArgument);
            }
            // SAFETY: the helper takes the program's own context.
            let cookie =
                unsafe { crate::helpers::raw::get_attach_cookie(self.regs.cast_mut().cast()) };
            if cookie >= MAX_SPECS as u64 {
                return Err(UsdtError::NoSpec);
            }
            // The words past the argument count are zero (kind 0).
            let spec = IU_USDT_SPECS
                .get(cookie as u32 * WORDS_PER_SPEC as u32 + 1 + n as u32)
                .ok_or(UsdtError::NoSpec)?;
            let raw = match spec.kind {
                KIND_CONST => spec.value,
                KIND_REG => self.register(spec.reg)?,
                KIND_REG_DEREF | KIND_SIB => {
                    let index = if spec.kind == KIND_SIB {
                        self.register(spec.index_reg)?
                            .wrapping_shl(u32::from(spec.scale_shift & 3))
                    } else {
                        0
                    };
                    let at = self
                        .register(spec.reg)?
                        .wrapping_add(index)
                        .wrapping_add(spec.value);
                    crate::memory::read_user_low(at, 8 - u32::from(spec.shift / 8))
                        .ok_or(UsdtError::Unreadable)?
                }
                0 => return Err(UsdtError::NoSuchArgument),
                _ => return Err(UsdtError::NoSpec),
            };
            Ok(extend(raw, spec.shift, spec.signed != 0))
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            match self.args.0.get(n) {
                Some(&v) if n < self.args.1 => Ok(v),
                _ => Err(UsdtError::NoSuchArgument),
            }
        }
    }

    /// Every argument at once, read in a loop the verifier checks once
    /// (`bpf_loop` on Linux 5.17+, [`crate::loops::for_range`]): the way
    /// to read them all on kernels that walk each iteration of a plain
    /// loop with every outcome of every argument (6.1 refuses such a loop
    /// over 12 arguments as too large).
    ///
    /// ```
    /// use iu_ebpf::programs::{UsdtContext, UsdtError};
    /// let args = UsdtContext::from_args(&[-3, 250]).args();
    /// assert_eq!(args.count(), 2);
    /// assert_eq!(args.get(1), Ok(250));
    /// assert_eq!(args.get(2), Err(UsdtError::NoSuchArgument));
    /// assert_eq!(args.values()[..3], [-3, 250, 0]);
    /// ```
    #[inline(always)]
    pub fn args(&self) -> UsdtArgs {
        let mut out = UsdtArgs {
            values: [0; MAX_ARGS],
            count: self.arg_count(),
            unreadable: 0,
        };
        crate::loops::for_range::<{ MAX_ARGS as u32 }, _>(out.count as u32, &mut out, |i, out| {
            match self.arg(i as usize) {
                Ok(v) => {
                    if let Some(slot) = out.values.get_mut(i as usize) {
                        *slot = v;
                    }
                }
                Err(_) => out.unreadable |= 1u16.wrapping_shl(i),
            }
            core::ops::ControlFlow::Continue(())
        });
        out
    }

    /// The register at `offset` in `pt_regs`, through a fault-safe read (a
    /// variable offset into the context is not a load the verifier
    /// allows); the offset is kept inside `pt_regs` without a branch.
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn register(&self, offset: u16) -> Result<u64, UsdtError> {
        let offset = u64::from(offset.min(PT_REGS_SIZE - 8));
        crate::memory::read_kernel::<u64>((self.regs as u64).wrapping_add(offset))
            .ok_or(UsdtError::Unreadable)
    }

    /// A context with arguments `args` (at most 12), for unit tests on the
    /// host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_args(args: &[i64]) -> Self {
        let mut all = [0; MAX_ARGS];
        let count = args.len().min(MAX_ARGS);
        all[..count].copy_from_slice(&args[..count]);
        Self {
            args: (all, count, 0),
        }
    }

    /// The same context with attach cookie `cookie`, for unit tests on the
    /// host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn with_cookie(self, cookie: u64) -> Self {
        Self {
            args: (self.args.0, self.args.1, cookie),
        }
    }
}

/// Sign- or zero-extends the low `64 - shift` bits of `raw`.
#[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
#[inline(always)]
fn extend(raw: u64, shift: u8, signed: bool) -> i64 {
    let shift = u32::from(shift & 63);
    let high = raw.wrapping_shl(shift);
    if signed {
        (high as i64).wrapping_shr(shift)
    } else {
        high.wrapping_shr(shift) as i64
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::Probe> for UsdtContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            regs: ctx.cast_const().cast(),
        }
    }
}

impl super::private::Sealed for UsdtContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.regs.cast_mut().cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_follows_the_size_and_sign() {
        assert_eq!(extend(0xff, 56, true), -1);
        assert_eq!(extend(0xff, 56, false), 255);
        assert_eq!(extend(0x1234_ffff, 48, true), -1);
        assert_eq!(extend(0xdead_0000_fffe, 48, false), 0xfffe);
        assert_eq!(extend(0xffff_ffff_8000_0000, 32, true), i32::MIN as i64);
        assert_eq!(extend(0x1_8000_0000, 32, false), 0x8000_0000);
        assert_eq!(extend(u64::MAX, 0, false), -1);
        assert_eq!(extend(u64::MAX, 0, false) as u64, u64::MAX);
    }

    #[test]
    fn spec_words_are_16_bytes() {
        assert_eq!(core::mem::size_of::<SpecWord>(), 16);
    }

    #[test]
    fn host_context_counts_its_arguments() {
        let ctx = UsdtContext::from_args(&[1, 2]);
        assert_eq!(ctx.arg_count(), 2);
        assert_eq!(ctx.arg(1), Ok(2));
        assert_eq!(ctx.arg(2), Err(UsdtError::NoSuchArgument));
        assert_eq!(ctx.arg(99), Err(UsdtError::NoSuchArgument));
        assert_eq!(ctx.cookie(), 0);
    }
}
