//! `InodeStorage`: the per-inode values of a `BPF_MAP_TYPE_INODE_STORAGE`,
//! read and written from user space by a descriptor of the file.

use std::os::fd::AsFd;

use iu_ebpf::Pod;

use super::{Map, local_storage::FdStorage, map_type};
use crate::Result;

/// A typed view of an inode storage map (Linux 5.10): one `V` per inode,
/// which LSM programs create on first use (`iu_ebpf::maps::InodeStorage`).
/// User space names the inode by any open descriptor of it.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), Box<dyn std::error::Error>> {
/// let created = ebpf.inode_storage::<u64>("CREATED_IN")?;
/// let dir = std::fs::File::open("/tmp")?;
/// println!("{:?}", created.get(&dir)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct InodeStorage<'a, V> {
    inner: FdStorage<'a, V>,
}

impl<'a, V: Pod> InodeStorage<'a, V> {
    /// Checks that `map` is an inode storage of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            inner: FdStorage::new(map, map_type::INODE_STORAGE, "inode storage", "inode")?,
        })
    }

    /// The value of `file`'s inode, or `None` when it has none.
    pub fn get(&self, file: &impl AsFd) -> Result<Option<V>> {
        self.inner.get(file.as_fd())
    }

    /// Sets the value of `file`'s inode (`flags`: `BPF_ANY`, ...).
    pub fn insert(&self, file: &impl AsFd, value: &V, flags: u64) -> Result<()> {
        self.inner.insert(file.as_fd(), value, flags)
    }

    /// Deletes the value of `file`'s inode; whether it had one.
    pub fn remove(&self, file: &impl AsFd) -> Result<bool> {
        self.inner.remove(file.as_fd())
    }
}
