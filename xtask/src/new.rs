//! `cargo xtask new <name> --kind <kind>`: a project of one's own, outside
//! this repository: a program crate, a common crate and a user crate whose
//! build.rs builds the program with `iu-build`, with a working program of
//! that kind, host unit tests and kernel tests.
//!
//! The templates are in `xtask/templates`; `{{placeholder}}`s are filled
//! from the name, the kind, and this checkout's path (the crates depend on
//! iu, iu-ebpf and iu-build by path).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// What a generated program attaches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

    pub fn name(self) -> &'static str {
        match self {
            Kind::Tracepoint => "tracepoint",
            Kind::Kprobe => "kprobe",
            Kind::Xdp => "xdp",
            Kind::Tc => "tc",
        }
    }

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

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The project's name (lower case, digits, `-`, `_`): the crates are
    /// `<name>`, `<name>-ebpf` and `<name>-common`.
    pub name: String,
    /// What the program attaches to.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The directory to create the project in (as `<path>/<name>`).
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
}

pub fn run(args: &NewArgs) -> Result<()> {
    let dir = generate(&args.name, args.kind, &args.path)?;
    eprintln!(
        "xtask: created {} ({} program). Next:\n  cd {}\n  cargo test --manifest-path {}-ebpf/Cargo.toml   # host unit tests\n  sudo -E cargo test                                    # build, kernel tests",
        dir.display(),
        args.kind.name(),
        dir.display(),
        args.name
    );
    Ok(())
}

/// The templates, by file name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "workspace.Cargo.toml",
        include_str!("../templates/workspace.Cargo.toml"),
    ),
    ("gitignore", include_str!("../templates/gitignore")),
    ("README.md", include_str!("../templates/README.md")),
    (
        "common.Cargo.toml",
        include_str!("../templates/common.Cargo.toml"),
    ),
    ("common.lib.rs", include_str!("../templates/common.lib.rs")),
    (
        "ebpf.Cargo.toml",
        include_str!("../templates/ebpf.Cargo.toml"),
    ),
    ("ebpf.main.rs", include_str!("../templates/ebpf.main.rs")),
    (
        "user.Cargo.toml",
        include_str!("../templates/user.Cargo.toml"),
    ),
    ("user.build.rs", include_str!("../templates/user.build.rs")),
    ("user.main.rs", include_str!("../templates/user.main.rs")),
    (
        "tracing.ebpf.lib.rs",
        include_str!("../templates/tracing.ebpf.lib.rs"),
    ),
    (
        "tracing.ebpf.tests.rs",
        include_str!("../templates/tracing.ebpf.tests.rs"),
    ),
    (
        "tracing.user.lib.rs",
        include_str!("../templates/tracing.user.lib.rs"),
    ),
    (
        "tracing.user.kernel.rs",
        include_str!("../templates/tracing.user.kernel.rs"),
    ),
    (
        "net.ebpf.lib.rs",
        include_str!("../templates/net.ebpf.lib.rs"),
    ),
    (
        "net.ebpf.tests.rs",
        include_str!("../templates/net.ebpf.tests.rs"),
    ),
    (
        "net.user.lib.rs",
        include_str!("../templates/net.user.lib.rs"),
    ),
    (
        "net.user.kernel.rs",
        include_str!("../templates/net.user.kernel.rs"),
    ),
];

fn template(name: &str) -> Result<&'static str> {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .with_context(|| format!("no template {name}"))
}

/// Fills `{{placeholder}}`s, twice (values may hold placeholders), and
/// fails on one left unfilled.
fn render(text: &str, values: &[(&str, String)]) -> Result<String> {
    let mut out = text.to_owned();
    for _ in 0..2 {
        for (key, value) in values {
            out = out.replace(&format!("{{{{{key}}}}}"), value);
        }
    }
    if let Some(at) = out.find("{{")
        && let Some(end) = out[at..].find("}}")
        && out[at + 2..at + end]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && at + 2 < at + end
    {
        bail!(
            "template placeholder {} has no value",
            &out[at..at + end + 2]
        );
    }
    Ok(out)
}

