//! Loop budgets the loader adds itself to a program whose plain loops the
//! verifier refused: a `may_goto` check (the kernel's runtime loop
//! budget, Linux 6.9+) before every back edge ([`add`]), or an open-coded
//! numeric iterator per loop (`bpf_iter_num`, 6.4+; [`add_iterators`]);
//! and, where that alone does not load, a rewrite that makes the verifier
//! forget the numbers a loop carries where it enters it
//! ([`forget_loop_counters`]).
//!
//! With a budget, the verifier no longer needs to prove that a loop ends:
//! it compares the loop's state with the state one iteration earlier and
//! stops once it settles into a range, and at run time the kernel ends the
//! loop when the budget runs out. That exit goes to a stub that counts the
//! exhaustion in the program's slot of a one-element array
//! (`iu_loop_budget`, addressed directly) and then leaves the loop as a
//! `break` would: through the other edge of a conditional back edge (the
//! loop's own condition-false exit), or, for a loop that ends in an
//! unconditional jump, through the loop's last exit branch.
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
#[derive(Clone)]
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

    /// `self`, then `next` applied to its instructions.
    pub(crate) fn then(self, next: Budgeted) -> Budgeted {
        Budgeted {
            start: self.start.iter().map(|&s| next.moved(s)).collect(),
            insns: next.insns,
            loops: next.loops,
        }
    }
}

/// Whether the program has a loop: a jump back before itself (`goto
/// self`, which ends functions that never return, does not count).
pub(crate) fn has_loop(insns: &[bpf_insn]) -> bool {
    (0..insns.len()).any(|i| {
        is_jump(&insns[i]) && reference(insns, i).is_some_and(|(_, target)| target < i as i64)
    })
}

/// A loop: the target of one or more jumps back (its header) and the
/// instructions that reach one of them without passing the header.
struct Loop {
    header: usize,
    body: Vec<bool>,
    /// The back-edge jumps.
    latches: Vec<usize>,
    /// Where the loop can be left, as (from, to).
    exits: Vec<(usize, usize)>,
}

impl Loop {
    /// Where an exhausted budget at back edge `latch` leaves the loop: a
    /// back edge whose condition is the loop's leaves through its other
    /// edge; otherwise the last way out of the loop, in layout order.
    fn exit_for(&self, latch: usize) -> Option<usize> {
        self.exits
            .iter()
            .find(|&&(from, _)| from == latch)
            .or_else(|| self.exits.iter().max_by_key(|(from, _)| *from))
            .map(|&(_, to)| to)
    }
}

/// The control flow of a program: each instruction's successors and
/// predecessors.
struct Flow {
    successors: Vec<Vec<usize>>,
    predecessors: Vec<Vec<usize>>,
}

impl Flow {
    fn of(insns: &[bpf_insn]) -> Flow {
        let n = insns.len();
        let successors: Vec<Vec<usize>> = (0..n).map(|i| successors(insns, i)).collect();
        let mut predecessors = vec![vec![]; n];
        for (i, next) in successors.iter().enumerate() {
            for &j in next {
                predecessors[j].push(i);
            }
        }
        Flow {
            successors,
            predecessors,
        }
    }
}

