//! `PerfEventArray`: per-CPU perf buffers (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`).

#[cfg(target_arch = "bpf")]
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
}

#[cfg(target_arch = "bpf")]
impl PerfEventArray {
    /// Writes `event` to the current CPU's buffer. Fails when the buffer is
    /// full (user space counts the lost samples).
    #[inline(always)]
    pub fn output<C: crate::programs::Context, T: crate::Pod>(
        &self,
        ctx: &C,
        event: &T,
    ) -> Result<(), MapError> {
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
}
