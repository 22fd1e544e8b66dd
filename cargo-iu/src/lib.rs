//! The project generator behind `cargo iu new` (and `cargo xtask new` in
//! iu's own repository): a workspace with a program crate built for
//! `bpfel-unknown-none` by the user crate's `build.rs` (`iu-build`), a
//! common crate, and a user crate with a working program of the chosen
//! [`Kind`], a host unit test and a kernel test.
//!
//! The templates are the files of `templates/`, embedded with
//! `include_str!`; `{{placeholder}}`s in them are filled from the name, the
//! kind and where iu comes from ([`IuSource`]).
//!
//! ```no_run
//! use cargo_iu::{IuSource, Kind, NewProject};
//!
//! let project = NewProject::new("mytool", Kind::Xdp)
//!     .iu(IuSource::Path("/src/iu".into()))
//!     .generate(std::path::Path::new("/tmp"))?;
//! assert!(project.ends_with("mytool"));
//! # Ok::<(), cargo_iu::Error>(())
//! ```

use std::path::{Path, PathBuf};

/// What a generated program attaches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A tracepoint on `syscalls/sys_enter_getppid`.
    Tracepoint,
    /// A kprobe on `__x64_sys_getppid`.
    Kprobe,
    /// An XDP program.
    Xdp,
    /// A tc classifier (ingress).
    Tc,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Tracepoint, Kind::Kprobe, Kind::Xdp, Kind::Tc];

    /// The kind's name on the command line (`--kind NAME`).
    ///
    /// ```
    /// assert_eq!(cargo_iu::Kind::Xdp.name(), "xdp");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tracepoint => "tracepoint",
            Kind::Kprobe => "kprobe",
            Kind::Xdp => "xdp",
            Kind::Tc => "tc",
        }
    }

    /// The family whose templates the kind shares.
    fn family(self) -> &'static str {
        match self {
            Kind::Tracepoint | Kind::Kprobe => "tracing",
            Kind::Xdp | Kind::Tc => "net",
        }
    }

    /// The placeholders that depend on the kind.
    fn values(self) -> Vec<(&'static str, &'static str)> {
        const TRACING_MAIN: &[(&str, &str)] = &[
            ("default_target", ""),
            (
                "target_arg",
                "\"--pid\" => target = args.next().ok_or(USAGE)?,\n            ",
            ),
            ("usage_extra", " [--pid PID]"),
            ("run_args", "--pid $$"),
        ];
        let own: &[(&str, &str)] = match self {
            Kind::Tracepoint => &[
                (
                    "imports",
                    "programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter",
                ),
                (
                    "attribute",
                    "#[tracepoint(category = \"syscalls\", name = \"sys_enter_getppid\")]",
                ),
                ("context", "TracePointContext<SysEnter>"),
                ("hook", "syscalls/sys_enter_getppid"),
                ("attached_to", " to syscalls/sys_enter_getppid"),
                (
                    "sim_imports",
                    "{programs::TracePointContext, sim, tracepoints::syscalls::SysEnter}",
                ),
                (
                    "host_context",
                    "TracePointContext::from_record(SysEnter::default())",
                ),
                ("link", "TracePointLink"),
                ("accessor", "tracepoint"),
                (
                    "attach",
                    "let link = ebpf.tracepoint(\"{{crate}}\").unwrap().attach().unwrap();",
                ),
            ],
            Kind::Kprobe => &[
                ("imports", "kprobe, programs::ProbeContext"),
                ("attribute", "#[kprobe(function = \"__x64_sys_getppid\")]"),
                ("context", "ProbeContext"),
                ("hook", "kprobe/__x64_sys_getppid"),
                ("attached_to", " to kprobe/__x64_sys_getppid"),
                ("sim_imports", "{programs::ProbeContext, sim}"),
                ("host_context", "ProbeContext::from_registers([0; 6], 0)"),
                ("link", "PerfLink"),
                ("accessor", "kprobe"),
                (
                    "attach",
                    "let link = match ebpf.kprobe(\"{{crate}}\").unwrap().attach() {\n        \
                     Err(iu::Error::MissingFeature { feature, detail }) => {\n            \
                     // The VM tier's kernels have kprobes: there, skipping is a failure.\n            \
                     assert!(std::env::var_os(\"IU_VM_TIER\").is_none(), \"{feature}: {detail}\");\n            \
                     iu::testing::skip_missing(\"{{name}}'s kprobe\", \"kprobes (CONFIG_KPROBES)\");\n            \
                     return;\n        }\n        other => other.unwrap(),\n    };",
                ),
            ],
            Kind::Xdp => &[
                ("imports", "programs::{XdpAction, XdpContext}, xdp"),
                ("attribute", "#[xdp]"),
                ("context", "XdpContext"),
                ("action", "XdpAction"),
                ("len", "u64::try_from(ctx.len()).unwrap_or(u64::MAX)"),
                ("drop", "Drop"),
                ("pass", "Pass"),
                ("pass_value", "2"),
                ("hook", "XDP"),
                ("link", "XdpLink"),
                ("accessor", "xdp"),
                ("attach_args", "iface, iu::programs::XdpMode::Auto"),
            ],
            Kind::Tc => &[
                ("imports", "classifier, programs::{TcAction, TcContext}"),
                ("attribute", "#[classifier]"),
                ("context", "TcContext"),
                ("action", "TcAction"),
                ("len", "u64::from(ctx.len())"),
                ("drop", "Shot"),
                ("pass", "Ok"),
                ("pass_value", "0"),
                ("hook", "tc ingress"),
                ("link", "TcLink"),
                ("accessor", "classifier"),
                ("attach_args", "iface, iu::programs::TcDirection::Ingress"),
            ],
        };
        const NET_MAIN: &[(&str, &str)] = &[
            ("default_target", "lo"),
            (
                "target_arg",
                "\"--iface\" => target = args.next().ok_or(USAGE)?,\n            ",
            ),
            ("usage_extra", " [--iface NAME]"),
            ("run_args", "--iface lo"),
            ("attached_to", " to {target}"),
        ];
        let main = if self.family() == "tracing" {
            TRACING_MAIN
        } else {
            NET_MAIN
        };
        own.iter().chain(main).copied().collect()
    }
}

