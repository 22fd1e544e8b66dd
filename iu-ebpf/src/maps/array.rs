//! Arrays: `Array` and `PerCpuArray`, indexed by `u32` from 0 to
//! `MAX_ENTRIES - 1`, every slot present and zeroed at creation.

use super::MapError;
use super::{map_def, map_type};

macro_rules! array {
    ($(#[$doc:meta])* $name:ident, $ty:expr, cpus = $cpus:expr) => {
        map_def! {
            $(#[$doc])*
            pub struct $name<V; MAX_ENTRIES, FLAGS = 0> {
                r#type: [i32; $ty],
                key: u32,
                value: V,
                max_entries: [i32; MAX_ENTRIES],
                map_flags: [i32; FLAGS],
            }
            host: super::host::Array<V, MAX_ENTRIES, { $cpus }>;
        }

        #[cfg(target_arch = "bpf")]
        impl<V, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            #[inline(always)]
            fn slot(&self, index: u32) -> *mut V {
                // SAFETY: `self` is a `#[map]` static whose key is a u32; the
                // helper returns null (index out of range) or a pointer to
                // the slot's `V`.
                unsafe {
                    crate::helpers::raw::map_lookup_elem(self.as_ptr(), (&index as *const u32).cast())
                }
                .cast()
            }
        }

        impl<V: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            /// A copy of slot `index`, or `None` past the end.
            #[inline(always)]
            ///
            /// The copy goes through the stack, which holds 512 bytes: for
            /// large values, update them in place instead (`add_at`,
            /// `lock`, or `with` on per-CPU maps). It does not compile for
            /// `SpinLocked` values, whose lock the verifier refuses to copy.
            pub fn get(&self, index: u32) -> Option<V> {
                let () = super::NoSpinLock::<V>::CHECK;
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(index);
                    // SAFETY: a non-null slot is valid for reading a `V: Pod`;
                    // volatile since other CPUs may write concurrently.
                    (!slot.is_null()).then(|| unsafe { core::ptr::read_volatile(slot) })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.get(index)
                }
            }

            /// Writes slot `index`.
            #[inline(always)]
            pub fn set(&self, index: u32, value: &V) -> Result<(), MapError> {
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: key and value point to a u32 and a `V`, the map's
                    // key and value types; the kernel copies them.
                    super::check(unsafe {
                        crate::helpers::raw::map_update_elem(
                            self.as_ptr(),
                            (&index as *const u32).cast(),
                            (value as *const V).cast(),
                            super::BPF_ANY,
                        )
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.set(index, value, super::BPF_ANY)
                }
            }
        }

        /// Inspection of the simulated map, for tests on the host.
        #[cfg(not(target_arch = "bpf"))]
        impl<V: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            /// Every simulated CPU's value of slot `index` (one for maps that
            /// are not per-CPU), or `None` past the end. Host only.
            pub fn get_all_cpus(&self, index: u32) -> Option<[V; $cpus]> {
                self.sim.get_all(index)
            }
        }

        impl<V: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            /// Atomically adds `delta` to the `u64` at byte `offset` of
            /// slot `index`'s value, in place (one `lock xadd`), and returns
            /// the new value; `None` past the end, or when `offset` is not a
            /// multiple of 8 or the `u64` would not fit in the value. Take
            /// the offset from `core::mem::offset_of!`:
            ///
            /// ```
            /// # use iu_ebpf::{Pod, map, maps::Array};
            /// #[derive(Clone, Copy, Pod)]
            /// #[repr(C)]
            /// struct Stats { packets: u64, bytes: u64, sizes: [u64; 64] }
            ///
            /// #[map]
            /// static STATS: Array<Stats, 1> = Array::new();
            ///
            /// let len = 1500u64;
            /// STATS.add_at_offset(0, core::mem::offset_of!(Stats, packets), 1);
            /// let bytes = STATS.add_at_offset(0, core::mem::offset_of!(Stats, bytes), len);
            /// let bucket = (len / 32).min(63) as usize;
            /// STATS.add_at_offset(0, core::mem::offset_of!(Stats, sizes) + 8 * bucket, 1);
            /// # assert_eq!(bytes, Some(1500));
            /// ```
            #[inline(always)]
            pub fn add_at_offset(&self, index: u32, offset: usize, delta: u64) -> Option<u64> {
                let () = super::NoSpinLock::<V>::CHECK;
                if offset % 8 != 0 || offset + 8 > core::mem::size_of::<V>() {
                    return None;
                }
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(index);
                    // SAFETY: a non-null slot is a live map value of
                    // `size_of::<V>()` bytes, 8-byte aligned as map values
                    // are; `offset` is a multiple of 8 with 8 bytes inside
                    // it, and any bytes are a valid `V: Pod`.
                    (!slot.is_null()).then(|| unsafe {
                        super::atomic_add(slot.cast::<u8>().add(offset).cast::<u64>(), delta)
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.update(index, |v| super::host_add_at(v, offset, delta))
                }
            }
        }

        impl<V: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            /// Lends slot `index`'s value in place to `f`, whose
            /// [`SharedValue`](super::SharedValue) adds to fields
            /// atomically (`v.add(field!(Stats, bytes), len)`); returns
            /// what `f` returns, or `None` past the end.
            ///
            /// ```
            /// use iu_ebpf::{Pod, field, map, maps::Array};
            ///
            /// #[derive(Clone, Copy, Pod)]
            /// #[repr(C)]
            /// struct Totals { packets: u64, bytes: u64, errors: u32, pad: u32 }
            ///
            /// #[map]
            /// static TOTALS: Array<Totals, 1> = Array::new();
            ///
            /// let packets = TOTALS.in_place(0, |v| {
            ///     v.add(field!(Totals, bytes), 1500);
            ///     v.add(field!(Totals, errors), 1u32);
            ///     v.fetch_add(field!(Totals, packets), 1) + 1
            /// });
            /// assert_eq!(packets, Some(1));
            /// ```
            #[inline(always)]
            pub fn in_place<R>(&self, index: u32, f: impl for<'v> FnOnce(super::SharedValue<'v, V>) -> R) -> Option<R> {
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(index);
                    // SAFETY: a non-null slot is a live map value of
                    // `size_of::<V>()` bytes, 8-byte aligned, that lives as
                    // long as the map; `f` cannot keep the `SharedValue`.
                    (!slot.is_null()).then(|| f(unsafe { super::SharedValue::new(slot) }))
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.update(index, |v| f(super::SharedValue::host(v)))
                }
            }
        }

        impl<const M: usize, const MAX_ENTRIES: usize, const FLAGS: usize> $name<[u64; M], MAX_ENTRIES, FLAGS> {
            /// Atomically adds `delta` to element `at` of slot `index`'s
            /// array of counters, in place (one `lock xadd`), and returns
            /// the new count; `None` past either end. A histogram:
            ///
            /// ```
            /// # use iu_ebpf::{map, maps::Array};
            /// #[map]
            /// static SIZES: Array<[u64; 64], 1> = Array::new();
            ///
            /// let len = 1500usize;
            /// let count = SIZES.add_at(0, (len / 32).min(63), 1);
            /// # assert_eq!(count, Some(1));
            /// ```
            #[inline(always)]
            pub fn add_at(&self, index: u32, at: usize, delta: u64) -> Option<u64> {
                if at >= M {
                    return None;
                }
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(index);
                    // SAFETY: a non-null slot is a live `[u64; M]` of map
                    // memory, 8-byte aligned, and `at < M`.
                    (!slot.is_null()).then(|| unsafe {
                        super::atomic_add(slot.cast::<u64>().add(at), delta)
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.update(index, |v| super::host_add(&mut v[at], delta))
                }
            }
        }

        impl<const MAX_ENTRIES: usize, const FLAGS: usize> $name<u64, MAX_ENTRIES, FLAGS> {
            /// Atomically adds `delta` to slot `index` and returns the new
            /// value, or `None` past the end.
            #[inline(always)]
            pub fn add(&self, index: u32, delta: u64) -> Option<u64> {
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(index);
                    // SAFETY: a non-null slot is a live, 8-byte aligned u64 that
                    // lives as long as the map.
                    (!slot.is_null()).then(|| unsafe { super::atomic_add(slot, delta) })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.update(index, |v| super::host_add(v, delta))
                }
            }
        }
    };
}

