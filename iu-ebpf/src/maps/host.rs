//! The host backend of the map types: in-memory storage with the kernel's
//! semantics, for unit tests of program logic (`cfg(not(target_arch =
//! "bpf"))` only; nothing here exists in BPF objects).
//!
//! Every map static carries one of these as a host-only field. Each is a
//! fixed-size table sized by the map's const parameters, so that map statics
//! stay `const`-constructible with neither `std` nor an allocator: the table
//! starts as all-zero bytes (it lands in `.bss`), and all-zero is a valid,
//! empty table. Every access takes the table's spin lock, so maps may be
//! used from concurrently running tests (see [`crate::sim`] for what that
//! means for test isolation).
//!
//! Semantics follow the kernel (`kernel/bpf/hashtab.c`, `arraymap.c`,
//! `queue_stack_maps.c`, `lpm_trie.c`, `bloom_filter.c`, `ringbuf.c`).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use super::{BPF_EXIST, BPF_NOEXIST, MapError};
use crate::Pod;

/// `BPF_F_LOCK`: accepted (and ignored) by hash and array updates.
const BPF_F_LOCK: u64 = 4;

/// `-EINVAL`.
pub(crate) const EINVAL: MapError = MapError(-22);
/// `-ENOSPC`: the LPM trie is full; the perf buffer is full.
pub(crate) const ENOSPC: MapError = MapError(-28);
/// `-EFAULT`: no stack to record (the host has no kernel stack).
pub(crate) const EFAULT: MapError = MapError(-14);

/// Tables whose all-zero bytes are a valid, empty value.
///
/// # Safety
///
/// Every field must be valid when all its bytes are zero (integers, `bool`,
/// arrays of `Pod`).
pub(crate) unsafe trait Zeroable {}

/// A table behind a spin lock, reset lazily by [`crate::sim::reset`].
pub(crate) struct Locked<T> {
    lock: AtomicBool,
    /// The `sim` epoch the table was last reset in; guarded by `lock`.
    epoch: UnsafeCell<u64>,
    /// Guarded by `lock`; all-zero at creation and after each reset.
    table: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: `epoch` and `table` are only touched while `lock` is held (see
// `with`), so sharing a `Locked` between threads hands out at most one
// `&mut T` at a time; `T: Send` lets that access move between threads.
unsafe impl<T: Send> Sync for Locked<T> {}

/// Releases the lock when dropped, also on unwinding.
struct Unlock<'a>(&'a AtomicBool);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<T> Locked<T> {
    pub(crate) const fn new() -> Self {
        Self {
            lock: AtomicBool::new(false),
            epoch: UnsafeCell::new(0),
            table: UnsafeCell::new(MaybeUninit::zeroed()),
        }
    }
}

impl<T: Zeroable> Locked<T> {
    /// Runs `f` on the table, under the lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let _unlock = Unlock(&self.lock);
        let epoch = crate::sim::epoch();
        // SAFETY: the lock is held until `_unlock` drops, so this is the only
        // access to `epoch` and `table`. `T: Zeroable` is valid when all-zero,
        // which it is at creation (`MaybeUninit::zeroed`) and after the
        // `write_bytes` below; every later write goes through `&mut T`, so it
        // stays a valid `T`.
        unsafe {
            if *self.epoch.get() != epoch {
                core::ptr::write_bytes(self.table.get(), 0, 1);
                *self.epoch.get() = epoch;
            }
            f((*self.table.get()).assume_init_mut())
        }
    }
}

/// Compares two keys byte by byte (`Pod` keys have no padding).
fn same<K: Pod>(a: &K, b: &K) -> bool {
    a.as_bytes() == b.as_bytes()
}

/// Checks update flags the way `check_flags` in `hashtab.c` does.
fn check_flags(flags: u64) -> Result<u64, MapError> {
    let flags = flags & !BPF_F_LOCK;
    if flags > BPF_EXIST {
        Err(EINVAL)
    } else {
        Ok(flags)
    }
}

/// The simulated CPU's slot among `C` per-CPU copies (0 when `C` is 1).
fn cpu_slot<const C: usize>() -> usize {
    if C == 1 { 0 } else { crate::sim::cpu_index() }
}

