//! Arrays: `Array` and `PerCpuArray`.

use std::{marker::PhantomData, mem::size_of};

use iu_ebpf::Pod;

use super::{
    BPF_ANY, Map,
    hash_map::{batch_entries, bytes_mut, join_per_cpu, per_cpu_size, split_per_cpu},
    map_type,
};
use crate::{Error, Result};

/// A typed view of an array (`BPF_MAP_TYPE_ARRAY`): `max_entries` slots,
/// all present.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let totals = ebpf.array::<u64>("TOTALS")?;
/// println!("{}", totals.get(0)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Array<'a, V> {
    map: &'a Map,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> Array<'a, V> {
    /// Checks that `map` is an array of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::ARRAY], "array", Some(4), Some(size_of::<V>()))?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    /// The number of slots.
    pub fn len(&self) -> u32 {
        self.map.max_entries()
    }

    /// Whether the array has no slots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slot `index`; an index past the end is an error.
    pub fn get(&self, index: u32) -> Result<V> {
        let mut value = V::zeroed();
        if self
            .map
            .lookup(&index.to_ne_bytes(), bytes_mut(&mut value))?
        {
            Ok(value)
        } else {
            Err(out_of_range(self.map, index))
        }
    }

    /// Writes slot `index`.
    pub fn set(&self, index: u32, value: &V) -> Result<()> {
        if index >= self.len() {
            return Err(out_of_range(self.map, index));
        }
        self.map
            .update(&index.to_ne_bytes(), value.as_bytes(), BPF_ANY)
    }

    /// An async stream of every slot's value, one snapshot per `interval`.
    pub fn snapshots(self, interval: std::time::Duration) -> super::Snapshots<'a, Vec<V>>
    where
        V: 'a,
    {
        super::Snapshots::new(interval, move || self.values())
    }

    /// Every slot, in order (one batch call where the kernel has it).
    pub fn values(&self) -> Result<Vec<V>> {
        let mut entries = vec![];
        if batch_entries::<u32, V, V>(self.map, 1, super::hash_map::BATCH, |v| v[0], &mut entries)?
        {
            return Ok(entries.into_iter().map(|(_, v)| v).collect());
        }
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

/// A typed view of a per-CPU array (`BPF_MAP_TYPE_PERCPU_ARRAY`): each slot
/// holds one `V` per possible CPU.
#[derive(Debug, Clone, Copy)]
pub struct PerCpuArray<'a, V> {
    map: &'a Map,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> PerCpuArray<'a, V> {
    /// Checks that `map` is a per-CPU array of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::PERCPU_ARRAY],
            "per-CPU array",
            Some(4),
            Some(size_of::<V>()),
        )?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    /// The number of slots.
    pub fn len(&self) -> u32 {
        self.map.max_entries()
    }

    /// Whether the array has no slots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slot `index`: one value per possible CPU.
    pub fn get(&self, index: u32) -> Result<Vec<V>> {
        let mut raw = vec![0u8; per_cpu_size::<V>()?];
        if self.map.lookup(&index.to_ne_bytes(), &mut raw)? {
            Ok(split_per_cpu(&raw))
        } else {
            Err(out_of_range(self.map, index))
        }
    }

    /// Writes slot `index`: one value per possible CPU.
    pub fn set(&self, index: u32, values: &[V]) -> Result<()> {
        if index >= self.len() {
            return Err(out_of_range(self.map, index));
        }
        let raw = join_per_cpu(self.map, values)?;
        self.map.update(&index.to_ne_bytes(), &raw, BPF_ANY)
    }
}

pub(crate) fn out_of_range(map: &Map, index: u32) -> Error {
    map.op_error(
        "index",
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "index {index} is past the end ({} slots)",
                map.max_entries()
            ),
        ),
    )
}
