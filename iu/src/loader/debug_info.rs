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
    let offset = |r: &[u8]| r.first_chunk::<4>().map(|b| u32::from_ne_bytes(*b));
    let repeats = |(r, next): (&[u8], &[u8])| offset(r) == offset(next);
    let pairs = || {
        bytes
            .chunks(record_size)
            .zip(bytes.chunks(record_size).skip(1))
    };
    // Nearly always none: the records go through unchanged.
    if !pairs().any(repeats) {
        return bytes;
    }
    let mut distinct = Vec::with_capacity(bytes.len());
    for (r, next) in pairs() {
        if !repeats((r, next)) {
            distinct.extend_from_slice(r);
        }
    }
    if let Some(last) = bytes.chunks(record_size).last() {
        distinct.extend_from_slice(last);
    }
    distinct
}

#[cfg(test)]
mod tests {
    use super::distinct_lines;

    /// Records of 8 bytes: an instruction offset, then a line.
    fn records(lines: &[(u32, u32)]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|(off, line)| [off.to_ne_bytes(), line.to_ne_bytes()].concat())
            .collect()
    }

    #[test]
    fn the_last_record_of_an_offset_is_kept() {
        let with_repeats = records(&[(0, 1), (0, 2), (3, 4), (5, 6), (5, 7)]);
        assert_eq!(
            distinct_lines(with_repeats, 8),
            records(&[(0, 2), (3, 4), (5, 7)])
        );
        let distinct = records(&[(0, 1), (2, 3)]);
        assert_eq!(distinct_lines(distinct.clone(), 8), distinct);
        assert!(distinct_lines(Vec::new(), 8).is_empty());
    }
}
