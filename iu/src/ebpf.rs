//! Loading an object: BTF, maps, relocations and programs, in one call.

use std::{
    collections::{HashMap, HashSet},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use aya_obj::{
    EbpfSectionKind, Object,
    btf::{Btf, BtfKind},
    generated::{bpf_map_type, bpf_prog_type},
};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use crate::{
    error::{CAP_BPF_HINT, Error, Result, chain},
    features,
    maps::{self, Map},
    programs::{LoadType, Program, TracePoint},
    source_map::ProgramDebug,
    sys::{self, MapCreate, ProgBtfInfo, ProgLoad, SyscallError},
    trace_pipe::PrintkFormat,
    validate::guarded,
    verifier::VerifierLog,
};

/// Default size of the verifier-log buffer: large enough for the end of the
/// log of a program that hits the 1M-instruction limit, allocated once.
/// The abort counters every iu object declares (`iu_ebpf::panic`).
const ABORTS_MAP: &str = "IU_ABORTS";

const DEFAULT_LOG_SIZE: usize = 4 << 20;

/// `BPF_F_RDONLY_PROG`.
const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// Options for loading an object. Loading itself is one call.
///
/// ```no_run
/// # fn main() -> Result<(), iu::Error> {
/// let ebpf = iu::EbpfLoader::new()
///     .verifier_log_size(1 << 20)
///     .load_file("target/bpf/bpfel-unknown-none/release/hello")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct EbpfLoader {
    log_size: usize,
    pin_dir: Option<PathBuf>,
    globals: Vec<(String, Vec<u8>)>,
    log_level: Option<u8>,
    /// Programs not to load.
    skipped: Vec<String>,
    /// Programs asked for with `autoload(name, true)`, which loads those
    /// whose section turns autoload off (libbpf's `?` prefix).
    enabled: Vec<String>,
    /// Whether refused loops get a runtime budget (on by default), and
    /// which.
    loop_budgets: bool,
    loop_budget: LoopBudget,
    /// The BTF CO-RE relocations resolve against instead of the running
    /// kernel's (libbpf's `btf_custom_path`).
    kernel_btf: Option<PathBuf>,
    /// freplace programs and the loaded program each replaces a function
    /// of.
    extension_targets: Vec<(String, Arc<OwnedFd>)>,
}

impl Default for EbpfLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl EbpfLoader {
    /// A loader with default options.
    pub fn new() -> Self {
        Self {
            log_size: DEFAULT_LOG_SIZE,
            pin_dir: None,
            globals: Vec::new(),
            log_level: None,
            skipped: Vec::new(),
            enabled: Vec::new(),
            loop_budgets: true,
            loop_budget: LoopBudget::Any,
            kernel_btf: None,
            extension_targets: Vec::new(),
        }
    }

