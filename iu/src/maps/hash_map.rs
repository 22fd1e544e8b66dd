//! Hash maps: `HashMap` (hash and LRU hash) and `PerCpuHashMap` (per-CPU
//! and LRU per-CPU hash).

use std::{marker::PhantomData, mem::size_of, os::fd::AsFd, time::Duration};

use iu_ebpf::Pod;

use super::{Map, RawKeys, Snapshots, map_type, possible_cpus, read};
use crate::{Result, sys};

/// The kernel's internal `ENOTSUPP`, which batch operations can return.
const ENOTSUPP: i32 = 524;

/// Entries per `BPF_MAP_*_BATCH` call (lookup, update and delete).
pub(crate) const BATCH: usize = 4096;

/// A typed view of a hash map (`BPF_MAP_TYPE_HASH` or `LRU_HASH`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let blocked = ebpf.hash_map::<u32, u64>("BLOCKED")?;
/// blocked.insert(&7, &1, iu::maps::BPF_ANY)?;
/// assert_eq!(blocked.get(&7)?, Some(1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HashMap<'a, K, V> {
    map: &'a Map,
    _types: PhantomData<(K, V)>,
}

impl<'a, K: Pod, V: Pod> HashMap<'a, K, V> {
    /// Checks that `map` is a hash map with `K`'s and `V`'s sizes.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::HASH, map_type::LRU_HASH],
            "hash map",
            Some(size_of::<K>()),
            Some(size_of::<V>()),
        )?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    /// The value at `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let mut value = V::zeroed();
        let found = self.map.lookup(key.as_bytes(), bytes_mut(&mut value))?;
        Ok(found.then_some(value))
    }

    /// Inserts or updates `key` (`flags`: `BPF_ANY`, `BPF_NOEXIST`,
    /// `BPF_EXIST`).
    pub fn insert(&self, key: &K, value: &V, flags: u64) -> Result<()> {
        self.map.update(key.as_bytes(), value.as_bytes(), flags)
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.delete(key.as_bytes())
    }

    /// Every key (a snapshot: the map may change meanwhile).
    pub fn keys(&self) -> Result<Vec<K>> {
        let mut keys = vec![];
        self.map.for_each_key(|k| {
            keys.push(read(k));
            Ok(())
        })?;
        Ok(keys)
    }

    /// Every entry. Uses `BPF_MAP_LOOKUP_BATCH` where the kernel has it
    /// (5.6+), and a key-by-key walk otherwise.
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let mut out = vec![];
        self.entries_into(&mut out)?;
        Ok(out)
    }

    /// Replaces the contents of `out` with every entry, like
    /// [`HashMap::entries`], reusing `out`'s memory: a daemon that dumps a
    /// large map periodically allocates (and page-faults) once, not on
    /// every dump.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let counts = ebpf.hash_map::<u32, u64>("COUNTS")?;
    /// let mut snapshot = Vec::new();
    /// for _ in 0..10 {
    ///     counts.entries_into(&mut snapshot)?;
    ///     println!("{} keys", snapshot.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn entries_into(&self, out: &mut Vec<(K, V)>) -> Result<()> {
        self.entries_into_chunked(out, BATCH)
    }

    /// [`HashMap::entries_into`] with `chunk` entries per
    /// `BPF_MAP_LOOKUP_BATCH` call (4096 for `entries_into`; at least 1):
    /// larger chunks make fewer system calls, and the kernel allocates a
    /// buffer of that many entries for each.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let counts = ebpf.hash_map::<u32, u64>("COUNTS")?;
    /// let mut snapshot = Vec::new();
    /// counts.entries_into_chunked(&mut snapshot, 65536)?;
    /// # Ok(()) }
    /// ```
    pub fn entries_into_chunked(&self, out: &mut Vec<(K, V)>, chunk: usize) -> Result<()> {
        out.clear();
        if batch_entries(self.map, 1, chunk, |v: &[V]| v[0], out)? {
            return Ok(());
        }
        for entry in self.iter() {
            out.push(entry?);
        }
        Ok(())
    }

    /// Fills `keys` and `values` with the map's entries, the `i`-th value
    /// being the `i`-th key's, and returns how many it wrote. The kernel
    /// writes straight into the two slices (`BPF_MAP_LOOKUP_BATCH`, 4096
    /// entries per call), so nothing is allocated or copied: the fastest
    /// dump, for a daemon that reads a large map periodically into arrays
    /// it keeps. Slices of `max_entries` elements hold the whole map;
    /// shorter ones get the entries that fit, whole hash buckets at a
    /// time. Kernels without batch operations (before 5.6) are read key by
    /// key.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let size = ebpf.map("COUNTS")?.max_entries() as usize;
    /// let counts = ebpf.hash_map::<u32, u64>("COUNTS")?;
    /// let (mut keys, mut values) = (vec![0u32; size], vec![0u64; size]);
    /// let n = counts.entries_into_slices(&mut keys, &mut values)?;
    /// let total: u64 = values[..n].iter().sum();
    /// # Ok(()) }
    /// ```
    pub fn entries_into_slices(&self, keys: &mut [K], values: &mut [V]) -> Result<usize> {
        let room = keys.len().min(values.len());
        let mut cursor = BatchCursor::new(self.map);
        let (mut filled, mut chunk) = (0, BATCH);
        while filled < room {
            let count = (room - filled).min(chunk);
            let end = filled + count;
            match cursor.next(
                K::slice_as_bytes_mut(&mut keys[filled..end]),
                V::slice_as_bytes_mut(&mut values[filled..end]),
                count,
            )? {
                Batch::Entries { n, done } => {
                    filled += n.min(count);
                    if done {
                        break;
                    }
                }
                // The next bucket is larger than a chunk: a larger one, or
                // the end if no room is left for it.
                Batch::NoRoom if count < room - filled => chunk *= 2,
                Batch::NoRoom => break,
                Batch::Unsupported => {
                    let slots = keys.iter_mut().zip(values.iter_mut());
                    for ((key, value), entry) in slots.zip(self.iter()) {
                        (*key, *value) = entry?;
                        filled += 1;
                    }
                    break;
                }
            }
        }
        Ok(filled)
    }

    /// Every entry, read key by key (`GET_NEXT_KEY` + `LOOKUP_ELEM`); what
    /// [`HashMap::entries`] falls back to.
    pub fn entries_key_by_key(&self) -> Result<Vec<(K, V)>> {
        let mut out = Vec::new();
        for entry in self.iter() {
            out.push(entry?);
        }
        Ok(out)
    }

    /// An iterator over the entries, key by key: each key's value is looked
    /// up right after the key is found (while both are cache-warm in the
    /// kernel), through buffers reused for the whole walk, so no entry
    /// allocates. Works on every kernel; [`HashMap::entries`] is faster
    /// where batch operations exist. Keys deleted during the walk are
    /// skipped.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let counts = ebpf.hash_map::<u32, u64>("COUNTS")?;
    /// let total: u64 = counts.iter().map(|e| e.map(|(_, v)| v)).sum::<Result<u64, _>>()?;
    /// # Ok(()) }
    /// ```
    pub fn iter(&self) -> Entries<'a, K, V> {
        Entries {
            map: self.map,
            key: K::zeroed(),
            next: K::zeroed(),
            value: V::zeroed(),
            started: false,
            done: false,
        }
    }

    /// Inserts many entries with `BPF_MAP_UPDATE_BATCH`, 4096 entries
    /// per call. Entries are encoded one chunk at a time into two small
    /// reused buffers, so memory use does not grow with `entries.len()`.
    pub fn insert_batch(&self, entries: &[(K, V)], flags: u64) -> Result<()> {
        let chunk_len = BATCH.min(entries.len());
        let mut keys = Vec::with_capacity(chunk_len * size_of::<K>());
        let mut values = Vec::with_capacity(chunk_len * size_of::<V>());
        for chunk in entries.chunks(BATCH) {
            keys.clear();
            values.clear();
            for (k, v) in chunk {
                keys.extend_from_slice(k.as_bytes());
                values.extend_from_slice(v.as_bytes());
            }
            sys::map_update_batch(self.map.as_fd(), &keys, &values, chunk.len() as u32, flags)
                .map_err(|(_, e)| self.map.op_error("batch update", e))?;
        }
        Ok(())
    }

    /// Removes many keys with `BPF_MAP_DELETE_BATCH`, 4096 keys per
    /// call.
    pub fn remove_batch(&self, keys: &[K]) -> Result<()> {
        let mut bytes = Vec::with_capacity(BATCH.min(keys.len()) * size_of::<K>());
        for chunk in keys.chunks(BATCH) {
            bytes.clear();
            for k in chunk {
                bytes.extend_from_slice(k.as_bytes());
            }
            sys::map_delete_batch(self.map.as_fd(), &bytes, chunk.len() as u32)
                .map_err(|(_, e)| self.map.op_error("batch delete", e))?;
        }
        Ok(())
    }

    /// The number of entries (counted: the kernel keeps no count).
    pub fn len(&self) -> Result<usize> {
        let mut n = 0;
        self.map.for_each_key(|_| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> Result<bool> {
        let mut first = vec![0u8; size_of::<K>()];
        sys::map_get_next_key(self.map.as_fd(), None, &mut first)
            .map(|more| !more)
            .map_err(|e| self.map.op_error("iterating keys", e))
    }

    /// An async stream of snapshots of every entry, one per `interval`.
    ///
    /// ```no_run
    /// # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let mut snapshots = ebpf.hash_map::<u32, u64>("COUNTS")?.snapshots(std::time::Duration::from_secs(1));
    /// while let Some(entries) = snapshots.next().await {
    ///     println!("{} entries", entries?.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn snapshots(self, interval: Duration) -> Snapshots<'a, Vec<(K, V)>>
    where
        K: 'a,
        V: 'a,
    {
        Snapshots::new(interval, move || self.entries())
    }
}

impl<K: Pod, T: Pod> HashMap<'_, K, super::SpinLocked<T>> {
    /// The value at `key`, copied under its spin lock (`BPF_F_LOCK`), so
    /// that it is never a half-updated one.
    pub fn get_locked(&self, key: &K) -> Result<Option<T>> {
        let mut value = super::SpinLocked::<T>::new(T::zeroed());
        let found =
            self.map
                .lookup_with(key.as_bytes(), bytes_mut(&mut value), super::BPF_F_LOCK)?;
        Ok(found.then(|| value.value()))
    }

    /// Writes the value at `key` under its spin lock (`BPF_F_LOCK`),
    /// creating the entry if needed.
    pub fn insert_locked(&self, key: &K, value: &T) -> Result<()> {
        let value = super::SpinLocked::new(*value);
        self.map
            .update(key.as_bytes(), value.as_bytes(), super::BPF_F_LOCK)
    }
}