/// Hash maps (plain, LRU, per-CPU): `N` slots of a key and `C` values (one
/// per simulated CPU for per-CPU maps, else one).
pub(crate) struct Hash<K, V, const N: usize, const C: usize> {
    inner: Locked<HashTable<K, V, N, C>>,
}

pub(crate) struct HashTable<K, V, const N: usize, const C: usize> {
    count: usize,
    /// Slots at and past `high` are free.
    high: usize,
    /// Use counter, for LRU order and slot generations.
    clock: u64,
    /// 0: free; otherwise the clock value of the slot's last use.
    used: [u64; N],
    /// The clock value when the slot's key was inserted.
    generation: [u64; N],
    keys: [K; N],
    values: [[V; C]; N],
}

// SAFETY: integers and arrays of `Pod` keys and values are valid all-zero.
unsafe impl<K: Pod, V: Pod, const N: usize, const C: usize> Zeroable for HashTable<K, V, N, C> {}

impl<K, V, const N: usize, const C: usize> Hash<K, V, N, C> {
    pub(crate) const fn new() -> Self {
        Self {
            inner: Locked::new(),
        }
    }
}

impl<K: Pod, V: Pod, const N: usize, const C: usize> HashTable<K, V, N, C> {
    fn find(&self, key: &K) -> Option<usize> {
        (0..self.high).find(|&i| self.used[i] != 0 && same(&self.keys[i], key))
    }

    fn touch(&mut self, slot: usize) {
        self.clock += 1;
        self.used[slot] = self.clock;
    }

    fn free(&mut self, slot: usize) {
        self.used[slot] = 0;
        self.count -= 1;
        while self.high > 0 && self.used[self.high - 1] == 0 {
            self.high -= 1;
        }
    }

    /// A new slot for `key`, evicting the least recently used key of an LRU
    /// map when full.
    fn allocate(&mut self, key: &K, lru: bool) -> Result<usize, MapError> {
        if self.count >= N {
            if !lru || N == 0 {
                return Err(MapError::FULL);
            }
            let oldest = (0..self.high)
                .filter(|&i| self.used[i] != 0)
                .min_by_key(|&i| self.used[i])
                .ok_or(MapError::FULL)?;
            self.free(oldest);
        }
        let slot = (0..N).find(|&i| self.used[i] == 0).ok_or(MapError::FULL)?;
        self.count += 1;
        self.high = self.high.max(slot + 1);
        self.keys[slot] = *key;
        self.values[slot] = [V::zeroed(); C];
        self.touch(slot);
        self.generation[slot] = self.clock;
        Ok(slot)
    }
}

impl<K: Pod, V: Pod, const N: usize, const C: usize> Hash<K, V, N, C> {
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.inner.with(|t| {
            let slot = t.find(key)?;
            t.touch(slot);
            Some(t.values[slot][cpu_slot::<C>()])
        })
    }

    /// `bpf_map_update_elem` from a program: per-CPU maps set the current
    /// CPU's value (a new key starts at zero on the others).
    pub(crate) fn insert(&self, key: &K, value: &V, flags: u64, lru: bool) -> Result<(), MapError> {
        let flags = check_flags(flags)?;
        self.inner.with(|t| {
            let slot = match t.find(key) {
                Some(_) if flags == BPF_NOEXIST => return Err(MapError::EXISTS),
                Some(slot) => slot,
                None if flags == BPF_EXIST => return Err(MapError::NOT_FOUND),
                None => t.allocate(key, lru)?,
            };
            t.touch(slot);
            t.values[slot][cpu_slot::<C>()] = *value;
            Ok(())
        })
    }

    pub(crate) fn remove(&self, key: &K) -> Result<(), MapError> {
        self.inner.with(|t| {
            let slot = t.find(key).ok_or(MapError::NOT_FOUND)?;
            t.free(slot);
            Ok(())
        })
    }

    /// Runs `f` on the current CPU's value at `key`, creating it (zeroed)
    /// when `create` is set; returns `f`'s result and the slot's position
    /// and generation.
    pub(crate) fn update<R>(
        &self,
        key: &K,
        create: bool,
        lru: bool,
        f: impl FnOnce(&mut V) -> R,
    ) -> Result<(R, usize, u64), MapError> {
        self.inner.with(|t| {
            let slot = match t.find(key) {
                Some(slot) => slot,
                None if create => t.allocate(key, lru)?,
                None => return Err(MapError::NOT_FOUND),
            };
            t.touch(slot);
            let r = f(&mut t.values[slot][cpu_slot::<C>()]);
            Ok((r, slot, t.generation[slot]))
        })
    }

    /// Runs `f` on the value of `slot` if it still holds the key it held at
    /// `generation`.
    pub(crate) fn update_slot(
        &self,
        slot: usize,
        generation: u64,
        cpu: usize,
        f: impl FnOnce(&mut V),
    ) {
        self.inner.with(|t| {
            if slot < N && t.used[slot] != 0 && t.generation[slot] == generation {
                f(&mut t.values[slot][cpu]);
            }
        });
    }

    /// Every key and the current CPU's value, for tests: calls `f` on each.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        self.inner.with(|t| {
            for i in 0..t.high {
                if t.used[i] != 0 {
                    f(&t.keys[i], &t.values[i][cpu_slot::<C>()]);
                }
            }
        });
    }

    /// Every CPU's value at `key`, for tests of per-CPU maps.
    pub(crate) fn get_all(&self, key: &K) -> Option<[V; C]> {
        self.inner.with(|t| t.find(key).map(|slot| t.values[slot]))
    }
}