    /// The loaded program whose function the freplace program `program`
    /// (`#[freplace(function = "...")]`, section `freplace/<function>`)
    /// replaces, as libbpf's `bpf_program__set_attach_target`: the kernel
    /// checks the replacement against that function's BTF signature in
    /// `target` when it loads. Attach it with [`Ebpf::extension`].
    ///
    /// ```no_run
    /// # fn run() -> Result<(), iu::Error> {
    /// let target = iu::Ebpf::load_file(iu::object_dir().join("firewall"))?;
    /// let ext = iu::EbpfLoader::new()
    ///     .extension_target("drop_large", target.program("decide")?)?
    ///     .load_file(iu::object_dir().join("firewall_v2"))?;
    /// let _link = ext.extension("drop_large")?.attach()?;
    /// # Ok(()) }
    /// ```
    pub fn extension_target(&mut self, program: &str, target: impl AsFd) -> Result<&mut Self> {
        let target = target
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| Error::Io {
                context: format!(
                    "duplicating the descriptor of the program `{program}` replaces a function of"
                ),
                source,
            })?;
        self.extension_targets.retain(|(name, _)| name != program);
        self.extension_targets
            .push((program.to_owned(), Arc::new(target)));
        Ok(self)
    }

    /// Resolves the object's CO-RE relocations (iu's typed kernel handles
    /// and clang's `.BTF.ext` records) against the raw BTF file at `path`
    /// instead of the running kernel's `/sys/kernel/btf/vmlinux`, as
    /// libbpf's `btf_custom_path` does: for kernels that do not expose
    /// their BTF (a BTFHub file), or to check an object against another
    /// kernel's layout. The attach targets of fentry, LSM and `tp_btf`
    /// programs are still looked up in the running kernel, whose BTF ids
    /// the load needs.
    ///
    /// ```no_run
    /// let ebpf = iu::EbpfLoader::new()
    ///     .kernel_btf("/var/lib/btfhub/5.10.0-debian.btf")
    ///     .load_file(iu::object_dir().join("runqlat"))?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn kernel_btf(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.kernel_btf = Some(path.into());
        self
    }

    /// Whether the loader gives the loops of a program the verifier
    /// refused a runtime budget (`may_goto`, Linux 6.9+) and loads it
    /// again; on by default (docs/safety.md, "Loops"). Off, such a program
    /// is refused as written.
    ///
    /// ```no_run
    /// let ebpf = iu::EbpfLoader::new()
    ///     .loop_budgets(false)
    ///     .load_file(iu::object_dir().join("hello"))?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn loop_budgets(&mut self, on: bool) -> &mut Self {
        self.loop_budgets = on;
        self
    }

    /// Which runtime budget the loader gives loops ([`loop_budgets`](Self::loop_budgets)):
    /// by default `may_goto` where the kernel has it, and open-coded
    /// numeric iterators (`bpf_iter_num`, Linux 6.4+) where it has not or
    /// where `may_goto` did not load.
    ///
    /// ```no_run
    /// use iu::LoopBudget;
    /// // What a 6.4-6.8 kernel gets, on a newer one.
    /// let ebpf = iu::EbpfLoader::new()
    ///     .loop_budget(LoopBudget::Iterator)
    ///     .load_file(iu::object_dir().join("hello"))?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn loop_budget(&mut self, kind: LoopBudget) -> &mut Self {
        self.loop_budget = kind;
        self
    }

    /// Sets the most verbose level programs log at (`info!` and friends;
    /// default `Info`). Calls above it become dead branches the verifier
    /// removes. Objects that do not log are unaffected.
    pub fn log_level(&mut self, level: log::LevelFilter) -> &mut Self {
        self.log_level = Some(level as u8);
        self
    }

    /// Pins every map (but global-data maps) under `dir` in bpffs, and
    /// reuses maps already pinned there by an earlier load, after checking
    /// that their type and sizes match. Remove a pin with
    /// [`crate::maps::Map::unpin`].
    ///
    /// ```no_run
    /// let ebpf = iu::EbpfLoader::new()
    ///     .pin_maps_in("/sys/fs/bpf/syscount")
    ///     .load_file("target/bpf/bpfel-unknown-none/release/syscount")?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn pin_maps_in(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.pin_dir = Some(dir.into());
        self
    }

    /// Sets a global variable (a `static` in `.rodata`, `.data` or `.bss`)
    /// before the load, for example a read-only configuration constant the
    /// verifier then treats as known. The size must match the variable's.
    ///
    /// ```no_run
    /// let ebpf = iu::EbpfLoader::new()
    ///     .set_global("TARGET_PID", &4242u32)
    ///     .load_file("target/bpf/bpfel-unknown-none/release/filter")?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn set_global<T: crate::Pod>(&mut self, name: &str, value: &T) -> &mut Self {
        self.globals
            .push((name.to_owned(), value.as_bytes().to_vec()));
        self
    }

    /// Whether to load program `name` (default: every program is loaded,
    /// but those whose section starts with `?`, libbpf's mark for
    /// autoload off).
    /// Objects that carry alternatives (a kprobe twin of an fentry program,
    /// a program for newer kernels only) turn off the ones not wanted here,
    /// as libbpf's `bpf_program__set_autoload` does. A program left out is
    /// not in the loaded [`Ebpf`]; a name the object does not have is
    /// [`Error::UnknownProgram`] at load time.
    ///
    /// ```no_run
    /// let ebpf = iu::EbpfLoader::new()
    ///     .autoload("trace_open_fentry", iu::features::program_type(26, 0))
    ///     .load_file("target/bpf/bpfel-unknown-none/release/opensnoop")?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn autoload(&mut self, name: &str, load: bool) -> &mut Self {
        self.skipped.retain(|n| n != name);
        self.enabled.retain(|n| n != name);
        if load {
            self.enabled.push(name.to_owned());
        } else {
            self.skipped.push(name.to_owned());
        }
        self
    }

    /// Sets the size of the buffer for the verifier's log of a rejected
    /// program. The log is only requested after a load fails.
    pub fn verifier_log_size(&mut self, bytes: usize) -> &mut Self {
        self.log_size = bytes.clamp(128, u32::MAX as usize >> 2);
        self
    }

    /// The target of the freplace program `name` (section
    /// `freplace/<function>`): the program given to
    /// [`EbpfLoader::extension_target`] and the BTF id of `function` in it.
    fn extension_target_of(&self, name: &str, section: &str) -> Result<(Arc<OwnedFd>, u32)> {
        let problem = |problem: String| Error::ExtensionTarget {
            program: name.to_owned(),
            problem,
        };
        let function = section
            .split_once('/')
            .map(|(_, f)| f)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                problem(format!(
                    "its section `{section}` names no function; name it: `freplace/<function>`"
                ))
            })?;
        let (_, target) = self
            .extension_targets
            .iter()
            .find(|(program, _)| program == name)
            .ok_or_else(|| {
                problem(format!(
                    "it replaces `{function}` of a loaded program, which the loader was not given: call `EbpfLoader::extension_target(\"{name}\", &target_program)` before loading"
                ))
            })?;
        let id = crate::programs::extension::function_btf_id(target.as_fd(), function)
            .map_err(problem)?;
        Ok((Arc::clone(target), id))
    }

    /// Reads and loads the object at `path`.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Ebpf> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::ReadObject {
            path: path.to_owned(),
            source,
        })?;
        self.load(&bytes)
    }

    /// Loads an object from its bytes: creates its maps, relocates and loads
    /// every program. Nothing is attached yet.
    pub fn load(&self, bytes: &[u8]) -> Result<Ebpf> {
        // The ELF reader needs 8-byte alignment, which `include_bytes!`
        // (how iu-build hands objects to user crates) does not give.
        let copy;
        let bytes = if bytes.as_ptr().align_offset(8) == 0 {
            bytes
        } else {
            copy = AlignedCopy::new(bytes);
            copy.bytes()
        };
        // One ELF parse for what aya-obj does not give: program section
        // names, the verifier's source map, and section renames.
        // Checked first, so that aya-obj never sees ranges it would trust
        // (docs/safety.md, "Malformed objects").
        let (file, mut obj) = crate::validate::parse(bytes)?;
        let (kconfig, kconfig_size) = crate::kconfig::externs(&file)?;
        resolve_external_calls(&file, &mut obj, &kconfig)?;
        let (sections, log_section) = program_sections(&file)?;
        let (sections, autoload_off) = libbpf_sections(sections, &mut obj);
        crate::validate::refuse_unknown_programs(&file, &obj)?;
        // Each struct_ops program's struct and member, from the object's
        // records and the kernel's BTF.
        let (struct_ops, struct_ops_programs) = crate::programs::struct_ops::resolve_all(&file)?;
        // struct_ops (C): libbpf's autoload rule for struct_ops programs.
        let autoload_off = struct_ops_programs.autoload(autoload_off);
        let on_panic = crate::placeholders::on_panic_values(&file);
        let level = self.log_level.map(|l| [l]);
        if !self.globals.is_empty() || level.is_some() {
            let mut globals: std::collections::HashMap<&str, (&[u8], bool)> = self
                .globals
                .iter()
                .map(|(name, value)| (name.as_str(), (value.as_slice(), true)))
                .collect();
            if let Some(level) = &level {
                // Only objects that declare `iu_ebpf::logger!()` have it.
                globals.insert("IU_LOG_LEVEL", (level.as_slice(), false));
            }
            check_globals(&file, &self.globals)?;
            guarded("setting globals", || obj.patch_map_data(globals))?
                .map_err(|e| Error::Parse(format!("setting globals: {}", chain(&e))))?;
        }
        if let Some(dir) = &self.pin_dir {
            crate::maps::bpffs_root()?;
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                context: format!("creating pin directory {}", dir.display()),
                source,
            })?;
        }
        let (btf_fd, btf_bytes) = load_btf(&mut obj)?.unzip();
        // CO-RE: clang's `.BTF.ext` relocations and iu's own sites
        // (`iu_ebpf::kernel`), both resolved by `core_relo`.
        let custom_btf = match &self.kernel_btf {
            Some(path) => Some(
                crate::btf::Btf::from_file(path).map_err(|e| Error::CustomBtf {
                    path: path.clone(),
                    reason: chain(&e),
                })?,
            ),
            None => None,
        };
        let core_sites = crate::core_relo::relocate(&file, &mut obj, custom_btf.as_ref())?;

        let can_abort = crate::placeholders::object_can_abort(&obj);
        // iu-ebpf's USDT spec map comes along in every object; only
        // objects with `#[usdt]` programs use it.
        let has_usdt = file.sections().any(|s| {
            s.name()
                .is_ok_and(|n| crate::programs::is_usdt(n.trim_start_matches('?')))
        });
        let mut maps = HashMap::new();
        for (name, map) in &obj.maps {
            if name == ABORTS_MAP && !can_abort {
                // Every object declares it; only objects with panic paths
                // use it.
                continue;
            }
            if name == crate::programs::usdt::SPECS_MAP && !has_usdt {
                continue;
            }
            let is_data = matches!(
                map.section_kind(),
                EbpfSectionKind::Data | EbpfSectionKind::Rodata | EbpfSectionKind::Bss
            );
            if is_data && map.value_size() == 0 {
                // An empty data section: nothing can refer to it.
                continue;
            }
            let btf = match (&btf_fd, map) {
                (Some(fd), aya_obj::Map::Btf(m)) if !map_refuses_btf(map.map_type()) => {
                    Some((fd.as_fd(), m.def.btf_key_type_id, m.def.btf_value_type_id))
                }
                // A global data section's value is its DATASEC, as libbpf
                // creates it: the kernel needs it for a `bpf_spin_lock` (or
                // a kptr, a list head) in global data.
                (Some(fd), _) if is_data => obj
                    .btf
                    .as_ref()
                    .and_then(|btf| btf.id_by_type_name_kind(name, BtfKind::DataSec).ok())
                    .map(|id| (fd.as_fd(), 0, id)),
                _ => None,
            };
            let map_type = if is_data {
                bpf_map_type::BPF_MAP_TYPE_ARRAY as u32
            } else {
                map.map_type()
            };
            let mut max_entries = map.max_entries();
            if max_entries == 0 && map_type == crate::maps::map_type::PERF_EVENT_ARRAY {
                // One slot per possible CPU, as libbpf does.
                max_entries = crate::maps::possible_cpus()? as u32;
            }
            if matches!(
                map_type,
                crate::maps::map_type::RINGBUF | crate::maps::map_type::USER_RINGBUF
            ) {
                max_entries = crate::maps::ring_size(max_entries, sys::page_size());
            }
            let pin = self
                .pin_dir
                .as_ref()
                .filter(|_| !is_data)
                .map(|dir| crate::maps::pin_path(dir, name));
            let pinned = match &pin {
                Some(path) => crate::maps::open_pinned(
                    name,
                    path,
                    map_type,
                    map.key_size(),
                    map.value_size(),
                    max_entries,
                )?,
                None => None,
            };
            let reused = pinned.is_some();
            // A map of maps is created with a map of the inner template's
            // shape, which only lives for the call.
            let inner = map.inner().map(|m| crate::maps::InnerTemplate::of(&m));
            let template = match &inner {
                Some(inner) => Some(inner.create(&format!("{name}.inner"))?),
                None => None,
            };
            let create = |btf| {
                sys::map_create(&MapCreate {
                    name,
                    map_type,
                    key_size: map.key_size(),
                    value_size: map.value_size(),
                    max_entries,
                    map_flags: map.map_flags(),
                    map_extra: map.map_extra(),
                    btf,
                    inner_map_fd: template.as_ref().map(|t| t.fd.as_fd()),
                })
            };
            let fd = match pinned {
                Some(fd) => fd,
                // Every map gets its BTF, as libbpf gives it: the kernel
                // needs it for spin locks, timers and kptrs in values, and
                // for local storage. Where it refuses a map's BTF (map
                // types that take none, older DATASEC rules), the map is
                // created without, as libbpf retries; if that fails too,
                // the first refusal is the one that says why.
                None => match create(btf) {
                    Err(first) if btf.is_some() => create(None).map_err(|_| first),
                    other => other,
                }
                .map_err(|e| {
                    Error::from_syscall(
                        format!("creating map `{name}`"),
                        SyscallError::new("bpf(BPF_MAP_CREATE)", e),
                        CAP_BPF_HINT,
                        |_, source| Error::MapCreate {
                            name: name.clone(),
                            source,
                        },
                    )
                })?,
            };
            if is_data {
                init_data_map(name, &fd, map)?;
            }
            maps.insert(
                name.clone(),
                Map {
                    name: name.clone(),
                    fd,
                    map_type,
                    key_size: map.key_size(),
                    value_size: map.value_size(),
                    max_entries,
                    tail_call_owner: std::sync::OnceLock::new(),
                    inner,
                },
            );
            if let (Some(path), false) = (&pin, reused)
                && let Some(created) = maps.get(name)
            {
                created.pin(path)?;
            }
        }

        // struct_ops (C): the struct_ops maps, created at load as libbpf does.
        let struct_ops = crate::programs::struct_ops::create_maps(struct_ops)?;

        if !kconfig.is_empty() {
            let map = create_kconfig_map(&kconfig, kconfig_size)?;
            let fd = map.fd.as_raw_fd();
            for function in obj.functions.values_mut() {
                for insn in &mut function.instructions {
                    if insn.code == 0x18 && insn.imm == crate::kconfig::FD_PLACEHOLDER {
                        insn.imm = fd;
                    }
                }
            }
            maps.insert(map.name.clone(), map);
        }

        let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
        let fds: Vec<(String, i32)> = maps
            .iter()
            .map(|(name, m)| (name.clone(), m.fd.as_raw_fd()))
            .collect();
        let obj_maps = obj.maps.clone();
        guarded("relocating map references", || {
            obj.relocate_maps(
                fds.iter()
                    .filter_map(|(name, fd)| obj_maps.get(name).map(|m| (name.as_str(), *fd, m))),
                &text_sections,
            )
        })?
        .map_err(|e| Error::Relocation(chain(&e)))?;
        guarded("linking functions", || {
            crate::placeholders::end_noreturn_functions(&mut obj);
            obj.relocate_calls(&text_sections)
        })?
        .map_err(|e| Error::Relocation(chain(&e)))?;
        guarded("sanitizing functions", || {
            obj.sanitize_functions(features::object_features())
        })?;

        // Abort counter slots, in name order, for the programs that can panic.
        let mut aborting: Vec<&String> = obj
            .programs
            .iter()
            .filter(|(_, p)| {
                obj.functions
                    .get(&p.function_key())
                    .is_some_and(|f| crate::placeholders::can_abort(&f.instructions))
            })
            .map(|(name, _)| name)
            .collect();
        aborting.sort();
        if aborting.len() > iu_ebpf::panic::MAX_PROGRAMS {
            return Err(Error::Parse(format!(
                "{} programs of the object can panic; iu counts aborts for at most {}: split the object",
                aborting.len(),
                iu_ebpf::panic::MAX_PROGRAMS
            )));
        }
        let abort_slots: HashMap<String, u32> = aborting
            .into_iter()
            .enumerate()
            .map(|(slot, name)| (name.clone(), slot as u32))
            .collect();

        if let Some(unknown) = self
            .skipped
            .iter()
            .chain(&self.enabled)
            .chain(self.extension_targets.iter().map(|(name, _)| name))
            .find(|n| !obj.programs.contains_key(n.as_str()))
        {
            return Err(Error::UnknownProgram {
                name: unknown.clone(),
                available: sorted(obj.programs.keys()),
            });
        }
        let mut programs = HashMap::new();
        // Loop-budget exhaustion counters, one slot per program in name
        // order, created when the first program needs one.
        let program_names: Vec<String> = sorted(obj.programs.keys());
        let origins = function_origins(&file, &obj);
        let mut loop_counter: Option<Map> = None;
        let mut budget_slots: HashMap<String, u32> = HashMap::new();
        // In name order, so that what depends on the order (the program
        // type a program array takes from its first user) is the same on
        // every run.
        let mut in_order: Vec<_> = obj.programs.iter().collect();
        in_order.sort_by(|a, b| a.0.cmp(b.0));
        for (name, program) in in_order {
            // `?` sections load only when asked for.
            let off_by_default = autoload_off.contains(name) && !self.enabled.contains(name);
            if self.skipped.contains(name) || off_by_default {
                continue;
            }
            let section_name = sections.get(name).cloned().unwrap_or_default();
            let mut load_type =
                LoadType::of(&program.section, &section_name).map_err(|reason| {
                    Error::UnsupportedProgram {
                        name: name.clone(),
                        section: section_name.clone(),
                        reason,
                    }
                })?;
            // struct_ops (C): the struct and member of a struct_ops program.
            let struct_op = struct_ops_programs.attach(name, &section_name, &mut load_type)?;
            let attach_btf_id = if let Some(struct_id) = struct_op {
                struct_id
            } else {
                match LoadType::btf_target(&program.section, &section_name) {
                    Some((target, kind)) => kernel_btf()?
                        .id_by_type_name_kind(&target, kind)
                        .map_err(|_| match kind {
                            BtfKind::Typedef => Error::UnknownBtfTracepoint {
                                program: name.clone(),
                                tracepoint: target
                                    .trim_start_matches(
                                        crate::programs::btf_tracepoint::TYPEDEF_PREFIX,
                                    )
                                    .to_owned(),
                            },
                            _ => Error::UnknownKernelFunction {
                                program: name.clone(),
                                function: target,
                            },
                        })?,
                    None => 0,
                }
            };
            let extension_target = (load_type.prog_type == bpf_prog_type::BPF_PROG_TYPE_EXT as u32)
                .then(|| self.extension_target_of(name, &section_name))
                .transpose()?;
            let attach_btf_id = extension_target
                .as_ref()
                .map_or(attach_btf_id, |(_, id)| *id);
            let function = obj
                .functions
                .get_mut(&program.function_key())
                .ok_or_else(|| {
                    Error::Relocation(format!("program `{name}` has no function in the object"))
                })?;
            crate::placeholders::rewrite_features(&mut function.instructions, || {
                // bpf_loop is helper 181, for every program type.
                features::helper(bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER as u32, 181)
            });
            if abort_slots.contains_key(name) {
                // An `exit` from the entry frame where every panic is
                // reached there; `bpf_throw` only for the others.
                crate::abort::exit_from_entry(function);
            }
            let func_info = function.func_info.func_info_bytes();
            let line_info = distinct_lines(
                function.line_info.line_info_bytes(),
                function.line_info_rec_size,
            );
            let budgeted: Vec<u32> = (0..function.instructions.len() as u32)
                .filter(|&i| function.instructions[i as usize].code == features::MAY_GOTO)
                .collect();
            if !budgeted.is_empty() && !features::loop_budget() {
                let lines = with_debug(function, btf_bytes.as_deref().unwrap_or_default(), |d| {
                    d.lines()
                });
                let mut sites: Vec<crate::SourceLine> = budgeted
                    .iter()
                    .filter_map(|&at| {
                        // The loop's own line: the instruction itself is
                        // inlined from iu-ebpf's loops.rs.
                        let before = || lines.iter().take_while(|(off, _)| *off <= at);
                        before()
                            .filter(|(_, l)| !crate::verifier::in_library(&l.file))
                            .last()
                            .or_else(|| before().last())
                            .map(|(_, line)| line.clone())
                    })
                    .collect();
                sites.dedup();
                return Err(Error::LoopBudgetUnsupported {
                    program: name.clone(),
                    sites,
                });
            }
            // The lines of the panics only `bpf_throw` can leave, if any.
            let mut throw_sites = None;
            if let Some(&slot) = abort_slots.get(name) {
                if crate::placeholders::can_abort(&function.instructions) {
                    throw_sites = Some(nested_panic_sites(
                        function,
                        btf_bytes.as_deref().unwrap_or_default(),
                    ));
                }
                let bpf_throw = match (&throw_sites, bpf_throw_id()) {
                    (None, _) => None,
                    (Some(_), Some(id)) => Some(id),
                    (Some(sites), None) => {
                        return Err(Error::PanicsUnsupported {
                            program: name.clone(),
                            sites: sites.clone(),
                        });
                    }
                };
                let on_panic = on_panic.get(name).copied().unwrap_or(0);
                crate::placeholders::rewrite(&mut function.instructions, slot, on_panic, bpf_throw);
            }
            let spec = ProgLoad {
                name,
                prog_type: load_type.prog_type,
                expected_attach_type: load_type.expected_attach_type,
                insns: &function.instructions,
                license: &program.license,
                kern_version: program
                    .kernel_version
                    .unwrap_or_else(features::kernel_version_code),
                prog_flags: load_type.prog_flags,
                attach_btf_id,
                attach_prog_fd: extension_target.as_ref().map(|(fd, _)| fd.as_fd()),
                btf: ProgBtfInfo {
                    btf_fd: btf_fd.as_ref().map(|fd| fd.as_fd()),
                    func_info: &func_info,
                    func_info_rec_size: function.func_info_rec_size as u32,
                    line_info: &line_info,
                    line_info_rec_size: function.line_info_rec_size as u32,
                },
            };
            let btf = btf_bytes.as_deref().unwrap_or_default();
            let counter = || -> Result<i32> {
                if loop_counter.is_none() {
                    loop_counter = Some(create_loop_counter(program_names.len())?);
                }
                Ok(loop_counter.as_ref().map_or(-1, |map| map.fd.as_raw_fd()))
            };
            let slot = program_names.iter().position(|n| n == name).unwrap_or(0) as u32;
            let (fd, budgeted) = load_with_budget(
                &spec,
                function,
                btf,
                self.log_size,
                slot,
                self.loop_budget,
                self.loop_budgets.then_some(counter),
            )
            .map_err(|e| {
                let e = match (e, &throw_sites) {
                    (Error::Verifier { log, .. }, Some(sites))
                        if log.full().contains("bpf_throw is not allowed") =>
                    {
                        Error::PanicNotInlined {
                            program: name.clone(),
                            section: section_name.clone(),
                            sites: sites.clone(),
                        }
                    }
                    (e, _) => e,
                };
                let e =
                    tail_call_mismatch(e, name, load_type.prog_type, &function.instructions, &maps);
                let e = explain_stack(e, function, btf);
                let e = explain_lock(e);
                let e = with_call_site(e, function, &origins, &file);
                core_sites.explain(e, &function.instructions, || {
                    with_debug(function, btf, |debug| debug.lines())
                })
            })?;
            for map in program_arrays(&function.instructions, &maps) {
                let _ = map.tail_call_owner.set((
                    name.clone(),
                    crate::programs::type_name(load_type.prog_type),
                ));
            }
            if budgeted {
                budget_slots.insert(name.clone(), slot);
            }
            programs.insert(
                name.clone(),
                Program {
                    name: name.clone(),
                    section_name,
                    section: program.section.clone(),
                    prog_type: load_type.prog_type,
                    fd,
                },
            );
        }
        log::debug!("loaded {} programs and {} maps", programs.len(), maps.len());
        let printk_formats = printk_formats(&obj);
        Ok(Ebpf {
            maps,
            programs,
            abort_slots,
            loop_budget: loop_counter.map(|map| LoopCounters {
                map,
                slots: budget_slots,
            }),
            printk_formats,
            log_sites: Arc::new(crate::logger::parse_sites(&log_section)),
            usdt_slots: Arc::default(),
            struct_ops,
        })
    }
}

