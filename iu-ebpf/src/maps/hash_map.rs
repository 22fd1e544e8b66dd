//! Hash maps: `HashMap`, `LruHashMap`, `PerCpuHashMap`, `LruPerCpuHashMap`.

use super::MapError;
use super::{map_def, map_type};
use crate::Pod;

macro_rules! hash_map {
    ($(#[$doc:meta])* $name:ident, $ty:expr, lru = $lru:literal, cpus = $cpus:expr) => {
        map_def! {
            $(#[$doc])*
            pub struct $name<K: Pod, V; MAX_ENTRIES, FLAGS = 0> {
                r#type: [i32; $ty],
                key: K,
                value: V,
                max_entries: [i32; MAX_ENTRIES],
                map_flags: [i32; FLAGS],
            }
            host: super::host::Hash<K, V, MAX_ENTRIES, { $cpus }>;
        }

        impl<K: Pod, V: Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, V, MAX_ENTRIES, FLAGS>
        {
            /// A copy of the value at `key`.
            #[inline(always)]
            pub fn get(&self, key: &K) -> Option<V> {
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: `self` is a `#[map]` static with key type `K`,
                    // and the helper returns null or a pointer to a value of
                    // the map's value size, that is a `V`.
                    let value = unsafe {
                        crate::helpers::raw::map_lookup_elem(self.as_ptr(), (key as *const K).cast())
                    };
                    // SAFETY: a non-null value pointer is valid for reading a
                    // `V` (any bit pattern is a valid `V: Pod`). The read is
                    // volatile because other CPUs may write concurrently.
                    (!value.is_null()).then(|| unsafe { core::ptr::read_volatile(value.cast::<V>()) })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.get(key)
                }
            }

            /// Inserts or updates `key` with `flags` (`BPF_ANY`,
            /// `BPF_NOEXIST`, `BPF_EXIST`).
            #[inline(always)]
            pub fn insert(&self, key: &K, value: &V, flags: u64) -> Result<(), MapError> {
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: key and value point to a `K` and a `V`, the
                    // map's key and value types; the kernel copies them.
                    super::check(unsafe {
                        crate::helpers::raw::map_update_elem(
                            self.as_ptr(),
                            (key as *const K).cast(),
                            (value as *const V).cast(),
                            flags,
                        )
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.insert(key, value, flags, $lru)
                }
            }

            /// Removes `key`.
            #[inline(always)]
            pub fn remove(&self, key: &K) -> Result<(), MapError> {
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: key points to a `K`, the map's key type.
                    super::check(unsafe {
                        crate::helpers::raw::map_delete_elem(self.as_ptr(), (key as *const K).cast())
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim.remove(key)
                }
            }
        }

        /// Inspection of the simulated map, for tests on the host.
        #[cfg(not(target_arch = "bpf"))]
        impl<K: Pod, V: Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, V, MAX_ENTRIES, FLAGS>
        {
            /// Calls `f` with every key and its value (the current simulated
            /// CPU's, for per-CPU maps). Host only.
            pub fn for_each(&self, f: impl FnMut(&K, &V)) {
                self.sim.for_each(f)
            }

            /// Every simulated CPU's value at `key` (one for maps that are
            /// not per-CPU). Host only.
            pub fn get_all_cpus(&self, key: &K) -> Option<[V; $cpus]> {
                self.sim.get_all(key)
            }
        }

        impl<K: Pod, T: Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, super::SpinLocked<T>, MAX_ENTRIES, FLAGS>
        {
            /// Locks the value at `key` and returns a guard that gives
            /// exclusive access to it until dropped.
            #[inline(always)]
            pub fn lock(&self, key: &K) -> Option<super::SpinGuard<'_, T>> {
                let () = super::SpinLocked::<T>::LAYOUT;
                #[cfg(target_arch = "bpf")]
                {
                    // SAFETY: `self` is a `#[map]` static with key type `K`; the
                    // helper returns null or a pointer to the entry's value.
                    let value = unsafe {
                        crate::helpers::raw::map_lookup_elem(self.as_ptr(), (key as *const K).cast())
                    };
                    // SAFETY: a non-null value is a live `SpinLocked<T>` that
                    // stays valid until the program ends (RCU), and the guard
                    // cannot outlive `&self`'s run.
                    (!value.is_null()).then(|| unsafe { super::SpinGuard::lock(value.cast()) })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    super::spin_lock::host_lock(&self.sim, key)
                }
            }
        }

        impl<K: Pod, const MAX_ENTRIES: usize, const FLAGS: usize> $name<K, u64, MAX_ENTRIES, FLAGS> {
            /// Atomically adds `delta` to the counter at `key`, creating it
            /// at `delta` if it does not exist. Returns the new value, or an
            /// error when the map is full.
            #[inline(always)]
            pub fn add(&self, key: &K, delta: u64) -> Result<u64, MapError> {
                #[cfg(target_arch = "bpf")]
                {
                    if let Some(sum) = self.add_existing(key, delta) {
                        return Ok(sum);
                    }
                    match self.insert(key, &delta, super::BPF_NOEXIST) {
                        Ok(()) => Ok(delta),
                        // Another CPU created it first: add to theirs.
                        Err(MapError::EXISTS) => self.add_existing(key, delta).ok_or(MapError::NOT_FOUND),
                        Err(e) => Err(e),
                    }
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim
                        .update(key, true, $lru, |v| super::host_add(v, delta))
                        .map(|(sum, _, _)| sum)
                }
            }

            #[cfg(target_arch = "bpf")]
            #[inline(always)]
            fn add_existing(&self, key: &K, delta: u64) -> Option<u64> {
                // SAFETY: `self` is a `#[map]` static with key type `K`; the
                // helper returns null or a pointer to the entry's u64.
                let value = unsafe {
                    crate::helpers::raw::map_lookup_elem(self.as_ptr(), (key as *const K).cast())
                };
                // SAFETY: a non-null value is a live, 8-byte aligned u64
                // (map values are 8-byte aligned). A concurrently deleted
                // entry stays valid until the program ends (RCU).
                (!value.is_null()).then(|| unsafe { super::atomic_add(value.cast(), delta) })
            }
        }
    };
}

hash_map!(
    /// `BPF_MAP_TYPE_HASH`: up to `MAX_ENTRIES` keys; inserts fail when full.
    ///
    /// ```ignore
    /// #[map]
    /// static COUNTS: HashMap<u32, u64, 1024> = HashMap::new();
    /// COUNTS.add(&pid, 1).ok();
    /// ```
    HashMap,
    map_type::HASH,
    lru = false,
    cpus = 1
);
hash_map!(
    /// `BPF_MAP_TYPE_LRU_HASH`: evicts the least recently used key when full.
    LruHashMap,
    map_type::LRU_HASH,
    lru = true,
    cpus = 1
);
hash_map!(
    /// `BPF_MAP_TYPE_PERCPU_HASH`: one value per CPU for each key; a program
    /// sees its CPU's value. User space reads all of them.
    PerCpuHashMap,
    map_type::PERCPU_HASH,
    lru = false,
    cpus = crate::sim::CPUS
);
hash_map!(
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`: per-CPU values with LRU eviction.
    LruPerCpuHashMap,
    map_type::LRU_PERCPU_HASH,
    lru = true,
    cpus = crate::sim::CPUS
);
