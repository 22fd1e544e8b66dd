//! Iterator programs (`iter/<target>`, `BPF_TRACE_ITER`, Linux 5.8): run
//! once per kernel object (task, map element, TCP socket, ...) when user
//! space reads the iterator, and write records into what it reads.

use std::{
    io::Read,
    os::fd::{AsFd, OwnedFd},
};

use aya_obj::ProgramSection;
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
    ///
    /// Map iterators (`iter/bpf_map_elem`) walk one map: they attach with
    /// [`Iter::attach_map`], and this is [`Error::WrongProgramType`] for
    /// them.
    pub fn attach(&self) -> Result<IterLink> {
        if self.is_map_iter() {
            return Err(Error::WrongProgramType {
                name: self.program.name.clone(),
                expected: "an iterator without a target (it walks a map's entries: attach it with `attach_map(&map)`)",
                actual: self.program.section_name.clone(),
            });
        }
        self.link(None)
    }

    /// Creates the link of a map iterator (`#[iter(bpf_map_elem)]`) over
    /// `map`'s entries: a [`Map`](crate::maps::Map) of this object, or a
    /// [`LoadedMap`](crate::maps::LoadedMap) of another.
    ///
    /// The kernel refuses (`EACCES`, [`Error::Attach`]) a map whose keys or
    /// values are smaller than the program's `K` and `V`, and map types
    /// without entry iteration (ring buffers, queues, ...).
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// // #[iter(bpf_map_elem)] fn entries(ctx: IterMapElemContext<u32, u64>)
    /// // writes each entry as a (u32, u32 padding, u64) record.
    /// let link = ebpf.iter("entries")?.attach_map(ebpf.map("counts")?)?;
    /// for entry in link.stream::<[u64; 2]>()? {
    ///     let [key, value] = entry?;
    ///     println!("{key}: {value}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn attach_map(&self, map: &impl AsFd) -> Result<IterLink> {
        if !self.is_map_iter() {
            return Err(Error::WrongProgramType {
                name: self.program.name.clone(),
                expected: "a map iterator (`#[iter(bpf_map_elem)]`; other iterators attach with `attach()`)",
                actual: self.program.section_name.clone(),
            });
        }
        self.link(Some(map.as_fd()))
    }

    fn is_map_iter(&self) -> bool {
        self.program
            .section_name
            .strip_prefix("iter")
            .and_then(|rest| rest.strip_prefix(".s").or(Some(rest)))
            .is_some_and(|rest| rest == "/bpf_map_elem")
    }

    fn link(&self, map: Option<std::os::fd::BorrowedFd<'_>>) -> Result<IterLink> {
        let target = self.program.section_name.clone();
        let link = sys::link_create_iter(self.program.as_fd(), map).map_err(|e| {
            self.program.attach_error(
                &target,
                "bpf(BPF_LINK_CREATE)",
                e,
                "Iterators need CAP_BPF and CAP_PERFMON (or root): run with `sudo`.",
                map.map(|_| {
                    "the kernel refuses maps whose keys or values are smaller than the \
                     program's `IterMapElemContext<K, V>` (EACCES), and map types \
                     that cannot be iterated"
                }),
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

    /// One walk's output as a stream of `T` records, read from the kernel
    /// as the iterator goes: the program runs for the next objects only
    /// when the records read so far are used up, so a long walk needs no
    /// more memory than one read's worth. A trailing partial record is an
    /// error.
    ///
    /// Reading runs the program in the calling thread; from async code,
    /// walk in [`tokio::task::spawn_blocking`].
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let link = ebpf.iter("tasks")?.attach()?;
    /// let first_ten: Vec<[u8; 24]> = link.stream()?.take(10).collect::<Result<_, _>>()?;
    /// # Ok(()) }
    /// ```
    pub fn stream<T: Pod>(&self) -> Result<IterRecords<T>> {
        Ok(IterRecords {
            file: self.open()?,
            buffer: Vec::new(),
            at: 0,
            done: false,
            program: self.program.clone(),
            target: self.target.clone(),
            _record: std::marker::PhantomData,
        })
    }

    fn error(&self, call: &'static str, e: std::io::Error) -> Error {
        walk_error(&self.program, &self.target, call, e)
    }
}

fn walk_error(program: &str, target: &str, call: &'static str, e: std::io::Error) -> Error {
    Error::Attach {
        program: program.to_owned(),
        target: target.to_owned(),
        source: SyscallError::new(call, e),
        hint: None,
    }
}

/// One walk of an iterator as `T` records ([`IterLink::stream`]).
#[derive(Debug)]
pub struct IterRecords<T> {
    file: std::fs::File,
    buffer: Vec<u8>,
    at: usize,
    done: bool,
    program: String,
    target: String,
    _record: std::marker::PhantomData<fn() -> T>,
}

impl<T: Pod> Iterator for IterRecords<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let size = std::mem::size_of::<T>().max(1);
        while self.buffer.len() - self.at < size {
            if self.done {
                return None;
            }
            // Keep the unread tail, then read a page or more: the kernel's
            // iterator read (`bpf_seq_read`) hands out one object's output
            // at a time.
            self.buffer.drain(..self.at);
            self.at = 0;
            let start = self.buffer.len();
            self.buffer.resize(start + (64 * 1024).max(size), 0);
            let read = loop {
                match self.file.read(&mut self.buffer[start..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            match read {
                Ok(0) => {
                    self.buffer.truncate(start);
                    self.done = true;
                    if start != 0 {
                        return Some(Err(walk_error(
                            &self.program,
                            &self.target,
                            "read",
                            std::io::Error::other(format!(
                                "the walk ended {start} bytes into a {size}-byte record: \
                                 the program writes records of another size"
                            )),
                        )));
                    }
                }
                Ok(n) => self.buffer.truncate(start + n),
                Err(e) => {
                    self.buffer.truncate(start);
                    self.done = true;
                    return Some(Err(walk_error(&self.program, &self.target, "read", e)));
                }
            }
        }
        let record = crate::maps::read(&self.buffer[self.at..self.at + size]);
        self.at += size;
        Some(Ok(record))
    }
}
