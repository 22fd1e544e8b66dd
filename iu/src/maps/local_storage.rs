//! What the user-side handles of socket, inode and cgroup storage share:
//! the kernel keys each of them by a file descriptor of the owner (a
//! socket, any open file of the inode, the cgroup's directory).

use std::{
    marker::PhantomData,
    mem::size_of,
    os::fd::{AsRawFd, BorrowedFd},
};

use iu_ebpf::Pod;

use super::{Map, hash_map::bytes_mut};
use crate::{Error, Result, sys::SyscallError};

/// A typed local storage keyed by descriptors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FdStorage<'a, V> {
    pub(crate) map: &'a Map,
    /// What the descriptor must be, for errors.
    owner: &'static str,
    _types: PhantomData<V>,
}

impl<'a, V: Pod> FdStorage<'a, V> {
    pub(crate) fn new(
        map: &'a Map,
        map_type: u32,
        expected: &'static str,
        owner: &'static str,
    ) -> Result<Self> {
        map.check(&[map_type], expected, Some(4), Some(size_of::<V>()))?;
        Ok(Self {
            map,
            owner,
            _types: PhantomData,
        })
    }

    /// Names a descriptor of the wrong kind (`EBADF`; `ENOTSOCK`,
    /// `EOPNOTSUPP` for sockets).
    fn owner_error(&self, op: &'static str) -> impl FnOnce(Error) -> Error + '_ {
        move |e| match e {
            Error::MapOp { name, source, .. }
                if matches!(
                    source.errno(),
                    Some(libc::EBADF | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EINVAL)
                ) =>
            {
                Error::MapOp {
                    name,
                    op: match (op, self.owner) {
                        (_, "socket") => {
                            "using a descriptor as a socket storage key (give a descriptor of a socket: a TcpStream, TcpListener or UdpSocket)"
                        }
                        (_, "cgroup") => {
                            "using a descriptor as a cgroup storage key (give a descriptor of a cgroup v2 directory)"
                        }
                        _ => {
                            "using a descriptor as an inode storage key (give a descriptor of an open file or directory)"
                        }
                    },
                    source,
                }
            }
            e => e,
        }
    }

    pub(crate) fn get(&self, owner: BorrowedFd<'_>) -> Result<Option<V>> {
        let mut value = V::zeroed();
        let key = owner.as_raw_fd().to_ne_bytes();
        Ok(self
            .map
            .lookup(&key, bytes_mut(&mut value))
            .map_err(self.owner_error("lookup"))?
            .then_some(value))
    }

    pub(crate) fn insert(&self, owner: BorrowedFd<'_>, value: &V, flags: u64) -> Result<()> {
        self.map
            .update(&owner.as_raw_fd().to_ne_bytes(), value.as_bytes(), flags)
            .map_err(self.owner_error("update"))
    }

    pub(crate) fn remove(&self, owner: BorrowedFd<'_>) -> Result<bool> {
        self.map
            .delete(&owner.as_raw_fd().to_ne_bytes())
            .map_err(self.owner_error("delete"))
    }
}

/// Opens a cgroup directory for a cgroup storage key.
pub(crate) fn open_dir(map: &Map, path: &std::path::Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| Error::MapOp {
        name: map.name.clone(),
        op: "opening the cgroup directory",
        source: SyscallError::new("open", e),
    })
}
