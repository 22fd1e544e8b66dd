//! Maps loaded in the kernel by anyone, opened by id or by bpffs pin:
//! what `iu-loader map ...` (and `bpftool map ...`) reads and changes.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use super::map_type;
use crate::{
    btf::Btf,
    error::{Error, Result},
    loaded::{self, ObjKind},
    sys::{self, SyscallError},
};

/// What the kernel reports about a loaded map (what `bpftool map show`
/// prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// The kernel's id for the map.
    pub id: u32,
    /// `BPF_MAP_TYPE_*` (see [`map_type`]).
    pub map_type: u32,
    /// The name the kernel keeps (at most 15 bytes).
    pub name: String,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// The id of the BTF its key and value types are in (0: none).
    pub btf_id: u32,
    /// The key's type id in that BTF.
    pub btf_key_type_id: u32,
    /// The value's type id in that BTF.
    pub btf_value_type_id: u32,
}

impl From<sys::MapInfo> for MapInfo {
    fn from(info: sys::MapInfo) -> Self {
        let end = info
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(info.name.len());
        Self {
            id: info.id,
            map_type: info.map_type,
            name: String::from_utf8_lossy(&info.name[..end]).into_owned(),
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            flags: info.map_flags,
            btf_id: info.btf_id,
            btf_key_type_id: info.btf_key_type_id,
            btf_value_type_id: info.btf_value_type_id,
        }
    }
}

impl MapInfo {
    /// Whether user space sees one value per possible CPU for each key.
    pub fn is_per_cpu(&self) -> bool {
        matches!(
            self.map_type,
            map_type::PERCPU_HASH | map_type::PERCPU_ARRAY | map_type::LRU_PERCPU_HASH | 21
        )
    }
}

