//! Stage 9: programs. Each program is loaded as its section says (libbpf's
//! section names, iu's attributes), with its attach target's BTF id, its
//! panic placeholders rewritten, and its func and line info; a refusal is
//! explained in the program's terms (`explain`), and plain loops the
//! verifier gives up on get a runtime budget (`budget`).

use std::{
    collections::{HashMap, HashSet},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::Arc,
};

use aya_obj::{Object, btf::BtfKind, generated::bpf_prog_type};
use object::{Object as _, ObjectSymbol as _};

use super::{
    EbpfLoader,
    btf::{LoadedBtf, bpf_throw_id, kernel_btf},
    budget::{create_loop_counter, load_with_budget},
    debug_info::{distinct_lines, nested_panic_sites, with_debug},
    explain::{explain_lock, explain_stack, program_arrays, tail_call_mismatch, with_call_site},
};
use crate::{
    ebpf::LoopCounters,
    error::{Error, Result},
    features,
    maps::Map,
    programs::{LoadType, Program, struct_ops::ProgramSlots},
    sys::{ProgBtfInfo, ProgLoad},
};

/// What the programs stage reads of the earlier stages.
pub(super) struct Context<'a, 'f> {
    pub loader: &'a EbpfLoader,
    pub file: &'a object::File<'f>,
    /// Each program's section name, as libbpf names it.
    pub sections: &'a HashMap<String, String>,
    /// The programs whose section turns autoload off.
    pub autoload_off: &'a HashSet<String>,
    /// Each struct_ops program's struct and member.
    pub struct_ops: &'a ProgramSlots,
    /// Each program's `on_panic` return value.
    pub on_panic: &'a HashMap<String, i64>,
    /// Each program's slot in the abort counters, for programs that can
    /// panic.
    pub abort_slots: &'a HashMap<String, u32>,
    pub btf: Option<&'a LoadedBtf>,
    /// The CO-RE sites the CO-RE stage poisoned, to explain a refusal.
    pub core_sites: &'a crate::core_relo::Poisoned,
    pub maps: &'a HashMap<String, Map>,
    /// The module BTF objects kfunc calls name by index.
    pub fd_array: &'a [i32],
}

/// How the kernel is asked to load one program.
#[derive(Debug)]
pub(super) struct Target {
    pub load_type: LoadType,
    /// The BTF id of what it attaches to (a kernel function or struct, or
    /// a function of the extension's target program), or 0.
    pub attach_btf_id: u32,
    /// For an extension (freplace): the program whose function it replaces.
    pub attach_prog: Option<Arc<OwnedFd>>,
}

/// The programs the stage loaded, and the loop budgets it gave them.
pub(super) struct Loaded {
    pub programs: HashMap<String, Program>,
    pub loop_budget: Option<LoopCounters>,
}

impl Context<'_, '_> {
    /// Whether program `name` is to be loaded.
    pub(super) fn wanted(&self, name: &str) -> bool {
        let loader = self.loader;
        // `?` sections load only when asked for.
        let off_by_default =
            self.autoload_off.contains(name) && !loader.enabled.iter().any(|n| n == name);
        !loader.skipped.iter().any(|n| n == name) && !off_by_default
    }

    /// How program `name` of section `section` (aya-obj's `parsed`) loads.
    pub(super) fn target(
        &self,
        name: &str,
        parsed: &aya_obj::ProgramSection,
        section: &str,
    ) -> Result<Target> {
        let unsupported = |reason| Error::UnsupportedProgram {
            name: name.to_owned(),
            section: section.to_owned(),
            reason,
        };
        let mut load_type = LoadType::of(parsed, section).map_err(unsupported)?;
        // struct_ops (C): the struct and member of a struct_ops program.
        if let Some(struct_id) = self.struct_ops.attach(name, section, &mut load_type)? {
            return Ok(Target {
                load_type,
                attach_btf_id: struct_id,
                attach_prog: None,
            });
        }
        if load_type.prog_type == bpf_prog_type::BPF_PROG_TYPE_EXT as u32 {
            let (program, id) = self.loader.extension_target_of(name, section)?;
            return Ok(Target {
                load_type,
                attach_btf_id: id,
                attach_prog: Some(program),
            });
        }
        let attach_btf_id = match LoadType::btf_target(parsed, section) {
            Some((target, kind)) => {
                kernel_btf()?
                    .id_by_type_name_kind(&target, kind)
                    .map_err(|_| match kind {
                        BtfKind::Typedef => Error::UnknownBtfTracepoint {
                            program: name.to_owned(),
                            tracepoint: target
                                .trim_start_matches(crate::programs::btf_tracepoint::TYPEDEF_PREFIX)
                                .to_owned(),
                        },
                        _ => Error::UnknownKernelFunction {
                            program: name.to_owned(),
                            function: target,
                        },
                    })?
            }
            None => 0,
        };
        Ok(Target {
            load_type,
            attach_btf_id,
            attach_prog: None,
        })
    }

