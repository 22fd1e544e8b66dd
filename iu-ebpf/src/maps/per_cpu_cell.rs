//! `PerCpuCell`: the value type of per-CPU maps (`PerCpuArray`,
//! `PerCpuHashMap`, ...) whose values programs update in place, through
//! `with(&ctx, key, |value| ...)`, without copying them to the 512-byte
//! stack.
//!
//! A per-CPU value is only ever touched by programs on its own CPU, but two
//! programs can run nested on one CPU (a perf-event program in an NMI over
//! a tracepoint program, a tracing program over an XDP program in a
//! softirq). So each value carries a busy word, taken with an atomic
//! compare-and-exchange and released when the closure returns, as
//! [`super::PerCpuScratch`] does: a nested borrow of a busy value gets
//! `None`, never a second `&mut` to the same memory. The busy word travels
//! with the value, so programs of other objects that share the map (by pin)
//! take the same word. There is no guard to leak, and `with` borrows the
//! program's context, so no tail call can happen while a value is held.

use crate::Pod;

/// A per-CPU map value that programs borrow in place as `&mut T`: a busy
/// word, then the value. Use it as the value type of a `PerCpuArray` or
/// `PerCpuHashMap`, and update it with their `with` method. User space
/// reads it like any other value (`value()` gives the `T`).
///
/// ```ignore
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Flow { packets: u64, bytes: u64, sizes: [u64; 64] }
///
/// #[map]
/// static FLOWS: PerCpuArray<PerCpuCell<Flow>, 16> = PerCpuArray::new();
///
/// FLOWS.with(&ctx, queue, |flow| {
///     flow.packets += 1;
///     flow.sizes[len / 32] += 1;
/// });
/// ```
///
/// The layout is the busy word (8 bytes, 0 when free) and the value at
/// offset 8, with nothing after it: the struct is `packed`, so it has no
/// padding for any `T`. Map values are 8-byte aligned in the kernel, so the
/// word and the value are aligned there.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PerCpuCell<T> {
    busy: u64,
    value: T,
}

impl<T: Pod> PerCpuCell<T> {
    /// `T` fits the 8-byte alignment of map values.
    pub(crate) const LAYOUT: () = assert!(
        core::mem::align_of::<T>() <= 8
            && core::mem::size_of::<Self>() == 8 + core::mem::size_of::<T>(),
        "PerCpuCell values must have an alignment of at most 8"
    );

    /// A free cell holding `value` (for user space to write).
    pub const fn new(value: T) -> Self {
        let () = Self::LAYOUT;
        Self { busy: 0, value }
    }

    /// The value (user space: a copy of one CPU's value).
    pub fn value(&self) -> T {
        let () = Self::LAYOUT;
        self.value
    }

    /// Takes a free cell and returns a copy of its value, or `None` when
    /// it is busy (host simulation).
    #[cfg(not(target_arch = "bpf"))]
    pub(crate) fn take(&mut self) -> Option<T> {
        (self.busy == 0).then(|| {
            self.busy = 1;
            self.value
        })
    }

    /// Writes a borrowed value back and frees the cell (host simulation).
    #[cfg(not(target_arch = "bpf"))]
    pub(crate) fn release(&mut self, value: T) {
        self.value = value;
        self.busy = 0;
    }
}

// SAFETY: `repr(C, packed)` of a u64 and a `T: Pod`: a packed struct has
// no padding at all (`LAYOUT` checks it once more), and both fields are
// valid for any bytes.
unsafe impl<T: Pod> Pod for PerCpuCell<T> {
    const __SPIN_LOCKED: bool = T::__SPIN_LOCKED;
}

/// Runs `f` with exclusive access to the value of the cell at `cell`, or
/// returns `None` (without running `f`) when the cell is busy: a program
/// nested on this CPU over one that holds it.
///
/// # Safety
///
/// `cell` must point to a live `PerCpuCell<T>` of this CPU in a per-CPU
/// map (8-byte aligned, as map values are), and `PerCpuCell::<T>::LAYOUT`
/// must hold (the caller evaluates it).
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub(crate) unsafe fn borrow<T, R>(
    cell: *mut PerCpuCell<T>,
    f: impl FnOnce(&mut T) -> R,
) -> Option<R> {
    use core::intrinsics::{AtomicOrdering, atomic_cxchg};
    // SAFETY: `busy` is the aligned u64 at offset 0 of a live map value;
    // every program accesses it only atomically or by the release below.
    let busy = unsafe { core::ptr::addr_of_mut!((*cell).busy) };
    // SAFETY: as above.
    let (_, taken) = unsafe {
        atomic_cxchg::<u64, { AtomicOrdering::SeqCst }, { AtomicOrdering::SeqCst }>(busy, 0, 1)
    };
    if !taken {
        return None;
    }
    // SAFETY: the busy word was 0 and is now ours: no other borrow of this
    // CPU's value exists until the store of 0 below, and other CPUs have
    // their own values. The value is at offset 8 of an 8-byte aligned map
    // value and `T`'s alignment is at most 8 (`LAYOUT`), so the reference
    // is aligned although the struct is packed. `T: Pod` is valid for any
    // bytes. The reference cannot outlive `f`.
    let result = f(unsafe { &mut *core::ptr::addr_of_mut!((*cell).value) });
    // Only programs nested on this CPU can see the value, so program order
    // is enough: the fence keeps the value's writes before the release.
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
    // SAFETY: `busy` points to the live cell's busy word, which this call
    // took; an aligned 8-byte store is one instruction.
    unsafe { core::ptr::write_volatile(busy, 0) };
    Some(result)
}
