//! `PerCpuScratch`: room for one value per CPU, for structs too large for
//! the 512-byte BPF stack, handed out as `&mut` behind a guard.
//!
//! Two programs can run nested on one CPU (a perf-event program in an NMI
//! over a tracepoint program, a cgroup egress program in a softirq over the
//! same program in process context). Each slot therefore carries a busy
//! word, taken with an atomic compare-and-exchange and released when the
//! closure given to [`PerCpuScratch::with`] returns: a nested borrow of a
//! busy slot gets `None`, never a second `&mut` to the same memory. There
//! is no guard value, so a program cannot leak a borrow (`forget`,
//! `ManuallyDrop`, `MaybeUninit`, ...), and `with` borrows the context, so
//! a tail call, which needs the context by `&mut`, cannot happen while the
//! slot is held.

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
    /// [`with`](Self::with) runs a closure on `&mut T`, or returns `None`
    /// when the slot is already in use on this CPU (a program running
    /// nested over another one that holds it). The value keeps whatever
    /// the last borrow on this CPU left in it (zeroes at first): set every
    /// field you read.
    ///
    /// A panic inside the closure leaves this CPU's slot busy (the
    /// program is aborted before the release): later borrows on that CPU
    /// get `None`, which is safe, and the abort is counted
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
    /// SCRATCH.with(&ctx, |event| {
    ///     event.pid = helpers::pid();
    ///     event.len = 0;
    ///     let _ = EVENTS.output(&ctx, event);
    /// });
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

    /// Runs `f` with exclusive access to this CPU's slot and returns what
    /// it returns, or `None` (without running `f`) if the slot is already
    /// in use on this CPU.
    ///
    /// The slot is released when `f` returns, by iu, not by a guard the
    /// program could leak: the `&mut T` cannot leave `f`, and `with`
    /// borrows the program's context for as long as `f` runs, so `f`
    /// cannot make a tail call (which needs `&mut` of the context) while
    /// it holds the slot. Use `ctx` inside `f` for anything that takes it
    /// shared (perf output, stack ids, packet reads).
    ///
    /// ```
    /// # use iu_ebpf::{Pod, map, maps::{PerCpuScratch, ProgramArray}, programs::XdpContext};
    /// # #[derive(Clone, Copy, Pod)] #[repr(C)] struct Big { len: u64, bytes: [u8; 4096] }
    /// # #[map] static SCRATCH: PerCpuScratch<Big> = PerCpuScratch::new();
    /// # #[map] static NEXT: ProgramArray<1> = ProgramArray::new();
    /// # let mut ctx = XdpContext::from_packet(&[0; 64]);
    /// let len = SCRATCH.with(&ctx, |big| {
    ///     big.len = 3;
    ///     big.len
    /// });
    /// NEXT.tail_call(&mut ctx, 0); // after `with`: the slot is free again
    /// # assert_eq!(len, Some(3));
    /// ```
    ///
    /// A tail call inside `f` does not compile:
    ///
    /// ```compile_fail,E0502
    /// # use iu_ebpf::{Pod, map, maps::{PerCpuScratch, ProgramArray}, programs::XdpContext};
    /// # #[derive(Clone, Copy, Pod)] #[repr(C)] struct Big { len: u64, bytes: [u8; 4096] }
    /// # #[map] static SCRATCH: PerCpuScratch<Big> = PerCpuScratch::new();
    /// # #[map] static NEXT: ProgramArray<1> = ProgramArray::new();
    /// # let mut ctx = XdpContext::from_packet(&[0; 64]);
    /// SCRATCH.with(&ctx, |big| {
    ///     big.len = 3;
    ///     NEXT.tail_call(&mut ctx, 0);
    /// });
    /// ```
    ///
    /// and neither does keeping the `&mut T` past `f`, to leak or reuse it:
    ///
    /// ```compile_fail
    /// # use iu_ebpf::{Pod, map, maps::PerCpuScratch, programs::XdpContext};
    /// # #[derive(Clone, Copy, Pod)] #[repr(C)] struct Big { len: u64, bytes: [u8; 4096] }
    /// # #[map] static SCRATCH: PerCpuScratch<Big> = PerCpuScratch::new();
    /// # let ctx = XdpContext::from_packet(&[0; 64]);
    /// let kept = SCRATCH.with(&ctx, |big| big).unwrap();
    /// kept.len = 1;
    /// ```
    #[inline(always)]
    pub fn with<C: crate::programs::Context, R>(
        &self,
        ctx: &C,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        let () = Self::LAYOUT;
        // The context is only borrowed, so that `f` cannot tail-call.
        let _ = ctx;
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
            // program accesses it only atomically or by the release below.
            let busy = unsafe { core::ptr::addr_of_mut!((*slot).busy) };
            // SAFETY: as above.
            let (_, taken) = unsafe {
                atomic_cxchg::<u64, { AtomicOrdering::SeqCst }, { AtomicOrdering::SeqCst }>(
                    busy, 0, 1,
                )
            };
            if !taken {
                return None;
            }
            // SAFETY: the busy word was 0 and is now ours: no other borrow
            // of this CPU's slot exists until the store of 0 below, and
            // other CPUs have their own slots. `T: Pod` is valid for any
            // bytes the slot holds. The reference cannot outlive `f`
            // (its lifetime is chosen by `f`'s caller, here).
            let result = f(unsafe { &mut (*slot).value });
            // Only programs nested on this CPU can see the slot, so program
            // order is enough: the fence keeps the value's writes before
            // the release.
            core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::Release);
            // SAFETY: `busy` points to the live slot's busy word, which
            // this call took; an aligned 8-byte store is one instruction.
            unsafe { core::ptr::write_volatile(busy, 0) };
            Some(result)
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let mut value = self.sim.update(0, |slot| {
                (slot.busy == 0).then(|| {
                    slot.busy = 1;
                    slot.value
                })
            })??;
            let result = f(&mut value);
            let _ = self.sim.update(0, |slot| {
                slot.value = value;
                slot.busy = 0;
            });
            Some(result)
        }
    }
}
