//! cgroup device programs (`BPF_PROG_TYPE_CGROUP_DEVICE`, Linux 4.15):
//! allow or deny a cgroup's access to device nodes (the cgroup v2
//! successor of the v1 `devices` controller).

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// `BPF_DEVCG_DEV_*`: [`DeviceContext::device_type`].
pub const BLOCK: u32 = 1;
/// A character device.
pub const CHAR: u32 = 2;

/// `BPF_DEVCG_ACC_*`: the bits of [`DeviceContext::access`].
pub mod access {
    /// `mknod`.
    pub const MKNOD: u32 = 1;
    /// Opening for reading.
    pub const READ: u32 = 2;
    /// Opening for writing.
    pub const WRITE: u32 = 4;
}

/// The context of a `#[cgroup_device]` program: `struct
/// bpf_cgroup_dev_ctx`, the device and the access asked for.
///
/// ```
/// use iu_ebpf::programs::{DeviceContext, cgroup_device};
/// let zero = DeviceContext::from_values(cgroup_device::CHAR, cgroup_device::access::READ, 1, 5);
/// assert_eq!((zero.major(), zero.minor(), zero.access()), (1, 5, 2));
/// ```
pub struct DeviceContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    #[cfg(not(target_arch = "bpf"))]
    values: [u32; 3],
}

impl DeviceContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn field(&self, index: usize) -> u32 {
        // SAFETY: `ctx` is this run's `struct bpf_cgroup_dev_ctx`: three
        // u32s (access_type, major, minor), each readable; `index` < 3.
        unsafe { self.ctx.cast::<u32>().add(index).read_volatile() }
    }

    #[inline(always)]
    fn raw_field(&self, index: usize) -> u32 {
        #[cfg(target_arch = "bpf")]
        return self.field(index);
        #[cfg(not(target_arch = "bpf"))]
        self.values[index]
    }

    /// [`BLOCK`] or [`CHAR`].
    #[inline(always)]
    pub fn device_type(&self) -> u32 {
        self.raw_field(0) & 0xffff
    }

    /// The access asked for: bits of [`access`].
    #[inline(always)]
    pub fn access(&self) -> u32 {
        self.raw_field(0) >> 16
    }

    /// The device's major number.
    #[inline(always)]
    pub fn major(&self) -> u32 {
        self.raw_field(1)
    }

    /// The device's minor number.
    #[inline(always)]
    pub fn minor(&self) -> u32 {
        self.raw_field(2)
    }

    /// A context for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_values(device_type: u32, access: u32, major: u32, minor: u32) -> Self {
        Self {
            values: [(access << 16) | device_type, major, minor],
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::CgroupDevice> for DeviceContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx }
    }
}

impl super::private::Sealed for DeviceContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
