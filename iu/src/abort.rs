//! How a panic leaves a program: by an `exit` in the program's own frame
//! where it can, by `bpf_throw` only where it must.
//!
//! A panic ends in calls of functions that never return
//! (`core::panicking::*`, then iu's handler `iu_ebpf::panic::abort`, which
//! counts the abort and calls the `bpf_throw` placeholder). When every
//! call into that path is made from the program's entry function (the
//! compiler inlined the program's code into it, as it does by default),
//! the loader replaces each call with a jump to one copy of the handler's
//! counting code placed after the entry function, ending in
//! `r0 = <on_panic>; exit`. An `exit` in the entry frame ends the program
//! with `r0`, so this works in every program type and on every kernel,
//! where the kernel allows `bpf_throw` only in some types (XDP, tc,
//! syscall, ...) and only from Linux 6.7. The panic path's own functions
//! are then no longer called and are left out of the program.
//!
//! A panic reached inside a function that was not inlined (a BPF
//! subprogram) cannot be left that way: an `exit` there only returns to
//! the caller. Such programs keep `bpf_throw`, and are refused where the
//! kernel does not have or allow it, naming the lines.
//!
//! A function counts as part of the panic path when it has no `exit` and
//! reaches the handler. Its other paths, if any, could only loop forever,
//! which the verifier refuses; they are dropped with it.

use aya_obj::generated::{bpf_func_info, bpf_insn, bpf_line_info};
use iu_ebpf::placeholders::THROW;

const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
const OP_JA: u8 = 0x00;
/// `BPF_LD | BPF_IMM | BPF_DW`: a 64-bit immediate over two slots.
const LD_IMM64: u8 = 0x18;
/// `BPF_JMP | BPF_EXIT`.
const EXIT: u8 = 0x95;
/// `BPF_JMP | BPF_JA`.
const JA: u8 = 0x05;
/// `BPF_ALU64 | BPF_MOV | BPF_X`.
const MOV64_REG: u8 = 0xbf;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_FUNC: u8 = 4;

/// A relative reference of an instruction to another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// A jump inside the function.
    Jump,
    /// A BPF-to-BPF call.
    Call,
    /// A function's address (a `bpf_loop` callback).
    FuncRef,
}

/// The instruction `insn` (at `at`) refers to, if it refers to one.
fn reference(insn: &bpf_insn, at: usize) -> Option<(Edge, i64)> {
    let class = insn.code & 0x07;
    let op = insn.code & 0xf0;
    let at = at as i64;
    if insn.code == LD_IMM64 && insn.src_reg() == PSEUDO_FUNC {
        return Some((Edge::FuncRef, at + i64::from(insn.imm) + 1));
    }
    if class != CLASS_JMP && class != CLASS_JMP32 {
        return None;
    }
    match op {
        OP_CALL if insn.src_reg() == PSEUDO_CALL => {
            Some((Edge::Call, at + i64::from(insn.imm) + 1))
        }
        OP_CALL | OP_EXIT => None,
        // `gotol`: the offset is in `imm`.
        OP_JA if class == CLASS_JMP32 => Some((Edge::Jump, at + i64::from(insn.imm) + 1)),
        _ => Some((Edge::Jump, at + i64::from(insn.off) + 1)),
    }
}

/// Points the reference of `insn` (now at `at`) to `target`.
fn retarget(insn: &mut bpf_insn, at: usize, target: usize) -> Option<()> {
    let (edge, _) = reference(insn, at)?;
    let delta = target as i64 - at as i64 - 1;
    let class = insn.code & 0x07;
    if edge == Edge::Jump && !(class == CLASS_JMP32 && insn.code & 0xf0 == OP_JA) {
        insn.off = i16::try_from(delta).ok()?;
    } else {
        insn.imm = i32::try_from(delta).ok()?;
    }
    Some(())
}

fn is_throw(insn: &bpf_insn) -> bool {
    insn.code == (CLASS_JMP | OP_CALL) && insn.src_reg() == 0 && insn.imm as u32 == THROW
}

fn plain(code: u8, dst: u8, src: u8, off: i16) -> bpf_insn {
    bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: bpf_insn::new_bitfield_1(dst, src),
        off,
        imm: 0,
    }
}

/// A linked program cut into its functions.
struct Layout {
    /// `[start, end)` of each function; the entry function first.
    functions: Vec<(usize, usize)>,
    /// Per function: whether it is part of a panic path.
    panics: Vec<bool>,
}

