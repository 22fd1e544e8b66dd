//! Stage 3: externs. What the object declares but does not define:
//! kfunc calls and `__ksym` variables become BTF ids of the running
//! kernel or of a module (`module_btf`; weak ones no one defines become
//! what libbpf makes them),
//! `__kconfig` variables read the `.kconfig` map this stage creates, and
//! any other undefined routine is refused with its source lines.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya_obj::{
    Object,
    btf::{Btf, BtfKind},
    generated::bpf_map_type,
};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use super::{
    btf::{kernel_btf, kernel_function_id},
    debug_info::with_debug,
    kallsyms,
    module_btf::{self, Modules},
};
use crate::{
    error::{Error, Result},
    kconfig::Extern,
    maps::Map,
    sys,
};

/// `BPF_F_RDONLY_PROG`.
pub(super) const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;
/// `src_reg` of a kfunc call.
pub(super) const PSEUDO_KFUNC_CALL: u8 = 2;
/// `BPF_LD | BPF_IMM | BPF_DW`, and its `src_reg` for a kernel object's
/// BTF id.
const LD_IMM64: u8 = 0x18;
const PSEUDO_BTF_ID: u8 = 3;

/// What the object's externs need from the kernel once they are resolved:
/// the `.kconfig` map's values, and the modules whose BTF they name.
pub(super) struct Externs {
    /// The `__kconfig` externs, laid out in one value of `size` bytes.
    kconfig: Vec<Extern>,
    size: usize,
    modules: Modules,
}

/// The module BTF objects a program's kfunc calls name, open for the
/// loads: `fd_array` for `BPF_PROG_LOAD`, its slot 0 the kernel's own.
#[derive(Debug, Default)]
pub(super) struct ModuleFds {
    _fds: Vec<OwnedFd>,
    pub fd_array: Vec<i32>,
}

/// Resolves the object's external calls and variables in place.
pub(super) fn resolve(file: &object::File<'_>, obj: &mut Object) -> Result<Externs> {
    let (kconfig, size) = crate::kconfig::externs(file)?;
    let mut modules = Modules::default();
    resolve_external_calls(file, obj, &kconfig, &mut modules)?;
    Ok(Externs {
        kconfig,
        size,
        modules,
    })
}

/// The object's typeless `__ksym` variables: `VAR`s of type `void` (or
/// `const void`) in its BTF.
fn typeless_externs(file: &object::File<'_>) -> std::collections::HashSet<String> {
    let Some(btf) = file
        .section_by_name(".BTF")
        .and_then(|s| s.data().ok())
        .and_then(|data| crate::btf::Btf::parse(data).ok())
    else {
        return Default::default();
    };
    (1..btf.len() as u32)
        .filter_map(|id| btf.get(id))
        .filter(|t| t.kind == crate::btf::Kind::Var && btf.skip_mods_and_typedefs(t.type_id) == 0)
        .map(|t| t.name.clone())
        .collect()
}

impl Externs {
    /// Opens the BTF of the modules the object's externs resolved to, and
    /// gives the `ld_imm64` of a module's variable its descriptor.
    pub(super) fn open_modules(&self, obj: &mut Object) -> Result<ModuleFds> {
        if self.modules.is_empty() {
            return Ok(ModuleFds::default());
        }
        let fds = self.modules.open()?;
        let mut fd_array = vec![0];
        fd_array.extend(fds.iter().map(|fd| fd.as_raw_fd()));
        for function in obj.functions.values_mut() {
            for i in 0..function.instructions.len().saturating_sub(1) {
                let (insn, next) = (&function.instructions[i], &function.instructions[i + 1]);
                if insn.code == LD_IMM64 && insn.src_reg() == PSEUDO_BTF_ID && next.imm < 0 {
                    let slot = next.imm.unsigned_abs() as usize;
                    function.instructions[i + 1].imm = fd_array.get(slot).copied().unwrap_or(0);
                }
            }
        }
        Ok(ModuleFds {
            _fds: fds,
            fd_array,
        })
    }

    /// Creates the `.kconfig` map, if the object reads any `__kconfig`
    /// variable, and gives the instructions that read it its descriptor.
    pub(super) fn create_map(&self, obj: &mut Object) -> Result<Option<Map>> {
        if self.kconfig.is_empty() {
            return Ok(None);
        }
        let map = create_kconfig_map(&self.kconfig, self.size)?;
        let fd = map.fd.as_raw_fd();
        for function in obj.functions.values_mut() {
            for insn in &mut function.instructions {
                if insn.code == 0x18 && insn.imm == crate::kconfig::FD_PLACEHOLDER {
                    insn.imm = fd;
                }
            }
        }
        Ok(Some(map))
    }
}

