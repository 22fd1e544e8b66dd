//! Pinning programs and links in bpffs, and taking them back later (after a
//! restart of the process that loaded them).

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use super::{FdLink, PerfLink, Program, ProgramInfo, SocketFilterLink, TcLink, XdpLink};
use crate::{
    Error, Result,
    sys::{self, SyscallError},
};

fn c_path(path: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Io {
        context: format!("pin path {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "contains a NUL byte"),
    })
}

fn pin_fd(fd: BorrowedFd<'_>, path: &Path, what: &str) -> Result<()> {
    crate::maps::bpffs_root()?;
    sys::obj_pin(fd, &c_path(path)?).map_err(|source| Error::Io {
        context: format!("pinning {what} at {}", path.display()),
        source,
    })
}

fn open_pin(path: &Path) -> Result<OwnedFd> {
    sys::obj_get(&c_path(path)?).map_err(|e| Error::Attach {
        program: path.display().to_string(),
        target: "a bpffs pin".into(),
        hint: (e.raw_os_error() == Some(libc::ENOENT)).then_some("nothing is pinned at that path"),
        source: SyscallError::new("bpf(BPF_OBJ_GET)", e),
    })
}

impl Program {
    /// Pins the program at `path` in bpffs: it stays loaded after this
    /// process exits, until the pin is removed.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        pin_fd(
            self.fd.as_fd(),
            path.as_ref(),
            &format!("program `{}`", self.name),
        )
    }
}

/// A program taken back from a bpffs pin.
///
/// ```no_run
/// let program = iu::programs::PinnedProgram::open("/sys/fs/bpf/my_prog")?;
/// println!("{}", program.info()?.name);
/// program.unpin()?;
/// # Ok::<(), iu::Error>(())
/// ```
#[derive(Debug)]
pub struct PinnedProgram {
    fd: OwnedFd,
    path: PathBuf,
}

impl PinnedProgram {
    /// Opens the program pinned at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        Ok(Self {
            fd: open_pin(&path)?,
            path,
        })
    }

    /// What the kernel reports about the program.
    pub fn info(&self) -> Result<ProgramInfo> {
        super::program_info(self.fd.as_fd()).map_err(|source| Error::Io {
            context: format!("reading the pinned program at {}", self.path.display()),
            source,
        })
    }

    /// Removes the pin; the program unloads once nothing else holds it.
    pub fn unpin(self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|source| Error::Io {
            context: format!("unpinning {}", self.path.display()),
            source,
        })
    }
}

impl AsFd for PinnedProgram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A link that can be pinned: pinned, it keeps its program attached after
/// the link value is dropped and after the process exits.
pub trait Link {
    /// The link's bpf_link descriptor, if it is one (perf events attached
    /// with the older ioctl and socket filters are not).
    fn link_fd(&self) -> Option<BorrowedFd<'_>>;

    /// Pins the link at `path` in bpffs.
    fn pin(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        let fd = self.link_fd().ok_or_else(|| Error::Io {
            context: format!("pinning a link at {}", path.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this attachment is not a bpf_link and cannot be pinned",
            ),
        })?;
        pin_fd(fd, path, "a link")
    }
}

impl Link for PerfLink {
    fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        self.link.as_ref().map(AsFd::as_fd)
    }
}

impl Link for FdLink {
    fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.link.as_fd())
    }
}

impl Link for XdpLink {
    fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        self.link.as_ref().map(AsFd::as_fd)
    }
}

impl Link for TcLink {
    fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        self.link.as_ref().map(AsFd::as_fd)
    }
}

impl Link for SocketFilterLink {
    fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A link taken back from a bpffs pin. Dropping it closes the descriptor;
/// [`PinnedLink::unpin`] also removes the pin, detaching the program once
/// nothing else holds the link.
///
/// ```no_run
/// iu::programs::PinnedLink::open("/sys/fs/bpf/my_link")?.unpin()?;
/// # Ok::<(), iu::Error>(())
/// ```
#[derive(Debug)]
pub struct PinnedLink {
    _fd: OwnedFd,
    path: PathBuf,
}

impl PinnedLink {
    /// Opens the link pinned at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        Ok(Self {
            _fd: open_pin(&path)?,
            path,
        })
    }

    /// Removes the pin; the program detaches when this value drops.
    pub fn unpin(self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|source| Error::Io {
            context: format!("unpinning {}", self.path.display()),
            source,
        })
    }
}
