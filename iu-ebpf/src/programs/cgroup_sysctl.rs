//! cgroup sysctl programs (`BPF_PROG_TYPE_CGROUP_SYSCTL`, Linux 5.2):
//! allow or deny a cgroup's reads and writes of `/proc/sys`.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of a `#[cgroup_sysctl]` program: `struct bpf_sysctl`, the
/// access, and the sysctl's name and value through helpers.
///
/// ```
/// use iu_ebpf::programs::SysctlContext;
/// let ctx = SysctlContext::from_values(false, "kernel/ostype", "Linux\n");
/// let mut name = [0u8; 32];
/// assert_eq!(ctx.name(&mut name), Some(&b"kernel/ostype"[..]));
/// assert!(!ctx.is_write());
/// ```
pub struct SysctlContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    #[cfg(not(target_arch = "bpf"))]
    host: (bool, &'static str, &'static str),
}

impl SysctlContext {
    /// Whether the access is a write.
    #[inline(always)]
    pub fn is_write(&self) -> bool {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `ctx` is this run's `struct bpf_sysctl`, whose first u32
        // (`write`) is readable.
        return unsafe { self.ctx.cast::<u32>().read_volatile() } != 0;
        #[cfg(not(target_arch = "bpf"))]
        self.host.0
    }

    /// The sysctl's full name (`kernel/ostype`), copied into `buf`; `None`
    /// when it does not fit.
    #[inline(always)]
    pub fn name<'b, const N: usize>(&self, buf: &'b mut [u8; N]) -> Option<&'b [u8]> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: helper 101 writes at most `N` bytes (with a NUL) into
            // `buf`, this program's own stack array, for this context.
            let len = unsafe {
                crate::helpers::raw::sysctl_get_name(self.ctx, buf.as_mut_ptr().cast(), N as u64, 0)
            };
            buf.get(..usize::try_from(len).ok()?)
        }
        #[cfg(not(target_arch = "bpf"))]
        copy(self.host.1, buf)
    }

    /// The sysctl's current value as text (`Linux\n`), copied into
    /// `buf`; `None` when it does not fit or cannot be read.
    #[inline(always)]
    pub fn current_value<'b, const N: usize>(&self, buf: &'b mut [u8; N]) -> Option<&'b [u8]> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: helper 102 writes at most `N` bytes into `buf`.
            let len = unsafe {
                crate::helpers::raw::sysctl_get_current_value(
                    self.ctx,
                    buf.as_mut_ptr().cast(),
                    N as u64,
                )
            };
            buf.get(..usize::try_from(len).ok()?)
        }
        #[cfg(not(target_arch = "bpf"))]
        copy(self.host.2, buf)
    }

    /// A context for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(write: bool, name: &'static str, value: &'static str) -> Self {
        Self {
            host: (write, name, value),
        }
    }
}

/// The helpers' copy: the bytes and a NUL, or `None` when they do not fit.
#[cfg(not(target_arch = "bpf"))]
fn copy<'b, const N: usize>(text: &str, buf: &'b mut [u8; N]) -> Option<&'b [u8]> {
    let len = text.len();
    if len >= N {
        return None;
    }
    buf[..len].copy_from_slice(text.as_bytes());
    buf[len] = 0;
    Some(&buf[..len])
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupSysctl> for SysctlContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx }
    }
}

impl super::private::Sealed for SysctlContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
