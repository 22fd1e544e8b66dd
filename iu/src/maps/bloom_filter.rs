//! `BloomFilter`.

use std::{marker::PhantomData, mem::size_of, os::fd::AsFd};

use iu_ebpf::Pod;

use super::{Map, map_type};
use crate::{Result, sys};

/// A typed view of a bloom filter (`BPF_MAP_TYPE_BLOOM_FILTER`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let seen = ebpf.bloom_filter::<u32>("SEEN")?;
/// seen.insert(&42)?;
/// assert!(seen.contains(&42)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BloomFilter<'a, V> {
    map: &'a Map,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> BloomFilter<'a, V> {
    /// Checks that `map` is a bloom filter of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::BLOOM_FILTER],
            "bloom filter",
            Some(0),
            Some(size_of::<V>()),
        )?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    /// Adds a value.
    pub fn insert(&self, value: &V) -> Result<()> {
        self.map.update(&[], value.as_bytes(), 0)
    }

    /// Whether the value was probably added (never `false` for one that
    /// was).
    pub fn contains(&self, value: &V) -> Result<bool> {
        let mut probe = *value;
        sys::map_peek_elem(self.map.as_fd(), super::hash_map::bytes_mut(&mut probe))
            .map_err(|e| self.map.op_error("lookup", e))
    }
}
