//! Loop budgets the loader adds itself: a `may_goto` check (the kernel's
//! runtime loop budget, Linux 6.9+) before every back edge of a program
//! whose plain loops the verifier refused.
//!
//! With the check, the verifier no longer needs to prove that a loop ends:
//! at a `may_goto` it compares the loop's state with the state one
//! iteration earlier and stops once it settles into a range, and at run
//! time the kernel decrements a hidden counter and takes the jump when it
//! reaches zero. The jump goes to a stub that counts the exhaustion in the
//! program's slot of a one-element array (`iu_loop_budget`, addressed
//! directly, so no helper call clobbers registers) and then leaves the
//! loop as a `break` would: through the fall-through of a conditional
//! back edge (the loop's own condition-false exit), or, for a loop that
//! ends in an unconditional jump, through the loop's last exit branch.
//!
//! Every instruction that refers to another by position is moved along:
//! jump offsets (16-bit `off`, and the 32-bit `gotol`), calls of the
//! program's own functions, function addresses (`ld_imm64` of a callback,
//! `bpf_loop`), and the func-info and line-info records. Everything else
//! (map fds, placeholder rewrites, relocations) lives inside instructions
//! and moves with them.

use aya_obj::generated::bpf_insn;

/// `BPF_JMP | BPF_JCOND`, `src_reg` `BPF_MAY_GOTO` (0).
const MAY_GOTO: u8 = 0xe5;
/// `BPF_LD | BPF_IMM | BPF_DW`: a 64-bit constant in two slots.
const LD_IMM64: u8 = 0x18;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
const MOV64_IMM: u8 = 0xb7;
/// `BPF_STX | BPF_DW | BPF_ATOMIC`, `imm` `BPF_ADD`: `lock *(u64 *)(dst + off) += src`.
const ATOMIC_ADD64: u8 = 0xdb;
/// `BPF_JMP | BPF_JA`.
const JA: u8 = 0x05;
/// `src_reg` of a call to a function of the program.
const PSEUDO_CALL: u8 = 1;
/// `src_reg` of an `ld_imm64` of a map value's address (map fd, offset).
const PSEUDO_MAP_VALUE: u8 = 2;
/// `src_reg` of an `ld_imm64` of a function's address.
const PSEUDO_FUNC: u8 = 4;

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> bpf_insn {
    bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: bpf_insn::new_bitfield_1(dst, src),
        off,
        imm,
    }
}

/// Where an instruction's relative reference lives.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    /// `off`: jumps.
    Off,
    /// `imm`: `gotol`, calls of the program's functions, `ld_imm64` of a
    /// function.
    Imm,
}

/// The instruction's relative reference, as (field, target index).
fn reference(insns: &[bpf_insn], i: usize) -> Option<(Field, i64)> {
    let x = &insns[i];
    let class = x.code & 0x07;
    let op = x.code & 0xf0;
    let (field, delta) = match class {
        CLASS_JMP => match op {
            0x80 if x.src_reg() == PSEUDO_CALL => (Field::Imm, i64::from(x.imm)),
            0x80 | 0x90 => return None,
            _ => (Field::Off, i64::from(x.off)),
        },
        CLASS_JMP32 => match op {
            0x00 => (Field::Imm, i64::from(x.imm)),
            0x80 | 0x90 => return None,
            _ => (Field::Off, i64::from(x.off)),
        },
        CLASS_LD if x.code == LD_IMM64 && x.src_reg() == PSEUDO_FUNC => {
            (Field::Imm, i64::from(x.imm))
        }
        _ => return None,
    };
    Some((field, i as i64 + delta + 1))
}

/// Whether the instruction is a jump (not a call or exit) with an offset.
fn is_jump(x: &bpf_insn) -> bool {
    matches!(x.code & 0x07, CLASS_JMP | CLASS_JMP32) && !matches!(x.code & 0xf0, 0x80 | 0x90)
}

/// Whether the jump always goes to its target.
fn is_unconditional(x: &bpf_insn) -> bool {
    x.code & 0xf0 == 0x00
}

