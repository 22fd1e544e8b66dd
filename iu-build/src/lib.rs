//! Builds iu program crates for `bpfel-unknown-none`, from a user crate's
//! `build.rs` or from a tool such as iu's own `cargo xtask build`.
//!
//! A program crate (`#![no_std]`, depending on `iu-ebpf`) is compiled with
//! iu's flags and checks:
//! - `unsafe_code` forbidden, whatever the crate says, and pointer-to-integer
//!   casts refused ([`provenance`]);
//! - debug info, so that bpf-linker emits BTF (BTF maps, and source lines
//!   in verifier errors);
//! - readable errors for the compiler failures BPF causes (an atomic LLVM
//!   cannot select, a function over the 512-byte stack);
//! - a report of the programs that can panic, and where.
//!
//! In a `build.rs`:
//!
//! ```no_run
//! // build.rs of the user crate `hello`, next to `hello-ebpf`
//! fn main() -> Result<(), iu_build::Error> {
//!     iu_build::build_program(&iu_build::ProgramCrate::new("../hello-ebpf"))?;
//!     Ok(())
//! }
//! ```
//!
//! and in the user crate, each object of the program crate (one per binary)
//! is at the path in `IU_OBJECT_<BIN>`:
//!
//! ```ignore
//! let ebpf = iu::Ebpf::load(include_bytes!(env!("IU_OBJECT_HELLO")))?;
//! ```
//!
//! The build runs a second cargo, with a target directory of its own (the
//! enclosing build's `target/bpf`), so that it does not wait on the lock
//! the enclosing build holds; nothing of the enclosing build's environment
//! (`RUSTFLAGS`, `CARGO_TARGET_DIR`, ...) reaches it.
#![forbid(unsafe_code)]

pub mod provenance;
pub mod toolchain;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

pub use toolchain::Toolchain;

/// What went wrong building a program crate; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The toolchain is missing and cannot be installed here, or installing
    /// it failed.
    #[error("{0}")]
    Setup(String),
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `creating`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A command could not be started.
    #[error("cannot start {command}: {source}")]
    Start {
        /// The command line.
        command: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The program crate's sources turn pointers into addresses.
    #[error("{0}")]
    Provenance(String),
    /// The program crate did not compile; the message says why.
    #[error("{0}")]
    Build(String),
    /// The built object could not be analysed for panic paths.
    #[error("analysing {}: {source}", path.display())]
    Analysis {
        /// The object.
        path: PathBuf,
        /// iu's error (boxed: it is large).
        source: Box<iu::Error>,
    },
    /// Programs can panic and [`Builder::deny_panics`] was set.
    #[error(
        "{} program(s) can panic: {} (the lines are above; use checked operations there)",
        .0.len(),
        .0.join(", ")
    )]
    Panics(Vec<String>),
    /// `build_program` was called outside a build script.
    #[error(
        "{0} is not set: `iu_build::build_program` runs in a build script (`build.rs`); elsewhere use `iu_build::Builder`"
    )]
    NotInBuildScript(&'static str),
}

impl Error {
    fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A program crate to build: its directory, and which of its binaries (one
/// BPF object each; all when empty).
///
/// ```
/// let krate = iu_build::ProgramCrate::new("../hello-ebpf").bin("hello");
/// assert_eq!(krate.bins, ["hello"]);
/// ```
#[derive(Debug, Clone)]
pub struct ProgramCrate {
    /// The crate's directory (with its `Cargo.toml`); relative paths are
    /// taken from the current directory, which in a build script is the
    /// user crate's directory.
    pub path: PathBuf,
    /// The binaries to build; empty for all of them (`[[bin]]` entries and
    /// `src/bin/*.rs`).
    pub bins: Vec<String>,
}

impl ProgramCrate {
    /// Every binary of the crate at `path`.
    ///
    /// ```
    /// let krate = iu_build::ProgramCrate::new("../hello-ebpf");
    /// assert!(krate.bins.is_empty());
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            bins: vec![],
        }
    }

    /// Only binary `name` (call again for more).
    ///
    /// ```
    /// let krate = iu_build::ProgramCrate::new("p").bin("a").bin("b");
    /// assert_eq!(krate.bins, ["a", "b"]);
    /// ```
    pub fn bin(mut self, name: impl Into<String>) -> Self {
        self.bins.push(name.into());
        self
    }
}

