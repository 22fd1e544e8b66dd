//! The compile-fail suite: each file in `tests/compile-fail/` is a tiny
//! program crate that must *not* build, with a message that says why.
//!
//! A case starts with one or more `// expect: <text>` lines; the build must
//! fail and its messages must contain every `<text>`. Each case is built
//! exactly as `cargo xtask build` builds a program object: the same source
//! checks ([`build::check_sources`]) and the same `cargo rustc` command
//! ([`build::binary_command`]), for `bpfel-unknown-none`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{build, toolchain::Toolchain};

/// One case: its path, name and expected messages.
struct Case {
    path: PathBuf,
    name: String,
    expect: Vec<String>,
}

fn cases(filter: Option<&str>) -> Result<Vec<Case>> {
    let dir = crate::root().join("tests/compile-fail");
    let mut cases = vec![];
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let expect: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("// expect:"))
            .map(|e| e.trim().to_owned())
            .collect();
        if expect.is_empty() {
            bail!(
                "{}: a compile-fail case needs at least one `// expect: <message>` line",
                path.display()
            );
        }
        cases.push(Case { path, name, expect });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// What building one case gave: `Err(messages)` when it was refused.
fn build_case(toolchain: &Toolchain, krate: &Path, case: &Case) -> Result<Result<(), String>> {
    let src = krate.join("src");
    std::fs::create_dir_all(&src)?;
    std::fs::copy(&case.path, src.join("main.rs"))?;
    if let Err(e) = build::check_sources(&src) {
        return Ok(Err(format!("{e:#}")));
    }
    let mut cmd = build::binary_command(toolchain, krate, "iu-compile-fail-case");
    let output = cmd
        .output()
        .with_context(|| format!("cannot start {}", crate::describe(&cmd)))?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        return Ok(Ok(()));
    }
    if !stderr.contains("could not compile `iu-compile-fail-case`") {
        bail!(
            "case {}: the build failed before reaching the case (a dependency or the toolchain):\n{stderr}",
            case.name
        );
    }
    Ok(Err(stderr))
}

/// Runs every case (or those whose name contains `filter`).
pub fn run(toolchain: &Toolchain, filter: Option<&str>) -> Result<()> {
    let cases = cases(filter)?;
    if cases.is_empty() {
        return Ok(());
    }
    let krate = crate::root().join("target/compile-fail/case");
    std::fs::create_dir_all(&krate)?;
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "# Written by `cargo xtask test`: the crate each compile-fail case is built in.\n\
             [workspace]\n\n[package]\nname = \"iu-compile-fail-case\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
             publish = false\n\n[dependencies]\niu-ebpf = {{ path = {:?} }}\n\n\
             [[bin]]\nname = \"iu-compile-fail-case\"\npath = \"src/main.rs\"\ntest = false\n\n\
             [profile.release]\npanic = \"abort\"\ndebug = 2\ncodegen-units = 1\nlto = true\nopt-level = 3\n",
            crate::root().join("iu-ebpf")
        ),
    )?;
    let mut failures = vec![];
    for case in &cases {
        match build_case(toolchain, &krate, case)? {
            Ok(()) => {
                eprintln!("xtask: compile-fail {}: BUILT (it must not)", case.name);
                failures.push(format!("{}: built, but must not", case.name));
            }
            Err(messages) => {
                let missing: Vec<&String> = case
                    .expect
                    .iter()
                    .filter(|e| !messages.contains(e.as_str()))
                    .collect();
                if missing.is_empty() {
                    eprintln!("xtask: compile-fail {}: refused as expected", case.name);
                } else {
                    eprintln!(
                        "xtask: compile-fail {}: refused, but without {missing:?}:\n{messages}",
                        case.name
                    );
                    failures.push(format!("{}: refused without {missing:?}", case.name));
                }
            }
        }
    }
    let _ = std::fs::remove_file(build::object_dir().join("iu-compile-fail-case"));
    if !failures.is_empty() {
        bail!(
            "{} of {} compile-fail case(s) failed:\n  {}",
            failures.len(),
            cases.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}
