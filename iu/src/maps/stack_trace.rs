//! `StackTraceMap`: reading the frames of stack ids.

use super::{Map, map_type};
use crate::Result;

/// A view of a stack-trace map (`BPF_MAP_TYPE_STACK_TRACE`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf, id: u32) -> Result<(), iu::Error> {
/// if let Some(trace) = ebpf.stack_trace_map("STACKS")?.get(id)? {
///     for ip in &trace.frames {
///         println!("{ip:#x}");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StackTraceMap<'a> {
    map: &'a Map,
}

/// One stack: instruction pointers, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackTrace {
    /// The frames' instruction pointers.
    pub frames: Vec<u64>,
}

impl<'a> StackTraceMap<'a> {
    /// Checks that `map` is a stack-trace map.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::STACK_TRACE], "stack trace map", Some(4), None)?;
        Ok(Self { map })
    }

    /// The stack stored under `id`.
    pub fn get(&self, id: u32) -> Result<Option<StackTrace>> {
        let mut raw = vec![0u8; self.map.value_size() as usize];
        if !self.map.lookup(&id.to_ne_bytes(), &mut raw)? {
            return Ok(None);
        }
        let frames = raw
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
            .take_while(|&ip| ip != 0)
            .collect();
        Ok(Some(StackTrace { frames }))
    }

    /// Removes the stack stored under `id`.
    pub fn remove(&self, id: u32) -> Result<bool> {
        self.map.delete(&id.to_ne_bytes())
    }
}
