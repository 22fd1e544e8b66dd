//! `ProgramArray`: tail-call slots.

use std::os::fd::{AsFd, AsRawFd};

use super::{BPF_ANY, Map, map_type};
use crate::{Result, programs::Program};

/// A view of a program array (`BPF_MAP_TYPE_PROG_ARRAY`), whose slots hold
/// the programs `tail_call` jumps to.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let jump = ebpf.program_array("JUMP")?;
/// jump.set(0, ebpf.program("tail_target")?)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProgramArray<'a> {
    map: &'a Map,
}

impl<'a> ProgramArray<'a> {
    /// Checks that `map` is a program array.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::PROG_ARRAY], "program array", Some(4), Some(4))?;
        Ok(Self { map })
    }

    /// Puts `program` in slot `index`. The kernel checks that its type
    /// matches the programs that jump to it.
    pub fn set(&self, index: u32, program: &Program) -> Result<()> {
        let fd = program.as_fd().as_raw_fd() as u32;
        self.map
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), BPF_ANY)
    }

    /// Empties slot `index`; returns whether it held a program.
    pub fn clear(&self, index: u32) -> Result<bool> {
        self.map.delete(&index.to_ne_bytes())
    }
}
