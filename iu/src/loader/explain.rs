//! Why a program load failed, told in the program's terms: the verifier's
//! log with Rust lines, the program's own call where the failing
//! instruction was inlined from a library, and hints for the refusals iu
//! knows (a call under a lock, a too-deep stack, a tail call across
//! program types).

use std::{
    collections::{HashMap, HashSet},
    os::fd::{AsRawFd, OwnedFd},
};

use object::{Object as _, ObjectSection as _};

use super::debug_info::with_debug;
use crate::{
    error::{CAP_BPF_HINT, Error, Result},
    maps::Map,
    sys::{self, ProgLoad, SyscallError},
    verifier::VerifierLog,
};

/// The verifier's own words in `error`.
pub(super) fn verifier_error(error: &Error) -> String {
    match error {
        Error::Verifier { log, .. } => log.error().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// `error` with `hint` added to its verifier log.
pub(super) fn with_hint(error: Error, hint: String) -> Error {
    match error {
        Error::Verifier { name, errno, log } => Error::Verifier {
            name,
            errno,
            log: log.with_hint(hint),
        },
        other => other,
    }
}

/// A load refused with `EINVAL` because the program tail calls through a
/// program array that a program of another type already owns becomes
/// [`Error::TailCallTypeMismatch`]; other errors stay as they are.
pub(super) fn tail_call_mismatch(
    error: Error,
    name: &str,
    prog_type: u32,
    insns: &[aya_obj::generated::bpf_insn],
    maps: &HashMap<String, Map>,
) -> Error {
    let einval = match &error {
        Error::ProgramLoad { source, .. } => source.errno() == Some(libc::EINVAL),
        Error::Verifier { errno, .. } => errno == "EINVAL",
        _ => false,
    };
    if !einval {
        return error;
    }
    let program_type = crate::programs::type_name(prog_type);
    for map in program_arrays(insns, maps) {
        if let Some((owner, owner_type)) = map.tail_call_owner.get()
            && *owner_type != program_type
        {
            return Error::TailCallTypeMismatch {
                map: map.name.clone(),
                program: name.to_owned(),
                program_type,
                owner: owner.clone(),
                owner_type,
            };
        }
    }
    error
}

/// A verifier refusal whose failing instruction was inlined from library
/// code gets the program's own call that inlined it, from the object's
/// DWARF; a leaked reference gets, as a hint, the program's line that took
/// it. An instruction is found back in the object by its function (func
/// info) and checked against the opcode the log shows, so a program the
/// loader rewrote there keeps the log's own lines.
pub(super) fn with_call_site(
    error: Error,
    function: &aya_obj::Function,
    origins: &HashMap<u32, (usize, u64, u64)>,
    file: &object::File<'_>,
) -> Error {
    let Error::Verifier { name, errno, log } = error else {
        return error;
    };
    // Read only for a refusal: loads that succeed never pay for it.
    let dwarf = crate::inline_chain::Dwarf::new(file);
    let program_call = |insn: u32| -> Option<crate::SourceLine> {
        let opcode = log.opcode(insn)?;
        let (start, type_id) = function
            .func_info
            .func_info
            .iter()
            .filter(|f| f.insn_off <= insn)
            .max_by_key(|f| f.insn_off)
            .map(|f| (f.insn_off, f.type_id))?;
        let &(section, offset, len) = origins.get(&type_id)?;
        let at = offset + u64::from(insn - start) * 8;
        if at >= offset + len {
            return None;
        }
        let bytes = file
            .section_by_index(object::SectionIndex(section))
            .ok()?
            .data()
            .ok()?;
        (*bytes.get(usize::try_from(at).ok()?)? == opcode).then_some(())?;
        dwarf
            .call_sites(section, at)
            .into_iter()
            .rev()
            .find(|site| !crate::verifier::in_library(&site.file))
    };
    let failing = log.failing_insn().and_then(program_call);
    let leaked = log.leaked_insn().and_then(program_call);
    let mut log = match failing {
        Some(site) => log.with_call_site(site),
        None => log,
    };
    if let Some(site) = leaked {
        let site = log.with_code(site);
        let hint = format!(
            "the reference taken at {site} (a ring-buffer reservation, a socket or a kernel object the program must release) is still held where this path ends: release it on every path, also the early returns and panics (`submit` or `discard` a reservation)"
        );
        log = match log.hint() {
            Some(old) => {
                let both = format!("{old}; {hint}");
                log.with_hint(both)
            }
            None => log.with_hint(hint),
        };
    }
    Error::Verifier { name, errno, log }
}

/// A call made while a spin lock is held (a helper, another `lock()`)
/// gets what to do instead.
pub(super) fn explain_lock(error: Error) -> Error {
    let under_lock = matches!(&error, Error::Verifier { log, .. }
        if log.error().is_some_and(|e| e.contains("while holding a lock")));
    if !under_lock || matches!(&error, Error::Verifier { log, .. } if log.hint().is_some()) {
        return error;
    }
    with_hint(
        error,
        "while a `lock()` guard lives, the program may only read and write the locked value: call helpers (and take other locks) before the `lock()` or after the guard's scope ends".to_owned(),
    )
}

/// A refusal for the stack of a call chain gets the chain: each function,
/// its frame and the line of each call.
pub(super) fn explain_stack(error: Error, function: &aya_obj::Function, btf: &[u8]) -> Error {
    let (program, kernel_total) = match &error {
        // "combined stack size of 3 calls is 672. Too large"
        Error::Verifier { name, log, .. } => (
            Some(name.clone()),
            log.full()
                .split("combined stack size of ")
                .nth(1)
                .and_then(|rest| rest.split(" is ").nth(1))
                .and_then(|n| n.split('.').next())
                .and_then(|n| n.trim().parse().ok()),
        ),
        _ => (None, None),
    };
    let too_deep = matches!(&error, Error::Verifier { log, .. } if log.full().contains("combined stack size of"));
    match too_deep.then(|| {
        with_debug(function, btf, |debug| {
            debug.stack_chain(program.as_deref(), kernel_total)
        })
    }) {
        Some(Some(chain)) => with_hint(error, chain),
        _ => error,
    }
}

/// Explains a failed load: loads again with a verifier log (which, rarely,
/// succeeds).
pub(super) fn refusal(
    spec: &ProgLoad<'_>,
    first: sys::ProgLoadError,
    log_size: usize,
    debug: impl FnOnce() -> (Vec<String>, Vec<(u32, crate::SourceLine)>),
) -> Result<OwnedFd> {
    let as_error = |error| SyscallError::new("bpf(BPF_PROG_LOAD)", error);
    if first.error.raw_os_error() == Some(libc::EPERM) {
        return Err(Error::from_syscall(
            format!("loading program `{}`", spec.name),
            as_error(first.error),
            CAP_BPF_HINT,
            |name, source| Error::ProgramLoad { name, source },
        ));
    }
    let mut log = vec![0u8; log_size];
    match sys::prog_load(spec, &mut log, 1) {
        Ok(fd) => Ok(fd),
        Err(second) => {
            let truncated = second.error.raw_os_error() == Some(libc::ENOSPC)
                || second.log_true_size as usize > log.len();
            let (files, lines) = debug();
            let log = VerifierLog::new(&log, truncated)
                .with_files(files)
                .with_lines(lines);
            if log.is_empty() {
                return Err(Error::ProgramLoad {
                    name: spec.name.to_owned(),
                    source: as_error(first.error),
                });
            }
            let errno = first
                .error
                .raw_os_error()
                .map(|e| format!("{:?}", nix::errno::Errno::from_raw(e)))
                .unwrap_or_else(|| first.error.to_string());
            Err(Error::Verifier {
                name: spec.name.to_owned(),
                errno,
                log,
            })
        }
    }
}

/// The program arrays `insns` (a linked program) refers to.
pub(super) fn program_arrays<'m>(
    insns: &[aya_obj::generated::bpf_insn],
    maps: &'m HashMap<String, Map>,
) -> impl Iterator<Item = &'m Map> {
    /// `BPF_LD | BPF_IMM | BPF_DW` with a map's descriptor.
    const LD_MAP_FD: (u8, u8) = (0x18, 1);
    let fds: HashSet<i32> = insns
        .iter()
        .filter(|i| (i.code, i.src_reg()) == LD_MAP_FD)
        .map(|i| i.imm)
        .collect();
    maps.values().filter(move |m| {
        m.map_type == crate::maps::map_type::PROG_ARRAY && fds.contains(&m.fd.as_raw_fd())
    })
}