/// Resolves the object's calls of functions it does not define: a kernel
/// function (a kfunc, declared `__ksym` in C) becomes a kfunc call of its
/// BTF id in the kernel; a weak one the kernel lacks becomes a call the
/// verifier refuses only if it is reachable (as libbpf does, for code
/// behind `bpf_ksym_exists`); any other is refused, naming the routine and
/// the source lines of its calls, before linking would fail on them
/// without a line.
fn resolve_external_calls(
    file: &object::File<'_>,
    obj: &mut Object,
    kconfig: &[Extern],
    modules: &mut Modules,
) -> Result<()> {
    /// `src_reg` of an `ld_imm64` of a map value's address.
    const PSEUDO_MAP_VALUE: u8 = 2;
    /// The helper id a missing weak kfunc's call gets: none exists, so the
    /// verifier refuses the call where it can be reached (libbpf's value).
    const POISONED_CALL: i32 = 2_002_000_000;
    let mut undefined: Vec<(String, Vec<crate::SourceLine>)> = vec![];
    // Serialized only for an error's source lines.
    let object_btf = obj.btf.as_ref();
    let btf = std::cell::OnceCell::new();
    let typeless = std::cell::OnceCell::new();
    for section in file.sections() {
        if section.kind() != object::SectionKind::Text {
            continue;
        }
        for (offset, relocation) in section.relocations() {
            let object::RelocationTarget::Symbol(index) = relocation.target() else {
                continue;
            };
            let Ok(symbol) = file.symbol_by_index(index) else {
                continue;
            };
            let name = symbol.name().unwrap_or_default();
            if !symbol.is_undefined() || name.is_empty() {
                continue;
            }
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            let Some(function) = obj.functions.values_mut().find(|f| {
                f.section_index.0 == section.index().0
                    && (f.section_offset..f.section_offset + f.instructions.len() * 8).contains(&at)
            }) else {
                continue;
            };
            let insn_at = (at - function.section_offset) / 8;
            let code = function.instructions[insn_at].code;
            let kernel_id = |kind| kernel_btf().ok()?.id_by_type_name_kind(name, kind).ok();
            match code {
                CALL => {
                    let insn = &mut function.instructions[insn_at];
                    let target = match kernel_function_id(name) {
                        Some(id) => Some((id, 0)),
                        None => module_btf::function(name)
                            .map(|(module, id)| (id, modules.slot(&module))),
                    };
                    if let Some((id, slot)) = target {
                        insn.set_src_reg(PSEUDO_KFUNC_CALL);
                        insn.imm = id as i32;
                        insn.off = slot;
                        continue;
                    }
                    if symbol.is_weak() {
                        insn.set_src_reg(0);
                        insn.imm = POISONED_CALL;
                        insn.off = 0;
                        continue;
                    }
                }
                // The address of a `__ksym` variable or function: its BTF
                // id, or 0 for a weak one the kernel lacks (which
                // `bpf_ksym_exists` tests).
                // A `__kconfig` extern: its bytes in the `.kconfig` map,
                // whose descriptor is put in once the map exists.
                LD_IMM64
                    if insn_at + 1 < function.instructions.len()
                        && let Some(e) = kconfig.iter().find(|e| e.name == name) =>
                {
                    let insn = &mut function.instructions[insn_at];
                    insn.set_src_reg(PSEUDO_MAP_VALUE);
                    insn.imm = crate::kconfig::FD_PLACEHOLDER;
                    function.instructions[insn_at + 1].imm = e.offset as i32;
                    continue;
                }
                // In a module: its BTF's descriptor in the second word,
                // written as the slot's negative until it is open.
                // A typeless one (`extern const void x __ksym`): its
                // address, from kallsyms, as libbpf gives it.
                LD_IMM64
                    if insn_at + 1 < function.instructions.len()
                        && typeless
                            .get_or_init(|| typeless_externs(file))
                            .contains(name) =>
                {
                    let address = kallsyms::address(name);
                    if address.is_some() || symbol.is_weak() {
                        let address = address.unwrap_or(0);
                        let insn = &mut function.instructions[insn_at];
                        insn.set_src_reg(0);
                        insn.imm = address as u32 as i32;
                        function.instructions[insn_at + 1].imm = (address >> 32) as u32 as i32;
                        continue;
                    }
                }
                LD_IMM64 if insn_at + 1 < function.instructions.len() => {
                    let id = match kernel_id(BtfKind::Var).or_else(|| kernel_id(BtfKind::Func)) {
                        Some(id) => Some((id, 0)),
                        None => module_btf::variable(name)
                            .or_else(|| module_btf::function(name))
                            .map(|(module, id)| (id, -i32::from(modules.slot(&module)))),
                    };
                    if id.is_some() || symbol.is_weak() {
                        let insn = &mut function.instructions[insn_at];
                        insn.set_src_reg(if id.is_some() { PSEUDO_BTF_ID } else { 0 });
                        insn.imm = id.map_or(0, |(id, _)| id as i32);
                        function.instructions[insn_at + 1].imm = id.map_or(0, |(_, fd)| fd);
                        continue;
                    }
                }
                _ => {}
            }
            let btf = btf.get_or_init(|| object_btf.map(Btf::to_bytes).unwrap_or_default());
            let lines = with_debug(function, btf, |debug| debug.lines_of(insn_at, 0));
            match undefined.iter_mut().find(|(n, _)| n == name) {
                Some((_, sites)) => {
                    for line in lines {
                        if !sites.contains(&line) {
                            sites.push(line);
                        }
                    }
                }
                None => undefined.push((name.to_owned(), lines)),
            }
        }
    }
    match undefined.into_iter().next() {
        Some((function, sites)) => Err(Error::UndefinedFunction { function, sites }),
        None => Ok(()),
    }
}

