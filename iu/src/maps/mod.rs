//! Maps: the generic [`Map`] the loader creates, and typed handles over it,
//! one module per map type. A handle is taken by name with a size check, so
//! a wrong key or value type is an error, never a reinterpretation:
//!
//! ```no_run
//! # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
//! let counts = ebpf.hash_map::<u32, u64>("COUNTS")?;
//! for (pid, count) in counts.entries()? {
//!     println!("{pid}: {count}");
//! }
//! # Ok(()) }
//! ```

mod array;
mod bloom_filter;
mod cgrp_storage;
mod cpu_map;
mod dev_map;
mod hash_map;
mod inode_storage;
mod loaded;
mod local_storage;
mod lpm_trie;
mod map_in_map;
mod perf_event_array;
mod poll;
mod program_array;
mod queue;
mod ring_buf;
mod sk_storage;
mod sock_map;
mod stack;
mod stack_trace;
mod task_storage;
mod user_ring_buf;
mod xsk_map;

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
    sync::OnceLock,
};

pub use array::{Array, PerCpuArray};
pub use bloom_filter::BloomFilter;
pub use cgrp_storage::CgrpStorage;
pub use cpu_map::CpuMap;
pub use dev_map::{DevMap, DevMapHash};
pub use hash_map::{Entries, HashMap, PerCpuHashMap};
pub use inode_storage::InodeStorage;
pub use loaded::{LoadedMap, MapBtf, MapInfo, loaded};
pub use lpm_trie::{LpmKey, LpmTrie};
pub(crate) use map_in_map::InnerTemplate;
pub use map_in_map::{ArrayOfMaps, HashOfMaps};
pub(crate) use perf_event_array::online_cpus;
pub use perf_event_array::{PerfEvent, PerfEventArray};
pub use poll::Snapshots;
pub use program_array::ProgramArray;
pub use queue::Queue;
pub use ring_buf::{RingBuf, TypedRingBuf};
pub use sk_storage::SkStorage;
pub use sock_map::{SockHash, SockMap, SocketMap, socket_cookie};
pub use stack::Stack;
pub use stack_trace::{StackTrace, StackTraceMap};
pub use task_storage::TaskStorage;
pub use user_ring_buf::UserRingBuf;
pub use xsk_map::XskMap;

use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};
use iu_ebpf::Pod;
pub use iu_ebpf::maps::{PerCpuCell, SpinLocked};

/// `BPF_MAP_TYPE_*` values.
pub mod map_type {
    #![allow(missing_docs)]
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const LPM_TRIE: u32 = 11;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const RINGBUF: u32 = 27;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const BLOOM_FILTER: u32 = 30;
    pub const DEVMAP: u32 = 14;
    pub const CPUMAP: u32 = 16;
    pub const DEVMAP_HASH: u32 = 25;
    pub const TASK_STORAGE: u32 = 29;
    pub const USER_RINGBUF: u32 = 31;
    pub const SOCKMAP: u32 = 15;
    pub const SOCKHASH: u32 = 18;
    pub const SK_STORAGE: u32 = 24;
    pub const INODE_STORAGE: u32 = 28;
    pub const CGRP_STORAGE: u32 = 32;
    pub const XSKMAP: u32 = 17;
}

/// The kernel's name of a map type, for messages.
pub fn type_name(map_type: u32) -> &'static str {
    match map_type {
        map_type::HASH => "hash map",
        map_type::ARRAY => "array",
        map_type::PROG_ARRAY => "program array",
        map_type::PERF_EVENT_ARRAY => "perf event array",
        map_type::PERCPU_HASH => "per-CPU hash map",
        map_type::PERCPU_ARRAY => "per-CPU array",
        map_type::STACK_TRACE => "stack trace map",
        map_type::LRU_HASH => "LRU hash map",
        map_type::LRU_PERCPU_HASH => "LRU per-CPU hash map",
        map_type::LPM_TRIE => "LPM trie",
        map_type::QUEUE => "queue",
        map_type::STACK => "stack",
        map_type::RINGBUF => "ring buffer",
        map_type::BLOOM_FILTER => "bloom filter",
        map_type::ARRAY_OF_MAPS => "array of maps",
        map_type::HASH_OF_MAPS => "hash of maps",
        map_type::USER_RINGBUF => "user ring buffer",
        map_type::TASK_STORAGE => "task storage",
        map_type::DEVMAP => "devmap",
        map_type::DEVMAP_HASH => "devmap hash",
        map_type::CPUMAP => "cpumap",
        map_type::SOCKMAP => "sockmap",
        map_type::SOCKHASH => "sockhash",
        map_type::SK_STORAGE => "socket storage",
        map_type::INODE_STORAGE => "inode storage",
        map_type::CGRP_STORAGE => "cgroup storage",
        map_type::XSKMAP => "XSK map",
        _ => "map of another type",
    }
}

