//! XDP redirect targets by interface: `DevMap` and `DevMapHash`.

use super::{BPF_ANY, Map, map_type};
use crate::{Error, Result, sys::SyscallError};

/// The ifindex of interface `name` in this thread's network namespace.
pub(crate) fn ifindex(map: &Map, name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|e| Error::MapOp {
        name: map.name.clone(),
        op: "looking up the interface",
        source: SyscallError::new("if_nametoindex", e.into()),
    })
}

/// Names a refused interface: the kernel says `EINVAL` (`ENODEV` on some
/// versions) for an ifindex that is not a device of the caller's network
/// namespace; the key was checked by then.
fn target_error(e: Error) -> Error {
    match e {
        Error::MapOp { name, source, .. }
            if matches!(source.errno(), Some(libc::EINVAL | libc::ENODEV)) =>
        {
            Error::MapOp {
                name,
                op: "setting a redirect target (no interface with that ifindex in this network namespace)",
                source,
            }
        }
        e => e,
    }
}

/// A handle on a `BPF_MAP_TYPE_DEVMAP` (Linux 4.14): slots holding the
/// interfaces XDP programs redirect to (`DevMap::redirect` in
/// `iu_ebpf`).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let ports = ebpf.dev_map("PORTS")?;
/// ports.set_interface(0, "eth1")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DevMap<'a> {
    map: &'a Map,
}

impl<'a> DevMap<'a> {
    /// Checks that `map` is a devmap of ifindexes.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::DEVMAP], "devmap", Some(4), Some(4))?;
        Ok(Self { map })
    }

    /// Puts interface `ifindex` in slot `index`.
    pub fn set(&self, index: u32, ifindex: u32) -> Result<()> {
        if index >= self.map.max_entries() {
            return Err(super::array::out_of_range(self.map, index));
        }
        self.map
            .update(&index.to_ne_bytes(), &ifindex.to_ne_bytes(), BPF_ANY)
            .map_err(target_error)
    }

    /// Puts the interface called `name` (in this thread's network
    /// namespace) in slot `index`.
    pub fn set_interface(&self, index: u32, name: &str) -> Result<()> {
        self.set(index, ifindex(self.map, name)?)
    }

    /// The ifindex in slot `index`, or `None` when it is empty.
    pub fn get(&self, index: u32) -> Result<Option<u32>> {
        let mut value = [0u8; 4];
        Ok(self
            .map
            .lookup(&index.to_ne_bytes(), &mut value)?
            .then(|| u32::from_ne_bytes(value)))
    }

    /// Empties slot `index`; whether it held an interface.
    pub fn clear(&self, index: u32) -> Result<bool> {
        self.map.delete(&index.to_ne_bytes())
    }
}

/// A handle on a `BPF_MAP_TYPE_DEVMAP_HASH` (Linux 5.4): interfaces under
/// `u32` keys of your choosing (often the ifindex).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let ports = ebpf.dev_map_hash("BY_IFINDEX")?;
/// ports.insert(7, 7)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DevMapHash<'a> {
    map: &'a Map,
}

impl<'a> DevMapHash<'a> {
    /// Checks that `map` is a devmap hash of ifindexes.
    pub fn new(map: &'a Map) -> Result<Self> {
        map.check(&[map_type::DEVMAP_HASH], "devmap hash", Some(4), Some(4))?;
        Ok(Self { map })
    }

    /// Puts interface `ifindex` at `key`.
    pub fn insert(&self, key: u32, ifindex: u32) -> Result<()> {
        self.map
            .update(&key.to_ne_bytes(), &ifindex.to_ne_bytes(), BPF_ANY)
            .map_err(target_error)
    }

    /// The ifindex at `key`, or `None`.
    pub fn get(&self, key: u32) -> Result<Option<u32>> {
        let mut value = [0u8; 4];
        Ok(self
            .map
            .lookup(&key.to_ne_bytes(), &mut value)?
            .then(|| u32::from_ne_bytes(value)))
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&self, key: u32) -> Result<bool> {
        self.map.delete(&key.to_ne_bytes())
    }
}
