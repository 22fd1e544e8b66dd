//! The func and line info of a linked program, read for the verifier's
//! log, panic sites and loop sites.

use crate::source_map::ProgramDebug;

/// The Rust lines of a linked program's calls into panic paths; `btf` is
/// the object's BTF, which holds the line-info strings.
pub(super) fn panic_sites(function: &aya_obj::Function, btf: &[u8]) -> Vec<crate::SourceLine> {
    with_debug(function, btf, |debug| debug.panic_sites(None))
}

/// The Rust lines of a linked program's calls into panic paths from
/// functions other than its entry function, which only `bpf_throw` can
/// leave (see `crate::abort`).
pub(super) fn nested_panic_sites(
    function: &aya_obj::Function,
    btf: &[u8],
) -> Vec<crate::SourceLine> {
    let starts = function
        .func_info
        .func_info
        .iter()
        .map(|f| f.insn_off as usize);
    let calls = crate::abort::nested_panic_calls(&function.instructions, starts);
    with_debug(function, btf, |debug| debug.panic_sites(Some(&calls)))
}

/// Calls `f` with a linked program's instructions and func and line info;
/// `btf` is the object's BTF, which holds the line-info strings.
pub(super) fn with_debug<R>(
    function: &aya_obj::Function,
    btf: &[u8],
    f: impl FnOnce(&ProgramDebug<'_>) -> R,
) -> R {
    let func_info = function.func_info.func_info_bytes();
    let line_info = distinct_lines(
        function.line_info.line_info_bytes(),
        function.line_info_rec_size,
    );
    f(&ProgramDebug {
        insns: &function.instructions,
        func_info: &func_info,
        func_info_rec_size: function.func_info_rec_size,
        line_info: &line_info,
        line_info_rec_size: function.line_info_rec_size,
        btf,
    })
}

/// Line-info records with one record per instruction: the kernel refuses
/// two at the same offset, which LLVM emits for code that produces no
/// instruction (an empty `asm!` block). The last one describes the
/// instruction.
pub(super) fn distinct_lines(bytes: Vec<u8>, record_size: usize) -> Vec<u8> {
    if record_size < 4 {
        return bytes;
    }
    let records: Vec<&[u8]> = bytes.chunks(record_size).collect();
    let offset = |r: &[u8]| {
        r.get(..4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            records
                .get(i + 1)
                .is_none_or(|next| offset(next) != offset(r))
        })
        .flat_map(|(_, r)| r.iter().copied())
        .collect()
}
