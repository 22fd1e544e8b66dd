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

    /// Explains "combined stack size of N calls is M. Too large": the
    /// deepest chain of BPF-to-BPF calls, each function with its frame (as
    /// the verifier counts it: the deepest stack slot it touches, rounded
    /// up to 32 bytes) and the source line of each call, or `None` if the
    /// chain fits.
    pub fn stack_chain(&self, program: Option<&str>, kernel_total: Option<u64>) -> Option<String> {
        /// The verifier's limit for a whole call chain.
        const MAX_STACK: u64 = 512;
        let btf = crate::btf::Btf::parse(self.btf).ok();
        let mut functions: Vec<(usize, String)> = self
            .func_info
            .chunks(self.func_info_rec_size.max(1))
            .filter_map(|rec| {
                let start = u32_at(rec, 0)? as usize;
                let name = btf
                    .as_ref()
                    .and_then(|b| b.get(u32_at(rec, 4)?))
                    .map(|t| t.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("function at instruction {start}"));
                Some((start, name))
            })
            .collect();
        functions.sort();
        functions.dedup_by_key(|(start, _)| *start);
        // No func info (an object without `.BTF.ext`): no chain to name.
        // Found by the `source_map` fuzz target, an index out of bounds.
        if functions.is_empty() {
            return None;
        }
        if let (Some(first), Some(program)) = (functions.first_mut(), program) {
            // The program's own name, not its wrapper's (`entry`).
            first.1 = program.to_owned();
        }
        // Clamped to the code: a func-info record may claim a start far past
        // it, and scanning up to there took seconds per call (found by the
        // `source_map` fuzz target, issue #17).
        let end_of = |i: usize| {
            functions
                .get(i + 1)
                .map_or(self.insns.len(), |f| f.0)
                .min(self.insns.len())
        };
        let index_of = |insn: usize| {
            functions
                .partition_point(|(s, _)| *s <= insn)
                .checked_sub(1)
        };
        let touched: Vec<u64> = (0..functions.len())
            .map(|i| {
                frame_size(
                    self.insns
                        .get(functions[i].0..end_of(i))
                        .unwrap_or_default(),
                )
            })
            .collect();
        // The deepest chain from each function, callees first (a call
        // graph without recursion, which the verifier refuses anyway).
        let calls_of = |i: usize| {
            (functions[i].0..end_of(i)).filter_map(|at| {
                let insn = self.insns.get(at)?;
                (insn.code == CALL && insn.src_reg() == PSEUDO_CALL).then_some(())?;
                let target = usize::try_from(at as i64 + i64::from(insn.imm) + 1).ok()?;
                Some((at, index_of(target)?))
            })
        };
        /// The deepest chain from function `i` and its stack, callees first.
        /// A cycle (recursion) sets `cyclic` and ends the walk: without
        /// that, results found inside a cycle were not memoised and the
        /// walk took exponential time (found by the `source_map` fuzz
        /// target, issue #17).
        fn depth(
            i: usize,
            frames: &[u64],
            deepest: &mut [Option<Chain>],
            calls_of: &dyn Fn(usize) -> Vec<(usize, usize)>,
            seen: &mut Vec<usize>,
            cyclic: &mut bool,
        ) -> Chain {
            if let Some(known) = &deepest[i] {
                return known.clone();
            }
            if *cyclic || seen.contains(&i) {
                *cyclic = true;
                return (frames[i], vec![]);
            }
            seen.push(i);
            let mut best = (frames[i], vec![]);
            for (at, callee) in calls_of(i) {
                let (below, mut chain) = depth(callee, frames, deepest, calls_of, seen, cyclic);
                if *cyclic {
                    return best;
                }
                if frames[i] + below > best.0 {
                    chain.insert(0, (at, callee));
                    best = (frames[i] + below, chain);
                }
            }
            seen.pop();
            deepest[i] = Some(best.clone());
            best
        }
        let calls = |i: usize| calls_of(i).collect::<Vec<_>>();
        // Kernels round each frame up to 16 bytes when the program is
        // JIT-compiled, older ones to 32 (and at least 32): the rounding
        // that gives the kernel's total is the one it used.
        let chain_with = |round: &dyn Fn(u64) -> u64| {
            let frames: Vec<u64> = touched.iter().map(|&t| round(t)).collect();
            let mut deepest = vec![None; functions.len()];
            let mut cyclic = false;
            let (total, chain) = depth(0, &frames, &mut deepest, &calls, &mut vec![], &mut cyclic);
            (total, chain, frames, cyclic)
        };
        let jit = chain_with(&|t| t.div_ceil(16) * 16);
        let (total, chain, frames, cyclic) = match kernel_total {
            Some(total) if total != jit.0 => {
                let old = chain_with(&|t| t.max(1).div_ceil(32) * 32);
                if old.0 == total { old } else { jit }
            }
            _ => jit,
        };
        // Recursion has no deepest chain (and the verifier refuses it).
        if total <= MAX_STACK || cyclic {
            return None;
        }
        let mut out = format!(
            "the deepest chain of calls needs {total} bytes of stack, and BPF allows {MAX_STACK} for a whole chain:\n    `{}`: {} bytes",
            functions[0].1, frames[0]
        );
        let mut caller = 0;
        for (at, callee) in chain {
            let line = self
                .lines_of(at, functions[caller].0)
                .first()
                .map(|l| format!(", called at {l}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "\n    `{}`: {} bytes{line}",
                functions[callee].1, frames[callee]
            ));
            caller = callee;
        }
        out.push_str("\nMake the large locals smaller, keep them in a map value (`PerCpuScratch`) instead of on the stack, or let the compiler inline the calls (`#[inline]`), which shares one frame.");
        Some(out)
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

/// A chain of calls: its stack in bytes and, for each call, the
/// instruction and the index of the function it calls.
type Chain = (u64, Vec<(usize, usize)>);

/// The stack a function's instructions touch: the deepest offset below
/// the frame pointer (`r10`) that a load or store reaches, directly or
/// through a pointer derived from it (`rX = r10; rX += -N`), or that is
/// passed to a call, as the verifier counts a frame.
fn frame_size(body: &[bpf_insn]) -> u64 {
    /// `BPF_REG_10`, the read-only frame pointer.
    const FP: usize = 10;
    /// Instruction classes that write their destination register.
    const LD: u8 = 0x00;
    const LDX: u8 = 0x01;
    const ALU: u8 = 0x04;
    const ALU64: u8 = 0x07;
    /// Classes that store to memory.
    const ST: u8 = 0x02;
    const STX: u8 = 0x03;
    /// `BPF_ALU64 | BPF_MOV | BPF_X` and `BPF_ALU64 | BPF_ADD | BPF_K`.
    const MOV64_REG: u8 = 0xbf;
    const ADD64_IMM: u8 = 0x07;
    let mut deepest: i64 = 0;
    // What each register holds if it is r10 plus an offset.
    let mut derived: [Option<i64>; 11] = [None; 11];
    for insn in body {
        let (dst, src) = (usize::from(insn.dst_reg()), usize::from(insn.src_reg()));
        if dst > FP || src > FP {
            continue;
        }
        let class = insn.code & 0x07;
        let off = i64::from(insn.off);
        let base = |reg: usize| if reg == FP { Some(0) } else { derived[reg] };
        match class {
            LDX => deepest = deepest.min(base(src).map_or(0, |b| b + off)),
            ST | STX => deepest = deepest.min(base(dst).map_or(0, |b| b + off)),
            _ => {}
        }
        match insn.code {
            MOV64_REG => derived[dst] = base(src),
            ADD64_IMM => {
                if let Some(base) = derived[dst].as_mut() {
                    *base += i64::from(insn.imm);
                }
            }
            CALL => {
                // Stack passed to a helper or function counts as used; the
                // call then clobbers r0-r5.
                for arg in &derived[1..6] {
                    deepest = deepest.min(arg.unwrap_or(0));
                }
                derived[..6].fill(None);
            }
            _ if matches!(class, LD | LDX | ALU | ALU64) => derived[dst] = None,
            _ => {}
        }
    }
    deepest.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `source_map` fuzz target: without func info (an object
    /// without `.BTF.ext`), naming the call chain of a refused program
    /// indexed an empty list.
    #[test]
    fn no_func_info_names_no_chain() {
        let insns = [bpf_insn {
            code: EXIT,
            _bitfield_align_1: [],
            _bitfield_1: bpf_insn::new_bitfield_1(0, 0),
            off: 0,
            imm: 0,
        }];
        let debug = ProgramDebug {
            insns: &insns,
            func_info: &[],
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
            btf: &[],
        };
        assert_eq!(debug.stack_chain(Some("prog"), Some(600)), None);
        assert_eq!(debug.stack_chain(None, None), None);
    }

    fn insn(code: u8, src: u8, imm: i32) -> bpf_insn {
        bpf_insn {
            code,
            _bitfield_align_1: [],
            _bitfield_1: bpf_insn::new_bitfield_1(0, src),
            off: 0,
            imm,
        }
    }

    /// Found by the `source_map` fuzz target: 30 functions that all call
    /// each other. Results inside a cycle were not memoised, and the walk
    /// took exponential time (19 inputs a second in the fuzzer).
    #[test]
    fn mutual_recursion_names_no_chain_and_ends_at_once() {
        let n = 30usize;
        let len = n + 1;
        let mut insns = vec![];
        let mut func_info = vec![];
        for k in 0..n {
            func_info.extend_from_slice(&((k * len) as u32).to_le_bytes());
            func_info.extend_from_slice(&0u32.to_le_bytes());
            for j in 0..n {
                let at = k * len + j;
                insns.push(insn(CALL, PSEUDO_CALL, (j * len) as i32 - at as i32 - 1));
            }
            insns.push(insn(EXIT, 0, 0));
        }
        let debug = ProgramDebug {
            insns: &insns,
            func_info: &func_info,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
            btf: &[],
        };
        let start = std::time::Instant::now();
        assert_eq!(debug.stack_chain(Some("prog"), Some(600)), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    /// Found by the `source_map` fuzz target: a func-info record starting
    /// near `u32::MAX` made the call scan walk 4 billion instructions that
    /// do not exist (26 s).
    #[test]
    fn a_function_start_past_the_code_is_not_scanned() {
        let insns = [insn(CALL, PSEUDO_CALL, 0), insn(EXIT, 0, 0)];
        let mut func_info = vec![];
        for start in [0u32, 1, u32::MAX - 1] {
            func_info.extend_from_slice(&start.to_le_bytes());
            func_info.extend_from_slice(&0u32.to_le_bytes());
        }
        let debug = ProgramDebug {
            insns: &insns,
            func_info: &func_info,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
            btf: &[],
        };
        let start = std::time::Instant::now();
        assert_eq!(debug.stack_chain(None, None), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
