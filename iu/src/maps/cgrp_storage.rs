//! `CgrpStorage`: the per-cgroup values of a `BPF_MAP_TYPE_CGRP_STORAGE`,
//! read and written from user space by the cgroup's directory.

use std::{os::fd::AsFd, path::Path};

use iu_ebpf::Pod;

use super::{
    Map,
    local_storage::{FdStorage, open_dir},
    map_type,
};
use crate::Result;

/// A typed view of a cgroup storage map (`BPF_MAP_TYPE_CGRP_STORAGE`,
/// Linux 6.2; `iu::features::map_type(32)`): one `V` per cgroup, which
/// programs create on first use (`iu_ebpf::maps::CgrpStorage`). User space
/// names the cgroup by its cgroup v2 directory.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let mkdirs = ebpf.cgrp_storage::<u64>("MKDIRS")?;
/// println!("{:?}", mkdirs.get("/sys/fs/cgroup/web")?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgrpStorage<'a, V> {
    inner: FdStorage<'a, V>,
}

impl<'a, V: Pod> CgrpStorage<'a, V> {
    /// Checks that `map` is a cgroup storage of `V`s.
    pub fn new(map: &'a Map) -> Result<Self> {
        Ok(Self {
            inner: FdStorage::new(map, map_type::CGRP_STORAGE, "cgroup storage", "cgroup")?,
        })
    }

    /// The value of the cgroup at directory `cgroup`, or `None`.
    pub fn get(&self, cgroup: impl AsRef<Path>) -> Result<Option<V>> {
        let dir = open_dir(self.inner.map, cgroup.as_ref())?;
        self.inner.get(dir.as_fd())
    }

    /// Sets the value of the cgroup at directory `cgroup` (`flags`:
    /// `BPF_ANY`, ...).
    pub fn insert(&self, cgroup: impl AsRef<Path>, value: &V, flags: u64) -> Result<()> {
        let dir = open_dir(self.inner.map, cgroup.as_ref())?;
        self.inner.insert(dir.as_fd(), value, flags)
    }

    /// Deletes the value of the cgroup at directory `cgroup`; whether it
    /// had one.
    pub fn remove(&self, cgroup: impl AsRef<Path>) -> Result<bool> {
        let dir = open_dir(self.inner.map, cgroup.as_ref())?;
        self.inner.remove(dir.as_fd())
    }
}
