//! Iterator programs (`BPF_TRACE_ITER`, Linux 5.8): called once per kernel
//! object while user space reads the iterator, they write records into
//! what it reads.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

use crate::{Pod, kernel::KernelType};

/// The context of an `#[iter(task)]` program (`struct bpf_iter__task`):
/// the task of this call (none on the last call, which ends the walk) and
/// the output.
///
/// ```
/// use iu_ebpf::programs::IterTaskContext;
/// let mut ctx = IterTaskContext::from_task(0x1000, 0);
/// assert_eq!(ctx.seq_num(), 0);
/// assert!(ctx.write(&7u32).is_ok());
/// ```
pub struct IterTaskContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    #[cfg(not(target_arch = "bpf"))]
    host: (u64, u64),
}

/// `struct bpf_iter_meta`'s fields the context reads.
#[cfg(target_arch = "bpf")]
mod meta {
    pub const SEQ: usize = 0;
    pub const SEQ_NUM: usize = 16;
}

impl IterTaskContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn meta(&self) -> *const u8 {
        // SAFETY: `ctx` is this run's `struct bpf_iter__task`, whose first
        // field is the (never null) `struct bpf_iter_meta *`.
        unsafe { self.ctx.cast::<*const u8>().read_volatile() }
    }

    /// The task of this call, as a generated `task_struct` handle
    /// (`cargo xtask codegen vmlinux task_struct:...`); `None` on the
    /// walk's last call.
    #[inline(always)]
    pub fn task<T: KernelType<Addr = crate::kernel::KernelAddr>>(&self) -> Option<T> {
        const {
            assert!(
                crate::kernel::same(T::TYPE_NAME, "task_struct"),
                "IterTaskContext::task: the type is not the handle of task_struct"
            )
        };
        #[cfg(target_arch = "bpf")]
        // SAFETY: the second field of `struct bpf_iter__task` is the task
        // pointer (or null); the handle only reads through probe reads.
        let addr = unsafe { self.ctx.cast::<u64>().add(1).read_volatile() };
        #[cfg(not(target_arch = "bpf"))]
        let addr = self.host.0;
        (addr != 0).then(|| T::from_kernel_addr(crate::kernel::KernelAddr::new(addr)))
    }

    /// The number of this call in the walk (0 for the first object).
    #[inline(always)]
    pub fn seq_num(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        // SAFETY: `seq_num` is the u64 at 16 of `struct bpf_iter_meta`,
        // which iterator programs may read.
        return unsafe { self.meta().add(meta::SEQ_NUM).cast::<u64>().read_volatile() };
        #[cfg(not(target_arch = "bpf"))]
        self.host.1
    }

    /// Appends `record`'s bytes to what user space reads; `Err` with the
    /// kernel's negative errno (`-EOVERFLOW` when the reader's buffer is
    /// full: the kernel calls again for the same object).
    #[inline(always)]
    pub fn write<R: Pod>(&mut self, record: &R) -> Result<(), i64> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `seq` is the meta's `struct seq_file *`, which
            // `bpf_seq_write` takes; `record` is `size_of::<R>()` readable
            // bytes.
            let ret = unsafe {
                let seq = self
                    .meta()
                    .add(meta::SEQ)
                    .cast::<*mut c_void>()
                    .read_volatile();
                crate::helpers::raw::seq_write(
                    seq,
                    (record as *const R).cast(),
                    core::mem::size_of::<R>() as u32,
                )
            };
            if ret == 0 { Ok(()) } else { Err(ret) }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = record;
            Ok(())
        }
    }

    /// A context for the task at `addr` (0: the last call), for unit tests
    /// on the host (where `write` keeps nothing).
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_task(addr: u64, seq_num: u64) -> Self {
        Self {
            host: (addr, seq_num),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::IterTask> for IterTaskContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx }
    }
}

impl super::private::Sealed for IterTaskContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
