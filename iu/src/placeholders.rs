//! The loader's half of `iu_ebpf::placeholders`: calls of placeholder
//! helpers rewritten in each program before it is loaded.
//!
//! - Panic paths: a panic in an iu program ends in `iu_ebpf::panic::abort`,
//!   whose placeholders become the program's own slot of `IU_ABORTS`, its
//!   `on_panic` value, and a kfunc call of `bpf_throw` (BPF exceptions,
//!   Linux 6.7+).
//! - Kernel features: `iu_ebpf::loops::for_range` asks whether the kernel
//!   has `bpf_loop`; the answer becomes a constant the verifier prunes by.

use std::collections::HashMap;

use aya_obj::{Object, generated::bpf_insn};
use iu_ebpf::placeholders::{HAS_BPF_LOOP, ON_PANIC, PROGRAM_SLOT, THROW};

/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;
/// `BPF_JMP | BPF_JA`.
const JA: u8 = 0x05;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
const MOV64_IMM: u8 = 0xb7;
/// `src_reg` of a call to a kernel function by BTF id.
const PSEUDO_KFUNC_CALL: u8 = 2;
/// Sections the program attributes emit, one per program.
const ON_PANIC_PREFIX: &str = "iu_on_panic.";

/// An instruction on `r0` and no source register.
fn insn(code: u8, off: i16, imm: i32) -> bpf_insn {
    bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: bpf_insn::new_bitfield_1(0, 0),
        off,
        imm,
    }
}

fn is_helper_call(insn: &bpf_insn, id: u32) -> bool {
    insn.code == CALL && insn.src_reg() == 0 && insn.imm as u32 == id
}

/// Whether any function of the object can abort, that is whether the
/// object needs its `IU_ABORTS` map.
pub(crate) fn object_can_abort(obj: &Object) -> bool {
    obj.functions.values().any(|f| can_abort(&f.instructions))
}

/// Each program's slot in `IU_ABORTS`, in name order, for the programs of
/// a linked object that can panic.
pub(crate) fn abort_slots(obj: &Object) -> crate::Result<HashMap<String, u32>> {
    let mut aborting: Vec<&String> = obj
        .programs
        .iter()
        .filter(|(_, p)| {
            obj.functions
                .get(&p.function_key())
                .is_some_and(|f| can_abort(&f.instructions))
        })
        .map(|(name, _)| name)
        .collect();
    aborting.sort();
    if aborting.len() > iu_ebpf::panic::MAX_PROGRAMS {
        return Err(crate::Error::Parse(format!(
            "{} programs of the object can panic; iu counts aborts for at most {}: split the object",
            aborting.len(),
            iu_ebpf::panic::MAX_PROGRAMS
        )));
    }
    Ok(aborting
        .into_iter()
        .enumerate()
        .map(|(slot, name)| (name.clone(), slot as u32))
        .collect())
}

/// Gives every function that ends in a call a final `goto self`.
///
/// Functions that never return (`core::panicking::*`, the panic handler)
/// end in a call to the next one, and the verifier refuses a function whose
/// last instruction is not an exit or a jump. The jump is never executed:
/// the path ends in `bpf_throw`.
pub(crate) fn end_noreturn_functions(obj: &mut Object) {
    for function in obj.functions.values_mut() {
        if function.instructions.last().is_some_and(|i| i.code == CALL) {
            function.instructions.push(insn(JA, -1, 0));
        }
    }
}

/// The `on_panic` value of every program, by program name: the first 8
/// bytes of its section `iu_on_panic.<program>`.
pub(crate) fn on_panic_values(file: &object::File<'_>) -> HashMap<String, i64> {
    use object::{Object as _, ObjectSection as _};
    file.sections()
        .filter_map(|section| {
            let program = section.name().ok()?.strip_prefix(ON_PANIC_PREFIX)?;
            let bytes = section.data().ok()?.get(..8)?.try_into().ok()?;
            Some((program.to_owned(), i64::from_le_bytes(bytes)))
        })
        .collect()
}

/// Rewrites the placeholders of one program's instructions. `bpf_throw` is
/// the kernel's BTF id of the kfunc, for programs that still call it
/// (`crate::abort` turns most panic paths into an `exit`).
pub(crate) fn rewrite(insns: &mut [bpf_insn], slot: u32, on_panic: i64, bpf_throw: Option<u32>) {
    for insn in insns.iter_mut() {
        let constant = if is_helper_call(insn, PROGRAM_SLOT) {
            slot as i32
        } else if is_helper_call(insn, ON_PANIC) {
            // `mov r0, imm` sign-extends: -1 stays -1, and u32 values above
            // i32::MAX (socket filters' "keep everything") keep their low
            // 32 bits, the part the kernel reads.
            on_panic as i32
        } else if let (true, Some(bpf_throw)) = (is_helper_call(insn, THROW), bpf_throw) {
            insn.set_src_reg(PSEUDO_KFUNC_CALL);
            insn.imm = bpf_throw as i32;
            insn.off = 0;
            continue;
        } else {
            continue;
        };
        *insn = self::insn(MOV64_IMM, 0, constant);
    }
}

/// Replaces the kernel-feature placeholders of one program's instructions
/// with constants: `has_bpf_loop` is asked only if the program uses it.
pub(crate) fn rewrite_features(insns: &mut [bpf_insn], has_bpf_loop: impl FnOnce() -> bool) {
    if !insns.iter().any(|i| is_helper_call(i, HAS_BPF_LOOP)) {
        return;
    }
    let value = i32::from(has_bpf_loop());
    for insn in insns.iter_mut().filter(|i| is_helper_call(i, HAS_BPF_LOOP)) {
        *insn = self::insn(MOV64_IMM, 0, value);
    }
}

/// Whether `insns` contain a panic path (before the rewrite).
pub(crate) fn can_abort(insns: &[bpf_insn]) -> bool {
    insns.iter().any(|i| is_helper_call(i, THROW))
}