/// Builds a program crate from a build script: finds (or installs) the
/// toolchain, builds the crate's objects into the enclosing build's
/// `target/bpf`, prints `cargo:rerun-if-changed` for the sources of the
/// program crate and of its path dependencies, and
/// `cargo:rustc-env=IU_OBJECT_<BIN>=<path>` for each object (the binary's
/// name in upper case, `-` as `_`). Returns the objects' paths.
///
/// Panic paths are reported as `cargo:warning` where the loader will refuse
/// the program, and on stderr (`cargo build -vv`) otherwise.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), iu_build::Error> {
///     let objects = iu_build::build_program(&iu_build::ProgramCrate::new("../hello-ebpf"))?;
///     assert_eq!(objects.len(), 1);
///     Ok(())
/// }
/// ```
pub fn build_program(krate: &ProgramCrate) -> Result<Vec<PathBuf>> {
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or(Error::NotInBuildScript("OUT_DIR"))?;
    let toolchain = toolchain::ensure()?;
    let builder = Builder::new(toolchain, target_dir_for(&out_dir)).build_script(true);
    for path in source_paths(&krate.path)? {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let built = builder.build(krate)?;
    for object in &built.objects {
        if let Some(name) = object.file_name().and_then(|n| n.to_str()) {
            println!(
                "cargo:rustc-env=IU_OBJECT_{}={}",
                name.to_uppercase().replace('-', "_"),
                object.display()
            );
        }
    }
    Ok(built.objects)
}

/// The BPF target directory of a build script whose `OUT_DIR` is
/// `out_dir`: `bpf` in the enclosing build's target directory (found by
/// its `CACHEDIR.TAG`), so that every crate of a workspace shares one BPF
/// build; `out_dir/bpf` when there is none.
fn target_dir_for(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .unwrap_or(out_dir)
        .join("bpf")
}

/// The files and directories whose change means a program crate must be
/// rebuilt: its `Cargo.toml` and `src` (and `build.rs`), and those of the
/// crates it depends on by path (the `*-common` crate, iu-ebpf in a
/// checkout).
///
/// Not `Cargo.lock`: the nested build writes it (creates or prunes it on
/// the first build, updates it after a `Cargo.toml` change) while the build
/// script runs, so cargo would see it newer than that run and run the
/// build script once more on the next build. After a `cargo update` in the
/// program crate, touch its `Cargo.toml`.
///
/// ```no_run
/// for path in iu_build::source_paths("../hello-ebpf".as_ref())? {
///     println!("cargo:rerun-if-changed={}", path.display());
/// }
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn source_paths(krate: &Path) -> Result<Vec<PathBuf>> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![krate.to_path_buf()];
    let mut paths = vec![];
    while let Some(dir) = pending.pop() {
        let dir = dir.canonicalize().unwrap_or(dir);
        if !seen.insert(dir.clone()) {
            continue;
        }
        let manifest = dir.join("Cargo.toml");
        let text =
            std::fs::read_to_string(&manifest).map_err(|e| Error::io(&manifest, "reading", e))?;
        pending.extend(path_dependencies(&text).into_iter().map(|p| dir.join(p)));
        paths.push(manifest);
        for extra in ["src", "build.rs"] {
            if dir.join(extra).exists() {
                paths.push(dir.join(extra));
            }
        }
    }
    Ok(paths)
}

/// The `path = "..."` values of a manifest's dependencies.
fn path_dependencies(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let at = l.find("path")?;
            let rest = l[at + 4..].trim_start().strip_prefix('=')?.trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_owned())
        })
        .filter(|p| !p.ends_with(".rs"))
        .collect()
}

/// What [`Builder::build`] produced.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The objects, one per binary.
    pub objects: Vec<PathBuf>,
    /// The programs that can panic, as `object/program`.
    pub panicking: Vec<String>,
}

/// Builds program crates into one target directory, with iu's flags.
///
/// ```no_run
/// let toolchain = iu_build::toolchain::ensure()?;
/// let builder = iu_build::Builder::new(toolchain, "target/bpf");
/// let built = builder.build(&iu_build::ProgramCrate::new("hello-ebpf"))?;
/// println!("{:?}", built.objects);
/// # Ok::<(), iu_build::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    toolchain: Toolchain,
    target_dir: PathBuf,
    tool: String,
    build_script: bool,
    deny_panics: bool,
}