/// `BPF_ANY`: create or update.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: update only.
pub const BPF_EXIST: u64 = 2;
/// `BPF_F_LOCK`: copy a `SpinLocked` value under its lock.
pub const BPF_F_LOCK: u64 = 4;

/// A map the loader created (or reused from a pin). Closing the last file
/// descriptor (dropping the [`crate::Ebpf`] and every program that uses it)
/// frees it, unless it is pinned.
#[derive(Debug)]
pub struct Map {
    pub(crate) name: String,
    pub(crate) fd: OwnedFd,
    pub(crate) map_type: u32,
    pub(crate) key_size: u32,
    pub(crate) value_size: u32,
    pub(crate) max_entries: u32,
    /// For a program array: the first program of the object that tail
    /// calls through it, whose type the kernel makes the array's
    /// (`(program, program type)`), to explain a mismatch.
    pub(crate) tail_call_owner: std::sync::OnceLock<(String, &'static str)>,
    /// For a map of maps: the inner maps' definition, from the object.
    pub(crate) inner: Option<map_in_map::InnerTemplate>,
}

impl Map {
    /// Creates a map on its own, outside any object: for state that only
    /// user space uses, for tests and for benchmarks. It has no BTF, so it
    /// cannot hold a `bpf_spin_lock` or timers. Dropping the `Map` frees it
    /// unless it was [pinned](Map::pin).
    ///
    /// `map_type` is a [`map_type`] constant, `flags` the `BPF_F_*` map
    /// flags (`0`, or `BPF_F_NO_PREALLOC` = 1 for a hash map that allocates
    /// entries on insert). The kernel checks the sizes: a zero size, or a
    /// key size that the type does not allow, is an [`Error::MapCreate`]
    /// with `EINVAL`; a missing privilege is an
    /// [`Error::PermissionDenied`].
    ///
    /// ```no_run
    /// # fn run() -> Result<(), iu::Error> {
    /// use iu::maps::{BPF_ANY, HashMap, Map, map_type};
    /// let map = Map::create("counts", map_type::HASH, 4, 8, 1024, 0)?;
    /// let counts = HashMap::<u32, u64>::new(&map)?;
    /// counts.insert(&1, &10, BPF_ANY)?;
    /// # Ok(()) }
    /// ```
    pub fn create(
        name: &str,
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> Result<Map> {
        let fd = sys::map_create(&sys::MapCreate {
            name,
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: flags,
            map_extra: 0,
            btf: None,
            inner_map_fd: None,
        })
        .map_err(|e| {
            Error::from_syscall(
                format!("creating map `{name}`"),
                SyscallError::new("bpf(BPF_MAP_CREATE)", e),
                crate::error::CAP_BPF_HINT,
                |_, source| Error::MapCreate {
                    name: name.to_owned(),
                    source,
                },
            )
        })?;
        Ok(Map {
            name: name.to_owned(),
            fd,
            map_type,
            key_size,
            value_size,
            max_entries,
            tail_call_owner: std::sync::OnceLock::new(),
            inner: None,
        })
    }

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

    /// Value size in bytes (per CPU for per-CPU maps).
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// Maximum number of entries.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// The kernel's id for the map (as in `bpftool map list`).
    pub fn id(&self) -> Result<u32> {
        sys::map_info(self.fd.as_fd())
            .map(|info| info.id)
            .map_err(|e| self.op_error("reading info", e))
    }

    /// Pins the map at `path` in bpffs (mounting bpffs at `/sys/fs/bpf`
    /// first if needed), so that it outlives the process and can be reused
    /// (see [`crate::EbpfLoader::pin_maps_in`]).
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// ebpf.map("COUNTS")?.pin("/sys/fs/bpf/counts")?;
    /// # Ok(()) }
    /// ```
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        bpffs_root()?;
        sys::obj_pin(self.fd.as_fd(), &c_path(path)?).map_err(|e| self.op_error("pinning", e))
    }