/// An 8-byte aligned copy of an object's bytes.
struct AlignedCopy {
    buffer: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedCopy {
    fn new(bytes: &[u8]) -> Self {
        let mut buffer = vec![0u8; bytes.len() + 8];
        let start = buffer.as_ptr().align_offset(8).min(8);
        buffer[start..start + bytes.len()].copy_from_slice(bytes);
        Self {
            buffer,
            start,
            len: bytes.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buffer[self.start..self.start + self.len]
    }
}

/// The panic paths of each program of an object, found without loading it
/// (no privilege needed): for every program that can panic, the Rust lines
/// that call into a panic path. Such programs abort through `bpf_throw`
/// (Linux 6.7+); older kernels refuse them with
/// [`Error::PanicsUnsupported`]. `cargo xtask build` reports them.
///
/// ```no_run
/// let bytes = std::fs::read(iu::object_dir().join("hello"))?;
/// for (program, sites) in iu::panic_paths(&bytes)? {
///     for site in sites {
///         println!("{program} can panic at {site}");
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn panic_paths(bytes: &[u8]) -> Result<Vec<(String, Vec<crate::SourceLine>)>> {
    let (_, obj, btf) = link_without_kernel(bytes, false)?;
    guarded("reading line info", || {
        let mut paths = vec![];
        for (name, program) in &obj.programs {
            let Some(function) = obj.functions.get(&program.function_key()) else {
                continue;
            };
            if crate::placeholders::can_abort(&function.instructions) {
                paths.push((name.clone(), panic_sites(function, &btf)));
            }
        }
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        paths
    })
}

/// The panic paths that only BPF exceptions can leave, found without
/// loading: for every program that can panic inside a function the
/// compiler did not inline into it, its ELF section (which names the
/// program type) and the Rust lines that call into the panic path there.
/// A panic reached in the program's own frame is an `exit` with the
/// program's `on_panic` value, in every program type and on every kernel;
/// these need `bpf_throw` (Linux 6.7+, and only in the program types the
/// kernel allows it in). `cargo xtask build` reports them.
///
/// ```no_run
/// let bytes = std::fs::read(iu::object_dir().join("hello"))?;
/// for (program, section, sites) in iu::nested_panic_paths(&bytes)? {
///     println!("{program} ({section}) needs bpf_throw at {sites:?}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nested_panic_paths(bytes: &[u8]) -> Result<Vec<(String, String, Vec<crate::SourceLine>)>> {
    let (file, mut obj, btf) = link_without_kernel(bytes, false)?;
    let (sections, _) = program_sections(&file)?;
    let (sections, _) = libbpf_sections(sections, &mut obj);
    guarded("reading line info", || {
        let mut paths = vec![];
        for (name, program) in &obj.programs {
            let Some(function) = obj.functions.get(&program.function_key()) else {
                continue;
            };
            let sites = nested_panic_sites(function, &btf);
            if !sites.is_empty() {
                let section = sections.get(name).cloned().unwrap_or_default();
                paths.push((name.clone(), section, sites));
            }
        }
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        paths
    })
}

/// Runs every stage [`EbpfLoader::load`] applies to an object before it
/// asks the kernel to create or load anything — parsing, the BTF fixups
/// for the running kernel (which probes its features once per process),
/// linking — and returns the first error. It never panics on any input:
/// malformed objects give [`Error::Parse`], [`Error::Btf`] or
/// [`Error::Relocation`] (docs/safety.md, "Malformed objects").
///
/// ```no_run
/// let bytes = std::fs::read(iu::object_dir().join("hello"))?;
/// iu::check_object(&bytes)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_object(bytes: &[u8]) -> Result<()> {
    let (_, obj, btf) = link_without_kernel(bytes, true)?;
    guarded("reading line info", || {
        for program in obj.programs.values() {
            if let Some(function) = obj.functions.get(&program.function_key()) {
                panic_sites(function, &btf);
            }
        }
    })
}