/// A loop's back edge that gets a budget.
struct BackEdge {
    /// The back-edge jump.
    at: usize,
    /// Where an exhausted budget leaves the loop.
    exit: usize,
    /// Two registers dead at `exit`, for the counting stub.
    scratch: (u8, u8),
}

/// A program with budgets added.
pub(crate) struct Budgeted {
    pub(crate) insns: Vec<bpf_insn>,
    /// The new index of the first instruction emitted for each old one
    /// (the budget check, where one was put before it).
    pub(crate) start: Vec<u32>,
    /// How many loops got a budget.
    pub(crate) loops: usize,
}

impl Budgeted {
    /// The new index of what was instruction `old`.
    pub(crate) fn moved(&self, old: u32) -> u32 {
        self.start.get(old as usize).copied().unwrap_or(old)
    }
}

/// Whether the program has a loop: a jump back before itself (`goto
/// self`, which ends functions that never return, does not count).
pub(crate) fn has_loop(insns: &[bpf_insn]) -> bool {
    (0..insns.len()).any(|i| {
        is_jump(&insns[i]) && reference(insns, i).is_some_and(|(_, target)| target < i as i64)
    })
}

/// Adds a budget before every back edge of `insns` (a linked program:
/// the entry function and its subprograms), counting exhaustions at byte
/// `offset` of the value of the one-element array `counter_fd`. `None`
/// when no loop can take a budget (none found, or offsets overflow).
pub(crate) fn add(insns: &[bpf_insn], counter_fd: i32, offset: i32) -> Option<Budgeted> {
    let n = insns.len();
    let live = liveness(insns);
    let successors: Vec<Vec<usize>> = (0..n).map(|i| successors(insns, i)).collect();
    let mut predecessors = vec![vec![]; n];
    for (i, next) in successors.iter().enumerate() {
        for &j in next {
            predecessors[j].push(i);
        }
    }
    // Back edges, by loop header.
    let mut latches: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for b in 0..n {
        let x = &insns[b];
        if !is_jump(x) || x.code == MAY_GOTO {
            continue;
        }
        // `goto self` ends functions that never return; it never runs.
        if let Some((_, target)) = reference(insns, b)
            && (0..b as i64).contains(&target)
        {
            latches.entry(target as usize).or_default().push(b);
        }
    }
    let mut edges = vec![];
    for (&header, ends) in &latches {
        // The loop's body: what reaches one of its back edges without
        // passing through the header.
        let mut body = vec![false; n];
        body[header] = true;
        let mut work = ends.clone();
        while let Some(i) = work.pop() {
            if !std::mem::replace(&mut body[i], true) {
                work.extend(predecessors[i].iter().copied());
            }
        }
        // A loop that already spends the budget (`loops::while_budgeted`).
        if (0..n).any(|i| body[i] && insns[i].code == MAY_GOTO) {
            continue;
        }
        // Where the loop can be left, as (from, to).
        let exits: Vec<(usize, usize)> = (0..n)
            .filter(|&i| body[i])
            .flat_map(|i| successors[i].iter().map(move |&j| (i, j)))
            .filter(|&(_, j)| !body[j])
            .collect();
        for &b in ends {
            // A back edge whose condition is the loop's: its fall-through.
            // Otherwise the last way out of the loop, in layout order.
            let exit = exits
                .iter()
                .find(|&&(from, to)| from == b && to == b + 1)
                .or_else(|| exits.iter().max_by_key(|(from, _)| *from))
                .map(|&(_, to)| to);
            let Some(exit) = exit else {
                continue;
            };
            let free: Vec<u8> = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 0]
                .into_iter()
                .filter(|r| live[exit] & (1 << r) == 0)
                .collect();
            let [first, second, ..] = free[..] else {
                continue;
            };
            edges.push(BackEdge {
                at: b,
                exit,
                scratch: (first, second),
            });
        }
    }
    edges.sort_by_key(|e| e.at);
    if edges.is_empty() {
        return None;
    }

    // Lay out the new program; references are fixed once every index is known.
    let mut out: Vec<bpf_insn> = Vec::with_capacity(n + edges.len() * 8);
    let mut start = vec![0u32; n];
    let mut at = vec![0usize; n];
    // (new index, field, old target) of the inserted jumps to old code,
    // and (new index, new target) of those inside the inserted code.
    let mut to_old: Vec<(usize, Field, usize)> = vec![];
    let mut to_new: Vec<(usize, usize)> = vec![];
    let mut edges = edges.into_iter().peekable();
    for i in 0..n {
        start[i] = out.len() as u32;
        let edge = edges.next_if(|e| e.at == i);
        let check = edge.as_ref().map(|_| {
            out.push(insn(MAY_GOTO, 0, 0, 0, 0));
            out.len() - 1
        });
        at[i] = out.len();
        out.push(insns[i]);
        let (Some(edge), Some(check)) = (edge, check) else {
            continue;
        };
        if !is_unconditional(&insns[i]) {
            // The back edge not taken: on as before, over the stub.
            to_old.push((out.len(), Field::Off, i + 1));
            out.push(insn(JA, 0, 0, 0, 0));
        }
        to_new.push((check, out.len()));
        let (pointer, one) = edge.scratch;
        out.push(insn(LD_IMM64, pointer, PSEUDO_MAP_VALUE, 0, counter_fd));
        out.push(insn(0, 0, 0, 0, offset));
        out.push(insn(MOV64_IMM, one, 0, 0, 1));
        out.push(insn(ATOMIC_ADD64, pointer, one, 0, 0));
        if is_unconditional(&insns[i]) || edge.exit != i + 1 {
            to_old.push((out.len(), Field::Off, edge.exit));
            out.push(insn(JA, 0, 0, 0, 0));
        }
    }
    let set = |x: &mut bpf_insn, field: Field, delta: i64| -> Option<()> {
        match field {
            Field::Off => x.off = i16::try_from(delta).ok()?,
            Field::Imm => x.imm = i32::try_from(delta).ok()?,
        }
        Some(())
    };
    for i in 0..n {
        if let Some((field, target)) = reference(insns, i) {
            let target = usize::try_from(target).ok().filter(|&t| t < n)?;
            let delta = i64::from(start[target]) - (at[i] as i64 + 1);
            set(&mut out[at[i]], field, delta)?;
        }
    }
    for (from, field, target) in to_old {
        let delta = i64::from(start[target]) - (from as i64 + 1);
        set(&mut out[from], field, delta)?;
    }
    for (from, target) in to_new {
        set(
            &mut out[from],
            Field::Off,
            target as i64 - (from as i64 + 1),
        )?;
    }
    let loops = out.iter().filter(|i| i.code == MAY_GOTO).count()
        - insns.iter().filter(|i| i.code == MAY_GOTO).count();
    Some(Budgeted {
        insns: out,
        start,
        loops,
    })
}