    /// Loads every wanted program of `obj` (linked), in name order, so
    /// that what depends on the order (the program type a program array
    /// takes from its first user) is the same on every run.
    pub(super) fn load_all(&self, obj: &mut Object) -> Result<Loaded> {
        let names: Vec<String> = super::sorted(obj.programs.keys());
        let origins = function_origins(self.file, obj);
        let mut budget = Budget {
            programs: names.len(),
            counter: None,
            slots: HashMap::new(),
        };
        let mut programs = HashMap::new();
        for (slot, name) in names.iter().enumerate() {
            if !self.wanted(name) {
                continue;
            }
            let Some(program) = obj.programs.get(name) else {
                continue;
            };
            let section_name = self.sections.get(name).cloned().unwrap_or_default();
            let target = self.target(name, &program.section, &section_name)?;
            let (section, license, kernel_version) = (
                program.section.clone(),
                program.license.clone(),
                program.kernel_version,
            );
            let function = obj
                .functions
                .get_mut(&program.function_key())
                .ok_or_else(|| {
                    Error::Relocation(format!("program `{name}` has no function in the object"))
                })?;
            let one = One {
                name,
                section: &section_name,
                target: &target,
                license: &license,
                kernel_version,
                slot: slot as u32,
            };
            let fd = self.load_one(&one, function, &origins, &mut budget)?;
            programs.insert(
                name.clone(),
                Program {
                    name: name.clone(),
                    section_name,
                    section,
                    prog_type: target.load_type.prog_type,
                    fd,
                },
            );
        }
        Ok(Loaded {
            programs,
            loop_budget: budget.counter.map(|map| LoopCounters {
                map,
                slots: budget.slots,
            }),
        })
    }

    /// Rewrites iu's placeholders in one program's linked function and
    /// loads it.
    fn load_one(
        &self,
        one: &One<'_>,
        function: &mut aya_obj::Function,
        origins: &HashMap<u32, (usize, u64, u64)>,
        budget: &mut Budget,
    ) -> Result<OwnedFd> {
        let name = one.name;
        let btf = self.btf.map(|b| b.bytes.as_slice()).unwrap_or_default();
        crate::placeholders::rewrite_features(&mut function.instructions, || {
            // bpf_loop is helper 181, for every program type.
            features::helper(bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER as u32, 181)
        });
        let abort_slot = self.abort_slots.get(name).copied();
        if abort_slot.is_some() {
            // An `exit` from the entry frame where every panic is reached
            // there; `bpf_throw` only for the others.
            crate::abort::exit_from_entry(function);
        }
        refuse_unsupported_budgets(name, function, btf)?;
        check_kfunc_slots(name, &function.instructions, self.fd_array.len())?;
        // The lines of the panics only `bpf_throw` can leave, if any.
        let mut throw_sites = None;
        if let Some(slot) = abort_slot {
            if crate::placeholders::can_abort(&function.instructions) {
                throw_sites = Some(nested_panic_sites(function, btf));
            }
            let bpf_throw = match (&throw_sites, bpf_throw_id()) {
                (None, _) => None,
                (Some(_), Some(id)) => Some(id),
                (Some(sites), None) => {
                    return Err(Error::PanicsUnsupported {
                        program: name.to_owned(),
                        sites: sites.clone(),
                    });
                }
            };
            let on_panic = self.on_panic.get(name).copied().unwrap_or(0);
            crate::placeholders::rewrite(&mut function.instructions, slot, on_panic, bpf_throw);
        }
        let func_info = function.func_info.func_info_bytes();
        let line_info = distinct_lines(
            function.line_info.line_info_bytes(),
            function.line_info_rec_size,
        );
        let load_type = &one.target.load_type;
        let spec = ProgLoad {
            name,
            prog_type: load_type.prog_type,
            expected_attach_type: load_type.expected_attach_type,
            insns: &function.instructions,
            license: one.license,
            kern_version: one
                .kernel_version
                .unwrap_or_else(features::kernel_version_code),
            prog_flags: load_type.prog_flags,
            attach_btf_id: one.target.attach_btf_id,
            attach_prog_fd: one.target.attach_prog.as_ref().map(|fd| fd.as_fd()),
            btf: ProgBtfInfo {
                btf_fd: self.btf.map(|b| b.fd.as_fd()),
                func_info: &func_info,
                func_info_rec_size: function.func_info_rec_size as u32,
                line_info: &line_info,
                line_info_rec_size: function.line_info_rec_size as u32,
            },
            fd_array: self.fd_array,
        };
        let programs = budget.programs;
        let counter_map = &mut budget.counter;
        let counter = || -> Result<i32> {
            if counter_map.is_none() {
                *counter_map = Some(create_loop_counter(programs)?);
            }
            Ok(counter_map.as_ref().map_or(-1, |map| map.fd.as_raw_fd()))
        };
        let loader = self.loader;
        let (fd, budgeted) = load_with_budget(
            &spec,
            function,
            btf,
            loader.log_size,
            one.slot,
            loader.loop_budget,
            loader.loop_budgets.then_some(counter),
        )
        .map_err(|e| {
            let e = match (e, &throw_sites) {
                (Error::Verifier { log, .. }, Some(sites))
                    if log.full().contains("bpf_throw is not allowed") =>
                {
                    Error::PanicNotInlined {
                        program: name.to_owned(),
                        section: one.section.to_owned(),
                        sites: sites.clone(),
                    }
                }
                (e, _) => e,
            };
            let e = tail_call_mismatch(
                e,
                name,
                load_type.prog_type,
                &function.instructions,
                self.maps,
            );
            let e = explain_stack(e, function, btf);
            let e = explain_lock(e);
            let e = with_call_site(e, function, origins, self.file);
            self.core_sites.explain(e, &function.instructions, || {
                with_debug(function, btf, |debug| debug.lines())
            })
        })?;
        for map in program_arrays(&function.instructions, self.maps) {
            let _ = map.tail_call_owner.set((
                name.to_owned(),
                crate::programs::type_name(load_type.prog_type),
            ));
        }
        if budgeted {
            budget.slots.insert(name.to_owned(), one.slot);
        }
        Ok(fd)
    }
}

