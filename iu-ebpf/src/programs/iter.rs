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

/// What every iterator context starts with: `struct bpf_iter_meta *`,
/// whose fields the contexts read.
#[cfg(target_arch = "bpf")]
mod meta {
    use core::ffi::c_void;

    use crate::Pod;

    const SEQ: usize = 0;
    const SEQ_NUM: usize = 16;

    #[inline(always)]
    fn meta(ctx: *mut c_void) -> *const u8 {
        // SAFETY: `ctx` is this run's `struct bpf_iter__<target>`, whose
        // first field is the (never null) `struct bpf_iter_meta *`.
        unsafe { ctx.cast::<*const u8>().read_volatile() }
    }

    /// `seq_num`.
    #[inline(always)]
    pub fn seq_num(ctx: *mut c_void) -> u64 {
        // SAFETY: `seq_num` is the u64 at 16 of `struct bpf_iter_meta`,
        // which iterator programs may read.
        unsafe { meta(ctx).add(SEQ_NUM).cast::<u64>().read_volatile() }
    }

    /// `bpf_seq_write` of `record`'s bytes.
    #[inline(always)]
    pub fn write<R: Pod>(ctx: *mut c_void, record: &R) -> Result<(), i64> {
        // SAFETY: `seq` is the meta's `struct seq_file *`, which
        // `bpf_seq_write` takes; `record` is `size_of::<R>()` readable
        // bytes.
        let ret = unsafe {
            let seq = meta(ctx).add(SEQ).cast::<*mut c_void>().read_volatile();
            crate::helpers::raw::seq_write(
                seq,
                (record as *const R).cast(),
                core::mem::size_of::<R>() as u32,
            )
        };
        if ret == 0 { Ok(()) } else { Err(ret) }
    }

    /// The pointer field `index` (counting from 0) of the context, after
    /// the meta pointer.
    #[inline(always)]
    pub fn field(ctx: *mut c_void, index: usize) -> u64 {
        // SAFETY: callers read a pointer-sized field their context struct
        // has (`struct bpf_iter__<target>` of the program's section).
        unsafe { ctx.cast::<u64>().add(1 + index).read_volatile() }
    }
}