/// Where control can go after instruction `i`.
fn successors(insns: &[bpf_insn], i: usize) -> Vec<usize> {
    let x = &insns[i];
    let n = insns.len();
    let target = reference(insns, i)
        .filter(|_| is_jump(x))
        .and_then(|(_, t)| usize::try_from(t).ok())
        .filter(|&t| t < n);
    let next = |step: usize| Some(i + step).filter(|&j| j < n);
    let all: [Option<usize>; 2] = match x.code & 0x07 {
        CLASS_JMP | CLASS_JMP32 => match x.code & 0xf0 {
            0x90 => [None, None],
            0x80 => [next(1), None],
            0x00 => [target, None],
            _ => [next(1), target],
        },
        CLASS_LD if x.code == LD_IMM64 => [next(2), None],
        _ => [next(1), None],
    };
    all.into_iter().flatten().collect()
}

/// The registers (bit `r` for `rr`) each instruction may read before
/// writing them, on some path from it: a backward data-flow fixpoint.
/// Unknown cases count as reads, so a register called dead is dead.
fn liveness(insns: &[bpf_insn]) -> Vec<u16> {
    const ARGS: u16 = 0b11_1110;
    const CALLER_SAVED: u16 = 0b11_1111;
    let n = insns.len();
    let mut live = vec![0u16; n];
    let bit = |r: u8| 1u16 << r;
    loop {
        let mut changed = false;
        for i in (0..n).rev() {
            let x = &insns[i];
            let (dst, src) = (x.dst_reg(), x.src_reg());
            let class = x.code & 0x07;
            let op = x.code & 0xf0;
            let at = |j: i64| {
                usize::try_from(j)
                    .ok()
                    .and_then(|j| live.get(j).copied())
                    .unwrap_or(0)
            };
            let next = at(i as i64 + 1);
            let target = || reference(insns, i).map(|(_, t)| at(t)).unwrap_or(0);
            let value = match class {
                CLASS_ALU | CLASS_ALU64 => {
                    let uses_src = x.code & 0x08 != 0 && op != 0x80 && op != 0xd0;
                    let mut used = if uses_src { bit(src) } else { 0 };
                    if op != 0xb0 {
                        used |= bit(dst);
                    }
                    (next & !bit(dst)) | used
                }
                CLASS_LDX => (next & !bit(dst)) | bit(src),
                CLASS_ST => next | bit(dst),
                // Atomics may read and write r0 and `src`.
                CLASS_STX => next | bit(dst) | bit(src) | bit(0),
                CLASS_LD if x.code == LD_IMM64 => at(i as i64 + 2) & !bit(dst),
                // The second half of an `ld_imm64`.
                CLASS_LD if x.code == 0 => next,
                // Legacy packet loads read the context (r6) and clobber r0-r5.
                CLASS_LD => (next & !CALLER_SAVED) | bit(6) | bit(src),
                CLASS_JMP | CLASS_JMP32 => match op {
                    0x80 => (next & !CALLER_SAVED) | ARGS,
                    0x90 => bit(0),
                    0x00 => target(),
                    0xe0 => next | target(),
                    _ => {
                        let used = bit(dst) | if x.code & 0x08 != 0 { bit(src) } else { 0 };
                        next | target() | used
                    }
                },
                _ => 0xffff,
            } & 0x03ff;
            if value != live[i] {
                live[i] = value;
                changed = true;
            }
        }
        if !changed {
            return live;
        }
    }
}

