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
    /// matches the programs that jump to it:
    /// [`Error::TailCallTypeMismatch`](crate::Error::TailCallTypeMismatch)
    /// names both types when they differ.
    pub fn set(&self, index: u32, program: &Program) -> Result<()> {
        let fd = program.as_fd().as_raw_fd() as u32;
        match self
            .map
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), BPF_ANY)
        {
            Err(crate::Error::MapOp { source, .. }) if source.errno() == Some(libc::EINVAL) => {
                let program_type = program.type_name();
                let (owner, owner_type) =
                    self.map.tail_call_owner.get().cloned().unwrap_or_else(|| {
                        ("a program loaded earlier".to_owned(), "another type of")
                    });
                Err(crate::Error::TailCallTypeMismatch {
                    map: self.map.name.clone(),
                    program: program.name().to_owned(),
                    program_type,
                    owner,
                    owner_type,
                })
            }
            Err(e) => Err(e),
            Ok(()) => {
                // The kernel made the array's type this program's if it had
                // none.
                let _ = self
                    .map
                    .tail_call_owner
                    .set((program.name().to_owned(), program.type_name()));
                Ok(())
            }
        }
    }

    /// Empties slot `index`; returns whether it held a program.
    pub fn clear(&self, index: u32) -> Result<bool> {
        self.map.delete(&index.to_ne_bytes())
    }
}
