//! Direct packet access shared by the contexts that have it (XDP, tc): one
//! bounds check in the pointer form the verifier tracks, then one load per
//! field where C would have one.

use super::offset::{MAX_OFFSET, PacketOffset};
use crate::Pod;

/// A copy of the `T` at `start + offset`, or `None` if it does not end at
/// or before `end`.
///
/// The check compares pointers, the form the verifier turns into a packet
/// range (an integer comparison can be reshaped by LLVM into one it cannot
/// track).
///
/// A 2-, 4- or 8-byte `T` is read with one load. Rust only knows the
/// packet is byte-aligned, and LLVM's BPF backend splits an unaligned
/// `read_unaligned` into byte loads, shifts and ors (10 instructions for
/// an IPv4 address, where C's `ip->saddr` is one). The verifier allows
/// unaligned packet loads except on strict-alignment architectures, where
/// it checks the same offsets as for C's loads, so the load is written in
/// assembly, where Rust's alignment rules do not apply. It is addressed
/// from the bounds-checked end pointer (`end - size`), the register the
/// check already holds, so it takes no more instructions than C's
/// `*(u32 *)(data + off)` (it does wait for the add that computes that
/// pointer, where C's load addresses `data` directly: about a cycle).
#[inline(always)]
pub(crate) fn read<T: Pod>(
    start: *const u8,
    end: *const u8,
    offset: impl PacketOffset,
) -> Option<T> {
    let size = core::mem::size_of::<T>();
    // Packets are shorter than 64 KiB: a larger offset is out of bounds, and
    // refusing it first keeps the pointer sums below from wrapping around
    // (and gives the verifier a bounded offset).
    let at = at(start, offset, size)?;
    let last = at.wrapping_add(size);
    macro_rules! load {
        ($ty:ty, $insn:literal) => {{
            let value: u64;
            // SAFETY: `[last - size, last)` lies inside the packet (checked
            // above), and the kernel allows this load at any alignment where
            // it runs the program (the verifier checks). The assembly reads
            // only those bytes; it writes no memory and no stack.
            unsafe {
                core::arch::asm!(
                    $insn,
                    v = lateout(reg) value,
                    p = in(reg) last,
                    options(pure, readonly, nostack, preserves_flags),
                );
            }
            // SAFETY: BPF loads zero-extend into the 64-bit register. Telling
            // LLVM so spares a mask when the value is compared or widened.
            unsafe { core::hint::assert_unchecked(value <= <$ty>::MAX as u64) };
            // SAFETY: `T` has the size of `$ty` (matched below) and is
            // `Pod`, valid for any bytes; the truncation keeps the loaded
            // bytes.
            unsafe { core::mem::transmute_copy::<$ty, T>(&(value as $ty)) }
        }};
    }
    // The failure path yields a defined value too: with `None`'s undefined
    // payload, LLVM may compute from the loaded register on both paths
    // where the tag makes the value irrelevant (matching `Some([8, code,
    // ..])`), and the verifier refuses reading a register never written.
    let in_bounds = last <= end;
    let value = if !in_bounds {
        T::zeroed()
    } else {
        match size {
            2 => load!(u16, "{v} = *(u16 *)({p} - 2)"),
            4 => load!(u32, "{v} = *(u32 *)({p} - 4)"),
            8 => load!(u64, "{v} = *(u64 *)({p} - 8)"),
            // SAFETY: `[at, last)` lies inside the packet (checked above),
            // `read_unaligned` has no alignment need, and `T: Pod` is valid
            // for any bytes.
            _ => unsafe { core::ptr::read_unaligned(at.cast::<T>()) },
        }
    };
    in_bounds.then_some(value)
}

/// Copies `buf.len()` packet bytes from `offset` into `buf` with `helper`
/// (`bpf_xdp_load_bytes` or `bpf_skb_load_bytes`: context, offset,
/// destination, length) and returns them, or `None` if the packet is
/// shorter. The helpers refuse a length that may be zero, and the verifier
/// must see the zero test on the register the helper gets: without the
/// empty `asm!` block LLVM tests an equivalent value instead (the packet
/// length the caller derived the length from). The test itself is an
/// unsigned `len > 0` written in `asm!`: LLVM would turn it into
/// `len != 0`, from which kernels before 6.8 learn no lower bound ("invalid
/// zero-sized read" on 6.1).
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) fn load_bytes<'b>(
    helper: impl FnOnce(u32, *mut u8, u32) -> i64,
    offset: usize,
    buf: &'b mut [u8],
) -> Option<&'b [u8]> {
    let offset = u32::try_from(offset).ok()?;
    let mut len = u64::try_from(buf.len())
        .ok()
        .filter(|&l| l <= u64::from(u32::MAX))?;
    // SAFETY: no instruction.
    unsafe {
        core::arch::asm!("/* {len} */", len = inout(reg) len, options(pure, nomem, nostack, preserves_flags));
    }
    // SAFETY: a compare and a jump; no memory is touched.
    unsafe {
        core::arch::asm!(
            "if {len} > 0 goto {copy}",
            len = in(reg) len,
            copy = label {
                return (helper(offset, buf.as_mut_ptr(), len as u32) == 0).then_some(&*buf);
            },
            options(nomem, nostack),
        );
    }
    Some(&*buf)
}

