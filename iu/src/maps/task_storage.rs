//! `TaskStorage`: the per-task values of a `BPF_MAP_TYPE_TASK_STORAGE`,
//! read and written from user space by process id (through a pidfd, the
//! key the kernel takes).

use std::{
    marker::PhantomData,
    mem::size_of,
    os::fd::{AsRawFd, OwnedFd},
};

use iu_ebpf::Pod;

use super::{Map, hash_map::bytes_mut, map_type};
use crate::{Error, Result, sys};

/// A typed view of a task storage map (Linux 5.11): one `V` per task,
/// which programs create on first use (`iu_ebpf::maps::TaskStorage`).
/// User space names a task by its process id, and reaches the process's
/// main thread (the kernel keys by pidfd).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf, pid: u32) -> Result<(), iu::Error> {
/// let execs = ebpf.task_storage::<u64>("EXECS")?;
/// println!("{:?}", execs.get(pid)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TaskStorage<'a, V> {
    map: &'a Map,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> TaskStorage<'a, V> {
    /// Checks that `map` is a task storage of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(
            &[map_type::TASK_STORAGE],
            "task storage",
            Some(4),
            Some(size_of::<V>()),
        )?;
        Ok(Self {
            map,
            _types: PhantomData,
        })
    }

    fn pidfd(&self, pid: u32) -> Result<OwnedFd> {
        sys::pidfd_open(pid).map_err(|e| Error::MapOp {
            name: self.map.name.clone(),
            op: "opening the process (pidfd_open)",
            source: sys::SyscallError::new("pidfd_open", e),
        })
    }

    /// Process `pid`'s value, or `None` when it has none.
    pub fn get(&self, pid: u32) -> Result<Option<V>> {
        let fd = self.pidfd(pid)?;
        let mut value = V::zeroed();
        let key = fd.as_raw_fd().to_ne_bytes();
        Ok(self
            .map
            .lookup(&key, bytes_mut(&mut value))?
            .then_some(value))
    }

    /// Sets process `pid`'s value (`flags`: `BPF_ANY`, `BPF_NOEXIST`,
    /// `BPF_EXIST`).
    pub fn insert(&self, pid: u32, value: &V, flags: u64) -> Result<()> {
        let fd = self.pidfd(pid)?;
        self.map
            .update(&fd.as_raw_fd().to_ne_bytes(), value.as_bytes(), flags)
    }

    /// Deletes process `pid`'s value; whether it had one.
    pub fn remove(&self, pid: u32) -> Result<bool> {
        let fd = self.pidfd(pid)?;
        self.map.delete(&fd.as_raw_fd().to_ne_bytes())
    }
}