/// One program to load.
struct One<'a> {
    name: &'a str,
    /// Its section name, as libbpf names it.
    section: &'a str,
    target: &'a Target,
    license: &'a std::ffi::CStr,
    kernel_version: Option<u32>,
    /// Its slot in the loop-budget counters: its place in name order.
    slot: u32,
}

/// The loop-budget counters, created when the first program needs one.
struct Budget {
    /// Slots to make: one per program of the object.
    programs: usize,
    counter: Option<Map>,
    /// The slot of each program that got budgets.
    slots: HashMap<String, u32>,
}

/// Every kfunc call names a BTF object the loader put in `fd_array` (of
/// `slots` entries; 0 is the kernel's own), so the kernel reads no
/// descriptor past the array: a call the object encoded itself with
/// another index is refused.
fn check_kfunc_slots(
    name: &str,
    insns: &[aya_obj::generated::bpf_insn],
    slots: usize,
) -> Result<()> {
    let bad = insns.iter().find(|i| {
        i.code == 0x85
            && i.src_reg() == super::externs::PSEUDO_KFUNC_CALL
            && i.off != 0
            && usize::try_from(i.off).map_or(true, |slot| slot >= slots)
    });
    match bad {
        Some(insn) => Err(Error::Relocation(format!(
            "program `{name}` calls a kernel function through BTF object {} of its `fd_array`, which the object does not name: rebuild it with clang, whose kfunc calls the loader resolves",
            insn.off
        ))),
        None => Ok(()),
    }
}

/// A program built with loop budgets (`may_goto` in its code, from
/// `iu_ebpf::loops`) on a kernel without them is refused with the loops'
/// lines.
fn refuse_unsupported_budgets(name: &str, function: &aya_obj::Function, btf: &[u8]) -> Result<()> {
    let budgeted: Vec<u32> = (0..function.instructions.len() as u32)
        .filter(|&i| function.instructions[i as usize].code == features::MAY_GOTO)
        .collect();
    if budgeted.is_empty() || features::loop_budget() {
        return Ok(());
    }
    let lines = with_debug(function, btf, |d| d.lines());
    let mut sites: Vec<crate::SourceLine> = budgeted
        .iter()
        .filter_map(|&at| {
            // The loop's own line: the instruction itself is inlined from
            // iu-ebpf's loops.rs.
            let before = || lines.iter().take_while(|(off, _)| *off <= at);
            before()
                .filter(|(_, l)| !crate::verifier::in_library(&l.file))
                .last()
                .or_else(|| before().last())
                .map(|(_, line)| line.clone())
        })
        .collect();
    sites.dedup();
    Err(Error::LoopBudgetUnsupported {
        program: name.to_owned(),
        sites,
    })
}