/// Arrays (plain and per-CPU): `N` zeroed slots of `C` values.
pub(crate) struct Array<V, const N: usize, const C: usize> {
    inner: Locked<ArrayTable<V, N, C>>,
}

pub(crate) struct ArrayTable<V, const N: usize, const C: usize> {
    values: [[V; C]; N],
}

// SAFETY: an array of `Pod` values is valid all-zero.
unsafe impl<V: Pod, const N: usize, const C: usize> Zeroable for ArrayTable<V, N, C> {}

impl<V, const N: usize, const C: usize> Array<V, N, C> {
    pub(crate) const fn new() -> Self {
        Self {
            inner: Locked::new(),
        }
    }
}

impl<V: Pod, const N: usize, const C: usize> Array<V, N, C> {
    pub(crate) fn get(&self, index: u32) -> Option<V> {
        let index = index as usize;
        self.inner
            .with(|t| t.values.get(index).map(|v| v[cpu_slot::<C>()]))
    }

    /// `array_map_update_elem`: every slot exists, so `BPF_NOEXIST` fails.
    pub(crate) fn set(&self, index: u32, value: &V, flags: u64) -> Result<(), MapError> {
        let flags = check_flags(flags)?;
        let index = index as usize;
        if index >= N {
            return Err(MapError::FULL);
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::EXISTS);
        }
        self.inner
            .with(|t| t.values[index][cpu_slot::<C>()] = *value);
        Ok(())
    }

    pub(crate) fn update<R>(&self, index: u32, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let index = index as usize;
        self.inner
            .with(|t| t.values.get_mut(index).map(|v| f(&mut v[cpu_slot::<C>()])))
    }

    pub(crate) fn get_all(&self, index: u32) -> Option<[V; C]> {
        self.inner.with(|t| t.values.get(index as usize).copied())
    }
}

/// Queues and stacks: a ring of `N` values.
pub(crate) struct PushPop<V, const N: usize> {
    inner: Locked<PushPopTable<V, N>>,
}

pub(crate) struct PushPopTable<V, const N: usize> {
    /// Index of the oldest value.
    head: usize,
    len: usize,
    values: [V; N],
}

// SAFETY: integers and an array of `Pod` values are valid all-zero.
unsafe impl<V: Pod, const N: usize> Zeroable for PushPopTable<V, N> {}

impl<V, const N: usize> PushPop<V, N> {
    pub(crate) const fn new() -> Self {
        Self {
            inner: Locked::new(),
        }
    }
}