/// Every map loaded in the kernel, by anyone (needs `CAP_SYS_ADMIN`).
///
/// ```no_run
/// for map in iu::maps::loaded()? {
///     println!("{} {} {}", map.id, map.name, iu::maps::type_name(map.map_type));
/// }
/// # Ok::<(), iu::Error>(())
/// ```
pub fn loaded() -> Result<Vec<MapInfo>> {
    let mut out = vec![];
    for id in loaded::ids(ObjKind::Map)? {
        match LoadedMap::from_id(id) {
            Ok(map) => out.push(map.info().clone()),
            // Freed between the calls.
            Err(Error::UnknownId { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A map's key and value types, from its BTF.
#[derive(Debug)]
pub struct MapBtf {
    /// The BTF object the types are in.
    pub btf: Btf,
    /// The key's type id.
    pub key: u32,
    /// The value's type id.
    pub value: u32,
}

/// A map loaded in the kernel, held by a descriptor: found by id
/// ([`LoadedMap::from_id`]) or pin ([`LoadedMap::from_pin`]), whoever
/// created it. Keys and values are raw bytes of the map's sizes; per-CPU
/// values are one slot per possible CPU, each rounded up to 8 bytes.
///
/// ```no_run
/// use iu::maps::LoadedMap;
/// let map = LoadedMap::from_id(7)?;
/// for (key, value) in map.entries()? {
///     println!("{key:02x?} => {value:02x?}");
/// }
/// map.update(&1u32.to_ne_bytes(), &5u64.to_ne_bytes())?;
/// map.delete(&1u32.to_ne_bytes())?;
/// # Ok::<(), iu::Error>(())
/// ```
#[derive(Debug)]
pub struct LoadedMap {
    fd: OwnedFd,
    info: MapInfo,
}

impl LoadedMap {
    fn open(fd: OwnedFd) -> Result<Self> {
        let info = sys::map_info(fd.as_fd()).map_err(|e| {
            loaded::error(
                "reading a map's info".into(),
                "bpf(BPF_OBJ_GET_INFO_BY_FD)",
                e,
            )
        })?;
        Ok(Self {
            fd,
            info: info.into(),
        })
    }

    /// Opens the map with id `id`: [`Error::UnknownId`] if none has it,
    /// [`Error::PermissionDenied`] without `CAP_SYS_ADMIN`.
    pub fn from_id(id: u32) -> Result<Self> {
        Self::open(loaded::fd_by_id(ObjKind::Map, id)?)
    }

    /// Opens the map pinned at `path` ([`Error::WrongPinKind`] if a
    /// program or link is pinned there).
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Self> {
        Self::open(loaded::open_pin(ObjKind::Map, path.as_ref())?)
    }

    /// What the kernel reports about it.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// Its key and value types, when it was created with BTF.
    pub fn btf(&self) -> Result<Option<MapBtf>> {
        if self.info.btf_id == 0 || self.info.btf_value_type_id == 0 {
            return Ok(None);
        }
        Ok(Some(MapBtf {
            btf: loaded::btf(self.info.btf_id)?,
            key: self.info.btf_key_type_id,
            value: self.info.btf_value_type_id,
        }))
    }

    /// The size of a value as user space reads and writes it.
    pub fn value_len(&self) -> Result<usize> {
        if self.info.is_per_cpu() {
            Ok((self.info.value_size as usize).next_multiple_of(8) * super::possible_cpus()?)
        } else {
            Ok(self.info.value_size as usize)
        }
    }

    fn name(&self) -> String {
        format!("{} (`{}`)", self.info.id, self.info.name)
    }

    fn op_error(&self, op: &'static str, e: std::io::Error) -> Error {
        Error::from_syscall(
            format!("{op} on map {}", self.name()),
            SyscallError::new("bpf()", e),
            "Reading and changing other processes' maps needs CAP_SYS_ADMIN: run with `sudo`.",
            |_, source| Error::MapOp {
                name: self.name(),
                op,
                source,
            },
        )
    }

    fn check(&self, what: &'static str, bytes: &[u8], expected: usize) -> Result<()> {
        if bytes.len() != expected {
            return Err(Error::EntrySize {
                map: self.name(),
                what,
                expected,
                actual: bytes.len(),
            });
        }
        Ok(())
    }

    /// Every entry, in the kernel's key order. Maps without keys (queues,
    /// stacks, ring buffers) and maps whose values user space cannot read
    /// are [`Error::MapOp`]s.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let key_size = self.info.key_size as usize;
        let value_len = self.value_len()?;
        let mut out = vec![];
        let mut key: Option<Vec<u8>> = None;
        loop {
            let mut next = vec![0u8; key_size];
            if !sys::map_get_next_key(self.fd.as_fd(), key.as_deref(), &mut next)
                .map_err(|e| self.op_error("iterating keys", e))?
            {
                break;
            }
            let mut value = vec![0u8; value_len];
            // An entry deleted since its key was read is skipped.
            if let Some(()) = self.lookup_into(&next, &mut value)? {
                out.push((next.clone(), value));
            }
            key = Some(next);
        }
        Ok(out)
    }

    fn lookup_into(&self, key: &[u8], value: &mut [u8]) -> Result<Option<()>> {
        match sys::map_lookup_elem(self.fd.as_fd(), key, value, 0) {
            Ok(()) => Ok(Some(())),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.op_error("lookup", e)),
        }
    }

    /// The value at `key`, or `None`.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check("key", key, self.info.key_size as usize)?;
        let mut value = vec![0u8; self.value_len()?];
        Ok(self.lookup_into(key, &mut value)?.map(|()| value))
    }

    /// Creates or replaces the entry at `key` (`BPF_ANY`); sizes are
    /// checked first ([`Error::EntrySize`]).
    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check("key", key, self.info.key_size as usize)?;
        self.check("value", value, self.value_len()?)?;
        sys::map_update_elem(self.fd.as_fd(), key, value, super::BPF_ANY)
            .map_err(|e| self.op_error("update", e))
    }

    /// Deletes the entry at `key`: `Ok(false)` if there was none.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check("key", key, self.info.key_size as usize)?;
        match sys::map_delete_elem(self.fd.as_fd(), key) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(self.op_error("delete", e)),
        }
    }

    /// Pins the map at `path` in bpffs.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        loaded::pin(ObjKind::Map, &self.fd, path.as_ref())
    }

    /// Removes the map pin at `path` (refusing a program's or link's).
    ///
    /// ```no_run
    /// iu::maps::LoadedMap::unpin("/sys/fs/bpf/counts")?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn unpin(path: impl AsRef<Path>) -> Result<()> {
        loaded::unpin(ObjKind::Map, path.as_ref())
    }
}

impl AsFd for LoadedMap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