/// Where the generated crates get iu's crates (`iu`, `iu-ebpf`,
/// `iu-build`) from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IuSource {
    /// A checkout of iu's repository: path dependencies on its crates, and
    /// its `Cargo.lock` as the project's (the versions iu is tested with).
    Path(PathBuf),
    /// crates.io, at this version requirement (`"0.1"`).
    Version(String),
}

impl IuSource {
    /// The default: the checkout this binary was built from, when it is
    /// still there (`cargo install --path <iu>/cargo-iu`), else crates.io
    /// at this crate's own version (a `cargo install cargo-iu`).
    ///
    /// ```
    /// match cargo_iu::IuSource::default_for_this_binary() {
    ///     cargo_iu::IuSource::Path(dir) => assert!(dir.join("iu-ebpf").is_dir()),
    ///     cargo_iu::IuSource::Version(v) => assert_eq!(v, env!("CARGO_PKG_VERSION")),
    /// }
    /// ```
    pub fn default_for_this_binary() -> IuSource {
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
        match built_from {
            Some(dir) if missing_crates(dir).is_empty() => {
                IuSource::Path(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()))
            }
            _ => IuSource::Version(env!("CARGO_PKG_VERSION").to_owned()),
        }
    }

    /// A checkout given on the command line (`--iu-path`): it must hold
    /// iu's crates.
    pub fn checkout(dir: &Path) -> Result<IuSource, Error> {
        let missing = missing_crates(dir);
        if !missing.is_empty() {
            return Err(Error::NotACheckout {
                dir: dir.to_path_buf(),
                missing: missing.join(", "),
            });
        }
        let dir = dir.canonicalize().map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(IuSource::Path(dir))
    }

    /// The inside of a dependency's inline table for `krate`:
    /// `path = "..."` or `version = "..."`.
    fn dependency(&self, krate: &str) -> String {
        match self {
            // TOML basic strings: escape what would end or break them.
            IuSource::Path(dir) => format!(
                "path = \"{}\"",
                dir.join(krate)
                    .display()
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            ),
            IuSource::Version(v) => format!("version = \"{v}\""),
        }
    }
}

impl std::fmt::Display for IuSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IuSource::Path(dir) => write!(f, "iu's crates by path from {}", dir.display()),
            IuSource::Version(v) => write!(f, "iu's crates from crates.io, version {v}"),
        }
    }
}

/// The crates a checkout of iu must hold (`<dir>/<crate>/Cargo.toml`).
const IU_CRATES: [&str; 4] = ["iu", "iu-ebpf", "iu-macros", "iu-build"];