/// The read-only map of a C object's `__kconfig` externs, filled with
/// this kernel's values and frozen ([`crate::kconfig`]).
fn create_kconfig_map(externs: &[Extern], size: usize) -> Result<Map> {
    const NAME: &str = ".kconfig";
    let values = crate::kconfig::values(externs, size)?;
    let map = Map::create(
        NAME,
        bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        4,
        size as u32,
        1,
        BPF_F_RDONLY_PROG,
    )?;
    let io = |what: &str, source| Error::Io {
        context: format!("{what} the `{NAME}` map"),
        source,
    };
    sys::map_update_elem(map.fd.as_fd(), &0u32.to_ne_bytes(), &values, 0)
        .map_err(|e| io("filling", e))?;
    sys::map_freeze(map.fd.as_fd()).map_err(|e| io("freezing", e))?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{parse::parse, test_objects};

    /// `(src_reg, imm)` of every call in the object's functions.
    fn calls(obj: &Object) -> Vec<(u8, i32)> {
        obj.functions
            .values()
            .flat_map(|f| &f.instructions)
            .filter(|i| i.code == 0x85)
            .map(|i| (i.src_reg(), i.imm))
            .collect()
    }

    #[test]
    fn kfunc_calls_become_kernel_btf_ids() {
        let object = test_objects::bytes("kfuncs");
        let mut parsed = parse(object.bytes()).unwrap();
        let kconfig = resolve(&parsed.file, &mut parsed.obj).unwrap();
        assert!(kconfig.kconfig.is_empty());
        let calls = calls(&parsed.obj);
        for name in [
            "bpf_iter_num_new",
            "bpf_iter_num_next",
            "bpf_iter_num_destroy",
        ] {
            let id = kernel_function_id(name).expect("the host kernel has numeric iterators");
            assert!(calls.contains(&(2, id as i32)), "{name}: {calls:?}");
        }
        // The weak one no kernel has: a call the verifier refuses where
        // it is reachable, as libbpf makes it.
        assert!(calls.contains(&(0, 2_002_000_000)), "{calls:?}");
    }

    #[test]
    fn kconfig_reads_point_at_the_kconfig_map() {
        let object = test_objects::bytes("kconfig");
        let mut parsed = parse(object.bytes()).unwrap();
        let kconfig = resolve(&parsed.file, &mut parsed.obj).unwrap();
        let mut names: Vec<&str> = kconfig.kconfig.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        assert!(names.contains(&"LINUX_KERNEL_VERSION"), "{names:?}");
        assert!(names.contains(&"CONFIG_IU_NO_SUCH_OPTION"), "{names:?}");
        // Each read is a map-value address: the `.kconfig` map's
        // descriptor (put in when the map exists) and the extern's offset.
        let offsets: Vec<i32> = kconfig.kconfig.iter().map(|e| e.offset as i32).collect();
        let mut reads = 0;
        for function in parsed.obj.functions.values() {
            for pair in function.instructions.windows(2) {
                if pair[0].code == 0x18 && pair[0].imm == crate::kconfig::FD_PLACEHOLDER {
                    assert_eq!(pair[0].src_reg(), 2);
                    assert!(offsets.contains(&pair[1].imm), "{}", pair[1].imm);
                    reads += 1;
                }
            }
        }
        assert!(reads >= 6, "{reads} reads of `__kconfig` variables");
    }

    #[test]
    fn an_undefined_routine_is_refused_with_its_lines() {
        let object = test_objects::bytes("undefined_call");
        let mut parsed = parse(object.bytes()).unwrap();
        match resolve(&parsed.file, &mut parsed.obj) {
            Err(Error::UndefinedFunction { function, sites }) => {
                assert!(!function.is_empty());
                assert!(
                    sites
                        .iter()
                        .all(|s| s.file.ends_with("undefined_call.bpf.c")),
                    "{sites:?}"
                );
                assert!(!sites.is_empty());
            }
            other => panic!("wrong outcome: {:?}", other.map(|_| ())),
        }
    }
}
