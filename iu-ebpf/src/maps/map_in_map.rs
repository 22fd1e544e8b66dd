//! Maps of maps: `ArrayOfMaps` and `HashOfMaps`
//! (`BPF_MAP_TYPE_ARRAY_OF_MAPS`, `BPF_MAP_TYPE_HASH_OF_MAPS`, Linux 4.12).
//!
//! The inner map's definition is a type parameter: a map type of this
//! module (`Array<u64, 4>`, `HashMap<u32, Rule, 64>`, ...), which the
//! loader turns into the template every inner map must match (libbpf's
//! `__array(values, ...)` encoding: a zero-length array of pointers to the
//! inner definition, in a field named `values`). User space creates inner
//! maps from that template and inserts or replaces them (`iu::maps::
//! ArrayOfMaps::set`); a program looks one up and gets a `&Inner`, on
//! which every method of the inner map type works as on a `#[map]` static:
//!
//! ```
//! use iu_ebpf::{map, maps::{Array, ArrayOfMaps}};
//!
//! #[map]
//! static CONFIGS: ArrayOfMaps<Array<u64, 4>, 1> = ArrayOfMaps::new();
//!
//! fn threshold() -> u64 {
//!     // The config user space installed last; it may swap it at any time.
//!     CONFIGS.get(&0).and_then(|config| config.get(0)).unwrap_or(0)
//! }
//! # let _sim = iu_ebpf::sim::session();
//! # CONFIGS.host_insert(&0).unwrap().set(0, &7).unwrap();
//! # assert_eq!(threshold(), 7);
//! ```
//!
//! Why a `&Inner` is sound: the helper returns the kernel's `struct
//! bpf_map` of the inner map (the verifier types it as a map pointer, as it
//! does the address of a `#[map]` static), the definition's fields are never
//! read, only its address is given to helpers, and the kernel keeps the
//! inner map alive until the program returns even when user space replaces
//! it meanwhile (RCU). Programs cannot keep the reference past their run: a
//! program crate has no mutable statics, and map values are `Pod`, which
//! references are not.

use super::{Array, HashMap, LruHashMap, LruPerCpuHashMap, MapDef, PerCpuArray, PerCpuHashMap};
use crate::Pod;

/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
const ARRAY_OF_MAPS: usize = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
const HASH_OF_MAPS: usize = 13;

/// A map type that can be the inner map of an [`ArrayOfMaps`] or a
/// [`HashOfMaps`]: arrays and hash maps (plain, per-CPU, LRU). Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the inner map of a map of maps",
    label = "iu's maps of maps hold arrays and hash maps (`Array`, `PerCpuArray`, `HashMap`, `PerCpuHashMap`, `LruHashMap`, `LruPerCpuHashMap`)"
)]
pub trait InnerMap: MapDef {
    /// The definition, for the simulated inner maps on the host.
    #[doc(hidden)]
    const NEW: Self;
}

macro_rules! inner_map {
    ($($name:ident [$($k:ident)?]),* $(,)?) => {
        $(
            impl<$($k: Pod,)? V, const MAX_ENTRIES: usize, const FLAGS: usize> InnerMap
                for $name<$($k,)? V, MAX_ENTRIES, FLAGS>
            {
                const NEW: Self = Self::new();
            }
        )*
    };
}

inner_map!(
    Array[],
    PerCpuArray[],
    HashMap[K],
    PerCpuHashMap[K],
    LruHashMap[K],
    LruPerCpuHashMap[K],
);