/// Writes `value` at `start + offset` if it ends at or before `end`;
/// `false` (nothing written) otherwise. The counterpart of [`read`]: one
/// pointer check, then one store for a 2-, 4- or 8-byte `T` (Rust would
/// split an unaligned store into byte stores and shifts), addressed from
/// the checked end pointer.
#[inline(always)]
pub(crate) fn write<T: Pod>(
    start: *const u8,
    end: *const u8,
    offset: impl PacketOffset,
    value: T,
) -> bool {
    let size = core::mem::size_of::<T>();
    let Some(at) = at(start, offset, size) else {
        return false;
    };
    let last = at.wrapping_add(size);
    if last > end {
        return false;
    }
    macro_rules! store {
        ($ty:ty, $insn:literal) => {{
            // SAFETY: `T` has the size of `$ty` (matched below) and is
            // `Pod`, so its bytes are a valid `$ty`.
            let bits: $ty = unsafe { core::mem::transmute_copy::<T, $ty>(&value) };
            // SAFETY: `[last - size, last)` lies inside the packet (checked
            // above), which the program may write (the verifier checks the
            // program type), at any alignment the kernel allows there.
            unsafe {
                core::arch::asm!(
                    $insn,
                    p = in(reg) last,
                    v = in(reg) bits as u64,
                    options(nostack, preserves_flags),
                );
            }
        }};
    }
    match size {
        2 => store!(u16, "*(u16 *)({p} - 2) = {v}"),
        4 => store!(u32, "*(u32 *)({p} - 4) = {v}"),
        8 => store!(u64, "*(u64 *)({p} - 8) = {v}"),
        // SAFETY: `[at, last)` lies inside the packet (checked above), and
        // `write_unaligned` has no alignment need.
        _ => unsafe { core::ptr::write_unaligned(at.cast_mut().cast::<T>(), value) },
    }
    true
}

/// `start + offset`, or `None` if a `size`-byte access there could end
/// past [`MAX_OFFSET`]. The bounded length of an
/// [`Offset`](super::Offset) is added after the base's check, unchecked:
/// its bound is on its register (`BoundedLen::new`), so the verifier
/// knows it, and the base is checked against the limit minus its maximum.
#[inline(always)]
pub(crate) fn at<O: PacketOffset>(start: *const u8, offset: O, size: usize) -> Option<*const u8> {
    let (base, len) = offset.parts();
    if O::MAX_LEN == 0 {
        return at_base(start, base, size);
    }
    let reach = size.checked_add(O::MAX_LEN).filter(|&r| r <= MAX_OFFSET)?;
    let mut at = at_base(start, base, reach)?;
    // SAFETY: one register addition; no memory is touched. In assembly so
    // that LLVM adds the length itself (not a sum it folded constants
    // into) to the base pointer; the caller's bounds check comes after.
    unsafe {
        core::arch::asm!(
            "{at} += {len}",
            at = inout(reg) at,
            len = in(reg) len,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    Some(at)
}

/// `start + offset`, or `None` if a `size`-byte access there would end
/// past [`MAX_OFFSET`]. Packets are shorter than 64 KiB: a larger offset is
/// out of bounds, and refusing it first keeps the pointer sums of the
/// callers from wrapping around.
///
/// A run-time offset is checked and added in assembly, for two reasons.
/// LLVM folds constants of the caller's offset expression (the `- 1` of
/// `header + payload - 1`) with the `+ size` of the bounds check into the
/// variable part, and the load ends up at a negative offset from a pointer
/// whose checked range is 0, which the verifier refuses ("offset is
/// outside of the packet"): it needs the variable part added first and
/// the constants after it, as C code has them. And LLVM drops the
/// `MAX_OFFSET` check when it can prove it from the program's own
/// conditions (`i < options_len` in a loop), which the verifier often
/// cannot follow (LLVM rewrites them into forms it does not track); an
/// offset carried around a loop then has no bound the verifier knows.
/// The check in assembly stays on the register that is added. Constant
/// offsets stay in Rust, where the check folds away and the offset into
/// the load's displacement.
#[inline(always)]
fn at_base(start: *const u8, offset: usize, size: usize) -> Option<*const u8> {
    let max = MAX_OFFSET.saturating_sub(size);
    if core::intrinsics::is_val_statically_known(offset) {
        return (offset <= max).then(|| start.wrapping_add(offset));
    }
    let mut at = start;
    // SAFETY: a compare, a jump and one register addition; no memory is
    // touched. The sum is only dereferenced after the caller's bounds check.
    unsafe {
        core::arch::asm!(
            "if {offset} > {max} goto {outside}",
            "{at} += {offset}",
            at = inout(reg) at,
            offset = in(reg) offset,
            max = in(reg) max,
            outside = label {
                return None;
            },
            options(nomem, nostack, preserves_flags),
        );
    }
    Some(at)
}
