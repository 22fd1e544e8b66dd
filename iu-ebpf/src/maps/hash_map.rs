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
            ///
            /// The copy goes through the stack, which holds 512 bytes: for
            /// large values, update them in place instead (`add_at`,
            /// `lock`, or `with` on per-CPU maps). It does not compile for
            /// `SpinLocked` values, whose lock the verifier refuses to copy.
            #[inline(always)]
            pub fn get(&self, key: &K) -> Option<V> {
                let () = super::NoSpinLock::<V>::CHECK;
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

        impl<K: Pod, V: Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, V, MAX_ENTRIES, FLAGS>
        {
            /// A pointer to the value at `key`, or null.
            #[cfg(target_arch = "bpf")]
            #[inline(always)]
            fn value_ptr(&self, key: &K) -> *mut V {
                // SAFETY: `self` is a `#[map]` static with key type `K`; the
                // helper returns null or a pointer to the entry's `V`.
                unsafe {
                    crate::helpers::raw::map_lookup_elem(self.as_ptr(), (key as *const K).cast())
                }
                .cast()
            }

            /// Atomically adds `delta` to the `u64` at byte `offset` of the
            /// value at `key`, in place (one `lock xadd`), and returns the
            /// new value; `None` when `key` is absent, or when `offset` is
            /// not a multiple of 8 or the `u64` would not fit in the value.
            /// Take the offset from `core::mem::offset_of!` (see
            /// `Array::add_at_offset`).
            #[inline(always)]
            pub fn add_at_offset(&self, key: &K, offset: usize, delta: u64) -> Option<u64> {
                let () = super::NoSpinLock::<V>::CHECK;
                if offset % 8 != 0 || offset + 8 > core::mem::size_of::<V>() {
                    return None;
                }
                #[cfg(target_arch = "bpf")]
                {
                    let value = self.value_ptr(key);
                    // SAFETY: a non-null value is a live, 8-byte aligned
                    // map value of `size_of::<V>()` bytes (valid until the
                    // program ends, RCU); `offset` is a multiple of 8 with
                    // 8 bytes inside it, and any bytes are a valid `V: Pod`.
                    (!value.is_null()).then(|| unsafe {
                        super::atomic_add(value.cast::<u8>().add(offset).cast::<u64>(), delta)
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim
                        .update(key, false, $lru, |v| super::host_add_at(v, offset, delta))
                        .ok()
                        .map(|(sum, _, _)| sum)
                }
            }
        }

        impl<K: Pod, V: Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, V, MAX_ENTRIES, FLAGS>
        {
            /// Looks `key` up once and lends its value in place to `f`,
            /// whose [`SharedValue`](super::SharedValue) adds to fields
            /// atomically (`v.add(field!(Stats, bytes), len)`, C's
            /// `__sync_fetch_and_add(&v->bytes, len)`); returns what `f`
            /// returns, or `None` (without calling it) when `key` is
            /// absent. See [`field!`](crate::field) for an example.
            #[inline(always)]
            pub fn in_place<R>(&self, key: &K, f: impl for<'v> FnOnce(super::SharedValue<'v, V>) -> R) -> Option<R> {
                #[cfg(target_arch = "bpf")]
                {
                    let value = self.value_ptr(key);
                    // SAFETY: a non-null value is a live, 8-byte aligned
                    // map value of `size_of::<V>()` bytes, valid until the
                    // program ends (RCU) even if another CPU deletes the
                    // key; `f` cannot keep the `SharedValue`.
                    (!value.is_null()).then(|| f(unsafe { super::SharedValue::new(value) }))
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim
                        .update(key, false, $lru, |v| f(super::SharedValue::host(v)))
                        .ok()
                        .map(|(r, _, _)| r)
                }
            }

            /// Counts into the value at `key`, creating it: when `key` is
            /// present, `f` adds to its value in place (as `in_place`);
            /// when absent, `first` is inserted (`BPF_NOEXIST`), so it
            /// must already hold this call's counts; when another CPU
            /// created the key in between, `f` adds to theirs. The pattern
            /// of C counters (`lookup`, `__sync_fetch_and_add`, else
            /// `update(NOEXIST)`, retry on `EEXIST`). Errors: the map is
            /// full.
            ///
            /// ```
            /// use iu_ebpf::{Pod, field, map, maps::HashMap};
            ///
            /// #[derive(Clone, Copy, Pod)]
            /// #[repr(C)]
            /// struct Stats { packets: u64, bytes: u64 }
            ///
            /// #[map]
            /// static COUNTS: HashMap<u32, Stats, 1024> = HashMap::new();
            ///
            /// for len in [60u64, 1500] {
            ///     COUNTS.add_or_insert(&7, &Stats { packets: 1, bytes: len }, |v| {
            ///         v.add(field!(Stats, packets), 1);
            ///         v.add(field!(Stats, bytes), len);
            ///     }).unwrap();
            /// }
            /// assert_eq!(COUNTS.get(&7).map(|s| (s.packets, s.bytes)), Some((2, 1560)));
            /// ```
            #[inline(always)]
            pub fn add_or_insert(
                &self,
                key: &K,
                first: &V,
                mut f: impl for<'v> FnMut(super::SharedValue<'v, V>),
            ) -> Result<(), MapError> {
                if self.in_place(key, &mut f).is_some() {
                    return Ok(());
                }
                match self.insert(key, first, super::BPF_NOEXIST) {
                    // Another CPU created it first: add to theirs.
                    Err(MapError::EXISTS) => self.in_place(key, f).ok_or(MapError::NOT_FOUND),
                    other => other,
                }
            }
        }

        impl<K: Pod, const M: usize, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, [u64; M], MAX_ENTRIES, FLAGS>
        {
            /// Atomically adds `delta` to element `at` of the array of
            /// counters at `key`, in place (one `lock xadd`), and returns
            /// the new count; `None` when `key` is absent or `at >= M`.
            #[inline(always)]
            pub fn add_at(&self, key: &K, at: usize, delta: u64) -> Option<u64> {
                if at >= M {
                    return None;
                }
                #[cfg(target_arch = "bpf")]
                {
                    let value = self.value_ptr(key);
                    // SAFETY: a non-null value is a live, 8-byte aligned
                    // `[u64; M]` (valid until the program ends), `at < M`.
                    (!value.is_null()).then(|| unsafe {
                        super::atomic_add(value.cast::<u64>().add(at), delta)
                    })
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    self.sim
                        .update(key, false, $lru, |v| super::host_add(&mut v[at], delta))
                        .ok()
                        .map(|(sum, _, _)| sum)
                }
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

macro_rules! per_cpu_with {
    ($name:ident, lru = $lru:literal) => {
        impl<K: Pod, T: Pod, const MAX_ENTRIES: usize, const FLAGS: usize>
            $name<K, super::PerCpuCell<T>, MAX_ENTRIES, FLAGS>
        {
            /// Runs `f` with exclusive access to this CPU's value at `key`,
            /// in place (no copy to the stack), and returns what it
            /// returns; `None` (without running `f`) when `key` is absent,
            /// or when a program this one interrupted on the same CPU holds
            /// the value. Insert the key first (`insert` with
            /// `PerCpuCell::new`). As for `PerCpuArray::with`, the context
            /// is borrowed so that `f` cannot tail-call.
            #[inline(always)]
            pub fn with<C: crate::programs::Context, R>(
                &self,
                ctx: &C,
                key: &K,
                f: impl FnOnce(&mut T) -> R,
            ) -> Option<R> {
                let () = super::PerCpuCell::<T>::LAYOUT;
                let _ = ctx;
                #[cfg(target_arch = "bpf")]
                {
                    let value = self.value_ptr(key);
                    if value.is_null() {
                        return None;
                    }
                    // SAFETY: a non-null value is this CPU's live
                    // `PerCpuCell<T>` of a per-CPU map, valid until the
                    // program ends (RCU) even if the key is deleted;
                    // `LAYOUT` was evaluated above.
                    unsafe { super::per_cpu_cell::borrow(value, f) }
                }
                #[cfg(not(target_arch = "bpf"))]
                {
                    let (taken, _, _) =
                        self.sim.update(key, false, $lru, |cell| cell.take()).ok()?;
                    let mut value = taken?;
                    let result = f(&mut value);
                    let _ = self
                        .sim
                        .update(key, false, $lru, |cell| cell.release(value));
                    Some(result)
                }
            }
        }
    };
}

per_cpu_with!(PerCpuHashMap, lru = false);
per_cpu_with!(LruPerCpuHashMap, lru = true);

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
