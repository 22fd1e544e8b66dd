//! `Queue` (FIFO) and the push/pop code it shares with `Stack`.

use std::{marker::PhantomData, mem::size_of, os::fd::AsFd};

use iu_ebpf::Pod;

use super::{Map, hash_map::bytes_mut, map_type};
use crate::{Result, sys};

/// A typed view of a queue (`BPF_MAP_TYPE_QUEUE`): values come out in the
/// order they went in.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let jobs = ebpf.queue::<u64>("JOBS")?;
/// jobs.push(&42, 0)?;
/// assert_eq!(jobs.pop()?, Some(42));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Queue<'a, V> {
    inner: PushPop<'a, V>,
}

impl<'a, V: Pod> Queue<'a, V> {
    /// Checks that `map` is a queue of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            inner: PushPop::new(map, map_type::QUEUE, "queue")?,
        })
    }

    /// Appends a value (`flags`: `BPF_EXIST` drops the oldest when full).
    pub fn push(&self, value: &V, flags: u64) -> Result<()> {
        self.inner.push(value, flags)
    }

    /// Removes and returns the oldest value.
    pub fn pop(&self) -> Result<Option<V>> {
        self.inner.pop()
    }

    /// Returns the oldest value without removing it.
    pub fn peek(&self) -> Result<Option<V>> {
        self.inner.peek()
    }
}

/// Push, pop and peek on a keyless map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PushPop<'a, V> {
    map: &'a Map,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> PushPop<'a, V> {
    pub(crate) fn new(map: &'a Map, map_type: u32, expected: &'static str) -> Result<Self> {
        map.check(&[map_type], expected, Some(0), Some(size_of::<V>()))?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    pub(crate) fn push(&self, value: &V, flags: u64) -> Result<()> {
        self.map.update(&[], value.as_bytes(), flags)
    }

    pub(crate) fn pop(&self) -> Result<Option<V>> {
        let mut value = V::zeroed();
        let found = sys::map_pop_elem(self.map.as_fd(), bytes_mut(&mut value))
            .map_err(|e| self.map.op_error("pop", e))?;
        Ok(found.then_some(value))
    }

    pub(crate) fn peek(&self) -> Result<Option<V>> {
        let mut value = V::zeroed();
        let found = sys::map_peek_elem(self.map.as_fd(), bytes_mut(&mut value))
            .map_err(|e| self.map.op_error("peek", e))?;
        Ok(found.then_some(value))
    }
}