    /// Removes the pin at `path`. The map lives on while anything holds it.
    pub fn unpin(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::remove_file(path).map_err(|source| Error::Io {
            context: format!("unpinning {}", path.display()),
            source,
        })
    }

    /// Checks that the map has one of `types` and the given key and value
    /// sizes (`None`: not checked).
    pub(crate) fn check(
        &self,
        types: &[u32],
        expected: &'static str,
        key: Option<usize>,
        value: Option<usize>,
    ) -> Result<()> {
        if !types.contains(&self.map_type) {
            return Err(Error::WrongMapType {
                name: self.name.clone(),
                expected,
                actual: type_name(self.map_type),
            });
        }
        for (what, expected, actual) in [
            ("key", key, self.key_size),
            ("value", value, self.value_size),
        ] {
            if let Some(expected) = expected
                && expected != actual as usize
            {
                return Err(Error::MapSize {
                    name: self.name.clone(),
                    what,
                    expected,
                    actual: actual as usize,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn op_error(&self, op: &'static str, e: io::Error) -> Error {
        Error::MapOp {
            name: self.name.clone(),
            op,
            source: SyscallError::new("bpf()", e),
        }
    }

    /// Reads the value at `key` into `value`; `Ok(false)` when absent.
    pub(crate) fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool> {
        self.lookup_with(key, value, 0)
    }

    /// As [`Map::lookup`], with `BPF_F_*` flags.
    pub(crate) fn lookup_with(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<bool> {
        match sys::map_lookup_elem(self.fd.as_fd(), key, value, flags) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(self.op_error("lookup", e)),
        }
    }

    pub(crate) fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        sys::map_update_elem(self.fd.as_fd(), key, value, flags)
            .map_err(|e| self.op_error("update", e))
    }

    /// Deletes `key`; `Ok(false)` when it was absent.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<bool> {
        match sys::map_delete_elem(self.fd.as_fd(), key) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(self.op_error("delete", e)),
        }
    }

    /// Calls `f` with every key, walked with `BPF_MAP_GET_NEXT_KEY` through
    /// two reused buffers (no allocation per key).
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut keys = RawKeys::new(self);
        while let Some(key) = keys.next_key()? {
            f(key)?;
        }
        Ok(())
    }
}

/// A walk over a map's keys with `BPF_MAP_GET_NEXT_KEY`, holding the
/// current key and the next one in two buffers it reuses.
#[derive(Debug)]
pub(crate) struct RawKeys<'a> {
    map: &'a Map,
    key: Vec<u8>,
    next: Vec<u8>,
    started: bool,
    done: bool,
}

impl<'a> RawKeys<'a> {
    pub(crate) fn new(map: &'a Map) -> Self {
        let size = map.key_size as usize;
        Self {
            map,
            key: vec![0; size],
            next: vec![0; size],
            started: false,
            done: false,
        }
    }

