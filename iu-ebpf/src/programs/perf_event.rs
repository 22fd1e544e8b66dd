//! perf_event programs (`BPF_PROG_TYPE_PERF_EVENT`): run on every sample of
//! a perf event, for example a CPU clock at N Hz.

#[cfg(target_arch = "bpf")]
use core::ffi::c_void;

/// The context of a `#[perf_event]` program: the sample
/// (`struct bpf_perf_event_data`).
///
/// ```ignore
/// #[perf_event]
/// fn profile(ctx: PerfEventContext) -> u32 {
///     let stack = STACKS.get_stack_id(&ctx, 0);
///     0
/// }
/// ```
pub struct PerfEventContext {
    #[cfg(target_arch = "bpf")]
    data: *const u8,
    /// On the host: the instruction pointer and sample period.
    #[cfg(not(target_arch = "bpf"))]
    sample: (u64, u64),
}

/// Offsets in `struct bpf_perf_event_data` (x86-64: `pt_regs` first).
#[cfg(target_arch = "bpf")]
mod offset {
    pub const IP: usize = 128;
    pub const SAMPLE_PERIOD: usize = 168;
}

impl PerfEventContext {
    /// The instruction pointer when the sample was taken.
    #[inline(always)]
    pub fn ip(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: `data` is this run's `bpf_perf_event_data`; the offset
            // is that of `regs.ip` inside it.
            unsafe { self.data.add(offset::IP).cast::<u64>().read_volatile() }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sample.0
        }
    }

    /// The event's sample period.
    #[inline(always)]
    pub fn sample_period(&self) -> u64 {
        #[cfg(target_arch = "bpf")]
        {
            // SAFETY: as in `ip`, for `sample_period`.
            unsafe {
                self.data
                    .add(offset::SAMPLE_PERIOD)
                    .cast::<u64>()
                    .read_volatile()
            }
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            self.sample.1
        }
    }

    /// A context for unit tests on the host.
    #[cfg(not(target_arch = "bpf"))]
    pub fn from_sample(ip: u64, sample_period: u64) -> Self {
        Self {
            sample: (ip, sample_period),
        }
    }
}

#[cfg(target_arch = "bpf")]
impl super::FromRawContext<super::kind::PerfEvent> for PerfEventContext {
    #[inline(always)]
    unsafe fn from_raw(ctx: *mut c_void) -> Self {
        Self {
            data: ctx.cast_const().cast(),
        }
    }
}

impl super::private::Sealed for PerfEventContext {
    #[cfg(target_arch = "bpf")]
    #[inline(always)]
    fn raw(&self) -> *mut c_void {
        self.data.cast_mut().cast()
    }
}