impl Builder {
    /// A builder that builds with `toolchain` into `target_dir` (objects
    /// land in `target_dir/bpfel-unknown-none/release`).
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf");
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn new(toolchain: Toolchain, target_dir: impl Into<PathBuf>) -> Self {
        Self {
            toolchain,
            target_dir: target_dir.into(),
            tool: "iu-build".to_owned(),
            build_script: false,
            deny_panics: false,
        }
    }

    /// The name that prefixes messages (`iu-build` by default).
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf").tool("xtask");
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn tool(mut self, name: impl Into<String>) -> Self {
        self.tool = name.into();
        self
    }

    /// Whether this runs in a build script: warnings then also go to
    /// `cargo:warning`, which cargo shows.
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf").build_script(true);
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn build_script(mut self, yes: bool) -> Self {
        self.build_script = yes;
        self
    }

    /// Fail ([`Error::Panics`]) when a program can panic at all.
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf").deny_panics(true);
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn deny_panics(mut self, yes: bool) -> Self {
        self.deny_panics = yes;
        self
    }

    /// Where the objects land: `target_dir/bpfel-unknown-none/release`.
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf");
    /// assert!(builder.object_dir().ends_with("bpfel-unknown-none/release"));
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn object_dir(&self) -> PathBuf {
        self.target_dir.join("bpfel-unknown-none/release")
    }

    /// Checks and builds a program crate's binaries (all, or those
    /// `krate.bins` names). Each crate is compiled with `unsafe_code`
    /// forbidden, whatever the crate says, with debug info so that
    /// bpf-linker emits BTF. Programs that can panic are reported with
    /// their lines (see [`Built::panicking`]).
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf");
    /// let built = builder.build(&iu_build::ProgramCrate::new("hello-ebpf").bin("hello"))?;
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn build(&self, krate: &ProgramCrate) -> Result<Built> {
        let dir = &krate.path;
        provenance::check_sources(&dir.join("src"))?;
        // Programs may live in the crate's library (so that host tests and
        // other crates can call them), with a binary that links it into the
        // object. `cargo rustc` passes flags to one target only, so the
        // library is first checked on its own with `unsafe_code` forbidden.
        if dir.join("src/lib.rs").exists() {
            run_program_build(&mut self.library_command(dir), dir, "the library")?;
        }
        let all = binaries(dir)?;
        let bins = if krate.bins.is_empty() {
            all
        } else {
            if let Some(missing) = krate.bins.iter().find(|b| !all.contains(b)) {
                return Err(Error::Build(format!(
                    "{} has no binary `{missing}`; its binaries are: {}",
                    dir.display(),
                    all.join(", ")
                )));
            }
            krate.bins.clone()
        };
        if bins.is_empty() {
            return Err(Error::Build(format!(
                "{} has no binary: a program crate's BPF object is a binary (`src/main.rs`, `[[bin]]` or `src/bin/*.rs`)",
                dir.display()
            )));
        }
        let mut built = Built::default();
        for bin in bins {
            self.build_binary(dir, &bin)?;
            built.panicking.extend(self.report_panics(&bin)?);
            built.objects.push(self.object_dir().join(&bin));
        }
        if self.deny_panics && !built.panicking.is_empty() {
            return Err(Error::Panics(built.panicking));
        }
        Ok(built)
    }

    /// Builds one binary of the program crate at `krate` (no panic report).
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf");
    /// builder.build_binary("hello-ebpf".as_ref(), "hello")?;
    /// # Ok::<(), iu_build::Error>(())
    /// ```
    pub fn build_binary(&self, krate: &Path, bin: &str) -> Result<()> {
        run_program_build(&mut self.binary_command(krate, bin), krate, bin)
    }

    /// The command [`Builder::build`] type-checks a crate's library with
    /// (a `check` build: no code is generated, and its fingerprint stays
    /// apart from the release build's).
    fn library_command(&self, krate: &Path) -> Command {
        let mut cmd = self.toolchain.cargo("rustc");
        cmd.current_dir(krate)
            .args([
                "--lib",
                "--profile",
                "check",
                "--target",
                "bpfel-unknown-none",
                "--target-dir",
            ])
            .arg(&self.target_dir)
            .args(["--", "-F", "unsafe_code"])
            .args(provenance::RUSTC_FLAGS);
        cmd
    }

