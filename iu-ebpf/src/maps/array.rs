//! Arrays: `Array` and `PerCpuArray`, indexed by `u32` from 0 to
//! `MAX_ENTRIES - 1`, every slot present and zeroed at creation.

#[cfg(target_arch = "bpf")]
use super::MapError;
use super::{map_def, map_type};

macro_rules! array {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        map_def! {
            $(#[$doc])*
            pub struct $name<V; MAX_ENTRIES, FLAGS = 0> {
                r#type: [i32; $ty],
                key: u32,
                value: V,
                max_entries: [i32; MAX_ENTRIES],
                map_flags: [i32; FLAGS],
            }
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

        #[cfg(target_arch = "bpf")]
        impl<V: crate::Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<V, MAX_ENTRIES, FLAGS> {
            /// A copy of slot `index`, or `None` past the end.
            #[inline(always)]
            pub fn get(&self, index: u32) -> Option<V> {
                let slot = self.slot(index);
                // SAFETY: a non-null slot is valid for reading a `V: Pod`;
                // volatile since other CPUs may write concurrently.
                (!slot.is_null()).then(|| unsafe { core::ptr::read_volatile(slot) })
            }

            /// Writes slot `index`.
            #[inline(always)]
            pub fn set(&self, index: u32, value: &V) -> Result<(), MapError> {
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
        }

        #[cfg(target_arch = "bpf")]
        impl<const MAX_ENTRIES: usize, const FLAGS: usize> $name<u64, MAX_ENTRIES, FLAGS> {
            /// Atomically adds `delta` to slot `index` and returns the new
            /// value, or `None` past the end.
            #[inline(always)]
            pub fn add(&self, index: u32, delta: u64) -> Option<u64> {
                let slot = self.slot(index);
                // SAFETY: a non-null slot is a live, 8-byte aligned u64 that
                // lives as long as the map.
                (!slot.is_null()).then(|| unsafe { super::atomic_add(slot, delta) })
            }
        }
    };
}

array!(
    /// `BPF_MAP_TYPE_ARRAY`.
    ///
    /// ```ignore
    /// #[map]
    /// static TOTALS: Array<u64, 4> = Array::new();
    /// TOTALS.add(0, 1);
    /// ```
    Array,
    map_type::ARRAY
);
array!(
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`: one copy of each slot per CPU; a
    /// program sees its CPU's copy.
    PerCpuArray,
    map_type::PERCPU_ARRAY
);
