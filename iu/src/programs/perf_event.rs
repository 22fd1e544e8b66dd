//! perf_event programs: one perf event per CPU (or one for a process),
//! each with the program attached.

use aya_obj::ProgramSection;

use super::{PerfLink, Program, perf_link};
use crate::{
    error::{Error, Result},
    sys::PerfEventAttr,
};

/// What to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfEventKind {
    /// The CPU clock (`PERF_COUNT_SW_CPU_CLOCK`): works everywhere,
    /// including VMs without a hardware PMU.
    CpuClock,
    /// CPU cycles (`PERF_COUNT_HW_CPU_CYCLES`), where there is a hardware
    /// PMU.
    Cycles,
}

/// How often to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRate {
    /// `n` samples per second.
    Frequency(u64),
    /// One sample every `n` events.
    Period(u64),
}

/// A loaded perf_event program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::programs::{PerfEventKind, SampleRate};
/// let links = ebpf.perf_event("profile")?.attach_all_cpus(PerfEventKind::CpuClock, SampleRate::Frequency(99))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PerfEvent<'a> {
    program: &'a Program,
}

impl<'a> PerfEvent<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::PerfEvent => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a perf_event program",
                actual: program.section_name.clone(),
            }),
        }
    }

    fn attr(kind: PerfEventKind, rate: SampleRate) -> PerfEventAttr {
        let (type_, config) = match kind {
            // PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK.
            PerfEventKind::CpuClock => (1, 0),
            // PERF_TYPE_HARDWARE / PERF_COUNT_HW_CPU_CYCLES.
            PerfEventKind::Cycles => (0, 0),
        };
        let (sample_period, freq) = match rate {
            SampleRate::Frequency(hz) => (hz, true),
            SampleRate::Period(n) => (n, false),
        };
        PerfEventAttr {
            type_,
            config,
            sample_period,
            // Bit 10 of the flags: `freq`.
            flags: if freq { 1 << 10 } else { 0 },
            ..Default::default()
        }
    }

    /// Attaches to one event per online CPU, sampling every task.
    pub fn attach_all_cpus(&self, kind: PerfEventKind, rate: SampleRate) -> Result<Vec<PerfLink>> {
        let attr = Self::attr(kind, rate);
        super::super::maps::online_cpus()
            .map_err(|source| Error::Io {
                context: "reading /sys/devices/system/cpu/online".into(),
                source,
            })?
            .into_iter()
            .map(|cpu| {
                perf_link::attach(
                    self.program,
                    &attr,
                    (-1, cpu as i32),
                    format!("perf event {kind:?} on CPU {cpu}"),
                    None,
                )
            })
            .collect()
    }

    /// Attaches to one event that samples thread `pid` on any CPU, and the
    /// threads and processes it creates from now on (`inherit`).
    pub fn attach_pid(&self, pid: i32, kind: PerfEventKind, rate: SampleRate) -> Result<PerfLink> {
        let mut attr = Self::attr(kind, rate);
        // Bit 1 of the flags: `inherit`.
        attr.flags |= 1 << 1;
        perf_link::attach(
            self.program,
            &attr,
            (pid, -1),
            format!("perf event {kind:?} on process {pid}"),
            None,
        )
    }
}