impl<V: Pod, const N: usize> PushPop<V, N> {
    /// `queue_stack_map_push_elem`: a full map refuses the value, unless
    /// `BPF_EXIST` asks to drop the oldest one.
    pub(crate) fn push(&self, value: &V, flags: u64) -> Result<(), MapError> {
        if flags & !BPF_EXIST != 0 {
            return Err(EINVAL);
        }
        self.inner.with(|t| {
            if N == 0 {
                return Err(MapError::FULL);
            }
            if t.len == N {
                if flags != BPF_EXIST {
                    return Err(MapError::FULL);
                }
                t.head = (t.head + 1) % N;
                t.len -= 1;
            }
            t.values[(t.head + t.len) % N] = *value;
            t.len += 1;
            Ok(())
        })
    }

    /// The oldest (`lifo == false`) or newest value, removed if `remove`.
    pub(crate) fn take(&self, lifo: bool, remove: bool) -> Option<V> {
        self.inner.with(|t| {
            if t.len == 0 {
                return None;
            }
            let at = if lifo {
                (t.head + t.len - 1) % N
            } else {
                t.head
            };
            let value = t.values[at];
            if remove {
                if !lifo {
                    t.head = (t.head + 1) % N;
                }
                t.len -= 1;
            }
            Some(value)
        })
    }
}

/// LPM tries: up to `N` prefixes, matched by longest prefix.
pub(crate) struct Lpm<K, V, const N: usize> {
    inner: Locked<LpmTable<K, V, N>>,
}

pub(crate) struct LpmTable<K, V, const N: usize> {
    len: usize,
    prefix_lens: [u32; N],
    keys: [K; N],
    values: [V; N],
}

// SAFETY: integers and arrays of `Pod` keys and values are valid all-zero.
unsafe impl<K: Pod, V: Pod, const N: usize> Zeroable for LpmTable<K, V, N> {}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let bytes = bits as usize / 8;
    let rest = bits % 8;
    if a[..bytes] != b[..bytes] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[bytes] & mask == b[bytes] & mask
    }
}

impl<K, V, const N: usize> Lpm<K, V, N> {
    pub(crate) const fn new() -> Self {
        Self {
            inner: Locked::new(),
        }
    }
}

impl<K: Pod, V: Pod, const N: usize> Lpm<K, V, N> {
    const BITS: u32 = (core::mem::size_of::<K>() * 8) as u32;

    /// The value of the longest stored prefix that matches the first
    /// `prefix_len` bits of `data`.
    pub(crate) fn get(&self, prefix_len: u32, data: &K) -> Option<V> {
        let prefix_len = prefix_len.min(Self::BITS);
        self.inner.with(|t| {
            (0..t.len)
                .filter(|&i| {
                    t.prefix_lens[i] <= prefix_len
                        && prefix_eq(t.keys[i].as_bytes(), data.as_bytes(), t.prefix_lens[i])
                })
                .max_by_key(|&i| t.prefix_lens[i])
                .map(|i| t.values[i])
        })
    }

    fn find(t: &LpmTable<K, V, N>, prefix_len: u32, data: &K) -> Option<usize> {
        (0..t.len).find(|&i| {
            t.prefix_lens[i] == prefix_len
                && prefix_eq(t.keys[i].as_bytes(), data.as_bytes(), prefix_len)
        })
    }

    /// `trie_update_elem`: `-EINVAL` for a prefix longer than the key,
    /// `-ENOSPC` when full.
    pub(crate) fn insert(
        &self,
        prefix_len: u32,
        data: &K,
        value: &V,
        flags: u64,
    ) -> Result<(), MapError> {
        let flags = check_flags(flags)?;
        if prefix_len > Self::BITS {
            return Err(EINVAL);
        }
        self.inner.with(|t| {
            let slot = match Self::find(t, prefix_len, data) {
                Some(_) if flags == BPF_NOEXIST => return Err(MapError::EXISTS),
                Some(slot) => slot,
                None if flags == BPF_EXIST => return Err(MapError::NOT_FOUND),
                None if t.len >= N => return Err(ENOSPC),
                None => {
                    t.len += 1;
                    t.len - 1
                }
            };
            t.prefix_lens[slot] = prefix_len;
            t.keys[slot] = *data;
            t.values[slot] = *value;
            Ok(())
        })
    }