/// Whether a verifier error is the verifier giving up on a loop.
pub(crate) fn is_loop_refusal(error: &str) -> bool {
    [
        "is too complex",
        "BPF program is too large",
        "infinite loop detected",
        "back-edge from insn",
    ]
    .iter()
    .any(|p| error.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mov(dst: u8, imm: i32) -> bpf_insn {
        insn(MOV64_IMM, dst, 0, 0, imm)
    }
    fn exit() -> bpf_insn {
        insn(0x95, 0, 0, 0, 0)
    }

    #[test]
    fn a_conditional_back_edge_gets_a_check_and_a_stub() {
        // r0 = 0; r1 = 10; loop: r1 -= 1; if r1 != 0 goto loop; exit
        let insns = [
            mov(0, 0),
            mov(1, 10),
            insn(0x17, 1, 0, 0, 1),
            insn(0x55, 1, 0, -2, 0),
            exit(),
        ];
        let b = add(&insns, 7, 16).unwrap();
        assert_eq!(b.loops, 1);
        let codes: Vec<u8> = b.insns.iter().map(|i| i.code).collect();
        assert_eq!(
            codes,
            [
                MOV64_IMM,
                MOV64_IMM,
                0x17,
                MAY_GOTO,
                0x55,
                JA,
                LD_IMM64,
                0,
                MOV64_IMM,
                ATOMIC_ADD64,
                0x95
            ]
        );
        // may_goto -> stub; back edge -> r1 -= 1; normal exit skips the stub.
        assert_eq!(b.insns[3].off, 2);
        assert_eq!(b.insns[4].off, -3);
        assert_eq!(b.insns[5].off, 4);
        // The stub leaves r0 alone: it is read at the exit.
        assert_ne!(b.insns[6].dst_reg(), 0);
        assert_ne!(b.insns[8].dst_reg(), 0);
        assert_eq!((b.insns[6].imm, b.insns[7].imm), (7, 16));
        assert_eq!(b.moved(4), 10);
    }

    #[test]
    fn an_unconditional_back_edge_leaves_through_the_last_exit() {
        // loop: if r1 == 0 goto out; r1 -= 1; goto loop; out: r0 = 0; exit
        let insns = [
            insn(0x15, 1, 0, 2, 0),
            insn(0x17, 1, 0, 0, 1),
            insn(JA, 0, 0, -3, 0),
            mov(0, 0),
            exit(),
        ];
        let b = add(&insns, 3, 0).unwrap();
        let codes: Vec<u8> = b.insns.iter().map(|i| i.code).collect();
        assert_eq!(
            codes,
            [
                0x15,
                0x17,
                MAY_GOTO,
                JA,
                LD_IMM64,
                0,
                MOV64_IMM,
                ATOMIC_ADD64,
                JA,
                MOV64_IMM,
                0x95
            ]
        );
        assert_eq!(b.insns[0].off, 8, "the loop's exit still reaches `out`");
        assert_eq!(b.insns[2].off, 1);
        assert_eq!(b.insns[3].off, -4, "the back edge goes to the header");
        assert_eq!(b.insns[8].off, 0, "the stub leaves to `out`");
    }

    #[test]
    fn a_back_edge_inside_the_loop_leaves_through_the_loop_exit() {
        // loop: if r1 == 1 goto out; r2 = r1; if r2 == 0 goto loop;
        //       r1 += 1; goto loop; out: r0 = 0; exit
        let insns = [
            insn(0x15, 1, 0, 4, 1),
            insn(0xbf, 2, 1, 0, 0),
            insn(0x15, 2, 0, -3, 0),
            insn(0x07, 1, 0, 0, 1),
            insn(JA, 0, 0, -5, 0),
            mov(0, 0),
            exit(),
        ];
        let b = add(&insns, 3, 0).unwrap();
        assert_eq!(b.loops, 2);
        let out = i64::from(b.moved(5));
        // Follow each check's stub to its final jump.
        for check in (0..b.insns.len()).filter(|&i| b.insns[i].code == MAY_GOTO) {
            let stub = check as i64 + i64::from(b.insns[check].off) + 1;
            let last = stub as usize + 4;
            assert_eq!(b.insns[last].code, JA);
            assert_eq!(last as i64 + i64::from(b.insns[last].off) + 1, out);
        }
        // The conditional back edge, not taken, still goes on to `r1 += 1`.
        let latch = b.moved(2) as usize + 2;
        assert_eq!(
            latch as i64 + i64::from(b.insns[latch].off) + 1,
            i64::from(b.moved(3))
        );
    }

    #[test]
    fn calls_and_function_addresses_move_with_their_targets() {
        // main: r1 = 3; loop: r1 -= 1; if r1 != 0 goto loop; call f; r2 = &f; exit; f: r0 = 0; exit
        let insns = [
            mov(1, 3),
            insn(0x17, 1, 0, 0, 1),
            insn(0x55, 1, 0, -2, 0),
            insn(0x85, 0, PSEUDO_CALL, 0, 3),
            insn(LD_IMM64, 2, PSEUDO_FUNC, 0, 2),
            insn(0, 0, 0, 0, 0),
            exit(),
            mov(0, 0),
            exit(),
        ];
        let b = add(&insns, 3, 0).unwrap();
        let f = b.moved(7) as i64;
        let call = b.moved(3) as i64;
        let addr = b.moved(4) as i64;
        assert_eq!(call + i64::from(b.insns[call as usize].imm) + 1, f);
        assert_eq!(addr + i64::from(b.insns[addr as usize].imm) + 1, f);
    }

    #[test]
    fn loops_without_a_free_register_or_exit_are_left_alone() {
        // `goto self` is no loop to budget.
        assert!(add(&[mov(0, 0), insn(JA, 0, 0, -1, 0), exit()], 3, 0).is_none());
        assert!(!has_loop(&[mov(0, 0), insn(JA, 0, 0, -1, 0), exit()]));
    }

    #[test]
    fn liveness_sees_reads_after_the_exit() {
        let insns = [mov(3, 1), insn(0xbf, 0, 3, 0, 0), exit()];
        let live = liveness(&insns);
        assert_eq!(live[1], 1 << 3);
        assert_eq!(live[2], 1);
        assert_eq!(live[0], 0);
    }
}
