//! `perf_event_open(2)` and the perf event ioctls.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

/// `struct perf_event_attr` up to `config3` (`PERF_ATTR_SIZE_VER8`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct PerfEventAttr {
    /// `PERF_TYPE_*`.
    pub type_: u32,
    /// Size of this struct.
    pub size: u32,
    /// Type-specific configuration (the tracepoint id, ...).
    pub config: u64,
    /// `sample_period` or `sample_freq`.
    pub sample_period: u64,
    /// `PERF_SAMPLE_*`.
    pub sample_type: u64,
    /// `PERF_FORMAT_*`.
    pub read_format: u64,
    /// The bit field (`disabled`, `inherit`, ..., `freq` at bit 10, ...).
    pub flags: u64,
    /// `wakeup_events` or `wakeup_watermark`.
    pub wakeup_events: u32,
    /// `bp_type`.
    pub bp_type: u32,
    /// `config1` (kprobe function name, ...).
    pub config1: u64,
    /// `config2` (kprobe offset, ...).
    pub config2: u64,
    /// `branch_sample_type`.
    pub branch_sample_type: u64,
    /// `sample_regs_user`.
    pub sample_regs_user: u64,
    /// `sample_stack_user`.
    pub sample_stack_user: u32,
    /// `clockid`.
    pub clockid: i32,
    /// `sample_regs_intr`.
    pub sample_regs_intr: u64,
    /// `aux_watermark`.
    pub aux_watermark: u32,
    /// `sample_max_stack`.
    pub sample_max_stack: u16,
    /// Reserved, zero.
    pub reserved_2: u16,
    /// `aux_sample_size`.
    pub aux_sample_size: u32,
    /// Reserved, zero.
    pub reserved_3: u32,
    /// `sig_data`.
    pub sig_data: u64,
    /// `config3`.
    pub config3: u64,
}

/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// `PERF_TYPE_TRACEPOINT`.
pub const PERF_TYPE_TRACEPOINT: u32 = 2;

/// `perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)`.
pub fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    let mut attr = *attr;
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    // SAFETY: `attr` is a complete `perf_event_attr` whose `size` field is its
    // own size; the kernel only reads it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            pid,
            cpu,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a successful `perf_event_open` returns a new file descriptor
    // that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

mod ioctl {
    nix::ioctl_write_int_bad!(
        /// `PERF_EVENT_IOC_SET_BPF`.
        ioc_set_bpf,
        nix::request_code_write!(b'$', 8, 4)
    );
    nix::ioctl_none!(
        /// `PERF_EVENT_IOC_ENABLE`.
        ioc_enable,
        b'$',
        0
    );
}
use ioctl::{ioc_enable, ioc_set_bpf};

/// `PERF_FORMAT_LOST` (Linux 6.0+): `read()` also returns the number of
/// samples the event lost.
pub const PERF_FORMAT_LOST: u64 = 1 << 4;

/// Reads an event opened with `read_format = PERF_FORMAT_LOST` (and no
/// other format bit): its count of lost samples, which the kernel
/// increments on every output that found the buffer full.
pub fn perf_event_read_lost(event: BorrowedFd<'_>) -> io::Result<u64> {
    let mut values = [0u8; 16];
    let n = nix::unistd::read(event, &mut values)?;
    let lost = values
        .get(8..16)
        .filter(|_| n == 16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short perf event read"))?;
    Ok(u64::from_ne_bytes(lost))
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn perf_event_enable(event: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the ioctl takes no argument; the kernel validates the fd.
    unsafe { ioc_enable(event.as_raw_fd()) }?;
    Ok(())
}

/// `PERF_EVENT_IOC_SET_BPF` then `PERF_EVENT_IOC_ENABLE`: the attach path for
/// kernels without perf bpf_links (before 5.15).
pub fn perf_event_attach_bpf(event: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: both ioctls take the perf event fd and an integer argument
    // (the program fd) or none; the kernel validates both descriptors.
    unsafe {
        ioc_set_bpf(event.as_raw_fd(), prog.as_raw_fd())?;
        ioc_enable(event.as_raw_fd())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_has_the_ver8_size() {
        assert_eq!(std::mem::size_of::<PerfEventAttr>(), 136);
        assert_eq!(std::mem::offset_of!(PerfEventAttr, config1), 56);
    }
}
