//! Loop budgets: a program the verifier refuses for its loops is loaded
//! again with a runtime budget on every loop (`may_goto` on 6.9+, numeric
//! iterators on 6.4+), counted in a map the loader creates
//! (docs/safety.md, "Loops").

use std::os::fd::OwnedFd;

use aya_obj::generated::bpf_map_type;

use super::{
    btf::kernel_function_id,
    debug_info::{distinct_lines, with_debug},
    explain::{refusal, verifier_error, with_hint},
};
use crate::{
    error::{Error, Result},
    features,
    maps::Map,
    sys::{self, ProgBtfInfo, ProgLoad},
};

/// The map the loader creates for loop-budget exhaustion counts.
pub(crate) const LOOP_BUDGET_MAP: &str = "iu_loop_budget";

/// Loads a program. The first attempt asks for no log (the fast path). If
/// the verifier refuses it and the program has loops, gives every loop a
/// runtime budget counted in slot `slot` of the map `counter` returns and
/// loads that: with `may_goto` (Linux 6.9+), and if that is refused too,
/// with open-coded numeric iterators (Linux 6.4+), at whose `next` the
/// verifier forgets counters it tracks exactly; each also with the loops'
/// counters forgotten at their entry (docs/safety.md, "Loops"). Returns the program and whether it runs with budgets.
pub(super) fn load_with_budget(
    spec: &ProgLoad<'_>,
    function: &aya_obj::Function,
    btf: &[u8],
    log_size: usize,
    slot: u32,
    kind: LoopBudget,
    counter: Option<impl FnOnce() -> Result<i32>>,
) -> Result<(OwnedFd, bool)> {
    let debug_of = |function: &aya_obj::Function| {
        with_debug(function, btf, |debug| (debug.files(), debug.lines()))
    };
    let first = match sys::prog_load(spec, &mut [], 0) {
        Ok(fd) => return Ok((fd, false)),
        Err(first) => first,
    };
    let has_loop = crate::loop_budget::has_loop(&function.instructions);
    let eperm = first.error.raw_os_error() == Some(libc::EPERM);
    let iterators = iterator_kfuncs().filter(|_| kind != LoopBudget::MayGoto);
    let can_budget =
        (kind != LoopBudget::Iterator && features::loop_budget()) || iterators.is_some();
    let versions = match counter {
        Some(counter) if has_loop && !eperm && can_budget => {
            budgeted_versions(function, counter()?, slot, iterators, kind)
        }
        _ => vec![],
    };
    if versions.is_empty() {
        let error = match refusal(spec, first, log_size, || debug_of(function)) {
            Ok(fd) => return Ok((fd, false)),
            Err(e) => e,
        };
        if !(has_loop && is_loop_error(&error)) {
            return Err(error);
        }
        let hint = if can_budget {
            "the verifier gave up on a loop, and iu could not give it a runtime budget (it found no exit for the loop or no free register there); bound it with `iu_ebpf::loops::while_bounded` or `loops::for_range`"
        } else {
            "the verifier gave up on a loop whose bound it cannot prove. Plain `while`/`loop` loops like this need Linux 6.4+, where iu gives every loop a runtime budget itself (an open-coded iterator, or may_goto on 6.9+); on this kernel bound the loop with `iu_ebpf::loops::while_bounded` or `loops::for_range`"
        };
        return Err(with_hint(error, hint.to_owned()));
    };
    let infos: Vec<(Vec<u8>, Vec<u8>)> = versions
        .iter()
        .map(|(_, patched)| {
            (
                patched.func_info.func_info_bytes(),
                distinct_lines(
                    patched.line_info.line_info_bytes(),
                    patched.line_info_rec_size,
                ),
            )
        })
        .collect();
    let specs: Vec<ProgLoad<'_>> = versions
        .iter()
        .zip(&infos)
        .map(|((_, patched), (func_info, line_info))| ProgLoad {
            insns: &patched.instructions,
            btf: ProgBtfInfo {
                func_info,
                line_info,
                ..spec.btf.clone()
            },
            ..spec.clone()
        })
        .collect();
    let mut refused = vec![];
    for (with_budget, (how, _)) in specs.iter().zip(&versions) {
        match sys::prog_load(with_budget, &mut [], 0) {
            Ok(fd) => {
                log::debug!("program `{}` loaded with loop budgets ({how})", spec.name);
                return Ok((fd, true));
            }
            Err(again) => refused.push(again),
        }
    }
    let original = match refusal(spec, first, log_size, || debug_of(function)) {
        Ok(fd) => return Ok((fd, false)),
        Err(e) => e,
    };
    if !is_loop_error(&original) {
        return Err(original);
    }
    let cause = verifier_error(&original);
    // The first budgeted version's refusal: `may_goto` where the kernel
    // has it, whose log reads like the program's own.
    let (Some(again), Some(with_budget), Some((_, patched))) =
        (refused.into_iter().next(), specs.first(), versions.first())
    else {
        return Err(original);
    };
    let budgeted = match refusal(with_budget, again, log_size, || debug_of(patched)) {
        Ok(fd) => return Ok((fd, true)),
        Err(e) => e,
    };
    Err(with_hint(
        budgeted,
        format!(
            "the verifier gave up on a loop of the program as written ({cause}); iu gave every loop a runtime budget and loaded it again, and the verifier refused that as shown. A loop whose state keeps changing (an offset that only grows and is used to reach memory) never settles for the verifier; bound it with `iu_ebpf::loops::while_bounded` or `loops::for_range`"
        ),
    ))
}