/// A valid project name: a lower-case letter first, then lower-case
/// letters, digits, `-` and `_`.
fn check_name(name: &str) -> Result<()> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.ends_with('-')
        && !name.ends_with('_');
    if !valid {
        bail!(
            "`{name}` is not a valid project name: use lower-case letters, digits, `-` and `_`, starting with a letter (it becomes the crates `{name}`, `{name}-ebpf` and `{name}-common`, and the program function)"
        );
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
        bail!("`{name}` is the name of a crate the project depends on; choose another");
    }
    Ok(())
}

/// Creates `<parent>/<name>` and returns its path. Fails if it exists.
pub fn generate(name: &str, kind: Kind, parent: &Path) -> Result<PathBuf> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} exists already; choose another name or --path",
            dir.display()
        );
    }
    let root = crate::root();
    let root = root.canonicalize().unwrap_or(root);
    let mut values: Vec<(&str, String)> = vec![
        ("name", name.to_owned()),
        ("crate", name.replace('-', "_")),
        ("NAME", name.replace('-', "_").to_uppercase()),
        ("kind", kind.name().to_owned()),
        ("iu_root", root.display().to_string()),
    ];
    values.extend(kind.values().into_iter().map(|(k, v)| (k, v.to_owned())));
    let family = kind.family();
    let files: Vec<(PathBuf, String)> = vec![
        ("Cargo.toml".into(), "workspace.Cargo.toml".into()),
        (".gitignore".into(), "gitignore".into()),
        ("README.md".into(), "README.md".into()),
        (
            format!("{name}-common/Cargo.toml").into(),
            "common.Cargo.toml".into(),
        ),
        (
            format!("{name}-common/src/lib.rs").into(),
            "common.lib.rs".into(),
        ),
        (
            format!("{name}-ebpf/Cargo.toml").into(),
            "ebpf.Cargo.toml".into(),
        ),
        (
            format!("{name}-ebpf/src/main.rs").into(),
            "ebpf.main.rs".into(),
        ),
        (
            format!("{name}-ebpf/src/lib.rs").into(),
            format!("{family}.ebpf.lib.rs"),
        ),
        (
            format!("{name}-ebpf/src/tests.rs").into(),
            format!("{family}.ebpf.tests.rs"),
        ),
        (
            format!("{name}/Cargo.toml").into(),
            "user.Cargo.toml".into(),
        ),
        (format!("{name}/build.rs").into(), "user.build.rs".into()),
        (format!("{name}/src/main.rs").into(), "user.main.rs".into()),
        (
            format!("{name}/src/lib.rs").into(),
            format!("{family}.user.lib.rs"),
        ),
        (
            format!("{name}/tests/kernel.rs").into(),
            format!("{family}.user.kernel.rs"),
        ),
    ];
    let mut rendered = vec![];
    for (path, source) in files {
        rendered.push((dir.join(path), render(template(&source)?, &values)?));
    }
    for (path, text) in rendered {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    // The versions this checkout is tested with (cargo drops what the
    // project does not use).
    for lock in [
        dir.join("Cargo.lock"),
        dir.join(format!("{name}-ebpf/Cargo.lock")),
    ] {
        std::fs::copy(root.join("Cargo.lock"), &lock)
            .with_context(|| format!("writing {}", lock.display()))?;
    }
    Ok(dir)
}