impl<T: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
    Array<super::SpinLocked<T>, MAX_ENTRIES, FLAGS>
{
    /// Locks slot `index` and returns a guard that gives exclusive access
    /// to its value until dropped, or `None` past the end.
    ///
    /// ```
    /// # use iu_ebpf::{Pod, map, maps::{Array, SpinLocked}};
    /// #[derive(Clone, Copy, Pod)]
    /// #[repr(C)]
    /// struct Stats { packets: u64, largest: u64 }
    ///
    /// #[map]
    /// static STATS: Array<SpinLocked<Stats>, 1> = Array::new();
    ///
    /// if let Some(mut stats) = STATS.lock(0) {
    ///     stats.packets += 1;
    ///     stats.largest = stats.largest.max(1500);
    /// } // unlocked here
    /// # assert_eq!(STATS.lock(0).unwrap().packets, 1);
    /// ```
    #[inline(always)]
    pub fn lock(&self, index: u32) -> Option<super::SpinGuard<'_, T>> {
        let () = super::SpinLocked::<T>::LAYOUT;
        #[cfg(target_arch = "bpf")]
        {
            let slot = self.slot(index);
            // SAFETY: a non-null slot is a live `SpinLocked<T>` that lives
            // as long as the map, and the guard cannot outlive `&self`.
            (!slot.is_null()).then(|| unsafe { super::SpinGuard::lock(slot) })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            super::spin_lock::host_lock_array(&self.sim, index)
        }
    }
}

