//! Maps instructions back to Rust source lines through the object's BTF
//! line info, to explain verifier rejections that the kernel reports
//! without a line (such as panic paths, refused before any instruction is
//! explored).

use aya_obj::generated::bpf_insn;

use crate::verifier::SourceLine;

/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;
/// `BPF_JMP | BPF_EXIT`.
const EXIT: u8 = 0x95;
/// `src_reg` of a call to a BPF-to-BPF function.
const PSEUDO_CALL: u8 = 1;

/// A program's instructions with its func and line info, as loaded.
pub(crate) struct ProgramDebug<'a> {
    pub insns: &'a [bpf_insn],
    pub func_info: &'a [u8],
    pub func_info_rec_size: usize,
    pub line_info: &'a [u8],
    pub line_info_rec_size: usize,
    /// The object's BTF, for the strings line info points into.
    pub btf: &'a [u8],
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

impl ProgramDebug<'_> {
    /// The source lines of every call into a function that never returns:
    /// the panic paths (`panic_bounds_check`, `unwrap_failed`, ...) that the
    /// verifier refuses with "last insn is not an exit or jmp".
    /// With `only`, just the calls at those instructions.
    pub fn panic_sites(&self, only: Option<&[usize]>) -> Vec<SourceLine> {
        let mut starts: Vec<usize> = self
            .func_info
            .chunks(self.func_info_rec_size.max(1))
            .filter_map(|rec| u32_at(rec, 0).map(|o| o as usize))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let function_of = |insn: usize| {
            let i = starts.partition_point(|&s| s <= insn).checked_sub(1)?;
            Some((
                starts[i],
                starts.get(i + 1).copied().unwrap_or(self.insns.len()),
            ))
        };
        let never_returns = |(start, end): (usize, usize)| {
            self.insns
                .get(start..end)
                .is_some_and(|body| !body.iter().any(|i| i.code == EXIT))
        };
        let mut sites = vec![];
        for (at, insn) in self.insns.iter().enumerate() {
            if insn.code != CALL
                || insn.src_reg() != PSEUDO_CALL
                || only.is_some_and(|only| !only.contains(&at))
            {
                continue;
            }
            let target = at as i64 + insn.imm as i64 + 1;
            let (Some(caller), Some(callee)) = (function_of(at), function_of(target as usize))
            else {
                continue;
            };
            if never_returns(callee) && !never_returns(caller) {
                for line in self.lines_of(at, caller.0) {
                    if !sites.contains(&line) {
                        sites.push(line);
                    }
                }
            }
        }
        sites
    }

    /// The source lines of instruction `insn`, in the function starting at
    /// `function`: the nearest line of the program's own code at or before
    /// it (not in Rust's standard library or iu-ebpf), then the
    /// instruction's own line if it differs. BTF line info keeps only the
    /// innermost inlined line (an inlined `unwrap` reports core's
    /// `result.rs`), so the first is the closest program line the object
    /// records, which can be the statement before the one that panics.
    pub fn lines_of(&self, insn: usize, function: usize) -> Vec<SourceLine> {
        let mut records: Vec<&[u8]> = self
            .line_info
            .chunks(self.line_info_rec_size.max(1))
            .filter(|rec| {
                u32_at(rec, 0).is_some_and(|off| (function..=insn).contains(&(off as usize)))
            })
            .collect();
        records.sort_by_key(|rec| u32_at(rec, 0));
        let lines: Vec<SourceLine> = records.iter().rev().filter_map(|r| self.line(r)).collect();
        let mut out: Vec<SourceLine> = lines
            .iter()
            .find(|l| !crate::verifier::in_library(&l.file) && l.line != 0)
            .cloned()
            .into_iter()
            .collect();
        if let Some(own) = lines.first()
            && !out.contains(own)
        {
            out.push(own.clone());
        }
        out
    }

    /// Every line-info record: the first instruction it covers and its
    /// source line (full path), in instruction order. Kernels before 6.4
    /// print `; <code>` in the verifier log without `@ <file>:<line>`, and
    /// these records name the line.
    pub fn lines(&self) -> Vec<(u32, SourceLine)> {
        self.line_info
            .chunks(self.line_info_rec_size.max(1))
            .filter_map(|rec| Some((u32_at(rec, 0)?, self.line(rec)?)))
            .collect()
    }

    /// Every source file the line info names, as the compiler recorded it
    /// (full paths; the verifier's log shows only their last component).
    pub fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .line_info
            .chunks(self.line_info_rec_size.max(1))
            .filter_map(|rec| self.string(u32_at(rec, 4)?))
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// The source line a line-info record describes.
    fn line(&self, record: &[u8]) -> Option<SourceLine> {
        let file = self.string(u32_at(record, 4)?)?;
        let code = self.string(u32_at(record, 8)?).unwrap_or_default();
        let line = u32_at(record, 12)? >> 10;
        Some(SourceLine {
            file,
            line,
            code: code.trim().to_owned(),
        })
    }

    /// A string of the BTF string section.
    fn string(&self, offset: u32) -> Option<String> {
        let header_len = u32_at(self.btf, 4)? as usize;
        let str_off = u32_at(self.btf, 16)? as usize;
        let str_len = u32_at(self.btf, 20)? as usize;
        let start = header_len + str_off;
        let strings = self.btf.get(start..start + str_len)?;
        let s = strings.get(offset as usize..)?;
        let end = s.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    }
}