macro_rules! map_of_maps {
    (
        $(#[$doc:meta])*
        $name:ident [$($k:ident)?], $ty:expr, key = $key:ty, key_field = $key_field:ident: $key_fty:ty,
        in_range = $in_range:expr
    ) => {
        $(#[$doc])*
        #[repr(C)]
        pub struct $name<$($k: Pod,)? I: InnerMap, const MAX_ENTRIES: usize, const FLAGS: usize = 0> {
            r#type: *const [i32; $ty],
            $key_field: *const $key_fty,
            max_entries: *const [i32; MAX_ENTRIES],
            map_flags: *const [i32; FLAGS],
            /// The inner map's template, as libbpf encodes it.
            values: [*const I; 0],
            #[cfg(not(target_arch = "bpf"))]
            sim: super::host::MapSlots<$key, I, MAX_ENTRIES>,
        }

        // SAFETY: the pointer fields are null pointers that only carry types
        // for BTF; nothing reads or writes through them. The host-only
        // `sim` storage holds inner map definitions (`Sync`) and a table
        // only reached under its own lock.
        unsafe impl<$($k: Pod,)? I: InnerMap, const MAX_ENTRIES: usize, const FLAGS: usize> Sync
            for $name<$($k,)? I, MAX_ENTRIES, FLAGS>
        {
        }

        impl<$($k: Pod,)? I: InnerMap, const MAX_ENTRIES: usize, const FLAGS: usize> super::sealed::Sealed
            for $name<$($k,)? I, MAX_ENTRIES, FLAGS>
        {
        }
        impl<$($k: Pod,)? I: InnerMap, const MAX_ENTRIES: usize, const FLAGS: usize> MapDef
            for $name<$($k,)? I, MAX_ENTRIES, FLAGS>
        {
        }

        impl<$($k: Pod,)? I: InnerMap, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<$($k,)? I, MAX_ENTRIES, FLAGS>
        {
            /// The definition; its parameters are in the type.
            #[allow(clippy::new_without_default)]
            pub const fn new() -> Self {
                Self {
                    r#type: core::ptr::null(),
                    $key_field: core::ptr::null(),
                    max_entries: core::ptr::null(),
                    map_flags: core::ptr::null(),
                    values: [],
                    #[cfg(not(target_arch = "bpf"))]
                    sim: super::host::MapSlots::new(),
                }
            }

            /// The inner map at `key`, or `None` when user space has not
            /// inserted one there. Its methods work as on a `#[map]`
            /// static; the kernel keeps it alive until this program
            /// returns, even if user space replaces it meanwhile.
            #[inline(always)]
            pub fn get(&self, key: &$key) -> Option<&I> {
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: `self` is a `#[map]` static whose key type is
                    // `$key`; the helper returns null or the inner map.
                    let inner = unsafe {
                        crate::helpers::raw::map_lookup_elem(
                            (self as *const Self).cast(),
                            (key as *const $key).cast(),
                        )
                    };
                    // SAFETY: a non-null result is the inner map's `struct
                    // bpf_map`, live until the program returns (RCU). `I`'s
                    // fields are never read: like a `#[map]` static, only
                    // its address reaches helpers, and the verifier checks
                    // that it is a map of the template's shape.
                    unsafe { inner.cast::<I>().cast_const().as_ref() }
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.get(key)
                }
            }
        }

        /// The simulated slots, for tests on the host (where no user space
        /// inserts inner maps).
        #[cfg(not(target_arch = "bpf"))]
        impl<$($k: Pod,)? I: InnerMap, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<$($k,)? I, MAX_ENTRIES, FLAGS>
        {
            /// Makes `key` hold an inner map, as user space's `set` or
            /// `insert` does, and returns it to fill; `None` when the map
            /// is full (or, for an array, `key` is past the end). Each slot
            /// has one simulated inner map, emptied only by `sim::reset`.
            /// Host only.
            pub fn host_insert(&self, key: &$key) -> Option<&I> {
                let in_range: fn(&$key) -> bool = $in_range;
                self.sim.insert(key, in_range(key))
            }

            /// Removes the inner map at `key`; whether there was one. Host
            /// only.
            pub fn host_remove(&self, key: &$key) -> bool {
                self.sim.remove(key)
            }
        }
    };
}

map_of_maps!(
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS` (Linux 4.12): `MAX_ENTRIES` slots,
    /// indexed by `u32`, each empty or holding a map of type `I` that user
    /// space inserted.
    ///
    /// ```
    /// use iu_ebpf::{map, maps::{Array, ArrayOfMaps}};
    ///
    /// #[map]
    /// static TABLES: ArrayOfMaps<Array<u64, 16>, 4> = ArrayOfMaps::new();
    ///
    /// fn count(table: u32, slot: u32) -> Option<u64> {
    ///     TABLES.get(&table)?.add(slot, 1)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # assert_eq!(count(1, 3), None);
    /// # TABLES.host_insert(&1).unwrap();
    /// # assert_eq!(count(1, 3), Some(1));
    /// ```
    ArrayOfMaps[], ARRAY_OF_MAPS, key = u32, key_field = key_size: [i32; 4],
    in_range = |index| (*index as usize) < MAX_ENTRIES
);

map_of_maps!(
    /// `BPF_MAP_TYPE_HASH_OF_MAPS` (Linux 4.12): up to `MAX_ENTRIES`
    /// keys of type `K`, each holding a map of type `I` that user space
    /// inserted.
    ///
    /// ```
    /// use iu_ebpf::{map, maps::{HashMap, HashOfMaps}};
    ///
    /// #[map]
    /// static PER_TENANT: HashOfMaps<u32, HashMap<u32, u64, 64>, 16> = HashOfMaps::new();
    ///
    /// fn limit(tenant: u32, port: u32) -> Option<u64> {
    ///     PER_TENANT.get(&tenant)?.get(&port)
    /// }
    /// # let _sim = iu_ebpf::sim::session();
    /// # PER_TENANT.host_insert(&7).unwrap().insert(&80, &100, 0).unwrap();
    /// # assert_eq!(limit(7, 80), Some(100));
    /// # assert_eq!(limit(8, 80), None);
    /// ```
    HashOfMaps[K], HASH_OF_MAPS, key = K, key_field = key: K,
    in_range = |_| true
);
