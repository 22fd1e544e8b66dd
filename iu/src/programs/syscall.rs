//! Syscall programs: run on demand on a buffer user space passes
//! (`BPF_PROG_TEST_RUN` with a context), which the program may rewrite.

use std::os::fd::AsFd;

use aya_obj::ProgramSection;
use iu_ebpf::Pod;

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A loaded syscall program, ready to run.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let mut n = 21u64;
/// let rc = ebpf.syscall("double")?.run(&mut n)?;
/// assert_eq!((rc, n), (0, 42));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Syscall<'a> {
    program: &'a Program,
}

impl<'a> Syscall<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        // aya-obj parses the (renamed) section as fexit; the name tells.
        match program.section {
            ProgramSection::FExit { .. } if program.section_name == "syscall" => {
                Ok(Self { program })
            }
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a syscall program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Runs the program on `args` (its `SyscallContext<T>`); `args` then
    /// holds what the program left in the buffer. Returns the program's
    /// return value. The kernel refuses the run (an error) when the
    /// program reads more bytes than `T` has.
    pub fn run<T: Pod>(&self, args: &mut T) -> Result<i32> {
        let retval = sys::prog_run_syscall(self.program.fd.as_fd(), args.as_bytes_mut()).map_err(|e| {
            Error::Attach {
                program: self.program.name.clone(),
                target: "BPF_PROG_TEST_RUN".into(),
                hint: match e.raw_os_error() {
                    Some(libc::EINVAL) => Some("the program reads more bytes than the buffer has: check its SyscallContext type"),
                    _ => None,
                },
                source: SyscallError::new("bpf(BPF_PROG_TEST_RUN)", e),
            }
        })?;
        Ok(retval as i32)
    }
}