fn missing_crates(dir: &Path) -> Vec<&'static str> {
    IU_CRATES
        .into_iter()
        .filter(|k| !dir.join(k).join("Cargo.toml").is_file())
        .collect()
}

/// What can go wrong when generating a project.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name cannot be a crate name (and the program function's).
    #[error(
        "`{0}` is not a valid project name: use lower-case letters, digits, `-` and `_`, starting with a letter (it becomes the crates `{0}`, `{0}-ebpf` and `{0}-common`, and the program function)"
    )]
    InvalidName(String),
    /// The name is that of a crate the project depends on.
    #[error("`{0}` is the name of a crate the project depends on; choose another")]
    ReservedName(String),
    /// The project's directory exists.
    #[error("{} exists already; choose another name or --path", .0.display())]
    Exists(PathBuf),
    /// `--iu-path` is not a checkout of iu.
    #[error(
        "{} is not a checkout of iu: it has no {missing} crate directory; give --iu-path the repository's root (the directory with iu/, iu-ebpf/ and iu-build/)", dir.display()
    )]
    NotACheckout {
        /// The directory given.
        dir: PathBuf,
        /// The crates it lacks.
        missing: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// No template has this name (a bug of this crate, caught by its
    /// tests).
    #[error("no template {0}")]
    NoTemplate(&'static str),
    /// A template names a placeholder that has no value (a bug of this
    /// crate, caught by its tests).
    #[error("template {template}: placeholder {placeholder} has no value")]
    Unfilled {
        /// The template's file name.
        template: &'static str,
        /// The placeholder, with its braces.
        placeholder: String,
    },
}

/// A project to generate: its name, kind and where iu comes from.
#[derive(Clone, Debug)]
pub struct NewProject {
    name: String,
    kind: Kind,
    iu: IuSource,
    runner: bool,
}

impl NewProject {
    /// A project called `name` (the crates `name`, `name-ebpf`,
    /// `name-common`) with a program of `kind`, depending on iu as
    /// [`IuSource::default_for_this_binary`] says, with a `sudo -E` runner
    /// when this process is not root.
    pub fn new(name: &str, kind: Kind) -> NewProject {
        NewProject {
            name: name.to_owned(),
            kind,
            iu: IuSource::default_for_this_binary(),
            runner: !nix::unistd::geteuid().is_root(),
        }
    }

    /// Where the crates get iu from.
    pub fn iu(mut self, iu: IuSource) -> NewProject {
        self.iu = iu;
        self
    }

    /// Whether to write `.cargo/config.toml` making cargo run the test
    /// binaries and the user binary through `sudo -E`.
    pub fn sudo_runner(mut self, runner: bool) -> NewProject {
        self.runner = runner;
        self
    }

    /// Writes the project to `<parent>/<name>` and returns that path. Fails
    /// if it exists, and writes nothing unless every template rendered.
    pub fn generate(&self, parent: &Path) -> Result<PathBuf, Error> {
        let name = self.name.as_str();
        check_name(name)?;
        let dir = parent.join(name);
        if dir.exists() {
            return Err(Error::Exists(dir));
        }
        let runner_note = if self.runner {
            "`.cargo/config.toml` has cargo run the test binaries and `cargo run`'s\nbinary (not the build) through `sudo -E`."
        } else {
            "Run cargo as root, or add a runner: `[target.'cfg(target_os = \"linux\")']\nrunner = \"sudo -E\"` in `.cargo/config.toml`."
        };
        let mut values: Vec<(&str, String)> = vec![
            ("name", name.to_owned()),
            ("crate", name.replace('-', "_")),
            ("NAME", name.replace('-', "_").to_uppercase()),
            ("kind", self.kind.name().to_owned()),
            ("iu_dep", self.iu.dependency("iu")),
            ("iu_ebpf_dep", self.iu.dependency("iu-ebpf")),
            ("iu_build_dep", self.iu.dependency("iu-build")),
            ("runner_note", runner_note.to_owned()),
        ];
        values.extend(
            self.kind
                .values()
                .into_iter()
                .map(|(k, v)| (k, v.to_owned())),
        );
        let family = self.kind.family();
        let mut files: Vec<(String, &'static str)> = vec![
            ("Cargo.toml".into(), "workspace.Cargo.toml"),
            (".gitignore".into(), "gitignore"),
            ("README.md".into(), "README.md"),
            (format!("{name}-common/Cargo.toml"), "common.Cargo.toml"),
            (format!("{name}-common/src/lib.rs"), "common.lib.rs"),
            (format!("{name}-ebpf/Cargo.toml"), "ebpf.Cargo.toml"),
            (format!("{name}-ebpf/src/main.rs"), "ebpf.main.rs"),
            (
                format!("{name}-ebpf/src/lib.rs"),
                family_template(family, "ebpf.lib.rs"),
            ),
            (format!("{name}/Cargo.toml"), "user.Cargo.toml"),
            (format!("{name}/build.rs"), "user.build.rs"),
            (format!("{name}/src/main.rs"), "user.main.rs"),
            (
                format!("{name}/src/lib.rs"),
                family_template(family, "user.lib.rs"),
            ),
            (
                format!("{name}/tests/host.rs"),
                family_template(family, "user.host.rs"),
            ),
            (
                format!("{name}/tests/kernel.rs"),
                family_template(family, "user.kernel.rs"),
            ),
        ];
        if self.runner {
            files.push((".cargo/config.toml".into(), "cargo.config.toml"));
        }
        let mut rendered = vec![];
        for (path, name) in files {
            rendered.push((dir.join(path), render(name, template(name)?, &values)?));
        }
        for (path, text) in rendered {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(&path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        // The versions the checkout is tested with (cargo drops what the
        // project does not use), for both workspaces: the host one and the
        // program crate's own.
        if let IuSource::Path(root) = &self.iu {
            let lock = root.join("Cargo.lock");
            if lock.is_file() {
                for to in [
                    dir.join("Cargo.lock"),
                    dir.join(format!("{name}-ebpf/Cargo.lock")),
                ] {
                    std::fs::copy(&lock, &to).map_err(|source| Error::Io { path: to, source })?;
                }
            }
        }
        Ok(dir)
    }
}

/// The template of `family` (`tracing`, `net`) for `file`.
fn family_template(family: &str, file: &str) -> &'static str {
    match (family, file) {
        ("tracing", "ebpf.lib.rs") => "tracing.ebpf.lib.rs",
        ("tracing", "user.lib.rs") => "tracing.user.lib.rs",
        ("tracing", "user.host.rs") => "tracing.user.host.rs",
        ("tracing", "user.kernel.rs") => "tracing.user.kernel.rs",
        ("net", "ebpf.lib.rs") => "net.ebpf.lib.rs",
        ("net", "user.lib.rs") => "net.user.lib.rs",
        ("net", "user.host.rs") => "net.user.host.rs",
        ("net", "user.kernel.rs") => "net.user.kernel.rs",
        // Not a template: `template` names it in its error.
        _ => "(unknown family template)",
    }
}

/// Declares [`TEMPLATES`] from the file names in `templates/`.
macro_rules! templates {
    ($($file:literal),* $(,)?) => {
        /// The templates: (file name, text).
        const TEMPLATES: &[(&str, &str)] = &[
            $(($file, include_str!(concat!("../templates/", $file))),)*
        ];
    };
}

templates!(
    "workspace.Cargo.toml",
    "gitignore",
    "README.md",
    "cargo.config.toml",
    "common.Cargo.toml",
    "common.lib.rs",
    "ebpf.Cargo.toml",
    "ebpf.main.rs",
    "user.Cargo.toml",
    "user.build.rs",
    "user.main.rs",
    "tracing.ebpf.lib.rs",
    "tracing.user.lib.rs",
    "tracing.user.host.rs",
    "tracing.user.kernel.rs",
    "net.ebpf.lib.rs",
    "net.user.lib.rs",
    "net.user.host.rs",
    "net.user.kernel.rs",
);

/// The text of a template, by file name.
fn template(name: &'static str) -> Result<&'static str, Error> {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or(Error::NoTemplate(name))
}

/// Fills `{{placeholder}}`s, twice (values may hold placeholders), and
/// fails on one left unfilled.
fn render(template: &'static str, text: &str, values: &[(&str, String)]) -> Result<String, Error> {
    let mut out = text.to_owned();
    for _ in 0..2 {
        for (key, value) in values {
            out = out.replace(&format!("{{{{{key}}}}}"), value);
        }
    }
    let mut rest = out.as_str();
    while let Some(at) = rest.find("{{") {
        let after = &rest[at + 2..];
        let word: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() && after[word.len()..].starts_with("}}") {
            return Err(Error::Unfilled {
                template,
                placeholder: format!("{{{{{word}}}}}"),
            });
        }
        rest = &rest[at + 1..];
    }
    Ok(out)
}

/// A valid project name: a lower-case letter first, then lower-case
/// letters, digits, `-` and `_`.
fn check_name(name: &str) -> Result<(), Error> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.ends_with('-')
        && !name.ends_with('_');
    if !valid {
        return Err(Error::InvalidName(name.to_owned()));
    }
    if [
        "iu",
        "iu-ebpf",
        "iu-macros",
        "iu-build",
        "core",
        "std",
        "test",
    ]
    .contains(&name)
    {
        return Err(Error::ReservedName(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail by panicking.

    use super::*;

    fn temp(what: &str) -> PathBuf {
        std::env::temp_dir().join(format!("cargo-iu-{what}-{}", std::process::id()))
    }

    #[test]
    fn every_kind_fills_every_placeholder() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for kind in Kind::ALL {
            let dir = temp(kind.name());
            let project = NewProject::new("my-tool", kind)
                .iu(IuSource::checkout(checkout).unwrap())
                .sudo_runner(true)
                .generate(&dir)
                .unwrap();
            let lib = std::fs::read_to_string(project.join("my-tool-ebpf/src/lib.rs")).unwrap();
            assert!(lib.contains("pub fn my_tool("), "{lib}");
            assert!(lib.contains("#![forbid(unsafe_code)]"), "{lib}");
            let user = std::fs::read_to_string(project.join("my-tool/src/lib.rs")).unwrap();
            assert!(user.contains("env!(\"IU_OBJECT_MY_TOOL\")"), "{user}");
            let host = std::fs::read_to_string(project.join("my-tool/tests/host.rs")).unwrap();
            assert!(host.contains("use my_tool_ebpf::{COUNTS"), "{host}");
            let manifest = std::fs::read_to_string(project.join("my-tool/Cargo.toml")).unwrap();
            let iu = checkout.canonicalize().unwrap().join("iu");
            assert!(
                manifest.contains(&format!("iu = {{ path = \"{}\" }}", iu.display())),
                "{manifest}"
            );
            assert!(project.join(".cargo/config.toml").is_file());
            assert!(project.join("Cargo.lock").is_file());
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn the_crates_io_form_names_versions_and_copies_no_lock() {
        let dir = temp("version");
        let project = NewProject::new("tool", Kind::Tracepoint)
            .iu(IuSource::Version("0.1".into()))
            .sudo_runner(false)
            .generate(&dir)
            .unwrap();
        let user = std::fs::read_to_string(project.join("tool/Cargo.toml")).unwrap();
        assert!(user.contains("iu = { version = \"0.1\" }"), "{user}");
        assert!(user.contains("iu-build = { version = \"0.1\" }"), "{user}");
        assert!(
            user.contains("iu = { version = \"0.1\", features = [\"testing\"] }"),
            "{user}"
        );
        let program = std::fs::read_to_string(project.join("tool-ebpf/Cargo.toml")).unwrap();
        assert!(
            program.contains("iu-ebpf = { version = \"0.1\" }"),
            "{program}"
        );
        assert!(!project.join("Cargo.lock").exists());
        assert!(!project.join(".cargo").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_without_iu_is_not_a_checkout() {
        let err = IuSource::checkout(Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("not a checkout of iu"), "{err}");
        assert!(err.contains("iu-ebpf"), "{err}");
    }

    #[test]
    fn an_existing_directory_is_left_alone() {
        let dir = temp("exists");
        std::fs::create_dir_all(dir.join("taken")).unwrap();
        let err = NewProject::new("taken", Kind::Xdp)
            .iu(IuSource::Version("0.1".into()))
            .generate(&dir)
            .unwrap_err();
        assert!(matches!(err, Error::Exists(_)), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("my-tool2").is_ok());
        for bad in ["", "My", "2x", "a b", "x-", "iu"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_placeholder_left_unfilled_is_an_error() {
        let err = render("t", "a {{nope}} b", &[]).unwrap_err().to_string();
        assert!(err.contains("{{nope}}"), "{err}");
        assert_eq!(render("t", "{{a}}", &[("a", "x".to_owned())]).unwrap(), "x");
        // Rust's own braces are not placeholders.
        assert_eq!(
            render("t", "{{{x}}}", &[("x", "y".to_owned())]).unwrap(),
            "{y}"
        );
    }
}
