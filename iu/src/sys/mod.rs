//! The syscall layer: one function per kernel command, each filling its
//! attribute struct and returning `io::Result` with owned file descriptors.
//! Everything above this module is safe code that never touches `bpf_attr`.
//!
//! Constants come from aya-obj's bindings, generated from the kernel's UAPI
//! headers; the attribute structs are written out here per command, with
//! offsets checked against `include/uapi/linux/bpf.h` by unit tests.

mod bpf;
mod mmap;
pub mod netlink;
mod perf_event;
mod xsk;

pub use bpf::*;
pub use mmap::*;
pub use perf_event::*;
pub use xsk::*;

use std::{fmt, io};

/// A failed system call: which call, and what the kernel said.
#[derive(Debug)]
pub struct SyscallError {
    /// The call that failed, for example `bpf(BPF_PROG_LOAD)`.
    pub call: &'static str,
    /// The error the kernel returned.
    pub source: io::Error,
}

impl SyscallError {
    pub(crate) fn new(call: &'static str, source: io::Error) -> Self {
        Self { call, source }
    }

    /// The errno, if the kernel returned one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno() {
            Some(errno) => {
                let errno = nix::errno::Errno::from_raw(errno);
                write!(f, "{} failed: {errno:?} ({})", self.call, errno.desc())
            }
            None => write!(f, "{} failed: {}", self.call, self.source),
        }
    }
}

impl std::error::Error for SyscallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The running kernel's version as `KERNEL_VERSION(major, minor, patch)`,
/// from `uname`, read once per process (the loader asks for every program
/// and map: 100 `uname` calls per load of a 100-program object).
pub fn kernel_version() -> Option<(u32, u32, u32)> {
    static VERSION: std::sync::OnceLock<Option<(u32, u32, u32)>> = std::sync::OnceLock::new();
    *VERSION.get_or_init(read_kernel_version)
}

fn read_kernel_version() -> Option<(u32, u32, u32)> {
    let uname = nix::sys::utsname::uname().ok()?;
    let release = uname.release().to_str()?;
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Registers a file with tokio's reactor, for files that support `poll`
/// (the trace pipe, ring buffers, perf buffers).
///
/// Fails instead of panicking when called outside a tokio runtime.
pub fn async_fd<T: std::os::fd::AsRawFd>(inner: T) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "not inside a tokio runtime: call this from async code run by tokio",
        ));
    }
    // SAFETY: the types passed here (`File`, `OwnedFd`) own their descriptor,
    // which stays open and unchanged until the `AsyncFd` drops them, and
    // return that same descriptor from every `as_raw_fd` call.
    unsafe { tokio::io::unix::AsyncFd::register(inner) }.map_err(io::Error::from)
}

/// `pidfd_open(pid, 0)`: a descriptor of process `pid` (Linux 5.3), the
/// key of task storage maps.
pub fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: `pidfd_open` takes two integers and returns a new descriptor
    // or -1; nothing is passed by pointer.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// `SO_ATTACH_BPF` / `SO_DETACH_BPF` (`asm-generic/socket.h`).
const SO_ATTACH_BPF: libc::c_int = 50;
const SO_DETACH_BPF: libc::c_int = 27;

/// Attaches socket-filter program `prog` to `socket` (`SO_ATTACH_BPF`).
pub fn socket_attach_bpf(
    socket: std::os::fd::BorrowedFd<'_>,
    prog: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd: libc::c_int = prog.as_raw_fd();
    // SAFETY: `fd` is a live c_int whose size is passed; the kernel only
    // reads it; both descriptors are borrowed for the call.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_BPF,
            (&fd as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Removes the socket filter of `socket` (`SO_DETACH_BPF`).
pub fn socket_detach_bpf(socket: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let unused: libc::c_int = 0;
    // SAFETY: as above; the value is ignored by the kernel.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_DETACH_BPF,
            (&unused as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads the `c_int` socket option `level`/`name` of `socket`.
fn socket_int_option(
    socket: std::os::fd::BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; the kernel writes at most
    // `len` bytes into `value` and the length into `len`.
    let ret = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

/// What a socket is: its domain, type and protocol, and for TCP its state
/// (`TCP_ESTABLISHED` = 1, `TCP_LISTEN` = 10, `TCP_CLOSE` = 7, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketKind {
    /// `AF_*`.
    pub domain: i32,
    /// `SOCK_*`.
    pub sock_type: i32,
    /// `IPPROTO_*`.
    pub protocol: i32,
    /// The TCP state, for TCP sockets.
    pub tcp_state: Option<u8>,
}

/// Describes `socket` (`ENOTSOCK` when it is not one).
pub fn socket_kind(socket: std::os::fd::BorrowedFd<'_>) -> io::Result<SocketKind> {
    use std::os::fd::AsRawFd;
    let domain = socket_int_option(socket, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let sock_type = socket_int_option(socket, libc::SOL_SOCKET, libc::SO_TYPE)?;
    let protocol = socket_int_option(socket, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
    let tcp_state = if protocol == libc::IPPROTO_TCP {
        let mut info = [0u8; 8];
        let mut len = info.len() as libc::socklen_t;
        // SAFETY: `info` is a live 8-byte buffer whose length is in `len`;
        // the kernel copies at most that many bytes of `struct tcp_info`
        // (its first byte is the state).
        let ret = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        (ret == 0 && len > 0).then_some(info[0])
    } else {
        None
    };
    Ok(SocketKind {
        domain,
        sock_type,
        protocol,
        tcp_state,
    })
}

/// The socket's cookie (`SO_COOKIE`): the id BPF programs and socket maps
/// know it by.
pub(crate) fn socket_cookie(socket: std::os::fd::BorrowedFd<'_>) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `cookie` and `len` are live locals; the kernel writes at most
    // 8 bytes.
    let ret = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(cookie)
    }
}

/// Puts the calling thread under a classic-BPF seccomp filter that allows
/// every syscall (`PR_SET_NO_NEW_PRIVS`, then `PR_SET_SECCOMP`). The kernel
/// then runs `__seccomp_filter` on each of the thread's syscalls, and its
/// children inherit the filter. It cannot be removed.
#[cfg(feature = "testing")]
pub fn seccomp_allow_all() -> io::Result<()> {
    // `BPF_RET | BPF_K`, returning `SECCOMP_RET_ALLOW`.
    let allow = libc::sock_filter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: 0x7fff_0000,
    };
    let mut filter = [allow];
    let program = libc::sock_fprog {
        len: 1,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments only changes this thread's
    // no_new_privs flag.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `program` points to one valid instruction in `filter`, both
    // alive for the call; the kernel copies the filter.
    let ret = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &program as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