/// The program with loop budgets, in the order to try them: `may_goto`
/// (cheapest at run time) where the kernel has it, then numeric
/// iterators; each alone, then with the loops' counters forgotten where
/// they enter a loop (`forget_loop_counters`), which costs the code after
/// the loop what the verifier knew of them.
fn budgeted_versions(
    function: &aya_obj::Function,
    counter_fd: i32,
    slot: u32,
    iterators: Option<crate::loop_budget::IterKfuncs>,
    kind: LoopBudget,
) -> Vec<(&'static str, aya_obj::Function)> {
    use crate::loop_budget::{Budgeted, add, add_iterators, forget_loop_counters};
    use aya_obj::generated::bpf_insn;
    let insns = &function.instructions;
    let offset = ((slot + 1) * 8) as i32;
    let forgetful = forget_loop_counters(insns, counter_fd, 0);
    let with_forgetting = |budget: &dyn Fn(&[bpf_insn]) -> Option<Budgeted>| {
        let forgetful = forgetful.as_ref()?;
        Some(forgetful.clone().then(budget(&forgetful.insns)?))
    };
    let may_goto = |insns: &[bpf_insn]| {
        (kind != LoopBudget::Iterator && features::loop_budget())
            .then(|| add(insns, counter_fd, offset))
            .flatten()
    };
    let iterators = |insns: &[bpf_insn]| {
        iterators
            .filter(|_| kind != LoopBudget::MayGoto)
            .and_then(|kfuncs| add_iterators(insns, counter_fd, offset, kfuncs))
    };
    [
        ("may_goto", may_goto(insns)),
        (
            "may_goto, loop counters forgotten",
            with_forgetting(&may_goto),
        ),
        ("iterators", iterators(insns)),
        (
            "iterators, loop counters forgotten",
            with_forgetting(&iterators),
        ),
    ]
    .into_iter()
    .filter_map(|(how, budgeted)| Some((how, with_budgets(function, &budgeted?))))
    .collect()
}

/// The runtime budget the loader gives a program's plain loops
/// ([`EbpfLoader::loop_budget`](crate::EbpfLoader::loop_budget)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopBudget {
    /// `may_goto` (Linux 6.9+), and numeric iterators where the kernel
    /// has no `may_goto` or the program did not load with it.
    #[default]
    Any,
    /// Only `may_goto`.
    MayGoto,
    /// Only open-coded numeric iterators (`bpf_iter_num`, Linux 6.4+).
    Iterator,
}

/// The kernel's numeric iterator kfuncs (Linux 6.4+), if it has them.
fn iterator_kfuncs() -> Option<crate::loop_budget::IterKfuncs> {
    let id = |name| kernel_function_id(name).and_then(|id| i32::try_from(id).ok());
    Some(crate::loop_budget::IterKfuncs {
        new: id("bpf_iter_num_new")?,
        next: id("bpf_iter_num_next")?,
        destroy: id("bpf_iter_num_destroy")?,
    })
}

/// Whether `error` is the verifier giving up on a loop. Kernels before
/// 6.4 keep the beginning of a log that overflows, so the reason may be
/// cut off; the errno is then what is left: `E2BIG` ("too large"), or
/// `EFAULT`, which 6.1 returns for "The sequence of 8193 jumps is too
/// complex".
fn is_loop_error(error: &Error) -> bool {
    matches!(error, Error::Verifier { log, errno, .. }
        if log.error().is_some_and(crate::loop_budget::is_loop_refusal)
            || (matches!(errno.as_str(), "E2BIG" | "EFAULT") && log.is_truncated()))
}

/// The one-element array whose value holds a loop-budget exhaustion count
/// per program (`programs` slots of 8 bytes), addressed directly by the
/// inserted code.
pub(super) fn create_loop_counter(programs: usize) -> Result<Map> {
    Map::create(
        LOOP_BUDGET_MAP,
        bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        4,
        8 * (programs as u32 + 1),
        1,
        0,
    )
}

/// A copy of `function` with `budgeted`'s instructions, and its func-info
/// and line-info records moved with them.
fn with_budgets(
    function: &aya_obj::Function,
    budgeted: &crate::loop_budget::Budgeted,
) -> aya_obj::Function {
    let mut patched = function.clone();
    patched.instructions = budgeted.insns.clone();
    for info in &mut patched.func_info.func_info {
        info.insn_off = budgeted.moved(info.insn_off);
    }
    for info in &mut patched.line_info.line_info {
        info.insn_off = budgeted.moved(info.insn_off);
    }
    log::debug!(
        "program `{}`: {} loops got a runtime budget",
        function.name,
        budgeted.loops
    );
    patched
}