    /// The next key, or `None` at the end. A key deleted while the walk is
    /// on it makes the kernel start again from the first key, as with
    /// libbpf.
    pub(crate) fn next_key(&mut self) -> Result<Option<&[u8]>> {
        if self.done {
            return Ok(None);
        }
        let more = sys::map_get_next_key(
            self.map.fd.as_fd(),
            self.started.then_some(self.key.as_slice()),
            &mut self.next,
        )
        .map_err(|e| self.map.op_error("iterating keys", e))?;
        if !more {
            self.done = true;
            return Ok(None);
        }
        std::mem::swap(&mut self.key, &mut self.next);
        self.started = true;
        Ok(Some(&self.key))
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Reads a `T` from the start of `bytes` (sized by the caller's checks).
pub(crate) fn read<T: Pod>(bytes: &[u8]) -> T {
    T::from_bytes(bytes).unwrap_or_else(T::zeroed)
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`): the
/// number of values a per-CPU map holds for each key.
pub fn possible_cpus() -> Result<usize> {
    static CPUS: OnceLock<Result<usize, String>> = OnceLock::new();
    CPUS.get_or_init(|| {
        let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .map_err(|e| e.to_string())?;
        parse_cpu_list(&text).ok_or_else(|| format!("cannot parse {text:?}"))
    })
    .clone()
    .map_err(|e| Error::Io {
        context: "reading /sys/devices/system/cpu/possible".into(),
        source: io::Error::other(e),
    })
}

/// Counts the CPUs of a list such as `0-3,5,7-8`.
fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut count = 0;
    for part in text.trim().split(',') {
        count += match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1,
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    Some(count)
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Io {
        context: format!("pin path {}", path.display()),
        source: io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"),
    })
}

const BPFFS: &str = "/sys/fs/bpf";

/// The bpffs mount point, mounting bpffs at `/sys/fs/bpf` if needed.
pub fn bpffs_root() -> Result<&'static Path> {
    static ROOT: OnceLock<Result<(), String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let mounted = nix::sys::statfs::statfs(BPFFS)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BPF_FS_MAGIC);
        if mounted {
            return Ok(());
        }
        nix::mount::mount(
            Some("bpf"),
            BPFFS,
            Some("bpf"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| format!("mounting bpffs at {BPFFS} failed: {e:?} ({}); mount it with `mount -t bpf bpf {BPFFS}`", e.desc()))?;
        log::info!("mounted bpffs at {BPFFS}");
        Ok(())
    })
    .as_ref()
    .map(|()| Path::new(BPFFS))
    .map_err(|e| Error::Io {
        context: "bpffs".into(),
        source: io::Error::other(e.clone()),
    })
}

/// Opens the map pinned at `path` and checks it against the object's
/// definition.
pub(crate) fn open_pinned(
    name: &str,
    path: &Path,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> Result<Option<OwnedFd>> {
    if !path.exists() {
        return Ok(None);
    }
    let fd = sys::obj_get(&c_path(path)?).map_err(|e| Error::MapOp {
        name: name.to_owned(),
        op: "opening the pin",
        source: SyscallError::new("bpf(BPF_OBJ_GET)", e),
    })?;
    let info = sys::map_info(fd.as_fd()).map_err(|e| Error::MapOp {
        name: name.to_owned(),
        op: "reading the pinned map's info",
        source: SyscallError::new("bpf(BPF_OBJ_GET_INFO_BY_FD)", e),
    })?;
    let expected = (map_type, key_size, value_size, max_entries);
    let actual = (
        info.map_type,
        info.key_size,
        info.value_size,
        info.max_entries,
    );
    if expected != actual {
        return Err(Error::PinMismatch {
            name: name.to_owned(),
            path: path.to_owned(),
            detail: format!(
                "pinned: {} key {} value {} max {}, object: {} key {} value {} max {}",
                type_name(actual.0),
                actual.1,
                actual.2,
                actual.3,
                type_name(expected.0),
                expected.1,
                expected.2,
                expected.3
            ),
        });
    }
    Ok(Some(fd))
}

/// The path a map is pinned at under `dir`.
pub(crate) fn pin_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A ring buffer's size as the kernel takes it, a power-of-two number of
/// pages: a size that is not one becomes the next that is (as libbpf
/// makes it), so `max_entries = 10000` asks for at least 10000 bytes. 0
/// stays 0 (a size user space forgot to set, which the kernel refuses).
pub(crate) fn ring_size(requested: u32, page: usize) -> u32 {
    let page = page as u64;
    let requested = u64::from(requested);
    if requested == 0 || (requested.is_multiple_of(page) && (requested / page).is_power_of_two()) {
        return requested as u32;
    }
    (requested.div_ceil(page))
        .checked_next_power_of_two()
        .and_then(|pages| pages.checked_mul(page))
        .and_then(|size| u32::try_from(size).ok())
        .unwrap_or(requested as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ring_sizes_become_power_of_two_pages() {
        use super::ring_size;
        assert_eq!(ring_size(0, 4096), 0);
        assert_eq!(ring_size(4096, 4096), 4096);
        assert_eq!(ring_size(1 << 20, 4096), 1 << 20);
        assert_eq!(ring_size(1, 4096), 4096);
        assert_eq!(ring_size(5000, 4096), 8192);
        assert_eq!(ring_size(3 * 4096, 4096), 4 * 4096);
        assert_eq!(ring_size(u32::MAX, 4096), u32::MAX, "no larger size fits");
    }

    use super::*;

    #[test]
    fn cpu_lists_count() {
        assert_eq!(parse_cpu_list("0-3\n"), Some(4));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-1,4,6-7"), Some(5));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