    pub(crate) fn remove(&self, prefix_len: u32, data: &K) -> Result<(), MapError> {
        if prefix_len > Self::BITS {
            return Err(EINVAL);
        }
        self.inner.with(|t| {
            let slot = Self::find(t, prefix_len, data).ok_or(MapError::NOT_FOUND)?;
            let last = t.len - 1;
            t.prefix_lens[slot] = t.prefix_lens[last];
            t.keys[slot] = t.keys[last];
            t.values[slot] = t.values[last];
            t.len = last;
            Ok(())
        })
    }
}

/// Bloom filters: the exact set of the first `N` values added; past that,
/// every query answers "maybe" (false positives, never false negatives).
pub(crate) struct Bloom<V, const N: usize> {
    inner: Locked<BloomTable<V, N>>,
}

pub(crate) struct BloomTable<V, const N: usize> {
    len: usize,
    saturated: bool,
    values: [V; N],
}

// SAFETY: an integer, `false` and an array of `Pod` values are valid
// all-zero.
unsafe impl<V: Pod, const N: usize> Zeroable for BloomTable<V, N> {}

impl<V, const N: usize> Bloom<V, N> {
    pub(crate) const fn new() -> Self {
        Self {
            inner: Locked::new(),
        }
    }
}

impl<V: Pod, const N: usize> Bloom<V, N> {
    /// `bloom_map_push_elem`: only `BPF_ANY` is accepted.
    pub(crate) fn insert(&self, value: &V, flags: u64) -> Result<(), MapError> {
        if flags != 0 {
            return Err(EINVAL);
        }
        self.inner.with(|t| {
            if (0..t.len).any(|i| same(&t.values[i], value)) {
                return;
            }
            if t.len < N {
                t.values[t.len] = *value;
                t.len += 1;
            } else {
                t.saturated = true;
            }
        });
        Ok(())
    }

    pub(crate) fn contains(&self, value: &V) -> bool {
        self.inner
            .with(|t| t.saturated || (0..t.len).any(|i| same(&t.values[i], value)))
    }
}

/// Ring buffers and perf buffers: records of bytes in a ring of `B` bytes,
/// each behind an 8-byte header (length, CPU), padded to 8 bytes as in the
/// kernel's ring buffer.
pub(crate) struct Records<const B: usize> {
    inner: Locked<RecordTable<B>>,
}

pub(crate) struct RecordTable<const B: usize> {
    /// Offset of the oldest record.
    head: usize,
    /// Bytes in use by submitted records.
    len: usize,
    /// Bytes reserved but not yet submitted.
    reserved: usize,
    bytes: [u8; B],
}

// SAFETY: integers and a byte array are valid all-zero.
unsafe impl<const B: usize> Zeroable for RecordTable<B> {}

/// Bytes a record of `len` bytes takes, header included.
pub(crate) const fn record_size(len: usize) -> usize {
    8 + len.div_ceil(8) * 8
}

impl<const B: usize> RecordTable<B> {
    fn put(&mut self, at: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            self.bytes[(at + i) % B] = b;
        }
    }

    fn fetch(&self, at: usize, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.bytes[(at + i) % B];
        }
    }
}

/// Gives back a ring-buffer reservation (object-safe, so that an entry
/// need not carry the ring's size).
pub(crate) trait Reservations: Sync {
    fn release(&self, len: usize, cpu: u32, data: Option<&[u8]>);
}

impl<const B: usize> Reservations for Records<B> {
    fn release(&self, len: usize, cpu: u32, data: Option<&[u8]>) {
        Records::release(self, len, cpu, data);
    }
}

impl<const B: usize> Records<B> {
    pub(crate) const fn new() -> Self {
        Self {
            inner: Locked::new(),
        }
    }

    /// Sets aside room for a record of `len` bytes; `false` when the ring
    /// has no room (the kernel's `bpf_ringbuf_reserve` returns NULL).
    pub(crate) fn reserve(&self, len: usize) -> bool {
        let size = record_size(len);
        self.inner.with(|t| {
            if t.len + t.reserved + size > B {
                return false;
            }
            t.reserved += size;
            true
        })
    }

