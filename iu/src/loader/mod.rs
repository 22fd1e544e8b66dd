//! The loader: an object's bytes in, an [`Ebpf`] of loaded maps and
//! programs out. [`EbpfLoader::load`] runs these stages in order, each in
//! its own module:
//!
//! 1. [`parse`]: the ELF checks (`crate::validate`), aya-obj's parse, and
//!    program sections named as libbpf names them;
//! 2. [`globals`]: values set by the user written into global data;
//! 3. [`externs`]: kfuncs, `__ksym` and `__kconfig` externs resolved;
//! 4. [`btf`]: the object's BTF sanitized for this kernel and loaded;
//! 5. CO-RE (`crate::core_relo`): field offsets, sizes, existence, type
//!    and enum relocations against the kernel's BTF;
//! 6. [`maps`]: maps planned as libbpf would create them, then created or
//!    reopened from their pins; a map of maps' initial inner maps put in
//!    ([`map_values`], which puts a program array's programs in after
//!    stage 9);
//! 7. [`relocate`]: map descriptors written, calls linked, instructions
//!    the kernel lacks sanitized;
//! 8. placeholders (`crate::placeholders`): abort slots assigned, iu's
//!    placeholder calls rewritten per program;
//! 9. [`programs`]: each program loaded, refusals explained
//!    ([`explain`]), loops budgeted where the verifier needs it
//!    ([`budget`]).
//!
//! [`inspect`] runs the stages that need no kernel, for `cargo xtask build`
//! and the malformed-object checks.

mod btf;
mod budget;
mod debug_info;
mod explain;
mod externs;
mod globals;
mod inspect;
mod kallsyms;
mod map_values;
mod maps;
mod module_btf;
mod parse;
mod programs;
mod relocate;

use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::{Path, PathBuf},
    sync::Arc,
};

pub(crate) use self::{
    btf::{bpf_throw_id, kernel_function_id},
    map_values::hide_program_values,
    maps::ABORTS_MAP,
    module_btf::function as module_function,
};
pub use self::{
    budget::LoopBudget,
    inspect::{check_object, nested_panic_paths, panic_paths},
};
use crate::{
    ebpf::Ebpf,
    error::{Error, Result, chain},
};

/// Default size of the verifier-log buffer: large enough for the end of the
/// log of a program that hits the 1M-instruction limit, allocated once.
const DEFAULT_LOG_SIZE: usize = 4 << 20;

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
        let parse::Parsed {
            file,
            mut obj,
            sections,
            autoload_off,
            log_section,
        } = parse::parse(bytes)?;
        self.check_program_names(&obj)?;
        // Each struct_ops program's struct and member, from the object's
        // records and the kernel's BTF.
        let (struct_ops, struct_ops_programs) = crate::programs::struct_ops::resolve_all(&file)?;
        // struct_ops (C): libbpf's autoload rule for struct_ops programs.
        let autoload_off = struct_ops_programs.autoload(autoload_off);
        globals::patch(&file, &mut obj, &self.globals, self.log_level)?;
        let initial_slots = map_values::collect(&file)?;
        let externs = externs::resolve(&file, &mut obj)?;
        let loaded_btf = btf::load(&file, &mut obj)?;
        let core_sites = crate::core_relo::relocate(&file, &mut obj, self.custom_btf()?.as_ref())?;

        let context = maps::Context {
            can_abort: crate::placeholders::object_can_abort(&obj),
            // iu-ebpf's USDT spec map comes along in every object; only
            // objects with `#[usdt]` programs use it.
            has_usdt: sections
                .values()
                .any(|s| crate::programs::is_usdt(s.trim_start_matches('?'))),
            has_btf: loaded_btf.is_some(),
            pin_dir: self.pin_dir.as_deref(),
        };
        let specs = maps::plan(&obj, &context)?;
        let mut maps = maps::create(&obj, specs, loaded_btf.as_ref().map(|b| b.fd.as_fd()))?;
        // struct_ops (C): the struct_ops maps, created at load as libbpf does.
        let struct_ops = crate::programs::struct_ops::create_maps(struct_ops)?;
        if let Some(map) = externs.create_map(&mut obj)? {
            maps.insert(map.name.clone(), map);
        }
        let module_fds = externs.open_modules(&mut obj)?;
        map_values::fill_maps(&initial_slots, &maps)?;

        relocate::link(&mut obj, |name| maps.get(name).map(|m| m.fd.as_raw_fd()))?;
        relocate::sanitize(&mut obj)?;
        let abort_slots = crate::placeholders::abort_slots(&obj)?;

        let stage = programs::Context {
            loader: self,
            file: &file,
            sections: &sections,
            autoload_off: &autoload_off,
            struct_ops: &struct_ops_programs,
            on_panic: &crate::placeholders::on_panic_values(&file),
            abort_slots: &abort_slots,
            btf: loaded_btf.as_ref(),
            core_sites: &core_sites,
            maps: &maps,
            fd_array: &module_fds.fd_array,
        };
        let loaded = stage.load_all(&mut obj)?;
        map_values::fill_programs(&initial_slots, &maps, &loaded.programs)?;
        log::debug!(
            "loaded {} programs and {} maps",
            loaded.programs.len(),
            maps.len()
        );
        Ok(Ebpf {
            printk_formats: parse::printk_formats(&obj),
            maps,
            programs: loaded.programs,
            abort_slots,
            loop_budget: loaded.loop_budget,
            log_sites: Arc::new(crate::logger::parse_sites(&log_section)),
            usdt_slots: Arc::default(),
            struct_ops,
        })
    }

    /// Every program named in the options must be in the object.
    fn check_program_names(&self, obj: &aya_obj::Object) -> Result<()> {
        match self
            .skipped
            .iter()
            .chain(&self.enabled)
            .chain(self.extension_targets.iter().map(|(name, _)| name))
            .find(|n| !obj.programs.contains_key(n.as_str()))
        {
            Some(unknown) => Err(Error::UnknownProgram {
                name: unknown.clone(),
                available: sorted(obj.programs.keys()),
            }),
            None => Ok(()),
        }
    }

    /// The BTF given with [`EbpfLoader::kernel_btf`], read.
    fn custom_btf(&self) -> Result<Option<crate::btf::Btf>> {
        self.kernel_btf
            .as_ref()
            .map(|path| {
                crate::btf::Btf::from_file(path).map_err(|e| Error::CustomBtf {
                    path: path.clone(),
                    reason: chain(&e),
                })
            })
            .transpose()
    }
}

/// An 8-byte aligned copy of an object's bytes.
pub(crate) struct AlignedCopy {
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

/// `names`, sorted.
pub(crate) fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort();
    names
}

/// The stages' unit tests read objects that `cargo xtask build` builds
/// (`iu/tests/c/*.bpf.c` with clang, the Rust test programs).
#[cfg(test)]
pub(crate) mod test_objects {
    /// The bytes of object `name`, 8-byte aligned as the ELF reader wants.
    pub(crate) fn bytes(name: &str) -> super::AlignedCopy {
        let path = crate::object_dir().join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; `cargo xtask build` builds the test objects",
                path.display()
            )
        });
        super::AlignedCopy::new(&bytes)
    }
}
