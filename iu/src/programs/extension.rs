//! freplace programs (`BPF_PROG_TYPE_EXT`): a program that runs instead of
//! a global function of another loaded program while its link exists.
//! The target is fixed at load time ([`crate::EbpfLoader::extension_target`]);
//! attaching creates the link, and dropping the link puts the original
//! function back.

use std::os::fd::{AsFd, BorrowedFd};

use aya_obj::ProgramSection;

use super::{FdLink, Program};
use crate::{
    btf::{Btf, Kind},
    error::{Error, Result},
    sys,
};

/// A loaded freplace program.
///
/// ```no_run
/// # fn run() -> Result<(), iu::Error> {
/// let target = iu::Ebpf::load_file(iu::object_dir().join("firewall"))?;
/// let ext = iu::EbpfLoader::new()
///     .extension_target("drop_large", target.program("decide")?)?
///     .load_file(iu::object_dir().join("firewall_v2"))?;
/// let link = ext.extension("drop_large")?.attach()?;
/// // `decide` now calls `drop_large` instead of its `verdict`...
/// drop(link);
/// // ... and `verdict` again.
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Extension<'a> {
    program: &'a Program,
}

impl<'a> Extension<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::Extension => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "an freplace program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Replaces the target's function with this program until the link is
    /// dropped. The kernel refuses a second link of the same program
    /// (`EBUSY`).
    pub fn attach(&self) -> Result<ExtensionLink> {
        let target = format!("`{}` of the target program", self.function());
        let link = sys::raw_tracepoint_open(self.program.as_fd(), None).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EBUSY) => Some("the program is attached already: one link at a time"),
                _ => None,
            };
            self.program.attach_error(
                &target,
                "bpf(BPF_RAW_TRACEPOINT_OPEN)",
                e,
                "Attaching freplace programs needs CAP_BPF and CAP_SYS_ADMIN, or root.",
                hint,
            )
        })?;
        Ok(FdLink { link, target })
    }

    /// The function it replaces (from its section, `freplace/<function>`).
    pub fn function(&self) -> &str {
        self.program
            .section_name
            .split_once('/')
            .map_or("", |(_, function)| function)
    }
}

/// An freplace program's link. Dropping it puts the original function
/// back.
pub type ExtensionLink = FdLink;

/// The BTF id of the function `function` in the BTF of the loaded program
/// `target`, or what stands in the way, said for the user.
pub(crate) fn function_btf_id(
    target: BorrowedFd<'_>,
    function: &str,
) -> std::result::Result<u32, String> {
    let info = sys::prog_info(target)
        .map_err(|e| format!("reading the target program's info failed: {e}"))?;
    if info.btf_id == 0 {
        return Err("the target program was loaded without BTF, so the kernel cannot check the replacement's signature; load it with its BTF (iu and libbpf do)".to_owned());
    }
    let btf = sys::btf_get_fd_by_id(info.btf_id)
        .and_then(|fd| sys::btf_data(fd.as_fd()))
        .map_err(|e| format!("reading the target program's BTF failed: {e}"))?;
    let btf = Btf::parse(&btf).map_err(|e| format!("the target program's BTF: {e}"))?;
    if let Some(id) = btf.by_name(function).find(|&id| {
        btf.get(id)
            .is_some_and(|t| t.kind == Kind::Func && t.name == function)
    }) {
        return Ok(id);
    }
    let mut functions: Vec<&str> = (1..btf.len() as u32)
        .filter_map(|id| btf.get(id))
        .filter(|t| t.kind == Kind::Func)
        .map(|t| t.name.as_str())
        .collect();
    functions.sort_unstable();
    Err(format!(
        "the target program has no function `{function}` (its functions: {}); the function must be a global one (`#[replaceable]` in Rust, not `static` in C)",
        functions.join(", ")
    ))
}