/// `cargo xtask test`'s check of the generator: a project of each kind,
/// generated outside the repository (a temporary directory, so that no
/// config file of the repository applies), built, and its tests run: the
/// program crate's host tests, then the user crate's build (build.rs and
/// iu-build) and its kernel tests (as root), then its binary for a second.
///
/// The enclosing environment is that of a user's shell: nothing of the
/// repository's cargo config (`RUSTC_BOOTSTRAP`), and a host `RUSTFLAGS`
/// that bpf-linker refuses (`-Wl,...`). Cargo hands it to build scripts as
/// `CARGO_ENCODED_RUSTFLAGS`, which a nested cargo would apply to the BPF
/// build: with iu-build's removal of it undone, this step fails with
/// bpf-linker's "unexpected argument '-W'".
pub fn test(kinds: &[Kind]) -> Result<()> {
    let parent = std::env::temp_dir().join("iu-generated");
    if parent.exists() {
        std::fs::remove_dir_all(&parent)
            .with_context(|| format!("removing {}", parent.display()))?;
    }
    std::fs::create_dir_all(&parent)?;
    let target = crate::root().join("target/generated");
    for &kind in kinds {
        let started = std::time::Instant::now();
        let name = format!("gen-{}", kind.name());
        let dir = generate(&name, kind, &parent)?;
        let cargo = |args: &[&str], manifest: &Path| {
            let mut cmd = std::process::Command::new("cargo");
            // The subcommand, where the project is, then its arguments.
            cmd.current_dir(&dir)
                .args(&args[..1])
                .arg("--manifest-path")
                .arg(manifest)
                .arg("--target-dir")
                .arg(&target)
                .args(&args[1..])
                .env("RUSTFLAGS", "-C link-arg=-Wl,--as-needed");
            for var in [
                "RUSTC_BOOTSTRAP",
                "RUSTC",
                "CARGO_ENCODED_RUSTFLAGS",
                "RUSTUP_TOOLCHAIN",
                "CARGO",
                "CARGO_TARGET_DIR",
                "IU_OBJECT_DIR",
            ] {
                cmd.env_remove(var);
            }
            if !crate::toolchain::is_root() {
                cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
            }
            cmd
        };
        // First, as a user would: the program crate's lock is written
        // during this build.
        if kind == kinds[0] {
            check_reruns(
                &mut || cargo(&["build", "-v"], &dir.join("Cargo.toml")),
                &dir,
                &name,
            )?;
        }
        crate::run_cmd(&mut cargo(
            &["test", "--quiet"],
            &dir.join(format!("{name}-ebpf/Cargo.toml")),
        ))?;
        crate::run_cmd(&mut cargo(&["test", "--quiet"], &dir.join("Cargo.toml")))?;
        if kind != Kind::Kprobe {
            // The binary loads and attaches for a second (kprobes: the host
            // kernel has none; the kernel test checks they are refused
            // as missing).
            crate::run_cmd(&mut cargo(
                &["run", "--quiet", "-p", &name, "--", "--seconds", "1"],
                &dir.join("Cargo.toml"),
            ))?;
        }
        eprintln!(
            "xtask: generated {} project built and tested in {:.1}s",
            kind.name(),
            started.elapsed().as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&parent)?;
    Ok(())
}

/// The user crate's build script (and so iu-build) runs again when the
/// program crate's sources change, and only then.
fn check_reruns(
    build: &mut dyn FnMut() -> std::process::Command,
    dir: &Path,
    name: &str,
) -> Result<()> {
    let mut runs_build_script = || -> Result<bool> {
        let mut cmd = build();
        let output = cmd
            .output()
            .with_context(|| format!("cannot start {}", crate::describe(&cmd)))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("{} failed:\n{stderr}", crate::describe(&cmd));
        }
        Ok(stderr.lines().any(|l| {
            l.contains("Running")
                && l.contains(&format!("build/{name}-"))
                && l.contains("build-script-build")
        }))
    };
    // The project's first build, then one with nothing changed.
    runs_build_script()?;
    if runs_build_script()? {
        bail!("the build script of {name} ran again although nothing changed");
    }
    // A newer modification time, as an editor would leave.
    let lib = dir.join(format!("{name}-ebpf/src/lib.rs"));
    let text = std::fs::read_to_string(&lib)?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&lib, text)?;
    if !runs_build_script()? {
        bail!(
            "the build script of {name} did not run again after {} changed",
            lib.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_fills_every_placeholder() {
        for kind in Kind::ALL {
            let dir =
                std::env::temp_dir().join(format!("iu-new-{}-{}", kind.name(), std::process::id()));
            let project = generate("my-tool", kind, &dir).unwrap();
            let lib = std::fs::read_to_string(project.join("my-tool-ebpf/src/lib.rs")).unwrap();
            assert!(lib.contains("pub fn my_tool("), "{lib}");
            assert!(lib.contains("#![forbid(unsafe_code)]"), "{lib}");
            let build = std::fs::read_to_string(project.join("my-tool/src/lib.rs")).unwrap();
            assert!(build.contains("env!(\"IU_OBJECT_MY_TOOL\")"), "{build}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
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
        let err = render("a {{nope}} b", &[]).unwrap_err().to_string();
        assert!(err.contains("{{nope}}"), "{err}");
        assert_eq!(render("{{a}}", &[("a", "x".to_owned())]).unwrap(), "x");
    }
}