    /// The command [`Builder::build_binary`] runs: exactly the flags every
    /// program object is built with (iu's compile-fail cases use it too).
    ///
    /// ```no_run
    /// let builder = iu_build::Builder::new(iu_build::toolchain::ensure()?, "target/bpf");
    /// let status = builder.binary_command("hello-ebpf".as_ref(), "hello").status()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn binary_command(&self, krate: &Path, bin: &str) -> Command {
        let mut cmd = self.toolchain.cargo("rustc");
        cmd.current_dir(krate)
            // MIR optimizations at the level of debug builds, for every crate of
            // the object (the programs may be in the crate's library, and
            // iu-ebpf's inlined functions are optimized in iu-ebpf); LLVM still
            // optimizes at -O3. At the release default (2), rustc's MIR jump
            // threading copied a call that sat between two branches on the
            // same condition: `xdp_firewall`'s `if blocked` got two inlined
            // copies of `HashMap::add` (89 instructions; 58 at level 1, and 61
            // for the same program in C). Over all the program objects of the
            // repository, level 1 also gives fewer instructions in total than
            // level 2 (docs/benchmarks.md, "Programs").
            //
            // `-disable-loop-idiom-all`: LLVM turns a copy or fill loop whose
            // length is only known at run time (`zip` over a string the kernel
            // returned) into a call of memcpy or memset, which BPF cannot call
            // and LLVM cannot expand without a constant length. Kept as a loop,
            // it has the bound the verifier needs. Given to rustc for every
            // crate and to bpf-linker for the LTO pipeline.
            .args([
                "--config",
                "target.bpfel-unknown-none.rustflags=[\"-Z\", \"mir-opt-level=1\", \"-C\", \"llvm-args=-disable-loop-idiom-all\"]",
            ])
            .args([
                "--release",
                "--bin",
                bin,
                "--target",
                "bpfel-unknown-none",
                "--target-dir",
            ])
            .arg(&self.target_dir)
            .arg("--")
            .args(["-F", "unsafe_code"])
            .args(provenance::RUSTC_FLAGS)
            // v3: 32-bit jumps and atomic fetch operations (Linux 5.12+).
            .args(["-C", "target-cpu=v3"])
            .args(["-C", "link-arg=--btf"])
            // bpf-linker passes `-bpf-expand-memcpy-in-order` by default, which
            // turns off LLVM's inline expansion of memset: every zero-filled
            // array became a call to a byte-by-byte routine. Without it, LLVM
            // stores 8 bytes at a time.
            .args(["-C", "link-arg=--disable-expand-memcpy-in-order"])
            // No `--disable-memory-builtins`: bpf-linker then keeps memcpy,
            // memmove, memset, memcmp and bcmp in the object, iu-ebpf's BPF
            // versions (`iu-ebpf/src/builtins.rs`), for the copies, fills and
            // compares whose length LLVM only knows at run time.
            // Cold functions (core's panic paths) stay in `.text` instead of
            // `.text.unlikely.`: aya-obj links functions by their offset within
            // their section, so a second text section makes its first function
            // collide with the panic handler at offset 0 of `.text`.
            .args([
                "-C",
                "link-arg=--llvm-args=-profile-guided-section-prefix=false",
            ])
            .args(["-C", "link-arg=--llvm-args=-disable-loop-idiom-all"]);
        cmd
    }

    /// Prints a message as `<tool>: <level>: <text>`, and in a build
    /// script also as a `cargo:warning` when it is a warning.
    fn say(&self, level: &str, text: &str) {
        eprintln!("{}: {level}: {text}", self.tool);
        if self.build_script && level == "warning" {
            for line in text.lines() {
                println!("cargo:warning={line}");
            }
        }
    }

    /// Prints the panic paths of object `bin` and returns its programs that
    /// have any. A panic inside a function that was not inlined into a
    /// program of a type that cannot throw (`THROW_REFUSED`) is a warning:
    /// the loader refuses that program (`Error::PanicNotInlined`), and the
    /// object's other programs still load when it is left out
    /// (`EbpfLoader::autoload`).
    fn report_panics(&self, bin: &str) -> Result<Vec<String>> {
        let path = self.object_dir().join(bin);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "reading", e))?;
        let analysis = |source| Error::Analysis {
            path: path.clone(),
            source: Box::new(source),
        };
        let paths = iu::panic_paths(&bytes).map_err(analysis)?;
        let nested = iu::nested_panic_paths(&bytes).map_err(analysis)?;
        let mut programs = vec![];
        for (program, sites) in paths {
            let sites: Vec<String> = sites.iter().map(|s| format!("\n    {s}")).collect();
            match nested.iter().find(|(p, ..)| *p == program) {
                None => self.say(
                    "note",
                    &format!(
                        "`{bin}/{program}` can panic; a panic returns its `on_panic` value (any kernel). Panic paths:{}",
                        sites.concat()
                    ),
                ),
                Some((_, section, nested_sites)) => {
                    let cannot = THROW_REFUSED
                        .iter()
                        .any(|t| section.split(['/', '.']).next() == Some(t));
                    let nested_sites: Vec<String> =
                        nested_sites.iter().map(|s| format!("\n    {s}")).collect();
                    self.say(
                        if cannot { "warning" } else { "note" },
                        &format!(
                            "`{bin}/{program}` ({section}) can panic inside a function the compiler did not inline into it; {}. Mark that function `#[inline(always)]` or use a checked operation at:{}\n  All panic paths:{}",
                            if cannot {
                                "the kernel does not allow bpf_throw in this program type, so that panic cannot abort it, and loading the program fails"
                            } else {
                                "that needs bpf_throw (Linux 6.7+), and older kernels refuse the program"
                            },
                            nested_sites.concat(),
                            sites.concat()
                        ),
                    );
                }
            }
            programs.push(format!("{bin}/{program}"));
        }
        Ok(programs)
    }
}