impl Layout {
    fn new(insns: &[bpf_insn], func_starts: impl Iterator<Item = usize>) -> Option<Self> {
        let mut starts: Vec<usize> = func_starts.chain([0]).collect();
        for (at, insn) in insns.iter().enumerate() {
            if let Some((Edge::Call | Edge::FuncRef, target)) = reference(insn, at) {
                starts.push(usize::try_from(target).ok()?);
            }
        }
        starts.retain(|&s| s < insns.len());
        starts.sort_unstable();
        starts.dedup();
        let functions: Vec<(usize, usize)> = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, starts.get(i + 1).copied().unwrap_or(insns.len())))
            .collect();
        let body = |f: (usize, usize)| &insns[f.0..f.1];
        let never_returns: Vec<bool> = functions
            .iter()
            .map(|&f| !body(f).iter().any(|i| i.code == EXIT))
            .collect();
        let mut panics: Vec<bool> = functions
            .iter()
            .zip(&never_returns)
            .map(|(&f, &never)| never && body(f).iter().any(is_throw))
            .collect();
        // A function that never returns and calls into a panic path is one.
        loop {
            let mut changed = false;
            for (index, &(start, end)) in functions.iter().enumerate() {
                if panics[index] || !never_returns[index] {
                    continue;
                }
                let calls_panic = (start..end).any(|at| match reference(&insns[at], at) {
                    Some((Edge::Call, target)) => functions
                        .iter()
                        .position(|&(s, _)| s as i64 == target)
                        .is_some_and(|callee| panics[callee]),
                    _ => false,
                });
                if calls_panic {
                    panics[index] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Some(Self { functions, panics })
    }

    fn function_at(&self, start: i64) -> Option<usize> {
        self.functions.iter().position(|&(s, _)| s as i64 == start)
    }

    /// Calls into a panic path: `(caller function, instruction)`.
    fn panic_calls<'a>(
        &'a self,
        insns: &'a [bpf_insn],
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.functions
            .iter()
            .enumerate()
            .filter(|(index, _)| !self.panics[*index])
            .flat_map(move |(index, &(start, end))| {
                (start..end).filter_map(move |at| match reference(&insns[at], at) {
                    Some((Edge::Call, target)) => self
                        .function_at(target)
                        .filter(|&callee| self.panics[callee])
                        .map(|_| (index, at)),
                    _ => None,
                })
            })
    }
}

/// The instructions that call into a panic path from a function other
/// than the entry function, where an `exit` cannot end the program.
pub(crate) fn nested_panic_calls(
    insns: &[bpf_insn],
    func_starts: impl Iterator<Item = usize>,
) -> Vec<usize> {
    let Some(layout) = Layout::new(insns, func_starts) else {
        return vec![];
    };
    layout
        .panic_calls(insns)
        .filter(|&(caller, _)| caller != 0)
        .map(|(_, at)| at)
        .collect()
}

/// Rewrites the panic paths of a linked program into an `exit` from its
/// entry frame (see the module documentation). Returns whether it did; it
/// leaves the program untouched when a panic is reached inside another
/// function, or when the program has no panic path.
pub(crate) fn exit_from_entry(function: &mut aya_obj::Function) -> bool {
    let Some(program) = plan(Program {
        insns: &function.instructions,
        func_info: &function.func_info.func_info,
        line_info: &function.line_info.line_info,
    }) else {
        return false;
    };
    function.instructions = program.0;
    function.func_info.num_info = program.1.len() as u32;
    function.func_info.func_info = program.1;
    function.line_info.num_info = program.2.len() as u32;
    function.line_info.line_info = program.2;
    true
}

/// A linked program's instructions, func info and line info.
struct Program<'a> {
    insns: &'a [bpf_insn],
    func_info: &'a [bpf_func_info],
    line_info: &'a [bpf_line_info],
}

type Rewritten = (Vec<bpf_insn>, Vec<bpf_func_info>, Vec<bpf_line_info>);

