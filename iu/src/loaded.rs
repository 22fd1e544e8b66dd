//! What every "loaded in the kernel" API shares: walking the ids of one
//! kind of object, opening one by id or by bpffs pin, and the errors that
//! say what to do (missing privilege, unknown id, a pin of another kind).

use std::{
    os::fd::{AsRawFd, OwnedFd},
    path::Path,
};

use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A kind of kernel object with ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Prog,
    Map,
    Link,
    Btf,
}

impl ObjKind {
    /// The word bpftool uses: `prog`, `map`, `link`, `btf`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            ObjKind::Prog => "prog",
            ObjKind::Map => "map",
            ObjKind::Link => "link",
            ObjKind::Btf => "btf",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ObjKind::Prog => "program",
            ObjKind::Map => "map",
            ObjKind::Link => "link",
            ObjKind::Btf => "BTF object",
        }
    }
}

const PRIVILEGE: &str =
    "Reading the kernel's BPF objects by id needs CAP_SYS_ADMIN: run with `sudo`.";

/// A failed call on an object, with the privilege advice.
pub(crate) fn error(what: String, call: &'static str, e: std::io::Error) -> Error {
    Error::from_syscall(
        what,
        SyscallError::new(call, e),
        PRIVILEGE,
        |context, source| Error::Io {
            context,
            source: source.source,
        },
    )
}

/// The ids of every loaded object of `kind`.
pub(crate) fn ids(kind: ObjKind) -> Result<Vec<u32>> {
    let next = match kind {
        ObjKind::Prog => sys::prog_get_next_id,
        ObjKind::Map => sys::map_get_next_id,
        ObjKind::Link => sys::link_get_next_id,
        ObjKind::Btf => return Ok(vec![]),
    };
    let mut out = vec![];
    let mut id = 0;
    while let Some(n) = next(id).map_err(|e| {
        error(
            format!("listing loaded {}s", kind.noun()),
            "bpf(BPF_*_GET_NEXT_ID)",
            e,
        )
    })? {
        out.push(n);
        id = n;
    }
    Ok(out)
}

/// A descriptor of the object of `kind` with id `id`.
pub(crate) fn fd_by_id(kind: ObjKind, id: u32) -> Result<OwnedFd> {
    let get = match kind {
        ObjKind::Prog => sys::prog_get_fd_by_id,
        ObjKind::Map => sys::map_get_fd_by_id,
        ObjKind::Link => sys::link_get_fd_by_id,
        ObjKind::Btf => sys::btf_get_fd_by_id,
    };
    get(id).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            Error::UnknownId {
                kind: kind.word(),
                id,
            }
        } else {
            error(
                format!("opening {} {id}", kind.noun()),
                "bpf(BPF_*_GET_FD_BY_ID)",
                e,
            )
        }
    })
}

/// What a descriptor is, from its `/proc/self/fd` link
/// (`anon_inode:bpf-prog`, ...).
fn fd_kind(fd: &OwnedFd) -> Option<ObjKind> {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    match target.to_str()? {
        "anon_inode:bpf-prog" => Some(ObjKind::Prog),
        "anon_inode:bpf-map" => Some(ObjKind::Map),
        "anon_inode:bpf_link" => Some(ObjKind::Link),
        _ => None,
    }
}

pub(crate) fn c_path(path: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Io {
        context: format!("pin path {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "contains a NUL byte"),
    })
}

/// Opens the object pinned at `path`, which must be of `kind`.
pub(crate) fn open_pin(kind: ObjKind, path: &Path) -> Result<OwnedFd> {
    let fd = sys::obj_get(&c_path(path)?).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOENT) {
            Error::Io {
                context: format!(
                    "opening the pin {}: nothing is pinned there (pins live in bpffs, usually under /sys/fs/bpf)",
                    path.display()
                ),
                source: e,
            }
        } else {
            error(
                format!("opening the pin {}", path.display()),
                "bpf(BPF_OBJ_GET)",
                e,
            )
        }
    })?;
    let actual = fd_kind(&fd);
    if actual != Some(kind) {
        return Err(Error::WrongPinKind {
            path: path.to_owned(),
            expected: kind.noun(),
            actual: match actual {
                Some(ObjKind::Prog) => "a program",
                Some(ObjKind::Map) => "a map",
                Some(ObjKind::Link) => "a link",
                _ => "no program, map or link",
            },
        });
    }
    Ok(fd)
}

/// Pins `fd` (an object of `kind`) at `path` in bpffs.
pub(crate) fn pin(kind: ObjKind, fd: &OwnedFd, path: &Path) -> Result<()> {
    use std::os::fd::AsFd;
    crate::maps::bpffs_root()?;
    sys::obj_pin(fd.as_fd(), &c_path(path)?).map_err(|e| {
        // Outside bpffs the kernel says EPERM even to root.
        if e.raw_os_error() == Some(libc::EPERM) && sys::is_root() {
            return Error::Io {
                context: format!(
                    "pinning {} at {}: the path must be in bpffs (under /sys/fs/bpf)",
                    kind.noun(),
                    path.display()
                ),
                source: e,
            };
        }
        let hint = match e.raw_os_error() {
            Some(libc::EEXIST) => ": something is pinned there already (remove it first)",
            Some(libc::EINVAL) => ": the path must be in bpffs (under /sys/fs/bpf)",
            _ => "",
        };
        error(
            format!("pinning {} at {}{hint}", kind.noun(), path.display()),
            "bpf(BPF_OBJ_PIN)",
            e,
        )
    })
}

/// Removes the pin of an object of `kind` at `path`, after checking what
/// it holds.
pub(crate) fn unpin(kind: ObjKind, path: &Path) -> Result<()> {
    drop(open_pin(kind, path)?);
    std::fs::remove_file(path).map_err(|source| Error::Io {
        context: format!("unpinning {}", path.display()),
        source,
    })
}

/// Reads and parses the BTF object with id `id`.
pub(crate) fn btf(id: u32) -> Result<crate::btf::Btf> {
    use std::os::fd::AsFd;
    let fd = fd_by_id(ObjKind::Btf, id)?;
    let data = sys::btf_data(fd.as_fd()).map_err(|e| {
        error(
            format!("reading BTF object {id}"),
            "bpf(BPF_OBJ_GET_INFO_BY_FD)",
            e,
        )
    })?;
    crate::btf::Btf::parse(data).map_err(|e| Error::Btf(format!("BTF object {id}: {e}")))
}