/// Program types whose programs the kernel refuses `bpf_throw` in
/// (measured on Linux 6.18, 6.12 and 6.1: "calling kernel function
/// bpf_throw is not allowed"), by ELF section prefix. A panic inside a
/// function that was not inlined into such a program cannot abort it.
const THROW_REFUSED: &[&str] = &[
    "raw_tp",
    "raw_tracepoint",
    "kprobe",
    "kretprobe",
    "uprobe",
    "uretprobe",
    "socket",
];

/// The binaries (one BPF object each) of a program crate: its `[[bin]]`
/// entries and `src/bin/*.rs`.
///
/// ```no_run
/// assert_eq!(iu_build::binaries("hello-ebpf".as_ref())?, ["hello"]);
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn binaries(krate: &Path) -> Result<Vec<String>> {
    let manifest_path = krate.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| Error::io(&manifest_path, "reading", e))?;
    let mut bins = vec![];
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name") {
            let name = name.trim().trim_start_matches('=').trim();
            bins.push(name.trim_matches('"').to_owned());
        }
    }
    if let Ok(entries) = std::fs::read_dir(krate.join("src/bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                bins.push(stem.to_owned());
            }
        }
    }
    bins.sort();
    Ok(bins)
}

/// Runs a program-crate build, turning an `unsafe_code` refusal into an
/// error that says why.
fn run_program_build(cmd: &mut Command, krate: &Path, what: &str) -> Result<()> {
    let output = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Start {
            command: describe(cmd),
            source: e,
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if output.status.success() {
        return Ok(());
    }
    if stderr.contains("-F unsafe-code") || stderr.contains("forbid(unsafe_code)") {
        return Err(Error::Build(format!(
            "{what} in {} contains unsafe code. Program crates are built with `unsafe_code` forbidden: \
             iu-ebpf's safe APIs (contexts, maps, helpers) cover what programs need; if one is missing, \
             that is a gap in iu-ebpf, not a reason for `unsafe`",
            krate.display()
        )));
    }
    if let Some((operation, location)) = unselectable_atomic(&stderr) {
        return Err(Error::Build(format!(
            "{what} in {}: {operation} at {location}: `core::sync::atomic` loads and stores cannot be \
             compiled for BPF (LLVM's BPF backend has no instruction for them, and bpf-linker aborted). \
             Keep shared values in a map instead: `#[map] static X: Array<u64, 1>` with `X.get(0)`, \
             `X.set(0, &v)` and the atomic `X.add(0, n)` (which returns the new value), or a \
             `PerCpuArray` for per-CPU values",
            krate.display()
        )));
    }
    if let Some(function) = stack_overflow_function(&stderr) {
        return Err(Error::Build(format!(
            "{what} in {}: function {function} needs more than the 512 bytes of stack BPF programs get. \
             Keep large values in `iu_ebpf::maps::PerCpuScratch` (per-CPU room for one value, borrowed as `&mut`) or in a map value instead of local variables, \
             and update large map values in place instead of `get` and `set` (which copy the whole value to the stack): \
             `add_at`/`add_at_offset` on `Array` and `HashMap` values (atomic adds), `lock()` on `SpinLocked` values, \
             `with` on `PerCpuArray`/`PerCpuHashMap` values of type `PerCpuCell<T>`",
            krate.display()
        )));
    }
    Err(Error::Build(format!(
        "building {what} in {} failed ({}); the compiler's messages are above",
        krate.display(),
        output.status
    )))
}

/// An atomic operation LLVM's BPF backend could not select, from
/// bpf-linker's abort ("Cannot select: ... AtomicStore<...> ...,
/// library/core/src/sync/atomic.rs:3889:24 @[ src/main.rs:14:10 @[ ... ] ]"):
/// the operation and the first location of the inlining chain outside the
/// standard library, which is the program's own line. This looks at what
/// the compiler could not compile, so renaming the type (`use
/// core::sync::atomic::AtomicU64 as A`) changes nothing.
fn unselectable_atomic(stderr: &str) -> Option<(String, String)> {
    let start = stderr.find("Cannot select:")?;
    // The message is quoted, its lines joined by `\n`: the first line is
    // the node that failed.
    let node = stderr[start..].split(['\n', '\\']).next()?;
    let (_, after) = node.split_once("= ")?;
    let operation: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    if !operation.starts_with("Atomic") {
        return None;
    }
    let location = node
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '@')
        .filter(|w| w.contains(".rs:"))
        .find(|w| !w.starts_with("library/") && !w.contains("/rustc/"))
        .unwrap_or("an unknown line (build with debug info)")
        .to_owned();
    Some((operation, location))
}