fn plan(program: Program<'_>) -> Option<Rewritten> {
    let insns = program.insns;
    let starts = program.func_info.iter().map(|f| f.insn_off as usize);
    let layout = Layout::new(insns, starts)?;
    let calls: Vec<(usize, usize)> = layout.panic_calls(insns).collect();
    if calls.is_empty() || calls.iter().any(|&(caller, _)| caller != 0) {
        return None;
    }
    // The handler: the panic function that calls `bpf_throw`. Its code up
    // to the throw (counting, `r1 = on_panic`) becomes the stub.
    let (handler, throw) = layout
        .functions
        .iter()
        .enumerate()
        .find_map(|(i, &(s, e))| {
            let throw = (s..e).find(|&at| is_throw(&insns[at]))?;
            layout.panics[i].then_some((s, throw))
        })?;
    for (at, insn) in insns.iter().enumerate().take(throw).skip(handler) {
        match reference(insn, at) {
            None => {}
            Some((Edge::Jump, target)) if (handler as i64..=throw as i64).contains(&target) => {}
            Some(_) => return None,
        }
    }
    let mut entry_end = layout.functions[0].1;
    // The `goto self` the loader gave an entry function that ended in a
    // panic call (`placeholders::end_noreturn_functions`) is no longer
    // reached.
    if entry_end >= 2
        && insns[entry_end - 1].code == JA
        && insns[entry_end - 1].off == -1
        && calls.iter().any(|&(_, call)| call == entry_end - 2)
    {
        entry_end -= 1;
    }

    // Functions still reached from the entry once its panic calls are gone.
    let mut kept = vec![false; layout.functions.len()];
    kept[0] = true;
    let mut work = vec![0];
    while let Some(index) = work.pop() {
        let (start, end) = layout.functions[index];
        for (at, insn) in insns.iter().enumerate().take(end).skip(start) {
            if index == 0 && calls.iter().any(|&(_, call)| call == at) {
                continue;
            }
            if let Some((Edge::Call | Edge::FuncRef, target)) = reference(insn, at) {
                let callee = layout.function_at(target)?;
                if !kept[callee] {
                    kept[callee] = true;
                    work.push(callee);
                }
            }
        }
    }
    if kept
        .iter()
        .zip(&layout.functions)
        .any(|(&k, &(s, e))| k && insns[s..e].iter().any(is_throw))
    {
        return None;
    }

    // New positions: the entry function, the stub, the kept functions.
    let mut new_at: Vec<Option<usize>> = vec![None; insns.len()];
    let mut out: Vec<bpf_insn> = Vec::with_capacity(insns.len());
    let mut origin: Vec<usize> = vec![];
    for at in 0..entry_end {
        new_at[at] = Some(out.len());
        out.push(insns[at]);
        origin.push(at);
    }
    let stub = out.len();
    for at in handler..=throw {
        new_at[at] = Some(out.len());
        origin.push(at);
        out.push(if at == throw {
            // `bpf_throw(cookie)` takes the cookie in r1.
            plain(MOV64_REG, 0, 1, 0)
        } else {
            insns[at]
        });
    }
    out.push(plain(EXIT, 0, 0, 0));
    origin.push(usize::MAX);
    for (index, &(start, end)) in layout.functions.iter().enumerate().skip(1) {
        if !kept[index] {
            continue;
        }
        for at in start..end {
            new_at[at] = Some(out.len());
            out.push(insns[at]);
            origin.push(at);
        }
    }
    for (now, &old) in origin.iter().enumerate() {
        if old == usize::MAX {
            continue;
        }
        if calls.iter().any(|&(_, call)| call == old) {
            out[now] = plain(JA, 0, 0, i16::try_from(stub as i64 - now as i64 - 1).ok()?);
            continue;
        }
        if let Some((_, target)) = reference(&insns[old], old) {
            let target = new_at[usize::try_from(target).ok()?]?;
            retarget(&mut out[now], now, target)?;
        }
    }

    let func_info: Vec<bpf_func_info> = program
        .func_info
        .iter()
        // The handler's code now belongs to the entry function.
        .filter(|f| !(handler..=throw).contains(&(f.insn_off as usize)))
        .filter_map(|f| {
            let mut f = *f;
            f.insn_off = new_at.get(f.insn_off as usize).copied().flatten()? as u32;
            Some(f)
        })
        .collect();
    let lines = program.line_info;
    let mut line_info: Vec<bpf_line_info> = lines
        .iter()
        .filter(|l| {
            let at = l.insn_off as usize;
            !(handler..=throw).contains(&at)
        })
        .filter_map(|l| {
            let mut l = *l;
            l.insn_off = new_at.get(l.insn_off as usize).copied().flatten()? as u32;
            Some(l)
        })
        .collect();
    // The stub keeps the handler's lines (in iu-ebpf's panic.rs), so a
    // refusal there (a reference held at the panic) is reported at the
    // program's line that jumped to it, as it was with `bpf_throw`.
    if let Some(first) = lines.iter().rfind(|l| (l.insn_off as usize) <= handler) {
        let mut first = *first;
        first.insn_off = stub as u32;
        line_info.push(first);
    }
    for l in lines
        .iter()
        .filter(|l| ((handler + 1)..=throw).contains(&(l.insn_off as usize)))
    {
        let mut l = *l;
        l.insn_off = new_at[l.insn_off as usize]? as u32;
        line_info.push(l);
    }
    line_info.sort_by_key(|l| l.insn_off);
    Some((out, func_info, line_info))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> bpf_insn {
        let mut i = plain(code, dst, src, off);
        i.imm = imm;
        i
    }
    fn call_fn(at: usize, target: usize) -> bpf_insn {
        insn(0x85, 0, PSEUDO_CALL, 0, target as i32 - at as i32 - 1)
    }
    struct Function {
        instructions: Vec<bpf_insn>,
        func_info: Vec<bpf_func_info>,
        line_info: Vec<bpf_line_info>,
    }

    fn function(insns: Vec<bpf_insn>, starts: &[u32]) -> Function {
        let mut f = Function {
            instructions: insns,
            func_info: vec![],
            line_info: vec![],
        };
        for &s in starts {
            f.func_info.push(bpf_func_info {
                insn_off: s,
                type_id: 1,
            });
            f.line_info.push(bpf_line_info {
                insn_off: s,
                file_name_off: s,
                line_off: 0,
                line_col: 0,
            });
        }
        f
    }

    fn exit_from_entry(f: &mut Function) -> bool {
        let Some((insns, func_info, line_info)) = plan(Program {
            insns: &f.instructions,
            func_info: &f.func_info,
            line_info: &f.line_info,
        }) else {
            return false;
        };
        *f = Function {
            instructions: insns,
            func_info,
            line_info,
        };
        true
    }

    /// entry: 0 if r1 == 0 goto +1; 1 call panic(5); 2 call helper(7);
    /// 3 r0 = 0; 4 exit; panic: 5 call handler(6); handler: 6 r0 = 7;
    /// 7 r1 = r0; 8 call THROW; 9 goto -1. Then 10: a returning
    /// function called by the entry.
    fn program() -> Function {
        let mut insns = vec![
            insn(0x15, 1, 0, 1, 0),
            call_fn(1, 5),
            call_fn(2, 10),
            insn(0xb7, 0, 0, 0, 0),
            insn(EXIT, 0, 0, 0, 0),
            call_fn(5, 6),
            insn(0xb7, 0, 0, 0, 7),
            insn(MOV64_REG, 1, 0, 0, 0),
            insn(0x85, 0, 0, 0, THROW as i32),
            insn(JA, 0, 0, -1, 0),
            insn(0xb7, 0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
        ];
        insns[2] = call_fn(2, 10);
        function(insns, &[0, 5, 6, 10])
    }

    #[test]
    fn entry_frame_panics_become_an_exit_and_the_path_is_dropped() {
        let mut f = program();
        assert!(nested_panic_calls(&f.instructions, [0, 5, 6, 10].into_iter()).is_empty());
        assert!(exit_from_entry(&mut f));
        let codes: Vec<u8> = f.instructions.iter().map(|i| i.code).collect();
        // entry (5), stub: r0 = 7, r1 = r0, r0 = r1, exit; the helper.
        assert_eq!(
            codes,
            [
                0x15, JA, 0x85, 0xb7, EXIT, 0xb7, MOV64_REG, MOV64_REG, EXIT, 0xb7, EXIT
            ]
        );
        assert_eq!(f.instructions[1].off, 3, "jumps to the stub at 5");
        assert_eq!(f.instructions[2].imm, 9 - 2 - 1, "the helper moved to 9");
        let starts: Vec<u32> = f.func_info.iter().map(|i| i.insn_off).collect();
        assert_eq!(starts, [0, 9]);
        let lines: Vec<(u32, u32)> = f
            .line_info
            .iter()
            .map(|l| (l.insn_off, l.file_name_off))
            .collect();
        // The stub has the handler's line.
        assert_eq!(lines, [(0, 0), (5, 6), (9, 10)]);
    }

    #[test]
    fn a_panic_inside_a_called_function_keeps_the_program() {
        // The helper at 10 calls the panic path instead of the entry.
        let mut f = program();
        f.instructions[1] = insn(0xb7, 0, 0, 0, 0);
        f.instructions[10] = call_fn(10, 5);
        assert_eq!(
            nested_panic_calls(&f.instructions, [0, 5, 6, 10].into_iter()),
            [10]
        );
        let before = f.instructions.clone();
        assert!(!exit_from_entry(&mut f));
        assert_eq!(f.instructions.len(), before.len());
    }

    #[test]
    fn a_program_without_panic_path_is_left_alone() {
        let mut f = function(vec![insn(0xb7, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)], &[0]);
        assert!(!exit_from_entry(&mut f));
    }
}
