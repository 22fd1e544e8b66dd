//! `PerCpuScratch`: room for one value per CPU, for structs too large for
//! the 512-byte BPF stack, handed out as `&mut` behind a guard.
//!
//! Two programs can run nested on one CPU (a perf-event program in an NMI
//! over a tracepoint program, a cgroup egress program in a softirq over the
//! same program in process context). Each slot therefore carries a busy
//! word, taken with an atomic compare-and-exchange and released when the
//! guard drops: a nested borrow of a busy slot gets `None`, never a second
//! `&mut` to the same memory.

use core::ops::{Deref, DerefMut};

use super::{map_def, map_type};
use crate::Pod;

/// One CPU's slot: the busy word, then the value.
#[doc(hidden)]
#[repr(C)]
pub struct ScratchSlot<T> {
    busy: u64,
    value: T,
}

map_def! {
    /// Per-CPU scratch space for one `T` (a `BPF_MAP_TYPE_PERCPU_ARRAY` of
    /// one slot), for values larger than the 512-byte BPF stack.
    ///
    /// [`borrow`](Self::borrow) returns a guard that derefs to `&mut T`, or
    /// `None` when the slot is already borrowed on this CPU (a program
    /// running nested over another one that holds it). The value keeps
    /// whatever the last borrow on this CPU left in it (zeroes at first):
    /// set every field you read.
    ///
    /// A panic while the guard is held leaves this CPU's slot busy (the
    /// program is unwound without running destructors): later borrows on
    /// that CPU get `None`, which is safe, and the abort is counted
    /// (`Ebpf::aborts`).
    ///
    /// ```ignore
    /// #[derive(Clone, Copy, Pod)]
    /// #[repr(C)]
    /// struct Event { pid: u32, len: u32, data: [u8; 4096] }
    ///
    /// #[map]
    /// static SCRATCH: PerCpuScratch<Event> = PerCpuScratch::new();
    ///
    /// let Some(mut event) = SCRATCH.borrow() else { return 0 };
    /// event.pid = helpers::pid();
    /// event.len = 0;
    /// let _ = EVENTS.output(&*event);
    /// ```
    pub struct PerCpuScratch<T; > {
        r#type: [i32; map_type::PERCPU_ARRAY],
        key: u32,
        value: ScratchSlot<T>,
        max_entries: [i32; 1],
    }
    host: super::host::Array<HostSlot<T>, 1, { crate::sim::CPUS }>;
}

/// The host simulation's slot: a busy flag and a copy of the value.
#[cfg(not(target_arch = "bpf"))]
#[doc(hidden)]
#[derive(Clone, Copy)]
#[repr(C, packed)]
pub struct HostSlot<T> {
    busy: u64,
    value: T,
}

// SAFETY: a u64 and a `T: Pod` are valid for any bytes, and the struct is
// packed, so it has no padding for any `T` (it is reachable as
// `iu_ebpf::maps::HostSlot`, so this matters even though it is only the
// host simulation's storage). Its fields are only read and written by
// value.
#[cfg(not(target_arch = "bpf"))]
unsafe impl<T: Pod> Pod for HostSlot<T> {}

impl<T: Pod> PerCpuScratch<T> {
    const LAYOUT: () = assert!(
        core::mem::align_of::<T>() <= 8,
        "PerCpuScratch values must have an alignment of at most 8"
    );

    /// Exclusive access to this CPU's slot, or `None` if it is already
    /// borrowed on this CPU.
    #[inline(always)]
    pub fn borrow(&self) -> Option<ScratchGuard<'_, T>> {
        let () = Self::LAYOUT;
        #[cfg(target_arch = "bpf")]
        {
            let key = 0u32;
            // SAFETY: `self` is a `#[map]` static keyed by u32; the helper
            // returns null or this CPU's `ScratchSlot<T>`, which lives as
            // long as the map.
            let slot: *mut ScratchSlot<T> = unsafe {
                crate::helpers::raw::map_lookup_elem(self.as_ptr(), (&key as *const u32).cast())
            }
            .cast();
            if slot.is_null() {
                return None;
            }
            use core::intrinsics::{AtomicOrdering, atomic_cxchg};
            // SAFETY: `busy` is an aligned u64 of a live map value; every
            // program accesses it only atomically.
            let (_, taken) = unsafe {
                atomic_cxchg::<u64, { AtomicOrdering::SeqCst }, { AtomicOrdering::SeqCst }>(
                    core::ptr::addr_of_mut!((*slot).busy),
                    0,
                    1,
                )
            };
            // SAFETY: the busy word was 0 and is now ours: no other borrow
            // of this CPU's slot exists until the guard releases it, and
            // other CPUs have their own slots. `T: Pod` is valid for any
            // bytes the slot holds.
            taken.then(|| ScratchGuard {
                value: unsafe { &mut (*slot).value },
                busy: unsafe { core::ptr::addr_of_mut!((*slot).busy) },
            })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let value = self.sim.update(0, |slot| {
                (slot.busy == 0).then(|| {
                    slot.busy = 1;
                    slot.value
                })
            })??;
            Some(ScratchGuard { value, map: self })
        }
    }
}

/// Exclusive access to one CPU's [`PerCpuScratch`] slot; dropping it
/// releases the slot.
#[cfg(target_arch = "bpf")]
pub struct ScratchGuard<'a, T: Pod> {
    value: &'a mut T,
    busy: *mut u64,
}

/// Exclusive access to one CPU's [`PerCpuScratch`] slot. On the host the
/// guard holds a copy, written back when it drops.
#[cfg(not(target_arch = "bpf"))]
pub struct ScratchGuard<'a, T: Pod> {
    value: T,
    map: &'a PerCpuScratch<T>,
}

impl<T: Pod> Deref for ScratchGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        #[cfg(target_arch = "bpf")]
        {
            self.value
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            &self.value
        }
    }
}

impl<T: Pod> DerefMut for ScratchGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(target_arch = "bpf")]
        {
            self.value
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            &mut self.value
        }
    }
}

impl<T: Pod> Drop for ScratchGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(target_arch = "bpf")]
        {
            // Only programs nested on this CPU can see the slot, so program
            // order is enough: the fence keeps the value's writes before
            // the release.
            core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
            // SAFETY: `busy` points to the live slot's busy word this guard
            // took; an aligned 8-byte store is one instruction.
            unsafe { core::ptr::write_volatile(self.busy, 0) };
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let value = self.value;
            let _ = self.map.sim.update(0, |slot| {
                slot.value = value;
                slot.busy = 0;
            });
        }
    }
}