/// A typed view of a per-CPU hash map (`BPF_MAP_TYPE_PERCPU_HASH` or
/// `LRU_PERCPU_HASH`). Values are one `V` per possible CPU.
#[derive(Debug, Clone, Copy)]
pub struct PerCpuHashMap<'a, K, V> {
    map: &'a Map,
    _types: PhantomData<(K, V)>,
}

impl<'a, K: Pod, V: Pod> PerCpuHashMap<'a, K, V> {
    /// Checks that `map` is a per-CPU hash map with `K`'s and `V`'s sizes.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::PERCPU_HASH, map_type::LRU_PERCPU_HASH],
            "per-CPU hash map",
            Some(size_of::<K>()),
            Some(size_of::<V>()),
        )?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    /// The values at `key`, one per possible CPU.
    pub fn get(&self, key: &K) -> Result<Option<Vec<V>>> {
        let mut raw = vec![0u8; per_cpu_size::<V>()?];
        let found = self.map.lookup(key.as_bytes(), &mut raw)?;
        Ok(found.then(|| split_per_cpu(&raw)))
    }

    /// Sets the values at `key`, one per possible CPU.
    pub fn insert(&self, key: &K, values: &[V], flags: u64) -> Result<()> {
        let raw = join_per_cpu(self.map, values)?;
        self.map.update(key.as_bytes(), &raw, flags)
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.map.delete(key.as_bytes())
    }

    /// Every entry with its per-CPU values.
    pub fn entries(&self) -> Result<Vec<(K, Vec<V>)>> {
        let stride = per_cpu_size::<V>()?;
        let mut out = vec![];
        if batch_entries(self.map, stride, BATCH, split_per_cpu, &mut out)? {
            return Ok(out);
        }
        let mut keys = RawKeys::new(self.map);
        while let Some(key) = keys.next_key()? {
            let key: K = read(key);
            if let Some(values) = self.get(&key)? {
                out.push((key, values));
            }
        }
        Ok(out)
    }
}

