//! Iterator programs (`iter/<target>`, `BPF_TRACE_ITER`, Linux 5.8): run
//! once per kernel object (task, map element, TCP socket, ...) when user
//! space reads the iterator, and write records into what it reads.

use std::{
    io::Read,
    os::fd::{AsFd, OwnedFd},
};

use aya_obj::{ProgramSection, generated::bpf_attach_type};
use iu_ebpf::Pod;

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A loaded iterator program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// #[derive(Clone, Copy, iu::Pod)]
/// #[repr(C)]
/// struct Task { pid: i32, tgid: i32, comm: [u8; 16] }
///
/// let link = ebpf.iter("tasks")?.attach()?;
/// for task in link.records::<Task>()? {
///     println!("{} {}", task.pid, String::from_utf8_lossy(&task.comm));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Iter<'a> {
    program: &'a Program,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::Iter { .. } => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "iterator program (iter/task, ...)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Creates the iterator's link. Nothing runs until it is read
    /// ([`IterLink::read`], [`IterLink::records`]).
    pub fn attach(&self) -> Result<IterLink> {
        let target = self.program.section_name.clone();
        let link = sys::link_create(
            self.program.as_fd(),
            0,
            bpf_attach_type::BPF_TRACE_ITER as u32,
            0,
            0,
        )
        .map_err(|e| {
            self.program.attach_error(
                &target,
                "bpf(BPF_LINK_CREATE)",
                e,
                "Iterators need CAP_BPF and CAP_PERFMON (or root): run with `sudo`.",
                None,
            )
        })?;
        Ok(IterLink {
            link,
            program: self.program.name.clone(),
            target,
        })
    }
}

/// An iterator link. Each read walks the kernel's objects again; dropping
/// the link frees it.
#[derive(Debug)]
pub struct IterLink {
    link: OwnedFd,
    program: String,
    target: String,
}

impl IterLink {
    /// The iterator, for example `iter/task`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Opens one walk: a file whose bytes are what the program writes,
    /// object by object, as it is read (`BPF_ITER_CREATE`).
    pub fn open(&self) -> Result<std::fs::File> {
        sys::iter_create(self.link.as_fd())
            .map(std::fs::File::from)
            .map_err(|e| self.error("bpf(BPF_ITER_CREATE)", e))
    }

    /// Everything one walk writes.
    pub fn read(&self) -> Result<Vec<u8>> {
        let mut file = self.open()?;
        let mut bytes = Vec::new();
        // Reads of a page or more: the kernel's iterator read
        // (`bpf_seq_read`) hands out one object's output at a time.
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut chunk) {
                Ok(0) => return Ok(bytes),
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error("read", e)),
            }
        }
    }

    /// One walk's output as `T` records (the program writes whole `T`s);
    /// a trailing partial record is an error.
    pub fn records<T: Pod>(&self) -> Result<Vec<T>> {
        let bytes = self.read()?;
        let size = std::mem::size_of::<T>().max(1);
        if bytes.len() % size != 0 {
            return Err(self.error(
                "read",
                std::io::Error::other(format!(
                    "{} bytes are not whole {size}-byte records",
                    bytes.len()
                )),
            ));
        }
        Ok(bytes.chunks_exact(size).map(crate::maps::read).collect())
    }

    fn error(&self, call: &'static str, e: std::io::Error) -> Error {
        Error::Attach {
            program: self.program.clone(),
            target: self.target.clone(),
            source: SyscallError::new(call, e),
            hint: None,
        }
    }
}
