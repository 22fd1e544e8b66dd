//! `Stack` (LIFO).

use iu_ebpf::Pod;

use super::{Map, map_type, queue::PushPop};
use crate::Result;

/// A typed view of a stack (`BPF_MAP_TYPE_STACK`): the last value in is the
/// first out.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let undo = ebpf.stack::<u64>("UNDO")?;
/// undo.push(&1, 0)?;
/// undo.push(&2, 0)?;
/// assert_eq!(undo.pop()?, Some(2));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Stack<'a, V> {
    inner: PushPop<'a, V>,
}

impl<'a, V: Pod> Stack<'a, V> {
    /// Checks that `map` is a stack of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            inner: PushPop::new(map, map_type::STACK, "stack")?,
        })
    }

    /// Pushes a value (`flags`: `BPF_EXIST` drops the oldest when full).
    pub fn push(&self, value: &V, flags: u64) -> Result<()> {
        self.inner.push(value, flags)
    }

    /// Removes and returns the newest value.
    pub fn pop(&self) -> Result<Option<V>> {
        self.inner.pop()
    }

    /// Returns the newest value without removing it.
    pub fn peek(&self) -> Result<Option<V>> {
        self.inner.peek()
    }
}