impl<'a, K: Pod, V: Pod> PerCpuHashMap<'a, K, V> {
    /// An async stream of snapshots of every entry (with per-CPU values),
    /// one per `interval`.
    pub fn snapshots(self, interval: Duration) -> Snapshots<'a, Vec<(K, Vec<V>)>>
    where
        K: 'a,
        V: 'a,
    {
        Snapshots::new(interval, move || self.entries())
    }
}

/// The size of a per-CPU value buffer: each CPU's value is padded to 8
/// bytes.
pub(crate) fn per_cpu_size<V>() -> Result<usize> {
    Ok(size_of::<V>().next_multiple_of(8) * possible_cpus()?)
}

pub(crate) fn split_per_cpu<V: Pod>(raw: &[u8]) -> Vec<V> {
    raw.chunks(size_of::<V>().next_multiple_of(8).max(1))
        .map(read)
        .collect()
}

pub(crate) fn join_per_cpu<V: Pod>(map: &Map, values: &[V]) -> Result<Vec<u8>> {
    let cpus = possible_cpus()?;
    if values.len() != cpus {
        return Err(crate::Error::MapSize {
            name: map.name().to_owned(),
            what: "per-CPU value count",
            expected: values.len(),
            actual: cpus,
        });
    }
    let stride = size_of::<V>().next_multiple_of(8);
    let mut raw = vec![0u8; stride * cpus];
    for (chunk, v) in raw.chunks_mut(stride.max(1)).zip(values) {
        chunk[..size_of::<V>()].copy_from_slice(v.as_bytes());
    }
    Ok(raw)
}