/// Parses and links an object with placeholder map descriptors; with
/// `fixup_btf`, also applies the BTF fixups `load` applies. Returns the
/// ELF view, the linked object and the object's BTF bytes.
fn link_without_kernel(
    bytes: &[u8],
    fixup_btf: bool,
) -> Result<(object::File<'_>, Object, Vec<u8>)> {
    let (file, mut obj) = crate::validate::parse(bytes)?;
    let (kconfig, _) = crate::kconfig::externs(&file)?;
    resolve_external_calls(&file, &mut obj, &kconfig)?;
    let btf = obj.btf.as_ref().map(Btf::to_bytes).unwrap_or_default();
    if fixup_btf {
        let features = features::object_features()
            .btf()
            .ok_or_else(|| Error::Btf("BTF features unknown".into()))?;
        guarded("fixing up BTF", || {
            obj.fixup_and_sanitize_btf(features)
                .map(|b| b.map(Btf::to_bytes))
        })?
        .map_err(|e| Error::Btf(chain(&e)))?;
    }
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    // Linking needs map descriptors only as numbers to write down.
    let maps = obj.maps.clone();
    guarded("relocating map references", || {
        obj.relocate_maps(
            maps.iter().map(|(name, map)| (name.as_str(), 0, map)),
            &text_sections,
        )
    })?
    .map_err(|e| Error::Relocation(chain(&e)))?;
    guarded("linking functions", || {
        crate::placeholders::end_noreturn_functions(&mut obj);
        obj.relocate_calls(&text_sections)
    })?
    .map_err(|e| Error::Relocation(chain(&e)))?;
    Ok((file, obj, btf))
}

/// The Rust lines of a linked program's calls into panic paths; `btf` is
/// the object's BTF, which holds the line-info strings.
fn panic_sites(function: &aya_obj::Function, btf: &[u8]) -> Vec<crate::SourceLine> {
    with_debug(function, btf, |debug| debug.panic_sites(None))
}