/// The program's loops that spend no budget yet, by header, where a
/// header is the target of jumps back in layout order.
fn loops(insns: &[bpf_insn], flow: &Flow) -> Vec<Loop> {
    let mut latches: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for b in 0..insns.len() {
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
    loops_of(insns, flow, latches)
}

/// The program's natural loops that spend no budget yet: a header
/// dominates its loop, and a back edge (a jump or a fall-through) goes
/// from the loop to its header. Unlike [`loops`], this finds the header of
/// a loop that is entered in its middle in layout order.
fn natural_loops(insns: &[bpf_insn], flow: &Flow) -> Vec<Loop> {
    let idom = dominators(insns, flow);
    let root = insns.len();
    let dominates = |header: usize, mut i: usize| loop {
        if i == header {
            return true;
        }
        match idom[i] {
            Some(up) if up != root && up != i => i = up,
            _ => return false,
        }
    };
    let mut latches: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (from, next) in flow.successors.iter().enumerate() {
        if insns[from].code == MAY_GOTO || idom[from].is_none() {
            continue;
        }
        for &to in next {
            if dominates(to, from) && to != from {
                latches.entry(to).or_default().push(from);
            }
        }
    }
    loops_of(insns, flow, latches)
}

/// Each instruction's immediate dominator (`insns.len()` for the entry of
/// a function), `None` where nothing reaches it: Cooper, Harvey and
/// Kennedy's iteration in reverse postorder.
fn dominators(insns: &[bpf_insn], flow: &Flow) -> Vec<Option<usize>> {
    let n = insns.len();
    let roots = function_starts(insns);
    // Reverse postorder from every function's entry.
    let mut order = vec![usize::MAX; n + 1];
    let mut postorder = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    for &r in &roots {
        if r >= n || seen[r] {
            continue;
        }
        seen[r] = true;
        let mut stack = vec![(r, 0usize)];
        while let Some((node, next)) = stack.last_mut() {
            if let Some(&succ) = flow.successors[*node].get(*next) {
                *next += 1;
                if !seen[succ] {
                    seen[succ] = true;
                    stack.push((succ, 0));
                }
            } else {
                postorder.push(*node);
                stack.pop();
            }
        }
    }
    order[n] = 0;
    for (k, &node) in postorder.iter().rev().enumerate() {
        order[node] = k + 1;
    }
    let mut idom: Vec<Option<usize>> = vec![None; n + 1];
    idom[n] = Some(n);
    for &r in &roots {
        if r < n {
            idom[r] = Some(n);
        }
    }
    let intersect = |idom: &[Option<usize>], mut a: usize, mut b: usize| {
        while a != b {
            while order[a] > order[b] {
                a = idom[a].unwrap_or(n);
            }
            while order[b] > order[a] {
                b = idom[b].unwrap_or(n);
            }
        }
        a
    };
    loop {
        let mut changed = false;
        for &node in postorder.iter().rev() {
            if idom[node] == Some(n) {
                continue;
            }
            let mut new = None;
            for &p in &flow.predecessors[node] {
                if idom[p].is_none() {
                    continue;
                }
                new = Some(match new {
                    None => p,
                    Some(q) => intersect(&idom, p, q),
                });
            }
            if new.is_some() && idom[node] != new {
                idom[node] = new;
                changed = true;
            }
        }
        if !changed {
            idom.truncate(n);
            return idom;
        }
    }
}

/// The loops with these back edges (`latches`, by header), leaving out
/// those that already spend a budget (`loops::while_budgeted`).
fn loops_of(
    insns: &[bpf_insn],
    flow: &Flow,
    latches: std::collections::BTreeMap<usize, Vec<usize>>,
) -> Vec<Loop> {
    let n = insns.len();
    let mut loops = vec![];
    for (header, latches) in latches {
        let mut body = vec![false; n];
        body[header] = true;
        let mut work = latches.clone();
        while let Some(i) = work.pop() {
            if !std::mem::replace(&mut body[i], true) {
                work.extend(flow.predecessors[i].iter().copied());
            }
        }
        if (0..n).any(|i| body[i] && insns[i].code == MAY_GOTO) {
            continue;
        }
        let exits = (0..n)
            .filter(|&i| body[i])
            .flat_map(|i| flow.successors[i].iter().map(move |&j| (i, j)))
            .filter(|&(_, j)| !body[j])
            .collect();
        loops.push(Loop {
            header,
            body,
            latches,
            exits,
        });
    }
    loops
}

/// Adds a budget before every back edge of `insns` (a linked program:
/// the entry function and its subprograms), counting exhaustions at byte
/// `offset` of the value of the one-element array `counter_fd`. `None`
/// when no loop can take a budget (none found, or offsets overflow).
pub(crate) fn add(insns: &[bpf_insn], counter_fd: i32, offset: i32) -> Option<Budgeted> {
    let n = insns.len();
    let live = liveness(insns);
    let flow = Flow::of(insns);
    let mut edges = vec![];
    for l in loops(insns, &flow) {
        for &b in &l.latches {
            let Some(exit) = l.exit_for(b) else {
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

    let mut layout = Layout::new(n);
    let mut edges = edges.into_iter().peekable();
    for (i, &x) in insns.iter().enumerate() {
        layout.start[i] = layout.out.len() as u32;
        let edge = edges.next_if(|e| e.at == i);
        let check = edge
            .as_ref()
            .map(|_| layout.push(insn(MAY_GOTO, 0, 0, 0, 0)));
        layout.original(i, x);
        let (Some(edge), Some(check)) = (edge, check) else {
            continue;
        };
        if !is_unconditional(&x) {
            // The back edge not taken: on as before, over the stub.
            layout.jump_to_old(i + 1);
        }
        layout.to_new.push((check, layout.out.len()));
        let (pointer, one) = edge.scratch;
        layout.count(pointer, one, counter_fd, offset);
        if is_unconditional(&x) || edge.exit != i + 1 {
            layout.jump_to_old(edge.exit);
        }
    }
    let (out, start) = layout.finish(insns)?;
    let loops = out.iter().filter(|i| i.code == MAY_GOTO).count()
        - insns.iter().filter(|i| i.code == MAY_GOTO).count();
    Some(Budgeted {
        insns: out,
        start,
        loops,
    })
}

/// `BPF_ALU64 | BPF_ADD | BPF_X`.
const ADD64_REG: u8 = 0x0f;

/// Makes the verifier forget the values that the program's loops carry
/// from one iteration to the next, where they enter the loop: on every
/// edge into a loop, each register that the loop writes, that is read
/// after the edge and that holds a number (not a pointer) on every path
/// there gets `r += zero`, where `zero` is loaded from a word of the
/// counter map (`counter_fd`, byte `zero_offset`) that nothing writes.
/// At run time that adds 0; the verifier knows nothing of a map word, so
/// it walks the loop with every such counter unknown from the first
/// iteration. A budget check (`may_goto`) then sees the same state after
/// one iteration and stops, where a counter it tracks exactly (1, 2,
/// 3, ...) never settles. Code after the loop sees the counters unknown,
/// so this is tried only when a budget alone did not load.
pub(crate) fn forget_loop_counters(
    insns: &[bpf_insn],
    counter_fd: i32,
    zero_offset: i32,
) -> Option<Budgeted> {
    let n = insns.len();
    let flow = Flow::of(insns);
    let loops = natural_loops(insns, &flow);
    if loops.is_empty() {
        return None;
    }
    let live = liveness(insns);
    let scalars = numbers(insns, &flow);
    // Per loop, the registers it writes.
    let written: Vec<u16> = loops
        .iter()
        .map(|l| {
            (0..n)
                .filter(|&i| l.body[i])
                .fold(0u16, |acc, i| acc | writes(&insns[i]))
        })
        .collect();
    // Per edge into a loop: (registers to forget, a free register).
    let plan = |from: usize, to: usize| -> Option<(Vec<u8>, u8)> {
        let regs: u16 = (0..loops.len())
            .filter(|&k| !loops[k].body[from] && loops[k].body[to])
            .fold(0, |acc, k| acc | written[k])
            & live[to]
            & scalars[from]
            & 0x03ff;
        if regs == 0 {
            return None;
        }
        let free = (0..10u8).find(|r| (live[to] | regs) & (1 << r) == 0)?;
        Some(((0..10u8).filter(|r| regs & (1 << r) != 0).collect(), free))
    };
    let mut changed = false;
    let (out, start) = with_edge_stubs(
        insns,
        |from, to| plan(from, to).is_some(),
        |layout, from, to| {
            let (regs, free) = plan(from, to)?;
            layout.push(insn(LD_IMM64, free, PSEUDO_MAP_VALUE, 0, counter_fd));
            layout.push(insn(0, 0, 0, 0, zero_offset));
            layout.push(insn(LDX64, free, free, 0, 0));
            for r in regs {
                layout.push(insn(ADD64_REG, r, free, 0, 0));
            }
            layout.jump_to_old(to);
            changed = true;
            Some(())
        },
    )?;
    if !changed {
        return None;
    }
    Some(Budgeted {
        insns: out,
        start,
        loops: 0,
    })
}

/// The registers instruction `x` writes.
fn writes(x: &bpf_insn) -> u16 {
    let dst = 1u16 << x.dst_reg().min(10);
    match x.code & 0x07 {
        CLASS_ALU | CLASS_ALU64 | CLASS_LDX => dst,
        CLASS_LD if x.code == LD_IMM64 => dst,
        CLASS_LD if x.code != 0 => CALLER_SAVED,
        CLASS_STX if x.code & 0xe0 == 0xc0 => 1 << x.src_reg().min(10) | 1,
        CLASS_JMP | CLASS_JMP32 if x.code & 0xf0 == 0x80 => CALLER_SAVED,
        _ => 0,
    }
}

/// The registers that hold a number, not a pointer, on every path to the
/// end of each instruction: a forward data-flow fixpoint. Numbers come
/// from constants, byte and half-word loads, and arithmetic other than
/// adding to or subtracting from a pointer (the verifier refuses the rest
/// on pointers); copies and sums of numbers are numbers.
fn numbers(insns: &[bpf_insn], flow: &Flow) -> Vec<u16> {
    let n = insns.len();
    let functions = function_starts(insns);
    let mut out = vec![0x03ffu16; n];
    loop {
        let mut changed = false;
        for i in 0..n {
            let x = &insns[i];
            let input = if functions.binary_search(&i).is_ok() {
                0
            } else {
                flow.predecessors[i]
                    .iter()
                    .fold(0x03ff, |acc, &p| acc & out[p])
            };
            let (dst, src) = (x.dst_reg().min(10), x.src_reg().min(10));
            let has = |set: u16, r: u8| set & (1 << r) != 0;
            let number = match x.code & 0x07 {
                CLASS_ALU => Some(true),
                CLASS_ALU64 => Some(match x.code & 0xf0 {
                    0xb0 if x.code & 0x08 != 0 => has(input, src),
                    0x00 | 0x10 => has(input, dst) && (x.code & 0x08 == 0 || has(input, src)),
                    _ => true,
                }),
                CLASS_LDX => Some(matches!(x.code & 0x18, 0x08 | 0x10)),
                CLASS_LD if x.code == LD_IMM64 => Some(x.src_reg() == 0),
                _ => None,
            };
            let value = match number {
                Some(true) => input | 1 << dst,
                Some(false) => input & !(1 << dst),
                None => input & !writes(x),
            };
            if value != out[i] {
                out[i] = value;
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}

/// The kernel's BTF ids of the numeric iterator's kfuncs
/// (`bpf_iter_num_new`, `_next` and `_destroy`, Linux 6.4+).
#[derive(Clone, Copy)]
pub(crate) struct IterKfuncs {
    pub(crate) new: i32,
    pub(crate) next: i32,
    pub(crate) destroy: i32,
}

/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;
/// `src_reg` of a call of a kernel function by BTF id.
const PSEUDO_KFUNC_CALL: u8 = 2;
/// `BPF_ALU64 | BPF_MOV | BPF_X`.
const MOV64_REG: u8 = 0xbf;
/// `BPF_ALU64 | BPF_ADD | BPF_K`.
const ADD64_IMM: u8 = 0x07;
/// `BPF_ALU64 | BPF_SUB | BPF_K`.
const SUB64_IMM: u8 = 0x17;
/// `BPF_STX | BPF_MEM | BPF_DW`.
const STX64: u8 = 0x7b;
/// `BPF_LDX | BPF_MEM | BPF_DW`.
const LDX64: u8 = 0x79;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
const JEQ_IMM: u8 = 0x15;
/// r0-r5, which calls clobber.
const CALLER_SAVED: u16 = 0b11_1111;
/// Iterations a numeric iterator may run: the kernel's `BPF_MAX_LOOPS`,
/// as `may_goto`'s budget.
const ITERATIONS: i32 = 8 << 20;
/// The deepest stack offset a function may use.
const STACK_LIMIT: i64 = 512;

/// Gives every loop of `insns` a budget through an open-coded numeric
/// iterator (`bpf_iter_num`, Linux 6.4+) instead of `may_goto`: the loop's
/// entries create it, each back edge asks it for one more iteration
/// (`bpf_iter_num_next`) and leaves the loop as [`add`]'s budget does
/// when it is spent, and every way out destroys it. At the `next` call
/// the verifier forgets the exact values of counters nothing depends on
/// (it widens imprecise scalars there, and not at `may_goto`), so a loop
/// that counts its iterations settles. The iterator and the registers the
/// calls clobber live in stack slots below everything the function uses.
/// `None` when no loop can take a budget.
pub(crate) fn add_iterators(
    insns: &[bpf_insn],
    counter_fd: i32,
    offset: i32,
    kfuncs: IterKfuncs,
) -> Option<Budgeted> {
    let flow = Flow::of(insns);
    let loops: Vec<Loop> = natural_loops(insns, &flow)
        .into_iter()
        .filter(|l| l.latches.iter().all(|&b| l.exit_for(b).is_some()))
        .collect();
    if loops.is_empty() {
        return None;
    }
    let live = liveness(insns);
    let functions = function_starts(insns);
    let function_of = |i: usize| functions.partition_point(|&s| s <= i).saturating_sub(1);
    let init = initialized(insns, &flow, &functions, &live);
    // Each loop's iterator below the function's own stack, then the spills.
    let mut used = frame_depths(insns, &functions);
    let mut slot = vec![0i32; loops.len()];
    for (k, l) in loops.iter().enumerate() {
        let f = function_of(l.header);
        used[f] += 8;
        slot[k] = -i32::try_from(used[f]).ok()?;
    }
    if used.iter().any(|&u| u + 8 * 6 > STACK_LIMIT) {
        return None;
    }

    let exited = |from: usize, to: usize| -> Vec<usize> {
        (0..loops.len())
            .filter(|&k| loops[k].body[from] && !loops[k].body[to])
            .collect()
    };
    let entered = |from: usize, to: usize| -> Vec<usize> {
        (0..loops.len())
            .filter(|&k| !loops[k].body[from] && loops[k].body[to])
            .collect()
    };
    let back = |from: usize, to: usize| {
        loops
            .iter()
            .position(|l| l.header == to && l.latches.contains(&from))
    };
    let needs_stub = |from: usize, to: usize| {
        back(from, to).is_some() || !exited(from, to).is_empty() || !entered(from, to).is_empty()
    };
    // The code on edge `from` -> `to`: create the iterators of the loops
    // it enters, destroy those of the loops it leaves, and on a back edge
    // take one iteration or leave the loop.
    let stub = |layout: &mut Layout, from: usize, to: usize| -> Option<()> {
        let f = function_of(from);
        let spill = |r: u8| -i16::try_from(used[f] + 8 * (i64::from(r) + 1)).unwrap_or(i16::MAX);
        let saved = |live_after: u16| -> Vec<u8> {
            (0..6u8)
                .filter(|r| live_after & init[from] & CALLER_SAVED & (1 << r) != 0)
                .collect()
        };
        let call = |layout: &mut Layout, k: usize, id: i32| {
            layout.push(insn(MOV64_REG, 1, 10, 0, 0));
            layout.push(insn(ADD64_IMM, 1, 0, 0, slot[k]));
            if id == kfuncs.new {
                layout.push(insn(MOV64_IMM, 2, 0, 0, 0));
                layout.push(insn(MOV64_IMM, 3, 0, 0, ITERATIONS));
            }
            layout.push(insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, id));
        };
        let save = |layout: &mut Layout, regs: &[u8]| {
            for &r in regs {
                layout.push(insn(STX64, 10, r, spill(r), 0));
            }
        };
        let restore = |layout: &mut Layout, regs: &[u8]| {
            for &r in regs {
                layout.push(insn(LDX64, r, 10, spill(r), 0));
            }
        };
        let Some(k) = back(from, to) else {
            let regs = saved(live[to]);
            save(layout, &regs);
            for l in exited(from, to) {
                call(layout, l, kfuncs.destroy);
            }
            for l in entered(from, to) {
                call(layout, l, kfuncs.new);
            }
            restore(layout, &regs);
            layout.jump_to_old(to);
            return Some(());
        };
        let exit = loops[k].exit_for(from)?;
        let regs = saved(live[to] | live[exit]);
        save(layout, &regs);
        // `continue` of an outer loop from an inner one leaves the inner.
        let left = exited(from, to);
        for &l in &left {
            call(layout, l, kfuncs.destroy);
        }
        call(layout, k, kfuncs.next);
        let spent = layout.push(insn(JEQ_IMM, 0, 0, 0, 0));
        restore(layout, &regs);
        layout.jump_to_old(to);
        layout.to_new.push((spent, layout.out.len()));
        for l in exited(from, exit) {
            if !left.contains(&l) {
                call(layout, l, kfuncs.destroy);
            }
        }
        for l in entered(from, exit) {
            call(layout, l, kfuncs.new);
        }
        layout.count(1, 2, counter_fd, offset);
        restore(layout, &regs);
        layout.jump_to_old(exit);
        Some(())
    };

    let (out, start) = with_edge_stubs(insns, needs_stub, stub)?;
    Some(Budgeted {
        insns: out,
        start,
        loops: loops.len(),
    })
}

/// `insns` laid out again with code on some of their edges: where
/// `needs(from, to)`, `stub` emits the code for the edge (ending in a jump
/// to `to`), the edge's jump is sent to it and a fall-through runs into it.
/// An `ld_imm64`'s edges leave after its second half. `None` if a stub
/// fails or an offset no longer fits.
fn with_edge_stubs(
    insns: &[bpf_insn],
    needs: impl Fn(usize, usize) -> bool,
    mut stub: impl FnMut(&mut Layout, usize, usize) -> Option<()>,
) -> Option<(Vec<bpf_insn>, Vec<u32>)> {
    let n = insns.len();
    let mut layout = Layout::new(n);
    for (i, &x) in insns.iter().enumerate() {
        layout.start[i] = layout.out.len() as u32;
        layout.original(i, x);
        let from = match x.code {
            LD_IMM64 => continue,
            0 if i > 0 && insns[i - 1].code == LD_IMM64 => i - 1,
            _ => i,
        };
        let taken = reference(insns, from)
            .filter(|_| is_jump(&insns[from]))
            .and_then(|(_, t)| usize::try_from(t).ok())
            .filter(|&t| t < n && needs(from, t));
        match fall_through(insns, from) {
            Some(to) if needs(from, to) => stub(&mut layout, from, to)?,
            Some(to) if taken.is_some() => layout.jump_to_old(to),
            _ => {}
        }
        if let Some(to) = taken {
            layout.redirected.push((from, layout.out.len()));
            stub(&mut layout, from, to)?;
        }
    }
    layout.finish(insns)
}

/// Where control goes after instruction `i` when it does not jump.
fn fall_through(insns: &[bpf_insn], i: usize) -> Option<usize> {
    let x = &insns[i];
    let next = match x.code & 0x07 {
        CLASS_JMP | CLASS_JMP32 if matches!(x.code & 0xf0, 0x00 | 0x90) => return None,
        CLASS_LD if x.code == LD_IMM64 => i + 2,
        _ => i + 1,
    };
    (next < insns.len()).then_some(next)
}

/// Where each function of a linked program starts: the entry, and every
/// target of a call of the program's own functions or of a function
/// address (callbacks). Sorted.
fn function_starts(insns: &[bpf_insn]) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..insns.len())
        .filter(|&i| !is_jump(&insns[i]))
        .filter_map(|i| reference(insns, i))
        .filter_map(|(_, target)| usize::try_from(target).ok())
        .chain([0])
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// How many bytes of stack each function uses, rounded up to 8: the
/// deepest offset from r10 it reaches, following `r = r10; r += k`
/// in layout order (a register's offset from a path not taken only makes
/// the estimate deeper).
fn frame_depths(insns: &[bpf_insn], functions: &[usize]) -> Vec<i64> {
    functions
        .iter()
        .enumerate()
        .map(|(f, &first)| {
            let end = functions.get(f + 1).copied().unwrap_or(insns.len());
            let mut base: [Option<i64>; 11] = [None; 11];
            base[10] = Some(0);
            let mut deepest = 0i64;
            for x in &insns[first..end] {
                let (dst, src) = (usize::from(x.dst_reg()), usize::from(x.src_reg()));
                if dst > 10 || src > 10 {
                    continue;
                }
                let off = i64::from(x.off);
                let imm = i64::from(x.imm);
                match x.code & 0x07 {
                    CLASS_LDX => {
                        if let Some(b) = base[src] {
                            deepest = deepest.min(b + off);
                        }
                        base[dst] = None;
                    }
                    CLASS_ST | CLASS_STX => {
                        if let Some(b) = base[dst] {
                            deepest = deepest.min(b + off);
                        }
                        // Atomics with fetch write `src` or r0.
                        if x.code & 0xe0 == 0xc0 {
                            base[src] = None;
                            base[0] = None;
                        }
                    }
                    CLASS_ALU64 => {
                        base[dst] = match x.code {
                            MOV64_REG => base[src],
                            ADD64_IMM => base[dst].map(|b| b + imm),
                            SUB64_IMM => base[dst].map(|b| b - imm),
                            _ => None,
                        }
                    }
                    CLASS_ALU => base[dst] = None,
                    CLASS_LD => {
                        base[dst] = None;
                        if x.code != LD_IMM64 && x.code != 0 {
                            base[..6].fill(None);
                        }
                    }
                    CLASS_JMP | CLASS_JMP32 if x.code & 0xf0 == 0x80 => base[..6].fill(None),
                    _ => {}
                }
                base[10] = Some(0);
                for b in base.iter().flatten() {
                    deepest = deepest.min(*b);
                }
            }
            (-deepest + 7) / 8 * 8
        })
        .collect()
}

/// The registers (bit `r` for `rr`) written on every path to the end of
/// each instruction: a forward data-flow fixpoint. The entry starts with
/// r1 (the context); other functions with the argument registers they
/// read.
fn initialized(insns: &[bpf_insn], flow: &Flow, functions: &[usize], live: &[u16]) -> Vec<u16> {
    const ARGS: u16 = 0b11_1110;
    const FP: u16 = 1 << 10;
    let n = insns.len();
    let mut out = vec![0x07ffu16; n];
    loop {
        let mut changed = false;
        for i in 0..n {
            let x = &insns[i];
            let entry = match i {
                0 => Some(1 << 1 | FP),
                _ if functions.binary_search(&i).is_ok() => Some(live[i] & ARGS | FP),
                _ => None,
            };
            let input = entry.unwrap_or_else(|| {
                flow.predecessors[i]
                    .iter()
                    .fold(0x07ff, |acc, &p| acc & out[p])
            });
            let dst = 1u16 << x.dst_reg().min(10);
            let value = match x.code & 0x07 {
                CLASS_ALU | CLASS_ALU64 | CLASS_LDX => input | dst,
                CLASS_LD if x.code == LD_IMM64 => input | dst,
                CLASS_LD if x.code == 0 => input,
                // Legacy packet loads clobber r0-r5 and set r0.
                CLASS_LD => (input & !CALLER_SAVED) | 1,
                CLASS_JMP | CLASS_JMP32 if x.code & 0xf0 == 0x80 => (input & !CALLER_SAVED) | 1,
                _ => input,
            };
            if value != out[i] {
                out[i] = value;
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}

/// A program being laid out again with instructions inserted; references
/// are fixed once every index is known.
struct Layout {
    out: Vec<bpf_insn>,
    /// The new index of the first instruction emitted for each old one.
    start: Vec<u32>,
    /// The new index of each old instruction itself.
    at: Vec<usize>,
    /// (new index, field, old target) of inserted jumps to old code.
    to_old: Vec<(usize, Field, usize)>,
    /// (new index, new target) of jumps inside the inserted code.
    to_new: Vec<(usize, usize)>,
    /// (old index, new target) of old jumps sent to inserted code.
    redirected: Vec<(usize, usize)>,
}

impl Layout {
    fn new(n: usize) -> Layout {
        Layout {
            out: Vec::with_capacity(n * 2),
            start: vec![0; n],
            at: vec![0; n],
            to_old: vec![],
            to_new: vec![],
            redirected: vec![],
        }
    }

    fn push(&mut self, x: bpf_insn) -> usize {
        self.out.push(x);
        self.out.len() - 1
    }

    /// Emits old instruction `i`.
    fn original(&mut self, i: usize, x: bpf_insn) {
        self.at[i] = self.push(x);
    }

    /// Emits a jump to old instruction `target`.
    fn jump_to_old(&mut self, target: usize) {
        let at = self.push(insn(JA, 0, 0, 0, 0));
        self.to_old.push((at, Field::Off, target));
    }

    /// Emits `*(u64 *)(counter + offset) += 1` (atomically) with two
    /// scratch registers.
    fn count(&mut self, pointer: u8, one: u8, counter_fd: i32, offset: i32) {
        self.push(insn(LD_IMM64, pointer, PSEUDO_MAP_VALUE, 0, counter_fd));
        self.push(insn(0, 0, 0, 0, offset));
        self.push(insn(MOV64_IMM, one, 0, 0, 1));
        self.push(insn(ATOMIC_ADD64, pointer, one, 0, 0));
    }

    /// The program with every reference fixed, and `start`; `None` if an
    /// offset no longer fits its field.
    fn finish(mut self, insns: &[bpf_insn]) -> Option<(Vec<bpf_insn>, Vec<u32>)> {
        let n = insns.len();
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
                let new_target = self
                    .redirected
                    .iter()
                    .find(|(old, _)| *old == i)
                    .map_or(self.start[target] as usize, |&(_, to)| to);
                let delta = new_target as i64 - (self.at[i] as i64 + 1);
                set(&mut self.out[self.at[i]], field, delta)?;
            }
        }
        for &(from, field, target) in &self.to_old {
            let delta = i64::from(self.start[target]) - (from as i64 + 1);
            set(&mut self.out[from], field, delta)?;
        }
        for &(from, target) in &self.to_new {
            set(
                &mut self.out[from],
                Field::Off,
                target as i64 - (from as i64 + 1),
            )?;
        }
        Some((self.out, self.start))
    }
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

    /// r0 = 0; r1 = 10; loop: r0 += 1; r1 -= 1; if r1 != 0 goto loop; exit
    fn counting_loop() -> Vec<bpf_insn> {
        vec![
            mov(0, 0),
            mov(1, 10),
            insn(0x07, 0, 0, 0, 1),
            insn(0x17, 1, 0, 0, 1),
            insn(0x55, 1, 0, -3, 0),
            exit(),
        ]
    }

    #[test]
    fn a_loop_entered_in_its_middle_has_its_natural_header() {
        // goto test; body: r1 -= 1; test: if r1 != 0 goto body; exit
        let insns = [
            mov(1, 3),
            insn(JA, 0, 0, 1, 0),
            insn(0x17, 1, 0, 0, 1),
            insn(0x55, 1, 0, -2, 0),
            exit(),
        ];
        let flow = Flow::of(&insns);
        // In layout order the header is the body (2), entered from 1 past it.
        assert_eq!(loops(&insns, &flow)[0].header, 2);
        let natural = natural_loops(&insns, &flow);
        assert_eq!(natural.len(), 1);
        assert_eq!(natural[0].header, 3, "the test dominates the loop");
        assert_eq!(natural[0].latches, [2]);
        assert!(!natural[0].body[1] && !natural[0].body[0]);
    }

    #[test]
    fn counters_are_forgotten_where_the_loop_is_entered() {
        let f = forget_loop_counters(&counting_loop(), 7, 0).unwrap();
        let codes: Vec<u8> = f.insns.iter().map(|i| i.code).collect();
        // After r1 = 10: load the zero word, add it to r0 and r1 (both
        // numbers the loop writes), then on into the loop.
        assert_eq!(
            codes,
            [
                MOV64_IMM, MOV64_IMM, LD_IMM64, 0, LDX64, ADD64_REG, ADD64_REG, JA, 0x07, 0x17,
                0x55, 0x95
            ]
        );
        let scratch = f.insns[2].dst_reg();
        assert!(scratch > 1, "the scratch register is dead in the loop");
        assert_eq!((f.insns[2].imm, f.insns[3].imm), (7, 0));
        assert_eq!((f.insns[5].dst_reg(), f.insns[6].dst_reg()), (0, 1));
        // The back edge still goes to the loop's first instruction.
        assert_eq!(10 + i64::from(f.insns[10].off) + 1, 8);
        assert_eq!(f.moved(2), 8);
    }

    #[test]
    fn pointers_are_not_forgotten() {
        // r6 = r1 (the context); loop: r6 += 8; if r6 != r7 goto loop
        let insns = [
            insn(MOV64_REG, 6, 1, 0, 0),
            insn(0x07, 6, 0, 0, 8),
            insn(0x5d, 6, 7, -2, 0),
            exit(),
        ];
        assert!(forget_loop_counters(&insns, 7, 0).is_none());
    }

    #[test]
    fn iterators_are_created_taken_and_destroyed_on_every_edge() {
        let kfuncs = IterKfuncs {
            new: 101,
            next: 102,
            destroy: 103,
        };
        let b = add_iterators(&counting_loop(), 7, 16, kfuncs).unwrap();
        assert_eq!(b.loops, 1);
        let calls: Vec<i32> = b
            .insns
            .iter()
            .filter(|i| i.code == CALL && i.src_reg() == PSEUDO_KFUNC_CALL)
            .map(|i| i.imm)
            .collect();
        // Entry; after the latch, the loop's own exit (its fall-through),
        // then the back edge and its exhaustion.
        assert_eq!(calls, [101, 103, 102, 103]);
        // The iterator lives below the function's (empty) frame, and r0,
        // read after the loop and by it, is saved around every call.
        let slots: Vec<i32> = b
            .insns
            .iter()
            .filter(|i| i.code == ADD64_IMM && i.dst_reg() == 1 && i.imm < 0)
            .map(|i| i.imm)
            .collect();
        assert!(slots.iter().all(|&s| s == -8), "{slots:?}");
        assert!(b.insns.iter().any(|i| i.code == STX64 && i.src_reg() == 0));
        // Every jump lands inside the program.
        for i in 0..b.insns.len() {
            if let Some((Field::Off, target)) = reference(&b.insns, i) {
                assert!((0..b.insns.len() as i64).contains(&target), "{i}");
            }
        }
    }

    #[test]
    fn frames_follow_stack_pointers_into_arguments() {
        // r2 = r10; r2 += -40; *(u64 *)(r10 - 16) = r1; exit
        let insns = [
            insn(MOV64_REG, 2, 10, 0, 0),
            insn(ADD64_IMM, 2, 0, 0, -40),
            insn(STX64, 10, 1, -16, 0),
            exit(),
        ];
        assert_eq!(frame_depths(&insns, &[0]), [40]);
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