/// A walk through a map with `BPF_MAP_LOOKUP_BATCH`: the kernel's position
/// token carried from one call to the next.
struct BatchCursor<'m> {
    map: &'m Map,
    /// Where the next call starts, once one was made.
    at: Vec<u8>,
    next: Vec<u8>,
    started: bool,
}

/// What one `BPF_MAP_LOOKUP_BATCH` call gave.
enum Batch {
    /// The kernel has no batch operations for this map (first call only).
    Unsupported,
    /// `n` entries written; `done` at the end of the map.
    Entries { n: usize, done: bool },
    /// The next bucket holds more entries than the call had room for.
    NoRoom,
}

impl<'m> BatchCursor<'m> {
    fn new(map: &'m Map) -> Self {
        // A bucket index for hash maps, a key for arrays.
        let token_size = (map.key_size as usize).max(8);
        Self {
            map,
            at: vec![0; token_size],
            next: vec![0; token_size],
            started: false,
        }
    }

    /// The next `count` entries at most, into `keys` and `values`, which
    /// hold `count` keys and `count` values of the map's sizes.
    fn next(&mut self, keys: &mut [u8], values: &mut [u8], count: usize) -> Result<Batch> {
        let result = sys::map_lookup_batch(
            self.map.as_fd(),
            self.started.then_some(self.at.as_slice()),
            &mut self.next,
            keys,
            values,
            count as u32,
        );
        let (n, done) = match result {
            Ok(r) => r,
            Err(e)
                if !self.started
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)
                    ) =>
            {
                return Ok(Batch::Unsupported);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Ok(Batch::NoRoom),
            Err(e) => return Err(self.map.op_error("batch lookup", e)),
        };
        std::mem::swap(&mut self.at, &mut self.next);
        self.started = true;
        Ok(Batch::Entries {
            n: n as usize,
            done,
        })
    }
}