    /// Gives back a reservation, writing the record first if `data` is
    /// given (submit) and dropping it otherwise (discard).
    pub(crate) fn release(&self, len: usize, cpu: u32, data: Option<&[u8]>) {
        let size = record_size(len);
        self.inner.with(|t| {
            t.reserved -= size;
            if let Some(data) = data {
                Self::append(t, cpu, data);
            }
        });
    }

    fn append(t: &mut RecordTable<B>, cpu: u32, data: &[u8]) {
        let at = (t.head + t.len) % B;
        t.put(at, &(data.len() as u32).to_le_bytes());
        t.put(at + 4, &cpu.to_le_bytes());
        t.put(at + 8, data);
        t.len += record_size(data.len());
    }

    /// Appends a record in one step; `false` when it does not fit.
    pub(crate) fn output(&self, cpu: u32, data: &[u8]) -> bool {
        let size = record_size(data.len());
        self.inner.with(|t| {
            if t.len + t.reserved + size > B {
                return false;
            }
            Self::append(t, cpu, data);
            true
        })
    }

    /// Removes the oldest record, copying up to `out.len()` bytes of it;
    /// returns its full length and the CPU that wrote it.
    pub(crate) fn take(&self, out: &mut [u8]) -> Option<(usize, u32)> {
        self.inner.with(|t| {
            if t.len == 0 {
                return None;
            }
            let mut header = [0u8; 8];
            t.fetch(t.head, &mut header);
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let cpu = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let n = len.min(out.len());
            t.fetch(t.head + 8, &mut out[..n]);
            let size = record_size(len);
            t.head = (t.head + size) % B;
            t.len -= size;
            Some((len, cpu))
        })
    }
}

/// Maps of maps: up to `N` keys, each holding one of `N` simulated inner
/// maps (slot `i`'s key is `keys[i]` when `used[i]`).
pub(crate) struct MapSlots<K, I, const N: usize> {
    table: Locked<SlotTable<K, N>>,
    inner: [I; N],
}

pub(crate) struct SlotTable<K, const N: usize> {
    used: [bool; N],
    keys: [K; N],
}

// SAFETY: `false` and `Pod` keys are valid all-zero.
unsafe impl<K: Pod, const N: usize> Zeroable for SlotTable<K, N> {}

impl<K, I: super::InnerMap, const N: usize> MapSlots<K, I, N> {
    pub(crate) const fn new() -> Self {
        Self {
            table: Locked::new(),
            inner: [const { I::NEW }; N],
        }
    }
}

impl<K: Pod, I: super::InnerMap, const N: usize> MapSlots<K, I, N> {
    fn find(t: &SlotTable<K, N>, key: &K) -> Option<usize> {
        (0..N).find(|&i| t.used[i] && same(&t.keys[i], key))
    }

    pub(crate) fn get(&self, key: &K) -> Option<&I> {
        let slot = self.table.with(|t| Self::find(t, key))?;
        self.inner.get(slot)
    }

    pub(crate) fn insert(&self, key: &K, in_range: bool) -> Option<&I> {
        if !in_range {
            return None;
        }
        let slot = self.table.with(|t| {
            let slot = Self::find(t, key).or_else(|| (0..N).find(|&i| !t.used[i]))?;
            t.used[slot] = true;
            t.keys[slot] = *key;
            Some(slot)
        })?;
        self.inner.get(slot)
    }

    pub(crate) fn remove(&self, key: &K) -> bool {
        self.table.with(|t| {
            Self::find(t, key)
                .map(|slot| t.used[slot] = false)
                .is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_compare_bit_by_bit() {
        assert!(prefix_eq(&[10, 1, 2, 3], &[10, 9, 9, 9], 8));
        assert!(prefix_eq(&[10, 1, 2, 3], &[10, 9, 9, 9], 12));
        assert!(!prefix_eq(&[10, 1, 2, 3], &[10, 9, 9, 9], 13));
        assert!(prefix_eq(&[0b1010_0000], &[0b1011_1111], 3));
        assert!(!prefix_eq(&[0b1010_0000], &[0b1001_1111], 3));
        assert!(prefix_eq(&[1], &[2], 0));
    }
}