/// The function (and source location, where LLVM gives one) that exceeds
/// the BPF stack, from LLVM's "Looks like the BPF stack limit is exceeded".
fn stack_overflow_function(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("stack limit"))
        .collect();
    let line = lines
        .iter()
        .find(|l| !l.contains(":0:0:"))
        .or(lines.first())?;
    let (before, after) = line.split_once("in function ")?;
    let name = after.split_whitespace().next()?.trim_end_matches(':');
    let location = before
        .split_whitespace()
        .last()
        .map(|l| l.trim_end_matches(':'))
        .filter(|l| l.contains(".rs:") && !l.ends_with(":0:0"));
    Some(match location {
        Some(location) => format!("`{name}` (at {location})"),
        None => format!("`{name}`"),
    })
}

/// `program arg1 arg2 ...` of a command, for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn builder() -> Builder {
        Builder::new(toolchain::ensure().unwrap(), root().join("target/bpf"))
    }

    #[test]
    fn path_dependencies_are_read_from_the_manifest() {
        let manifest = "[dependencies]\niu-ebpf = { path = \"../../iu-ebpf\" }\n# x = { path = \"no\" }\nc = { path=\"../c\", version = \"1\" }\n[[bin]]\npath = \"src/main.rs\"\n";
        assert_eq!(path_dependencies(manifest), ["../../iu-ebpf", "../c"]);
    }

    #[test]
    fn the_bpf_target_dir_is_in_the_enclosing_target_dir() {
        let dir = std::env::temp_dir().join(format!("iu-build-target-{}", std::process::id()));
        let out = dir.join("debug/build/x-0123/out");
        std::fs::create_dir_all(&out).unwrap();
        assert_eq!(target_dir_for(&out), out.join("bpf"));
        std::fs::write(dir.join("CACHEDIR.TAG"), "").unwrap();
        assert_eq!(target_dir_for(&out), dir.join("bpf"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The enclosing build's variables do not reach the BPF cargo.
    #[test]
    fn outer_build_variables_do_not_leak() {
        let toolchain = toolchain::Toolchain::Debian {
            rustc: "/usr/bin/rustc".into(),
            linker: "/bin/bpf-linker".into(),
        };
        let cmd = toolchain.cargo("rustc");
        let removed: Vec<String> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        // Only variables set in this process are removed; cargo test sets
        // CARGO_MANIFEST_DIR and CARGO_PKG_NAME.
        assert!(
            removed.iter().any(|k| k == "CARGO_MANIFEST_DIR"),
            "{removed:?}"
        );
        assert!(removed.iter().any(|k| k == "CARGO_PKG_NAME"), "{removed:?}");
        let rustc = cmd
            .get_envs()
            .find(|(k, _)| *k == "RUSTC")
            .and_then(|(_, v)| v);
        assert_eq!(rustc, Some(std::ffi::OsStr::new("/usr/bin/rustc")));
    }

    #[test]
    fn names_the_program_line_of_an_atomic_llvm_cannot_select() {
        let linker = r#"  = note: ERROR fatal error: "Cannot select: 0x55: ch = AtomicStore<(store monotonic (s64) into @_RNvCs9_1k4KEEP.0)> 0x5:1, 0x7, library/core/src/sync/atomic.rs:3889:24 @[ library/core/src/sync/atomic.rs:2898:26 @[ src/main.rs:14:10 @[ src/macros.rs:77:57 ] ] ]
  0x7: i64 = add 0x7, src/main.rs:13:1""#;
        assert_eq!(
            unselectable_atomic(linker),
            Some(("AtomicStore".to_owned(), "src/main.rs:14:10".to_owned()))
        );
        assert_eq!(
            unselectable_atomic("Cannot select: 0x1: i64 = FrameIndex<0>"),
            None
        );
    }

    /// A static `core::sync::atomic` value, renamed so that no word gives
    /// it away, is refused with the program's line and the map
    /// alternative (it used to abort bpf-linker: "signal: 6"). Needs the
    /// BPF toolchain.
    #[test]
    fn an_atomic_static_is_refused_with_its_line() {
        let builder = builder();
        let dir = std::env::temp_dir().join(format!("iu-atomic-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\n[package]\nname = \"keep\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\niu-ebpf = {{ path = {:?} }}\n\n[profile.release]\npanic = \"abort\"\ndebug = 2\n",
                root().join("iu-ebpf")
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("src/main.rs"),
            "#![no_std]\n#![no_main]\n\nuse core::sync::atomic::{AtomicU64 as Cell, Ordering as O};\n\
             use iu_ebpf::{helpers, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};\n\n\
             iu_ebpf::license!(\"GPL\");\n\nstatic KEEP: Cell = Cell::new(0);\n\n#[tracepoint]\n\
             fn keep(_ctx: TracePointContext<SysEnter>) -> u32 {\n    \
             let old = KEEP.load(O::Relaxed);\n    KEEP.store(old + u64::from(helpers::pid()), O::Relaxed);\n    0\n}\n",
        )
        .unwrap();
        let err = builder.build_binary(&dir, "keep").unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.contains("src/main.rs:14:"), "{err}");
        assert!(err.contains("core::sync::atomic"), "{err}");
        assert!(err.contains("X.add(0, n)"), "{err}");
    }

    #[test]
    fn names_the_function_that_overflows_the_stack() {
        let llvm = "ERROR llvm: src/macros.rs:0:0: in function big i32 (ptr): Looks like the BPF stack limit is exceeded.\n\
                    ERROR llvm: src/main.rs:9:19: in function big i32 (ptr): Looks like the BPF stack limit is exceeded.";
        assert_eq!(
            stack_overflow_function(llvm).as_deref(),
            Some("`big` (at src/main.rs:9:19)")
        );
        assert_eq!(stack_overflow_function("error: something else"), None);
    }

    /// A program crate with an `unsafe` block must not build, and the error
    /// must say why. Needs the BPF toolchain (`cargo xtask test` has it).
    #[test]
    fn unsafe_code_in_a_program_crate_is_refused_with_a_clear_message() {
        let builder = builder();
        let dir = std::env::temp_dir().join(format!("iu-unsafe-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let iu_ebpf = root().join("iu-ebpf");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\n[package]\nname = \"sneaky\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [dependencies]\niu-ebpf = {{ path = {:?} }}\n\n[profile.release]\npanic = \"abort\"\n",
                iu_ebpf
            ),
        )
        .unwrap();
        // No `forbid` in the crate: the build adds it.
        std::fs::write(
            dir.join("src/main.rs"),
            "#![no_std]\n#![no_main]\n\nuse iu_ebpf::{programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};\n\n\
             iu_ebpf::license!(\"GPL\");\n\n#[tracepoint]\nfn sneaky(_ctx: TracePointContext<SysEnter>) -> u32 {\n    \
             let x = 1u32;\n    unsafe { core::ptr::read_volatile(&x) }\n}\n",
        )
        .unwrap();
        let err = builder
            .build_binary(&dir, "sneaky")
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.contains("contains unsafe code"), "{err}");
    }
}