/// Appends every entry to `out` with `BPF_MAP_LOOKUP_BATCH`, up to `chunk`
/// entries per call. The kernel writes each value as `slots` elements of
/// `S` (one `V`, or a per-CPU value's bytes), which `decode` turns into a
/// `T`. `false` (nothing added) when the kernel lacks batch operations for
/// this map.
pub(crate) fn batch_entries<K: Pod, S: Pod, T>(
    map: &Map,
    slots: usize,
    chunk: usize,
    decode: impl Fn(&[S]) -> T,
    out: &mut Vec<(K, T)>,
) -> Result<bool> {
    let most = map.max_entries().max(1) as usize;
    let mut count = chunk.clamp(1, most);
    // Typed (aligned) buffers: the entries are copied out of them as values.
    let mut keys = vec![K::zeroed(); count];
    let mut values = vec![S::zeroed(); count * slots];
    let mut cursor = BatchCursor::new(map);
    loop {
        let batch = cursor.next(
            K::slice_as_bytes_mut(&mut keys),
            S::slice_as_bytes_mut(&mut values),
            count,
        )?;
        let (n, done) = match batch {
            Batch::Unsupported => return Ok(false),
            Batch::Entries { n, done } => (n, done),
            // The next bucket holds more entries than a chunk: again from
            // the same place, with room for twice as many (a bucket never
            // holds more than the map).
            Batch::NoRoom if count < most => {
                count = (count * 2).min(most);
                keys.resize(count, K::zeroed());
                values.resize(count * slots, S::zeroed());
                continue;
            }
            Batch::NoRoom => {
                let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
                return Err(map.op_error("batch lookup", full));
            }
        };
        out.extend(
            keys.iter()
                .take(n)
                .zip(values.chunks_exact(slots.max(1)))
                .map(|(k, v)| (*k, decode(v))),
        );
        if done {
            return Ok(true);
        }
    }
}

/// The entries of a [`HashMap`], key by key; see [`HashMap::iter`].
#[derive(Debug)]
pub struct Entries<'a, K, V> {
    map: &'a Map,
    /// The last key returned, where `GET_NEXT_KEY` goes on from.
    key: K,
    next: K,
    value: V,
    started: bool,
    /// At the end, or after an error.
    done: bool,
}

impl<K: Pod, V: Pod> Iterator for Entries<'_, K, V> {
    type Item = Result<(K, V)>;

    // The two system calls straight on typed buffers (their sizes are the
    // map's, checked by `HashMap::new`): this loop is all the user-space
    // work of a key-by-key dump, so it stays as short as C's.
    fn next(&mut self) -> Option<Self::Item> {
        let fd = self.map.fd.as_fd();
        while !self.done {
            let prev = self.started.then_some(self.key.as_bytes());
            match sys::map_get_next_key(fd, prev, bytes_mut(&mut self.next)) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.map.op_error("iterating keys", e)));
                }
            }
            self.key = self.next;
            self.started = true;
            match sys::map_lookup_elem(fd, self.key.as_bytes(), bytes_mut(&mut self.value), 0) {
                Ok(()) => return Some(Ok((self.key, self.value))),
                // Deleted between its key and its lookup.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.map.op_error("lookup", e)));
                }
            }
        }
        None
    }
}

/// The bytes of a `Pod` value, writable.
pub(crate) fn bytes_mut<T: Pod>(value: &mut T) -> &mut [u8] {
    T::as_bytes_mut(value)
}