macro_rules! per_cpu_with {
    ($name:ident) => {
        impl<T: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<super::PerCpuCell<T>, MAX_ENTRIES, FLAGS>
        {
            /// Runs `f` with exclusive access to this CPU's value of slot
            /// `index`, in place (no copy to the stack), and returns what
            /// it returns; `None` (without running `f`) past the end, or
            /// when a program this one interrupted on the same CPU holds
            /// the value. The context is borrowed so that `f` cannot make
            /// a tail call, and the `&mut T` cannot leave `f`.
            ///
            /// ```
            /// # use iu_ebpf::{Pod, map, maps::{PerCpuArray, PerCpuCell}, programs::XdpContext};
            /// #[derive(Clone, Copy, Pod)]
            /// #[repr(C)]
            /// struct Flow { packets: u64, sizes: [u64; 64] }
            ///
            /// #[map]
            /// static FLOWS: PerCpuArray<PerCpuCell<Flow>, 4> = PerCpuArray::new();
            ///
            /// # let ctx = XdpContext::from_packet(&[0; 64]);
            /// let packets = FLOWS.with(&ctx, 0, |flow| {
            ///     flow.packets += 1;
            ///     flow.sizes[ctx.len() / 32] += 1;
            ///     flow.packets
            /// });
            /// # assert_eq!(packets, Some(1));
            /// ```
            #[inline(always)]
            pub fn with<C: crate::programs::Context, R>(
                &self,
                ctx: &C,
                index: u32,
                f: impl FnOnce(&mut T) -> R,
            ) -> Option<R> {
                let () = super::PerCpuCell::<T>::LAYOUT;
                let _ = ctx;
                #[cfg(target_arch = "bpf")]
                {
                    let slot = self.slot(index);
                    if slot.is_null() {
                        return None;
                    }
                    // SAFETY: a non-null slot is this CPU's live
                    // `PerCpuCell<T>` of a per-CPU map; `LAYOUT` was
                    // evaluated above.
                    unsafe { super::per_cpu_cell::borrow(slot, f) }
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    let mut value = self.sim.update(index, |cell| cell.take())??;
                    let result = f(&mut value);
                    let _ = self.sim.update(index, |cell| cell.release(value));
                    Some(result)
                }
            }
        }
    };
}

per_cpu_with!(PerCpuArray);

array!(
    /// `BPF_MAP_TYPE_ARRAY`.
    ///
    /// ```ignore
    /// #[map]
    /// static TOTALS: Array<u64, 4> = Array::new();
    /// TOTALS.add(0, 1);
    /// ```
    Array,
    map_type::ARRAY,
    cpus = 1
);
array!(
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`: one copy of each slot per CPU; a
    /// program sees its CPU's copy.
    PerCpuArray,
    map_type::PERCPU_ARRAY,
    cpus = crate::sim::CPUS
);
