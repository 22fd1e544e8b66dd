//! Tracepoint programs: attach through a perf event, with a bpf_link where
//! the kernel has perf links (5.15+) and the perf ioctls otherwise.

use aya_obj::ProgramSection;

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{PERF_TYPE_TRACEPOINT, PerfEventAttr},
    tracefs,
};

/// A loaded tracepoint program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.tracepoint("hello")?.attach_to("syscalls", "sys_enter_dup")?;
/// drop(link); // detaches
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TracePoint<'a> {
    program: &'a Program,
}

impl<'a> TracePoint<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            // USDT programs parse as tracepoints (`section_alias`).
            ProgramSection::TracePoint if !super::is_usdt(&program.section_name) => {
                Ok(Self { program })
            }
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a tracepoint program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// The tracepoint named by the program's section
    /// (`tracepoint/<category>/<name>` or `tp/<category>/<name>`), if any.
    pub fn target(&self) -> Option<(&'a str, &'a str)> {
        let mut parts = self.program.section_name.splitn(3, '/');
        let _kind = parts.next()?;
        Some((parts.next()?, parts.next()?))
    }

    /// Attaches to the tracepoint the program's section names.
    pub fn attach(&self) -> Result<TracePointLink> {
        let (category, name) = self
            .target()
            .ok_or_else(|| Error::NoAttachTarget(self.program.name.clone()))?;
        self.attach_to(category, name)
    }

    /// Attaches to tracepoint `category/name`. The program runs on every
    /// CPU until the returned link is dropped.
    pub fn attach_to(&self, category: &str, name: &str) -> Result<TracePointLink> {
        let target = format!("tracepoint {category}/{name}");
        let id = tracefs::tracepoint_id(category, name)?;
        let attr = PerfEventAttr {
            type_: PERF_TYPE_TRACEPOINT,
            config: id,
            sample_period: 1,
            wakeup_events: 1,
            ..Default::default()
        };
        super::perf_link::attach(
            self.program,
            &attr,
            (-1, 0),
            target,
            Some(
                "EACCES here means the program reads past the end of the tracepoint's record: its context type is larger than the tracepoint's `format`",
            ),
        )
    }
}

/// An attached tracepoint program. Dropping it detaches the program.
pub type TracePointLink = super::PerfLink;
