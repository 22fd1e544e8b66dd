//! `PerfEventArray`: per-CPU perf buffers (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`).

use super::MapError;
use super::{map_def, map_type};

/// `BPF_F_CURRENT_CPU`: write to the current CPU's buffer.
#[cfg(target_arch = "bpf")]
const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;

map_def! {
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: events written to the current CPU's
    /// perf buffer, read by user space. The loader sizes it to the number of
    /// possible CPUs.
    ///
    /// ```ignore
    /// #[map]
    /// static EVENTS: PerfEventArray = PerfEventArray::new();
    /// EVENTS.output(&ctx, &event).ok();
    /// ```
    pub struct PerfEventArray<;> {
        r#type: [i32; map_type::PERF_EVENT_ARRAY],
        key_size: [i32; 4],
        value_size: [i32; 4],
    }
    host: super::host::Records<PERF_SIM_BYTES>;
}

/// Bytes of records a simulated `PerfEventArray` holds before `output`
/// fails (the kernel's buffers are sized by user space).
pub const PERF_SIM_BYTES: usize = 256 * 1024;

impl PerfEventArray {
    /// Writes `event` to the current CPU's buffer. Fails when the buffer is
    /// full (user space counts the lost samples).
    #[inline(always)]
    pub fn output<C: crate::programs::Context, T: crate::Pod>(
        &self,
        ctx: &C,
        event: &T,
    ) -> Result<(), MapError> {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: the context is the running program's own; `event` points to
            // `size_of::<T>()` readable bytes.
            super::check(unsafe {
                crate::helpers::raw::perf_event_output(
                    crate::programs::raw_context(ctx),
                    self.as_ptr(),
                    BPF_F_CURRENT_CPU,
                    (event as *const T).cast(),
                    core::mem::size_of::<T>() as u64,
                )
            })
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = ctx;
            if self.sim.output(crate::sim::cpu(), event.as_bytes()) {
                Ok(())
            } else {
                Err(super::host::ENOSPC)
            }
        }
    }

    /// Removes the oldest record and returns the CPU that wrote it and the
    /// record as a `T`, or `None` when there is none (or it is shorter than
    /// a `T`). For tests on the host: what user space would read.
    #[cfg(not(target_arch = "bpf"))]
    pub fn take_record<T: crate::Pod>(&self) -> Option<(u32, T)> {
        let mut value = T::zeroed();
        let (len, cpu) = self.sim.take(value.as_bytes_mut())?;
        (len >= core::mem::size_of::<T>()).then_some((cpu, value))
    }
}
