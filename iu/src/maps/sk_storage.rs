//! `SkStorage`: the per-socket values of a `BPF_MAP_TYPE_SK_STORAGE`, read
//! and written from user space by socket descriptor.

use std::os::fd::AsFd;

use iu_ebpf::Pod;

use super::{Map, local_storage::FdStorage, map_type};
use crate::Result;

/// A typed view of a socket storage map (Linux 5.2): one `V` per socket,
/// which programs create on first use (`iu_ebpf::maps::SkStorage`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf, stream: &std::net::TcpStream) -> Result<(), iu::Error> {
/// let events = ebpf.sk_storage::<u64>("EVENTS")?;
/// println!("{:?}", events.get(stream)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SkStorage<'a, V> {
    inner: FdStorage<'a, V>,
}

impl<'a, V: Pod> SkStorage<'a, V> {
    /// Checks that `map` is a socket storage of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            inner: FdStorage::new(map, map_type::SK_STORAGE, "socket storage", "socket")?,
        })
    }

    /// `socket`'s value, or `None` when it has none.
    pub fn get(&self, socket: &impl AsFd) -> Result<Option<V>> {
        self.inner.get(socket.as_fd())
    }

    /// Sets `socket`'s value (`flags`: `BPF_ANY`, `BPF_NOEXIST`,
    /// `BPF_EXIST`).
    pub fn insert(&self, socket: &impl AsFd, value: &V, flags: u64) -> Result<()> {
        self.inner.insert(socket.as_fd(), value, flags)
    }

    /// Deletes `socket`'s value; whether it had one.
    pub fn remove(&self, socket: &impl AsFd) -> Result<bool> {
        self.inner.remove(socket.as_fd())
    }
}
