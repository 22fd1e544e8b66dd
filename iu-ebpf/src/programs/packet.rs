//! Direct packet access shared by the contexts that have it (XDP, tc): one
//! bounds check in the pointer form the verifier tracks, then one load per
//! field where C would have one.

use crate::Pod;

/// The largest packet offset a read or write may use.
pub(crate) const MAX_OFFSET: usize = 0xffff;

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
pub(crate) fn read<T: Pod>(start: *const u8, end: *const u8, offset: usize) -> Option<T> {
    let size = core::mem::size_of::<T>();
    // Packets are shorter than 64 KiB: a larger offset is out of bounds, and
    // refusing it first keeps the pointer sums below from wrapping around
    // (and gives the verifier a bounded offset).
    if offset > MAX_OFFSET {
        return None;
    }
    let last = start.wrapping_add(offset).wrapping_add(size);
    if last > end {
        return None;
    }
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
    Some(match size {
        2 => load!(u16, "{v} = *(u16 *)({p} - 2)"),
        4 => load!(u32, "{v} = *(u32 *)({p} - 4)"),
        8 => load!(u64, "{v} = *(u64 *)({p} - 8)"),
        // SAFETY: `[start + offset, last)` lies inside the packet (checked
        // above), `read_unaligned` has no alignment need, and `T: Pod` is
        // valid for any bytes.
        _ => unsafe { core::ptr::read_unaligned(start.wrapping_add(offset).cast::<T>()) },
    })
}