/// The Rust lines of a linked program's calls into panic paths from
/// functions other than its entry function, which only `bpf_throw` can
/// leave (see `crate::abort`).
fn nested_panic_sites(function: &aya_obj::Function, btf: &[u8]) -> Vec<crate::SourceLine> {
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
fn with_debug<R>(
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
fn distinct_lines(bytes: Vec<u8>, record_size: usize) -> Vec<u8> {
    if record_size < 4 {
        return bytes;
    }
    let records: Vec<&[u8]> = bytes.chunks(record_size).collect();
    let offset = |r: &[u8]| {
        r.get(..4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            records
                .get(i + 1)
                .is_none_or(|next| offset(next) != offset(r))
        })
        .flat_map(|(_, r)| r.iter().copied())
        .collect()
}

/// The strings of the object's mergeable-string sections (`.rodata.str*`),
/// where the compiler puts `printk!` formats.
fn printk_formats(obj: &Object) -> Vec<PrintkFormat> {
    obj.maps
        .iter()
        .filter(|(name, _)| name.starts_with(".rodata.str"))
        .flat_map(|(_, map)| map.data().split(|&b| b == 0))
        .filter(|s| !s.is_empty())
        .filter_map(|s| std::str::from_utf8(s).ok())
        .map(PrintkFormat::new)
        .collect()
}

/// Map types whose key and value are not plain data described by BTF
/// (descriptors, stack ids, nothing): the kernel refuses BTF for them, so
/// they are created without, as libbpf creates them (its list, plus the
/// types iu knows by number only).
fn map_refuses_btf(map_type: u32) -> bool {
    use crate::maps::map_type::*;
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`, `XSKMAP`, `STRUCT_OPS`, `ARENA`.
    const CGROUP_ARRAY: u32 = 8;
    const XSKMAP: u32 = 17;
    const STRUCT_OPS: u32 = 26;
    const ARENA: u32 = 33;
    matches!(
        map_type,
        PERF_EVENT_ARRAY
            | CGROUP_ARRAY
            | STACK_TRACE
            | ARRAY_OF_MAPS
            | HASH_OF_MAPS
            | DEVMAP
            | DEVMAP_HASH
            | CPUMAP
            | XSKMAP
            | SOCKMAP
            | SOCKHASH
            | QUEUE
            | STACK
            | ARENA
            | STRUCT_OPS
    )
}

/// Checks the globals a user sets against the object's: each must be a
/// variable of a global-data section (`.rodata`, `.data`, `.bss`) of the
/// value's size.
fn check_globals(file: &object::File<'_>, globals: &[(String, Vec<u8>)]) -> Result<()> {
    let in_data_section = |index: object::SectionIndex| {
        file.section_by_index(index)
            .and_then(|s| s.name().map(str::to_owned))
            .is_ok_and(|n| {
                [".rodata", ".data", ".bss"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
    };
    let mut variables: Vec<(String, u64)> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Data && s.size() > 0)
        // Not the compiler's own constants (`anon.<hash>.0`).
        .filter(|s| s.name().is_ok_and(|n| !n.starts_with("anon.")))
        .filter(|s| s.section_index().is_some_and(in_data_section))
        .filter_map(|s| Some((s.name().ok()?.to_owned(), s.size())))
        .collect();
    variables.sort();
    variables.dedup();
    for (name, value) in globals {
        match variables.iter().find(|(n, _)| n == name) {
            None => {
                return Err(Error::UnknownGlobal {
                    name: name.clone(),
                    available: variables,
                });
            }
            Some(&(_, size)) if size != value.len() as u64 => {
                return Err(Error::GlobalSize {
                    name: name.clone(),
                    expected: size,
                    actual: value.len(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
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
    kconfig: &[crate::kconfig::Extern],
) -> Result<()> {
    /// `BPF_JMP | BPF_CALL`.
    const CALL: u8 = 0x85;
    /// `src_reg` of a kfunc call.
    const PSEUDO_KFUNC_CALL: u8 = 2;
    /// `BPF_LD | BPF_IMM | BPF_DW`, and its `src_reg` for a kernel
    /// object's BTF id.
    const LD_IMM64: u8 = 0x18;
    const PSEUDO_BTF_ID: u8 = 3;
    /// `src_reg` of an `ld_imm64` of a map value's address.
    const PSEUDO_MAP_VALUE: u8 = 2;
    /// The helper id a missing weak kfunc's call gets: none exists, so the
    /// verifier refuses the call where it can be reached (libbpf's value).
    const POISONED_CALL: i32 = 2_002_000_000;
    let mut undefined: Vec<(String, Vec<crate::SourceLine>)> = vec![];
    let btf = obj.btf.as_ref().map(Btf::to_bytes).unwrap_or_default();
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
                    if let Some(id) = kernel_function_id(name) {
                        insn.set_src_reg(PSEUDO_KFUNC_CALL);
                        insn.imm = id as i32;
                        insn.off = 0;
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
                LD_IMM64 if insn_at + 1 < function.instructions.len() => {
                    let id = kernel_id(BtfKind::Var).or_else(|| kernel_id(BtfKind::Func));
                    if id.is_some() || symbol.is_weak() {
                        let insn = &mut function.instructions[insn_at];
                        insn.set_src_reg(if id.is_some() { PSEUDO_BTF_ID } else { 0 });
                        insn.imm = id.map_or(0, |id| id as i32);
                        function.instructions[insn_at + 1].imm = 0;
                        continue;
                    }
                }
                _ => {}
            }
            let lines = with_debug(function, &btf, |debug| debug.lines_of(insn_at, 0));
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

/// Maps program (function) names to their ELF section names, which carry
/// the attach target (`tracepoint/<category>/<name>`), and returns the
/// `iu_log` section (log call sites), if any.
fn program_sections(file: &object::File<'_>) -> Result<(HashMap<String, String>, Vec<u8>)> {
    let mut out = HashMap::new();
    for symbol in file.symbols() {
        if symbol.kind() != object::SymbolKind::Text {
            continue;
        }
        let (Some(index), Ok(name)) = (symbol.section_index(), symbol.name()) else {
            continue;
        };
        if let Ok(section) = file
            .section_by_index(index)
            .and_then(|s| s.name().map(str::to_owned))
        {
            out.insert(name.to_owned(), section);
        }
    }
    // One `iu_log.<id>` section per call site, each with its own BTF
    // DATASEC.
    let log_section: Vec<u8> = file
        .sections()
        .filter(|s| s.name().is_ok_and(|n| n.starts_with("iu_log.")))
        .filter_map(|s| s.data().ok())
        .flatten()
        .copied()
        .collect();
    Ok((out, log_section))
}

/// Program section names as libbpf writes them, made iu's: `tc` is a
/// classifier, and `?` turns a program's autoload off (the programs so
/// marked are returned). Where aya-obj parsed such a section under a
/// stand-in name (`crate::section_alias`), the program gets its real one.
fn libbpf_sections(
    sections: HashMap<String, String>,
    obj: &mut Object,
) -> (HashMap<String, String>, HashSet<String>) {
    let mut autoload_off = HashSet::new();
    let sections = sections
        .into_iter()
        .map(|(name, section)| {
            let (clean, autoload) = crate::section_alias::libbpf_section(&section);
            if !autoload {
                autoload_off.insert(name.clone());
            }
            if clean != section
                && let (Some(program), Some(parsed)) = (
                    obj.programs.get_mut(&name),
                    crate::section_alias::parse_section(&clean),
                )
            {
                program.section = parsed;
            }
            (name, clean)
        })
        .collect();
    (sections, autoload_off)
}

/// Sanitizes the object's BTF for this kernel and loads it. Programs then
/// get func and line info, so the verifier's log shows Rust source lines.
fn load_btf(obj: &mut Object) -> Result<Option<(OwnedFd, Vec<u8>)>> {
    let needs_btf = obj.maps.values().any(|m| matches!(m, aya_obj::Map::Btf(_)));
    let features = features::object_features()
        .btf()
        .ok_or_else(|| Error::Btf("BTF features unknown".into()))?;
    let mut btf = match guarded("fixing up BTF", || {
        obj.fixup_and_sanitize_btf(features)
            .map(|b| b.map(Btf::to_bytes))
    })? {
        Ok(Some(btf)) => btf,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Error::Btf(chain(&e))),
    };
    crate::btf_linkage::make_builtins_static(&mut btf);
    match sys::btf_load(&btf, &mut []) {
        Ok(fd) => Ok(Some((fd, btf))),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(Error::from_syscall(
            "loading the object's BTF",
            SyscallError::new("bpf(BPF_BTF_LOAD)", e),
            CAP_BPF_HINT,
            |_, source| Error::Btf(source.to_string()),
        )),
        Err(e) => {
            let mut log = vec![0u8; 64 << 10];
            let _ = sys::btf_load(&btf, &mut log);
            let log = VerifierLog::new(&log, false);
            if needs_btf {
                Err(Error::Btf(format!(
                    "the kernel refused it ({e}); BTF-defined maps need it:\n{log}"
                )))
            } else {
                log::warn!("the kernel refused the object's BTF ({e}); loading without it");
                Ok(None)
            }
        }
    }
}

/// The BTF id of the `bpf_throw` kfunc (BPF exceptions, Linux 6.7+), if
/// the kernel has it.
pub(crate) fn bpf_throw_id() -> Option<u32> {
    kernel_function_id("bpf_throw")
}

/// The BTF id of kernel function `name`, if the kernel has it.
pub(crate) fn kernel_function_id(name: &str) -> Option<u32> {
    kernel_btf()
        .ok()?
        .id_by_type_name_kind(name, BtfKind::Func)
        .ok()
}

/// The kernel's BTF, parsed at most once per process, and only for objects
/// that need it.
fn kernel_btf() -> Result<&'static Btf> {
    static KERNEL_BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    KERNEL_BTF
        .get_or_init(|| Btf::from_sys_fs().map_err(|e| chain(&e)))
        .as_ref()
        .map_err(|e| Error::KernelBtf(e.clone()))
}

/// The read-only map of a C object's `__kconfig` externs, filled with
/// this kernel's values and frozen ([`crate::kconfig`]).
fn create_kconfig_map(externs: &[crate::kconfig::Extern], size: usize) -> Result<Map> {
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

/// Writes a global-data section's initial bytes and freezes `.rodata`.
fn init_data_map(name: &str, fd: &OwnedFd, map: &aya_obj::Map) -> Result<()> {
    let io = |what: &str, source| Error::Io {
        context: format!("{what} global data map `{name}`"),
        source,
    };
    let data = map.data();
    if map.section_kind() != EbpfSectionKind::Bss && data.len() == map.value_size() as usize {
        sys::map_update_elem(fd.as_fd(), &0u32.to_ne_bytes(), data, 0)
            .map_err(|e| io("initializing", e))?;
    }
    if map.map_flags() & BPF_F_RDONLY_PROG != 0 {
        sys::map_freeze(fd.as_fd()).map_err(|e| io("freezing", e))?;
    }
    Ok(())
}

/// Loads a program. The first attempt asks for no log (the fast path). If
/// the verifier refuses it and the program has loops, gives every loop a
/// runtime budget counted in slot `slot` of the map `counter` returns and
/// loads that: with `may_goto` (Linux 6.9+), and if that is refused too,
/// with open-coded numeric iterators (Linux 6.4+), at whose `next` the
/// verifier forgets counters it tracks exactly; each also with the loops'
/// counters forgotten at their entry (docs/safety.md, "Loops"). Returns the program and whether it runs with budgets.
fn load_with_budget(
    spec: &ProgLoad<'_>,
    function: &aya_obj::Function,
    btf: &[u8],
    log_size: usize,
    slot: u32,
    kind: LoopBudget,
    counter: Option<impl FnOnce() -> Result<i32>>,
) -> Result<(OwnedFd, bool)> {
    let debug_of = |function: &aya_obj::Function| {
        with_debug(function, btf, |debug| (debug.files(), debug.lines()))
    };
    let first = match sys::prog_load(spec, &mut [], 0) {
        Ok(fd) => return Ok((fd, false)),
        Err(first) => first,
    };
    let has_loop = crate::loop_budget::has_loop(&function.instructions);
    let eperm = first.error.raw_os_error() == Some(libc::EPERM);
    let iterators = iterator_kfuncs().filter(|_| kind != LoopBudget::MayGoto);
    let can_budget =
        (kind != LoopBudget::Iterator && features::loop_budget()) || iterators.is_some();
    let versions = match counter {
        Some(counter) if has_loop && !eperm && can_budget => {
            budgeted_versions(function, counter()?, slot, iterators, kind)
        }
        _ => vec![],
    };
    if versions.is_empty() {
        let error = match refusal(spec, first, log_size, || debug_of(function)) {
            Ok(fd) => return Ok((fd, false)),
            Err(e) => e,
        };
        if !(has_loop && is_loop_error(&error)) {
            return Err(error);
        }
        let hint = if can_budget {
            "the verifier gave up on a loop, and iu could not give it a runtime budget (it found no exit for the loop or no free register there); bound it with `iu_ebpf::loops::while_bounded` or `loops::for_range`"
        } else {
            "the verifier gave up on a loop whose bound it cannot prove. Plain `while`/`loop` loops like this need Linux 6.4+, where iu gives every loop a runtime budget itself (an open-coded iterator, or may_goto on 6.9+); on this kernel bound the loop with `iu_ebpf::loops::while_bounded` or `loops::for_range`"
        };
        return Err(with_hint(error, hint.to_owned()));
    };
    let infos: Vec<(Vec<u8>, Vec<u8>)> = versions
        .iter()
        .map(|(_, patched)| {
            (
                patched.func_info.func_info_bytes(),
                distinct_lines(
                    patched.line_info.line_info_bytes(),
                    patched.line_info_rec_size,
                ),
            )
        })
        .collect();
    let specs: Vec<ProgLoad<'_>> = versions
        .iter()
        .zip(&infos)
        .map(|((_, patched), (func_info, line_info))| ProgLoad {
            insns: &patched.instructions,
            btf: ProgBtfInfo {
                func_info,
                line_info,
                ..spec.btf.clone()
            },
            ..spec.clone()
        })
        .collect();
    let mut refused = vec![];
    for (with_budget, (how, _)) in specs.iter().zip(&versions) {
        match sys::prog_load(with_budget, &mut [], 0) {
            Ok(fd) => {
                log::debug!("program `{}` loaded with loop budgets ({how})", spec.name);
                return Ok((fd, true));
            }
            Err(again) => refused.push(again),
        }
    }
    let original = match refusal(spec, first, log_size, || debug_of(function)) {
        Ok(fd) => return Ok((fd, false)),
        Err(e) => e,
    };
    if !is_loop_error(&original) {
        return Err(original);
    }
    let cause = verifier_error(&original);
    // The first budgeted version's refusal: `may_goto` where the kernel
    // has it, whose log reads like the program's own.
    let (Some(again), Some(with_budget), Some((_, patched))) =
        (refused.into_iter().next(), specs.first(), versions.first())
    else {
        return Err(original);
    };
    let budgeted = match refusal(with_budget, again, log_size, || debug_of(patched)) {
        Ok(fd) => return Ok((fd, true)),
        Err(e) => e,
    };
    Err(with_hint(
        budgeted,
        format!(
            "the verifier gave up on a loop of the program as written ({cause}); iu gave every loop a runtime budget and loaded it again, and the verifier refused that as shown. A loop whose state keeps changing (an offset that only grows and is used to reach memory) never settles for the verifier; bound it with `iu_ebpf::loops::while_bounded` or `loops::for_range`"
        ),
    ))
}

/// The program with loop budgets, in the order to try them: `may_goto`
/// (cheapest at run time) where the kernel has it, then numeric
/// iterators; each alone, then with the loops' counters forgotten where
/// they enter a loop (`forget_loop_counters`), which costs the code after
/// the loop what the verifier knew of them.
fn budgeted_versions(
    function: &aya_obj::Function,
    counter_fd: i32,
    slot: u32,
    iterators: Option<crate::loop_budget::IterKfuncs>,
    kind: LoopBudget,
) -> Vec<(&'static str, aya_obj::Function)> {
    use crate::loop_budget::{Budgeted, add, add_iterators, forget_loop_counters};
    use aya_obj::generated::bpf_insn;
    let insns = &function.instructions;
    let offset = ((slot + 1) * 8) as i32;
    let forgetful = forget_loop_counters(insns, counter_fd, 0);
    let with_forgetting = |budget: &dyn Fn(&[bpf_insn]) -> Option<Budgeted>| {
        let forgetful = forgetful.as_ref()?;
        Some(forgetful.clone().then(budget(&forgetful.insns)?))
    };
    let may_goto = |insns: &[bpf_insn]| {
        (kind != LoopBudget::Iterator && features::loop_budget())
            .then(|| add(insns, counter_fd, offset))
            .flatten()
    };
    let iterators = |insns: &[bpf_insn]| {
        iterators
            .filter(|_| kind != LoopBudget::MayGoto)
            .and_then(|kfuncs| add_iterators(insns, counter_fd, offset, kfuncs))
    };
    [
        ("may_goto", may_goto(insns)),
        (
            "may_goto, loop counters forgotten",
            with_forgetting(&may_goto),
        ),
        ("iterators", iterators(insns)),
        (
            "iterators, loop counters forgotten",
            with_forgetting(&iterators),
        ),
    ]
    .into_iter()
    .filter_map(|(how, budgeted)| Some((how, with_budgets(function, &budgeted?))))
    .collect()
}

/// The runtime budget the loader gives a program's plain loops
/// ([`EbpfLoader::loop_budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopBudget {
    /// `may_goto` (Linux 6.9+), and numeric iterators where the kernel
    /// has no `may_goto` or the program did not load with it.
    #[default]
    Any,
    /// Only `may_goto`.
    MayGoto,
    /// Only open-coded numeric iterators (`bpf_iter_num`, Linux 6.4+).
    Iterator,
}

/// The kernel's numeric iterator kfuncs (Linux 6.4+), if it has them.
fn iterator_kfuncs() -> Option<crate::loop_budget::IterKfuncs> {
    let id = |name| kernel_function_id(name).and_then(|id| i32::try_from(id).ok());
    Some(crate::loop_budget::IterKfuncs {
        new: id("bpf_iter_num_new")?,
        next: id("bpf_iter_num_next")?,
        destroy: id("bpf_iter_num_destroy")?,
    })
}

/// Whether `error` is the verifier giving up on a loop. Kernels before
/// 6.4 keep the beginning of a log that overflows, so the reason may be
/// cut off; the errno is then what is left: `E2BIG` ("too large"), or
/// `EFAULT`, which 6.1 returns for "The sequence of 8193 jumps is too
/// complex".
fn is_loop_error(error: &Error) -> bool {
    matches!(error, Error::Verifier { log, errno, .. }
        if log.error().is_some_and(crate::loop_budget::is_loop_refusal)
            || (matches!(errno.as_str(), "E2BIG" | "EFAULT") && log.is_truncated()))
}

/// The verifier's own words in `error`.
fn verifier_error(error: &Error) -> String {
    match error {
        Error::Verifier { log, .. } => log.error().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// `error` with `hint` added to its verifier log.
fn with_hint(error: Error, hint: String) -> Error {
    match error {
        Error::Verifier { name, errno, log } => Error::Verifier {
            name,
            errno,
            log: log.with_hint(hint),
        },
        other => other,
    }
}

/// The program arrays `insns` (a linked program) refers to.
fn program_arrays<'m>(
    insns: &[aya_obj::generated::bpf_insn],
    maps: &'m HashMap<String, Map>,
) -> impl Iterator<Item = &'m Map> {
    /// `BPF_LD | BPF_IMM | BPF_DW` with a map's descriptor.
    const LD_MAP_FD: (u8, u8) = (0x18, 1);
    let fds: HashSet<i32> = insns
        .iter()
        .filter(|i| (i.code, i.src_reg()) == LD_MAP_FD)
        .map(|i| i.imm)
        .collect();
    maps.values().filter(move |m| {
        m.map_type == crate::maps::map_type::PROG_ARRAY && fds.contains(&m.fd.as_raw_fd())
    })
}

/// A load refused with `EINVAL` because the program tail calls through a
/// program array that a program of another type already owns becomes
/// [`Error::TailCallTypeMismatch`]; other errors stay as they are.
fn tail_call_mismatch(
    error: Error,
    name: &str,
    prog_type: u32,
    insns: &[aya_obj::generated::bpf_insn],
    maps: &HashMap<String, Map>,
) -> Error {
    let einval = match &error {
        Error::ProgramLoad { source, .. } => source.errno() == Some(libc::EINVAL),
        Error::Verifier { errno, .. } => errno == "EINVAL",
        _ => false,
    };
    if !einval {
        return error;
    }
    let program_type = crate::programs::type_name(prog_type);
    for map in program_arrays(insns, maps) {
        if let Some((owner, owner_type)) = map.tail_call_owner.get()
            && *owner_type != program_type
        {
            return Error::TailCallTypeMismatch {
                map: map.name.clone(),
                program: name.to_owned(),
                program_type,
                owner: owner.clone(),
                owner_type,
            };
        }
    }
    error
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

/// A verifier refusal whose failing instruction was inlined from library
/// code gets the program's own call that inlined it, from the object's
/// DWARF; a leaked reference gets, as a hint, the program's line that took
/// it. An instruction is found back in the object by its function (func
/// info) and checked against the opcode the log shows, so a program the
/// loader rewrote there keeps the log's own lines.
fn with_call_site(
    error: Error,
    function: &aya_obj::Function,
    origins: &HashMap<u32, (usize, u64, u64)>,
    file: &object::File<'_>,
) -> Error {
    let Error::Verifier { name, errno, log } = error else {
        return error;
    };
    // Read only for a refusal: loads that succeed never pay for it.
    let dwarf = crate::inline_chain::Dwarf::new(file);
    let program_call = |insn: u32| -> Option<crate::SourceLine> {
        let opcode = log.opcode(insn)?;
        let (start, type_id) = function
            .func_info
            .func_info
            .iter()
            .filter(|f| f.insn_off <= insn)
            .max_by_key(|f| f.insn_off)
            .map(|f| (f.insn_off, f.type_id))?;
        let &(section, offset, len) = origins.get(&type_id)?;
        let at = offset + u64::from(insn - start) * 8;
        if at >= offset + len {
            return None;
        }
        let bytes = file
            .section_by_index(object::SectionIndex(section))
            .ok()?
            .data()
            .ok()?;
        (*bytes.get(usize::try_from(at).ok()?)? == opcode).then_some(())?;
        dwarf
            .call_sites(section, at)
            .into_iter()
            .rev()
            .find(|site| !crate::verifier::in_library(&site.file))
    };
    let failing = log.failing_insn().and_then(program_call);
    let leaked = log.leaked_insn().and_then(program_call);
    let mut log = match failing {
        Some(site) => log.with_call_site(site),
        None => log,
    };
    if let Some(site) = leaked {
        let site = log.with_code(site);
        let hint = format!(
            "the reference taken at {site} (a ring-buffer reservation, a socket or a kernel object the program must release) is still held where this path ends: release it on every path, also the early returns and panics (`submit` or `discard` a reservation)"
        );
        log = match log.hint() {
            Some(old) => {
                let both = format!("{old}; {hint}");
                log.with_hint(both)
            }
            None => log.with_hint(hint),
        };
    }
    Error::Verifier { name, errno, log }
}

/// A call made while a spin lock is held (a helper, another `lock()`)
/// gets what to do instead.
fn explain_lock(error: Error) -> Error {
    let under_lock = matches!(&error, Error::Verifier { log, .. }
        if log.error().is_some_and(|e| e.contains("while holding a lock")));
    if !under_lock || matches!(&error, Error::Verifier { log, .. } if log.hint().is_some()) {
        return error;
    }
    with_hint(
        error,
        "while a `lock()` guard lives, the program may only read and write the locked value: call helpers (and take other locks) before the `lock()` or after the guard's scope ends".to_owned(),
    )
}

/// A refusal for the stack of a call chain gets the chain: each function,
/// its frame and the line of each call.
fn explain_stack(error: Error, function: &aya_obj::Function, btf: &[u8]) -> Error {
    let (program, kernel_total) = match &error {
        // "combined stack size of 3 calls is 672. Too large"
        Error::Verifier { name, log, .. } => (
            Some(name.clone()),
            log.full()
                .split("combined stack size of ")
                .nth(1)
                .and_then(|rest| rest.split(" is ").nth(1))
                .and_then(|n| n.split('.').next())
                .and_then(|n| n.trim().parse().ok()),
        ),
        _ => (None, None),
    };
    let too_deep = matches!(&error, Error::Verifier { log, .. } if log.full().contains("combined stack size of"));
    match too_deep.then(|| {
        with_debug(function, btf, |debug| {
            debug.stack_chain(program.as_deref(), kernel_total)
        })
    }) {
        Some(Some(chain)) => with_hint(error, chain),
        _ => error,
    }
}

/// The one-element array whose value holds a loop-budget exhaustion count
/// per program (`programs` slots of 8 bytes), addressed directly by the
/// inserted code.
fn create_loop_counter(programs: usize) -> Result<Map> {
    Map::create(
        LOOP_BUDGET_MAP,
        bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        4,
        8 * (programs as u32 + 1),
        1,
        0,
    )
}

/// A copy of `function` with `budgeted`'s instructions, and its func-info
/// and line-info records moved with them.
fn with_budgets(
    function: &aya_obj::Function,
    budgeted: &crate::loop_budget::Budgeted,
) -> aya_obj::Function {
    let mut patched = function.clone();
    patched.instructions = budgeted.insns.clone();
    for info in &mut patched.func_info.func_info {
        info.insn_off = budgeted.moved(info.insn_off);
    }
    for info in &mut patched.line_info.line_info {
        info.insn_off = budgeted.moved(info.insn_off);
    }
    log::debug!(
        "program `{}`: {} loops got a runtime budget",
        function.name,
        budgeted.loops
    );
    patched
}

/// Explains a failed load: loads again with a verifier log (which, rarely,
/// succeeds).
fn refusal(
    spec: &ProgLoad<'_>,
    first: sys::ProgLoadError,
    log_size: usize,
    debug: impl FnOnce() -> (Vec<String>, Vec<(u32, crate::SourceLine)>),
) -> Result<OwnedFd> {
    let as_error = |error| SyscallError::new("bpf(BPF_PROG_LOAD)", error);
    if first.error.raw_os_error() == Some(libc::EPERM) {
        return Err(Error::from_syscall(
            format!("loading program `{}`", spec.name),
            as_error(first.error),
            CAP_BPF_HINT,
            |name, source| Error::ProgramLoad { name, source },
        ));
    }
    let mut log = vec![0u8; log_size];
    match sys::prog_load(spec, &mut log, 1) {
        Ok(fd) => Ok(fd),
        Err(second) => {
            let truncated = second.error.raw_os_error() == Some(libc::ENOSPC)
                || second.log_true_size as usize > log.len();
            let (files, lines) = debug();
            let log = VerifierLog::new(&log, truncated)
                .with_files(files)
                .with_lines(lines);
            if log.is_empty() {
                return Err(Error::ProgramLoad {
                    name: spec.name.to_owned(),
                    source: as_error(first.error),
                });
            }
            let errno = first
                .error
                .raw_os_error()
                .map(|e| format!("{:?}", nix::errno::Errno::from_raw(e)))
                .unwrap_or_else(|| first.error.to_string());
            Err(Error::Verifier {
                name: spec.name.to_owned(),
                errno,
                log,
            })
        }
    }
}

/// A loaded object: its maps and programs. Dropping it closes their file
/// descriptors; programs stay in the kernel only while a link (or a pin)
/// holds them.
///
/// ```no_run
/// # async fn run() -> Result<(), iu::Error> {
/// let ebpf = iu::Ebpf::load_file("target/bpf/bpfel-unknown-none/release/hello")?;
/// let _link = ebpf.tracepoint("hello")?.attach()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Ebpf {
    maps: HashMap<String, Map>,
    programs: HashMap<String, Program>,
    /// Each program's slot in `IU_ABORTS`, for programs that can panic.
    abort_slots: HashMap<String, u32>,
    /// The loop-budget exhaustion counters, where a program got budgets.
    loop_budget: Option<LoopCounters>,
    printk_formats: Vec<PrintkFormat>,
    log_sites: Arc<HashMap<u64, crate::logger::LogSite>>,
    /// Slots of `IU_USDT_SPECS` held by USDT links.
    usdt_slots: Arc<crate::programs::usdt::SpecSlots>,
    /// The object's struct_ops, resolved against the kernel, in name order.
    // struct_ops (C): each with the map created at load.
    struct_ops: Vec<crate::programs::struct_ops::Loaded>,
}

/// The map the loader creates for loop-budget exhaustion counts.
const LOOP_BUDGET_MAP: &str = "iu_loop_budget";

/// The counters of the loops the loader gave a budget.
#[derive(Debug)]
struct LoopCounters {
    /// `iu_loop_budget`: one element, a word that stays 0 (see
    /// `loop_budget::forget_loop_counters`), then 8 bytes per program of
    /// the object.
    map: Map,
    /// Each budgeted program's slot.
    slots: HashMap<String, u32>,
}

impl Ebpf {
    /// Loads an object with default options; see [`EbpfLoader`].
    pub fn load(bytes: &[u8]) -> Result<Self> {
        EbpfLoader::new().load(bytes)
    }

    /// Reads and loads an object with default options.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Self> {
        EbpfLoader::new().load_file(path)
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Result<&Program> {
        self.programs
            .get(name)
            .ok_or_else(|| Error::UnknownProgram {
                name: name.to_owned(),
                available: sorted(self.programs.keys()),
            })
    }

    /// Every program, in no particular order.
    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.programs.values()
    }

    /// How many times program `name` has aborted on a panic since the
    /// object was loaded, over every CPU. A panic (an index out of bounds,
    /// an `unwrap` on `None`, an overflow check) ends the run: the program
    /// returns the `on_panic` value of its attribute and the count grows.
    /// Always 0 for programs without a panic path.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let aborts = ebpf.aborts("firewall")?;
    /// if aborts > 0 {
    ///     log::warn!("firewall aborted {aborts} times");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn aborts(&self, name: &str) -> Result<u64> {
        self.program(name)?;
        let Some(&slot) = self.abort_slots.get(name) else {
            return Ok(0);
        };
        let counts = self.per_cpu_array::<u64>(ABORTS_MAP)?.get(slot)?;
        Ok(counts.iter().sum())
    }

    /// Whether the loader gave program `name`'s loops a runtime budget:
    /// the verifier refused its loops as written, and the kernel has the
    /// loop budget (`may_goto`, Linux 6.9+). See docs/safety.md, "Loops".
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// if ebpf.loop_budgeted("dns_labels")? {
    ///     println!("dns_labels' loops stop after a runtime budget");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn loop_budgeted(&self, name: &str) -> Result<bool> {
        self.program(name)?;
        Ok(self
            .loop_budget
            .as_ref()
            .is_some_and(|b| b.slots.contains_key(name)))
    }

    /// How many times a loop of program `name` ran out of its runtime
    /// budget since the object was loaded, over every CPU. An exhausted
    /// budget leaves the loop as a `break` would, and the program goes on
    /// after the loop with the state it has. Always 0 for programs whose
    /// loops got no budget ([`Ebpf::loop_budgeted`]).
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let cut = ebpf.loop_budget_exhausted("dns_labels")?;
    /// if cut > 0 {
    ///     log::warn!("dns_labels left a loop early {cut} times");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn loop_budget_exhausted(&self, name: &str) -> Result<u64> {
        self.program(name)?;
        let Some(budget) = &self.loop_budget else {
            return Ok(0);
        };
        let Some(&slot) = budget.slots.get(name) else {
            return Ok(0);
        };
        let mut value = vec![0u8; budget.map.value_size as usize];
        budget.map.lookup(&0u32.to_ne_bytes(), &mut value)?;
        let at = (slot as usize + 1) * 8;
        let bytes: [u8; 8] = value
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default();
        Ok(u64::from_ne_bytes(bytes))
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Result<&Map> {
        self.maps.get(name).ok_or_else(|| Error::UnknownMap {
            name: name.to_owned(),
            // Not the global-data maps (`.rodata`, `.bss`, ...), which have
            // no name of the user's.
            available: sorted(self.maps.keys().filter(|n| !n.starts_with('.'))),
        })
    }

    /// Every map, in no particular order.
    pub fn maps(&self) -> impl Iterator<Item = &Map> {
        self.maps.values()
    }

    /// The `printk!` formats in the object, to keep only its lines in a
    /// [`crate::TracePipe`] (see [`crate::TracePipe::only`]).
    pub fn printk_formats(&self) -> Vec<PrintkFormat> {
        self.printk_formats.clone()
    }

    /// The hash map (or LRU hash map) called `name`, typed.
    pub fn hash_map<K: crate::Pod, V: crate::Pod>(
        &self,
        name: &str,
    ) -> Result<maps::HashMap<'_, K, V>> {
        maps::HashMap::new(self.map(name)?)
    }

    /// The per-CPU hash map called `name`, typed.
    pub fn per_cpu_hash_map<K: crate::Pod, V: crate::Pod>(
        &self,
        name: &str,
    ) -> Result<maps::PerCpuHashMap<'_, K, V>> {
        maps::PerCpuHashMap::new(self.map(name)?)
    }

    /// The array called `name`, typed.
    pub fn array<V: crate::Pod>(&self, name: &str) -> Result<maps::Array<'_, V>> {
        maps::Array::new(self.map(name)?)
    }

    /// The per-CPU array called `name`, typed.
    pub fn per_cpu_array<V: crate::Pod>(&self, name: &str) -> Result<maps::PerCpuArray<'_, V>> {
        maps::PerCpuArray::new(self.map(name)?)
    }

    /// The queue called `name`, typed.
    pub fn queue<V: crate::Pod>(&self, name: &str) -> Result<maps::Queue<'_, V>> {
        maps::Queue::new(self.map(name)?)
    }

    /// The stack called `name`, typed.
    pub fn stack<V: crate::Pod>(&self, name: &str) -> Result<maps::Stack<'_, V>> {
        maps::Stack::new(self.map(name)?)
    }

    /// The LPM trie called `name`, typed.
    pub fn lpm_trie<K: crate::Pod, V: crate::Pod>(
        &self,
        name: &str,
    ) -> Result<maps::LpmTrie<'_, K, V>> {
        maps::LpmTrie::new(self.map(name)?)
    }

    /// The bloom filter called `name`, typed.
    pub fn bloom_filter<V: crate::Pod>(&self, name: &str) -> Result<maps::BloomFilter<'_, V>> {
        maps::BloomFilter::new(self.map(name)?)
    }

    /// The array of maps `name` (see [`maps::ArrayOfMaps`]).
    pub fn array_of_maps(&self, name: &str) -> Result<maps::ArrayOfMaps<'_>> {
        maps::ArrayOfMaps::new(self.map(name)?)
    }

    /// The hash of maps `name`, keyed by `K` (see [`maps::HashOfMaps`]).
    pub fn hash_of_maps<K: crate::Pod>(&self, name: &str) -> Result<maps::HashOfMaps<'_, K>> {
        maps::HashOfMaps::new(self.map(name)?)
    }

    /// The task storage `name`, typed (see [`maps::TaskStorage`]).
    pub fn task_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::TaskStorage<'_, V>> {
        maps::TaskStorage::new(self.map(name)?)
    }

    /// The devmap `name` (see [`maps::DevMap`]).
    pub fn dev_map(&self, name: &str) -> Result<maps::DevMap<'_>> {
        maps::DevMap::new(self.map(name)?)
    }

    /// The devmap hash `name` (see [`maps::DevMapHash`]).
    pub fn dev_map_hash(&self, name: &str) -> Result<maps::DevMapHash<'_>> {
        maps::DevMapHash::new(self.map(name)?)
    }

    /// The socket storage `name` of `V`s (see [`maps::SkStorage`]).
    pub fn sk_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::SkStorage<'_, V>> {
        maps::SkStorage::new(self.map(name)?)
    }

    /// The inode storage `name` of `V`s (see [`maps::InodeStorage`]).
    pub fn inode_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::InodeStorage<'_, V>> {
        maps::InodeStorage::new(self.map(name)?)
    }

    /// The cgroup storage `name` of `V`s (see [`maps::CgrpStorage`]).
    pub fn cgrp_storage<V: crate::Pod>(&self, name: &str) -> Result<maps::CgrpStorage<'_, V>> {
        maps::CgrpStorage::new(self.map(name)?)
    }

    /// The sockmap `name` (see [`maps::SockMap`]).
    pub fn sock_map(&self, name: &str) -> Result<maps::SockMap<'_>> {
        maps::SockMap::new(self.map(name)?)
    }

    /// The sockhash `name` with `K` keys (see [`maps::SockHash`]).
    pub fn sock_hash<K: crate::Pod>(&self, name: &str) -> Result<maps::SockHash<'_, K>> {
        maps::SockHash::new(self.map(name)?)
    }

    /// The XSK map `name` (see [`maps::XskMap`]).
    pub fn xsk_map(&self, name: &str) -> Result<maps::XskMap<'_>> {
        maps::XskMap::new(self.map(name)?)
    }

    /// The cpumap `name` (see [`maps::CpuMap`]).
    pub fn cpu_map(&self, name: &str) -> Result<maps::CpuMap<'_>> {
        maps::CpuMap::new(self.map(name)?)
    }

    /// The program array called `name`.
    pub fn program_array(&self, name: &str) -> Result<maps::ProgramArray<'_>> {
        maps::ProgramArray::new(self.map(name)?)
    }

    /// The stack-trace map called `name`.
    pub fn stack_trace_map(&self, name: &str) -> Result<maps::StackTraceMap<'_>> {
        maps::StackTraceMap::new(self.map(name)?)
    }

    /// The log call sites of the object (`info!` and friends), by id.
    pub fn log_sites(&self) -> Arc<HashMap<u64, crate::logger::LogSite>> {
        Arc::clone(&self.log_sites)
    }

    /// The kprobe or kretprobe program called `name`.
    pub fn kprobe(&self, name: &str) -> Result<crate::programs::KProbe<'_>> {
        crate::programs::KProbe::new(self.program(name)?)
    }

    /// The uprobe or uretprobe program called `name`.
    pub fn uprobe(&self, name: &str) -> Result<crate::programs::UProbe<'_>> {
        crate::programs::UProbe::new(self.program(name)?)
    }

    /// The `#[usdt]` program `name`.
    pub fn usdt(&self, name: &str) -> Result<crate::programs::Usdt<'_>> {
        crate::programs::Usdt::new(
            self.program(name)?,
            self.maps.get(crate::programs::usdt::SPECS_MAP),
            &self.usdt_slots,
        )
    }

    /// The struct_ops `name`, to register: a Rust `#[struct_ops(name =
    /// "...")]`, or a C object's `.struct_ops`/`.struct_ops.link` variable.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let registration = ebpf.struct_ops("iu_reno")?.register()?;
    /// # Ok(()) }
    /// ```
    pub fn struct_ops(&self, name: &str) -> Result<crate::programs::StructOps<'_>> {
        // struct_ops (C): looked up in the struct_ops module.
        crate::programs::struct_ops::find(&self.struct_ops, &self.programs, name)
    }

    /// Every struct_ops of the object, in name order.
    ///
    /// ```no_run
    /// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// let registrations = ebpf
    ///     .all_struct_ops()
    ///     .map(|ops| ops.register())
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// # Ok(()) }
    /// ```
    pub fn all_struct_ops(&self) -> impl Iterator<Item = crate::programs::StructOps<'_>> {
        // struct_ops (C): listed by the struct_ops module.
        crate::programs::struct_ops::iter(&self.struct_ops, &self.programs)
    }

    /// The netfilter program `name`.
    pub fn netfilter(&self, name: &str) -> Result<crate::programs::Netfilter<'_>> {
        crate::programs::Netfilter::new(self.program(name)?)
    }

    /// The flow dissector `name`.
    pub fn flow_dissector(&self, name: &str) -> Result<crate::programs::FlowDissector<'_>> {
        crate::programs::FlowDissector::new(self.program(name)?)
    }

    /// The uprobe.multi or uretprobe.multi program `name`.
    pub fn uprobe_multi(&self, name: &str) -> Result<crate::programs::UProbeMulti<'_>> {
        crate::programs::UProbeMulti::new(self.program(name)?)
    }

    /// The raw tracepoint program called `name`.
    pub fn raw_tracepoint(&self, name: &str) -> Result<crate::programs::RawTracePoint<'_>> {
        crate::programs::RawTracePoint::new(self.program(name)?)
    }

    /// The BTF tracepoint (`#[tp_btf]`) program called `name`.
    pub fn btf_tracepoint(&self, name: &str) -> Result<crate::programs::BtfTracePoint<'_>> {
        crate::programs::BtfTracePoint::new(self.program(name)?)
    }

    /// The fentry, fexit or LSM program called `name`.
    pub fn btf_tracing(&self, name: &str) -> Result<crate::programs::BtfTracing<'_>> {
        crate::programs::BtfTracing::new(self.program(name)?)
    }

    /// The perf_event program called `name`.
    pub fn perf_event(&self, name: &str) -> Result<crate::programs::PerfEvent<'_>> {
        crate::programs::PerfEvent::new(self.program(name)?)
    }

    /// The cgroup socket-buffer program called `name`.
    pub fn cgroup_skb(&self, name: &str) -> Result<crate::programs::CgroupSkb<'_>> {
        crate::programs::CgroupSkb::new(self.program(name)?)
    }

    /// The cgroup socket program called `name`.
    pub fn cgroup_sock(&self, name: &str) -> Result<crate::programs::CgroupSock<'_>> {
        crate::programs::CgroupSock::new(self.program(name)?)
    }

    /// The cgroup socket-address program `name`.
    pub fn cgroup_sock_addr(&self, name: &str) -> Result<crate::programs::CgroupSockAddr<'_>> {
        crate::programs::CgroupSockAddr::new(self.program(name)?)
    }

    /// The cgroup sysctl program `name`.
    pub fn cgroup_sysctl(&self, name: &str) -> Result<crate::programs::CgroupSysctl<'_>> {
        crate::programs::CgroupSysctl::new(self.program(name)?)
    }

    /// The cgroup device program `name`.
    pub fn cgroup_device(&self, name: &str) -> Result<crate::programs::CgroupDevice<'_>> {
        crate::programs::CgroupDevice::new(self.program(name)?)
    }

    /// The cgroup socket-option program `name`.
    pub fn cgroup_sockopt(&self, name: &str) -> Result<crate::programs::CgroupSockopt<'_>> {
        crate::programs::CgroupSockopt::new(self.program(name)?)
    }

    /// The iterator program `name`.
    pub fn iter(&self, name: &str) -> Result<crate::programs::Iter<'_>> {
        crate::programs::Iter::new(self.program(name)?)
    }

    /// The sk_msg program `name`.
    pub fn sk_msg(&self, name: &str) -> Result<crate::programs::SkMsg<'_>> {
        crate::programs::SkMsg::new(self.program(name)?)
    }

    /// The kprobe.multi or kretprobe.multi program `name`.
    pub fn kprobe_multi(&self, name: &str) -> Result<crate::programs::KProbeMulti<'_>> {
        crate::programs::KProbeMulti::new(self.program(name)?)
    }

    /// The sk_lookup program `name`.
    pub fn sk_lookup(&self, name: &str) -> Result<crate::programs::SkLookup<'_>> {
        crate::programs::SkLookup::new(self.program(name)?)
    }

    /// The sk_skb program `name` (stream parser or verdict).
    pub fn sk_skb(&self, name: &str) -> Result<crate::programs::SkSkb<'_>> {
        crate::programs::SkSkb::new(self.program(name)?)
    }

    /// The sock_ops program `name`.
    pub fn sock_ops(&self, name: &str) -> Result<crate::programs::SockOps<'_>> {
        crate::programs::SockOps::new(self.program(name)?)
    }

    /// The syscall program called `name`.
    pub fn syscall(&self, name: &str) -> Result<crate::programs::Syscall<'_>> {
        crate::programs::Syscall::new(self.program(name)?)
    }

    /// The socket filter called `name`.
    pub fn socket_filter(&self, name: &str) -> Result<crate::programs::SocketFilter<'_>> {
        crate::programs::SocketFilter::new(self.program(name)?)
    }

    /// The tc classifier called `name`.
    pub fn classifier(&self, name: &str) -> Result<crate::programs::Classifier<'_>> {
        crate::programs::Classifier::new(self.program(name)?)
    }

    /// The XDP program called `name`.
    pub fn xdp(&self, name: &str) -> Result<crate::programs::Xdp<'_>> {
        crate::programs::Xdp::new(self.program(name)?)
    }

    /// The tracepoint program called `name`.
    pub fn tracepoint(&self, name: &str) -> Result<TracePoint<'_>> {
        TracePoint::new(self.program(name)?)
    }

    /// The freplace program called `name`, loaded against the target given
    /// to [`EbpfLoader::extension_target`].
    pub fn extension(&self, name: &str) -> Result<crate::programs::Extension<'_>> {
        crate::programs::Extension::new(self.program(name)?)
    }
}

fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort();
    names
}

/// The directory `cargo xtask build` writes BPF objects to:
/// `$IU_OBJECT_DIR` when set (xtask sets it for `run` and `test`, in the VM
/// guest too), else `bpf/bpfel-unknown-none/release` in the cargo target
/// directory the running executable was built in.
///
/// ```no_run
/// let ebpf = iu::Ebpf::load_file(iu::object_dir().join("hello"))?;
/// # Ok::<(), iu::Error>(())
/// ```
pub fn object_dir() -> PathBuf {
    const OBJECTS: &str = "bpf/bpfel-unknown-none/release";
    if let Some(dir) = std::env::var_os("IU_OBJECT_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .map(|dir| dir.join(OBJECTS))
                .find(|dir| dir.is_dir())
        })
        .unwrap_or_else(|| PathBuf::from("target").join(OBJECTS))
}