impl IterTaskContext {
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
        // The second field of `struct bpf_iter__task` is the task pointer
        // (or null); the handle only reads through probe reads.
        #[cfg(target_arch = "bpf")]
        let addr = meta::field(self.ctx, 0);
        #[cfg(not(target_arch = "bpf"))]
        let addr = self.host.0;
        (addr != 0).then(|| T::from_kernel_addr(crate::kernel::KernelAddr::new(addr)))
    }

    /// The number of this call in the walk (0 for the first object).
    #[inline(always)]
    pub fn seq_num(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        return meta::seq_num(self.ctx);
        #[cfg(not(target_arch = "bpf"))]
        self.host.1
    }

    /// Appends `record`'s bytes to what user space reads; `Err` with the
    /// kernel's negative errno (`-EOVERFLOW` when the reader's buffer is
    /// full: the kernel calls again for the same object).
    #[inline(always)]
    pub fn write<R: Pod>(&mut self, record: &R) -> Result<(), i64> {
        #[cfg(target_arch = "bpf")]
        return meta::write(self.ctx, record);
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

/// The context of an `#[iter(bpf_map_elem)]` program
/// (`struct bpf_iter__bpf_map_elem`): one entry of the map chosen when the
/// iterator is attached (`iu::programs::Iter::attach_map`), `K` and `V`
/// being its key and value types. The last call has neither.
///
/// The kernel checks at attach time that the map's keys and values are at
/// least `size_of::<K>()` and `size_of::<V>()` bytes (smaller maps are
/// refused with `EACCES`). For per-CPU maps, `value` is the first CPU's.
///
/// ```
/// use iu_ebpf::programs::IterMapElemContext;
/// let mut ctx = IterMapElemContext::<u32, u64>::from_entry(Some((7, 70)), 0);
/// assert_eq!(ctx.key(), Some(&7));
/// assert_eq!(ctx.value(), Some(&70));
/// assert!(ctx.write(&[7u64, 70]).is_ok());
/// ```
pub struct IterMapElemContext<K: Pod, V: Pod> {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    #[cfg(target_arch = "bpf")]
    _types: core::marker::PhantomData<(K, V)>,
    #[cfg(not(target_arch = "bpf"))]
    host: (Option<(K, V)>, u64),
}

impl<K: Pod, V: Pod> IterMapElemContext<K, V> {
    /// The key of this call's entry; `None` on the walk's last call.
    #[inline(always)]
    pub fn key(&self) -> Option<&K> {
        #[cfg(target_arch = "bpf")]
        {
            let key = meta::field(self.ctx, 1) as *const K;
            // SAFETY: `key` of `struct bpf_iter__bpf_map_elem` is null or
            // the entry's key, readable for the map's key size during this
            // run, which the kernel checked at attach time to be at least
            // `size_of::<K>()`; map buffers are 8-byte aligned and `K` is
            // plain data. The borrow ends with the context.
            unsafe { key.as_ref() }
        }
        #[cfg(not(target_arch = "bpf"))]
        self.host.0.as_ref().map(|(k, _)| k)
    }

    /// The value of this call's entry; `None` on the walk's last call.
    #[inline(always)]
    pub fn value(&self) -> Option<&V> {
        #[cfg(target_arch = "bpf")]
        {
            let value = meta::field(self.ctx, 2) as *const V;
            // SAFETY: as for `key`, with the value's size (checked at
            // attach time against `size_of::<V>()`).
            unsafe { value.as_ref() }
        }
        #[cfg(not(target_arch = "bpf"))]
        self.host.0.as_ref().map(|(_, v)| v)
    }

    /// The number of this call in the walk (0 for the first entry).
    #[inline(always)]
    pub fn seq_num(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        return meta::seq_num(self.ctx);
        #[cfg(not(target_arch = "bpf"))]
        self.host.1
    }

    /// Appends `record`'s bytes to what user space reads (see
    /// [`IterTaskContext::write`]).
    #[inline(always)]
    pub fn write<R: Pod>(&mut self, record: &R) -> Result<(), i64> {
        #[cfg(target_arch = "bpf")]
        return meta::write(self.ctx, record);
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = record;
            Ok(())
        }
    }

    /// A context for the entry `entry` (`None`: the last call), for unit
    /// tests on the host (where `write` keeps nothing).
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_entry(entry: Option<(K, V)>, seq_num: u64) -> Self {
        Self {
            host: (entry, seq_num),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl<K: Pod, V: Pod> super::FromRawContext<super::kind::IterMapElem> for IterMapElemContext<K, V> {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            ctx,
            _types: core::marker::PhantomData,
        }
    }
}

impl<K: Pod, V: Pod> super::private::Sealed for IterMapElemContext<K, V> {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}

/// The context of an `#[iter(tcp)]` program (`struct bpf_iter__tcp`): one
/// TCP socket of the reader's network namespace (listening, established,
/// time-wait or request socket) per call, none on the last call.
///
/// ```
/// use iu_ebpf::programs::IterTcpContext;
/// let ctx = IterTcpContext::from_socket(0x1000, 1000, 3);
/// assert_eq!(ctx.uid(), 1000);
/// assert_eq!(ctx.seq_num(), 3);
/// ```
pub struct IterTcpContext {
    #[cfg(target_arch = "bpf")]
    ctx: *mut c_void,
    #[cfg(not(target_arch = "bpf"))]
    host: (u64, u32, u64),
}

impl IterTcpContext {
    /// The socket of this call, as a generated `sock_common` handle
    /// (`cargo xtask codegen vmlinux sock_common:skc_num,skc_dport,...`):
    /// every TCP socket starts with one. `None` on the walk's last call.
    #[inline(always)]
    pub fn sock_common<T: KernelType<Addr = crate::kernel::KernelAddr>>(&self) -> Option<T> {
        const {
            assert!(
                crate::kernel::same(T::TYPE_NAME, "sock_common"),
                "IterTcpContext::sock_common: the type is not the handle of sock_common"
            )
        };
        // The second field of `struct bpf_iter__tcp` is the socket (or
        // null); the handle only reads through probe reads.
        #[cfg(target_arch = "bpf")]
        let addr = meta::field(self.ctx, 0);
        #[cfg(not(target_arch = "bpf"))]
        let addr = self.host.0;
        (addr != 0).then(|| T::from_kernel_addr(crate::kernel::KernelAddr::new(addr)))
    }

    /// The socket owner's uid, in the reader's user namespace (0 on the
    /// last call).
    #[inline(always)]
    pub fn uid(&self) -> u32 {
        #[cfg(target_arch = "bpf")]
        // `uid` is the (8-byte aligned) u32 after the socket pointer.
        return meta::field(self.ctx, 1) as u32;
        #[cfg(not(target_arch = "bpf"))]
        self.host.1
    }

    /// The number of this call in the walk (0 for the first socket).
    #[inline(always)]
    pub fn seq_num(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        return meta::seq_num(self.ctx);
        #[cfg(not(target_arch = "bpf"))]
        self.host.2
    }

    /// Appends `record`'s bytes to what user space reads (see
    /// [`IterTaskContext::write`]).
    #[inline(always)]
    pub fn write<R: Pod>(&mut self, record: &R) -> Result<(), i64> {
        #[cfg(target_arch = "bpf")]
        return meta::write(self.ctx, record);
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = record;
            Ok(())
        }
    }

    /// A context for the socket at `addr` (0: the last call), for unit
    /// tests on the host (where `write` keeps nothing).
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_socket(addr: u64, uid: u32, seq_num: u64) -> Self {
        Self {
            host: (addr, uid, seq_num),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::IterTcp> for IterTcpContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self { ctx }
    }
}

impl super::private::Sealed for IterTcpContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.ctx
    }
}
