//! Maps created for a loaded object.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A map the loader created in the kernel. Closing the last file descriptor
/// (dropping the [`crate::Ebpf`] and every program that uses it) frees it.
#[derive(Debug)]
pub struct Map {
    pub(crate) name: String,
    pub(crate) fd: OwnedFd,
    pub(crate) map_type: u32,
    pub(crate) key_size: u32,
    pub(crate) value_size: u32,
    pub(crate) max_entries: u32,
}

impl Map {
    /// The map's name in the object (`.rodata`, or the static's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `BPF_MAP_TYPE_*`.
    pub fn map_type(&self) -> u32 {
        self.map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// Value size in bytes.
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// Maximum number of entries.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
