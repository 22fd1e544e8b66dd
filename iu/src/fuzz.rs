//! Entry points for the fuzz targets in `fuzz/` (issue #17): each stage of
//! the loader that reads untrusted bytes, without the kernel calls. Not
//! part of the API.

use aya_obj::generated::bpf_insn;

/// A fuzzer's bytes as instructions (8 bytes each, as in an object).
fn insns(bytes: &[u8]) -> Vec<bpf_insn> {
    bytes
        .chunks_exact(8)
        .map(|c| bpf_insn {
            code: c[0],
            _bitfield_align_1: [],
            _bitfield_1: bpf_insn::new_bitfield_1(c[1] & 0xf, c[1] >> 4),
            off: i16::from_le_bytes([c[2], c[3]]),
            imm: i32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// Splits `bytes` into `n` parts at the lengths its first `2 * (n - 1)`
/// bytes give, so that a fuzzer controls every part.
fn split(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    let header = 2 * (n - 1);
    let (lengths, mut rest) = bytes.split_at(header.min(bytes.len()));
    let mut parts = vec![];
    for pair in lengths.chunks(2) {
        let len = usize::from(u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        let (part, tail) = rest.split_at(len.min(rest.len()));
        parts.push(part);
        rest = tail;
    }
    parts.resize(n - 1, &[]);
    parts.push(rest);
    parts
}

/// The whole user-space loader on an object: parsing, section renaming,
/// BTF fixups and sanitising, linking, relocations, line info and the
/// panic-path scan (`check_object`, `panic_paths`,
/// `nested_panic_paths`); everything `Ebpf::load` does before its first
/// `bpf()` call that creates something. `Err` with the message of an
/// error that is a caught parser panic (a crash class iu should refuse
/// before aya-obj).
pub fn object(bytes: &[u8]) -> Result<(), String> {
    let caught = |e: crate::Error| {
        let message = e.to_string();
        if message.contains("parser panicked") {
            Err(message)
        } else {
            Ok(())
        }
    };
    if let Err(e) = crate::check_object(bytes) {
        caught(e)?;
    }
    if let Err(e) = crate::panic_paths(bytes) {
        caught(e)?;
    }
    if let Err(e) = crate::nested_panic_paths(bytes) {
        caught(e)?;
    }
    Ok(())
}

/// The template object whose `.BTF` section [`btf`] replaces.
static TEMPLATE: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();

/// BTF: iu's own parser (kernel and custom BTF, CO-RE) and its queries on
/// every type, then the bytes as the `.BTF` section of a real object
/// (`IU_FUZZ_TEMPLATE`, for example the `hello` object), through the
/// loader's BTF fixups and sanitising.
pub fn btf(bytes: &[u8]) -> Result<(), String> {
    if let Ok(btf) = crate::btf::Btf::parse(bytes) {
        for id in 0..btf.len() as u32 {
            let _ = btf.size_of(id);
            let _ = btf.skip_mods_and_typedefs(id);
            if let Some(t) = btf.get(id) {
                let _ = btf.by_name(&t.name).count();
            }
        }
    }
    let template = TEMPLATE.get_or_init(|| {
        std::env::var_os("IU_FUZZ_TEMPLATE").and_then(|path| std::fs::read(path).ok())
    });
    let Some(template) = template else {
        return Ok(());
    };
    let Some(object) = with_section(template, ".BTF", bytes) else {
        return Ok(());
    };
    self::object(&object)
}

/// `template` with section `name`'s contents replaced by `data`
/// (appended, and the section header pointed at it).
fn with_section(template: &[u8], name: &str, data: &[u8]) -> Option<Vec<u8>> {
    use object::{Object as _, ObjectSection as _};
    let file = object::File::parse(template).ok()?;
    let index = file.section_by_name(name)?.index().0;
    let shoff = u64::from_le_bytes(template.get(40..48)?.try_into().ok()?) as usize;
    let header = shoff + index * 64;
    let mut out = template.to_vec();
    let offset = out.len() as u64;
    out.extend_from_slice(data);
    out.get_mut(header + 24..header + 32)?
        .copy_from_slice(&offset.to_le_bytes());
    out.get_mut(header + 32..header + 40)?
        .copy_from_slice(&(data.len() as u64).to_le_bytes());
    Some(out)
}

/// The section renamer: an object's section names and BTF strings
/// rewritten from libbpf's spellings to aya-obj's, and single names
/// through the section-name tables.
pub fn section_renamer(bytes: &[u8]) {
    if let Ok(file) = object::File::parse(bytes) {
        let _ = crate::section_alias::rename_for_parser(bytes, &file);
        let _ = crate::placeholders::on_panic_values(&file);
    }
    let name = String::from_utf8_lossy(bytes);
    let _ = crate::section_alias::libbpf_section(&name);
    let _ = crate::section_alias::parse_section(&name);
}

/// The placeholder patcher on arbitrary instructions: the slot, on-panic
/// and `bpf_throw` rewrites, the feature rewrite, the abort scan and the
/// end of no-return functions.
pub fn placeholder_patcher(bytes: &[u8]) {
    let (head, body) = bytes.split_at(bytes.len().min(9));
    let word = |at: usize| {
        head.get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    };
    let mut code = insns(body);
    let _ = crate::placeholders::can_abort(&code);
    let throw = (head.first().copied().unwrap_or(0) & 1 == 1).then(|| word(1));
    crate::placeholders::rewrite(&mut code, word(5), i64::from(word(1) as i32), throw);
    crate::placeholders::rewrite_features(&mut code, || bytes.len().is_multiple_of(2));
}

/// The source map: func and line info over instructions and BTF strings,
/// as the verifier-error and panic-path messages read them.
pub fn source_map(bytes: &[u8]) {
    let parts = split(bytes, 5);
    let (rec_sizes, rest) = parts[0].split_at(parts[0].len().min(2));
    let code = insns(parts[1]);
    let debug = crate::source_map::ProgramDebug {
        insns: &code,
        func_info: parts[2],
        func_info_rec_size: usize::from(rec_sizes.first().copied().unwrap_or(8)),
        line_info: parts[3],
        line_info_rec_size: usize::from(rec_sizes.get(1).copied().unwrap_or(16)),
        btf: parts[4],
    };
    let _ = rest;
    let _ = debug.panic_sites(None);
    let _ = debug.panic_sites(Some(&[0, 1, code.len().saturating_sub(1)]));
    for insn in [0, code.len() / 2, code.len().saturating_sub(1), code.len()] {
        let _ = debug.lines_of(insn, 0);
    }
    let _ = debug.stack_chain(Some("fuzz"), Some(512));
    let _ = debug.stack_chain(None, None);
    let _ = debug.lines();
    let _ = debug.files();
}

/// The verifier-log parser: every question iu asks a log.
pub fn verifier_log(bytes: &[u8]) {
    let truncated = bytes.first().is_some_and(|b| b & 1 == 1);
    let log = crate::VerifierLog::new(bytes, truncated);
    let _ = log.error();
    let _ = log.hint();
    let _ = log.source_line();
    let _ = log.program_line();
    let _ = log.failing_insn();
    let _ = log.leaked_insn();
    if let Some(insn) = log.failing_insn() {
        let _ = log.opcode(insn);
    }
    let _ = log.is_empty();
    let line = crate::SourceLine {
        file: "src/main.rs".into(),
        line: 1,
        code: String::new(),
    };
    let _ = log.with_code(line);
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_gives_every_part() {
        let parts = super::split(&[2, 0, 1, 0, b'a', b'b', b'c', b'd'], 3);
        assert_eq!(parts, vec![&b"ab"[..], &b"c"[..], &b"d"[..]]);
        assert_eq!(super::split(&[], 3), vec![&b""[..]; 3]);
    }
}