/// Where each function of the object came from: by its BTF type id, its
/// text section, offset and length in bytes.
fn function_origins(file: &object::File<'_>, obj: &Object) -> HashMap<u32, (usize, u64, u64)> {
    let sizes: HashMap<(usize, u64), u64> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text)
        .filter_map(|s| Some(((s.section_index()?.0, s.address()), s.size())))
        .collect();
    obj.functions
        .values()
        .filter_map(|f| {
            let type_id = f.func_info.func_info.first()?.type_id;
            let offset = f.section_offset as u64;
            let len = *sizes.get(&(f.section_index.0, offset))?;
            Some((type_id, (f.section_index.0, offset, len)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{AlignedCopy, parse, test_objects};

    /// The stage's inputs other than the object, empty.
    #[derive(Default)]
    struct Empty {
        struct_ops: ProgramSlots,
        on_panic: HashMap<String, i64>,
        abort_slots: HashMap<String, u32>,
        core_sites: crate::core_relo::Poisoned,
        maps: HashMap<String, Map>,
    }

    fn context<'a, 'f>(
        loader: &'a EbpfLoader,
        parsed: &'a parse::Parsed<'f>,
        empty: &'a Empty,
    ) -> Context<'a, 'f> {
        Context {
            loader,
            file: &parsed.file,
            sections: &parsed.sections,
            autoload_off: &parsed.autoload_off,
            struct_ops: &empty.struct_ops,
            on_panic: &empty.on_panic,
            abort_slots: &empty.abort_slots,
            btf: None,
            core_sites: &empty.core_sites,
            maps: &empty.maps,
            fd_array: &[],
        }
    }

    fn target_of(loader: &EbpfLoader, object: &AlignedCopy, program: &str) -> Result<Target> {
        let parsed = parse::parse(object.bytes()).unwrap();
        let empty = Empty::default();
        let context = context(loader, &parsed, &empty);
        let section = &parsed.sections[program];
        context.target(program, &parsed.obj.programs[program].section, section)
    }

    #[test]
    fn autoload_follows_the_section_and_the_options() {
        let object = test_objects::bytes("loader_stages");
        let parsed = parse::parse(object.bytes()).unwrap();
        let empty = Empty::default();
        let mut loader = EbpfLoader::new();
        let wanted = |loader: &EbpfLoader, name| context(loader, &parsed, &empty).wanted(name);
        assert!(wanted(&loader, "classify"));
        assert!(!wanted(&loader, "xdp_off"), "`?xdp` is off by default");
        loader.autoload("xdp_off", true).autoload("classify", false);
        assert!(wanted(&loader, "xdp_off"));
        assert!(!wanted(&loader, "classify"));
    }

    #[test]
    fn programs_load_as_their_sections_say() {
        let object = test_objects::bytes("loader_stages");
        let loader = EbpfLoader::new();
        let classify = target_of(&loader, &object, "classify").unwrap();
        assert_eq!(
            classify.load_type.prog_type,
            bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS as u32
        );
        assert_eq!(classify.attach_btf_id, 0);
        // tp_btf: the kernel's `btf_trace_<name>` typedef.
        let on_switch = target_of(&loader, &object, "on_switch").unwrap();
        assert_eq!(
            on_switch.load_type.prog_type,
            bpf_prog_type::BPF_PROG_TYPE_TRACING as u32
        );
        let typedef = kernel_btf()
            .unwrap()
            .id_by_type_name_kind("btf_trace_sched_switch", BtfKind::Typedef)
            .unwrap();
        assert_eq!(on_switch.attach_btf_id, typedef);
    }

    #[test]
    fn a_tp_btf_target_the_kernel_lacks_is_named() {
        let object = test_objects::bytes("loader_stages");
        let mut bytes = object.bytes().to_vec();
        while let Some(at) = bytes.windows(12).position(|w| w == b"sched_switch") {
            bytes[at..at + 12].copy_from_slice(b"sched_swxtch");
        }
        let object = AlignedCopy::new(&bytes);
        match target_of(&EbpfLoader::new(), &object, "on_switch") {
            Err(Error::UnknownBtfTracepoint {
                program,
                tracepoint,
            }) => assert_eq!(
                (program.as_str(), tracepoint.as_str()),
                ("on_switch", "sched_swxtch")
            ),
            other => panic!("wrong outcome: {:?}", other.map(|t| t.attach_btf_id)),
        }
    }

    #[test]
    fn an_extension_needs_its_target_program() {
        let object = test_objects::bytes("freplace_ext");
        let parsed = parse::parse(object.bytes()).unwrap();
        let program = parsed
            .sections
            .iter()
            .find(|(_, s)| s.starts_with("freplace/"))
            .map(|(name, _)| name.clone())
            .expect("freplace_ext has an extension");
        match target_of(&EbpfLoader::new(), &object, &program) {
            Err(Error::ExtensionTarget { problem, .. }) => {
                assert!(
                    problem.contains("EbpfLoader::extension_target"),
                    "{problem}"
                )
            }
            other => panic!("wrong outcome: {:?}", other.map(|t| t.attach_btf_id)),
        }
    }
}
