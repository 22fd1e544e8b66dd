//! `iu` must build for users on stable Rust: a crate outside the
//! repository that depends on it by path, built without this repository's
//! `.cargo/config.toml` and without `RUSTC_BOOTSTRAP`.
//!
//! Cargo reads config files from the current directory upwards, so the
//! crate lives in a temporary directory and is built from there; the
//! variables that `cargo xtask` itself inherits from the repository's
//! config (`RUSTC_BOOTSTRAP`) are removed from its environment.

use anyhow::{Context, Result, bail};

/// What the user crate does with `iu`: a derived `Pod` type and a typed map
/// handle, so that `iu`, `iu-ebpf` (host side) and `iu-macros` are all
/// compiled.
const MAIN: &str = r#"use iu::Pod;

#[derive(Clone, Copy, Debug, Pod)]
#[repr(C)]
struct Event {
    pid: u32,
    cpu: u32,
    ts: u64,
}

fn main() -> Result<(), iu::Error> {
    let event = Event { pid: 1, cpu: 2, ts: 3 };
    assert_eq!(event.as_bytes().len(), 16);
    let key = iu::maps::LpmKey::new(8, 10u8);
    assert_eq!(key.as_bytes(), [8, 0, 0, 0, 10]);
    let ebpf = iu::Ebpf::load_file(iu::object_dir().join("hello"))?;
    let _ = ebpf.hash_map::<u32, Event>("EVENTS");
    Ok(())
}
"#;

pub fn run() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("iu-stable-user-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
    let root = crate::root();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"iu-stable-user\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\niu = {{ path = {:?} }}\n\n[workspace]\n",
            root.join("iu")
        ),
    )?;
    std::fs::write(src.join("main.rs"), MAIN)?;
    // The same dependency versions as the workspace.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    let mut cmd = std::process::Command::new("cargo");
    cmd.current_dir(&dir)
        .args(["build", "--quiet", "--target-dir"])
        .arg(root.join("target/stable-user"))
        .env_remove("RUSTC_BOOTSTRAP")
        .env_remove("RUSTC")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO");
    let output = cmd
        .output()
        .with_context(|| format!("cannot start {}", crate::describe(&cmd)))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !output.status.success() {
        bail!(
            "a crate outside the repository that depends on `iu` does not build on stable Rust \
             (no RUSTC_BOOTSTRAP): iu, iu-ebpf's host side and iu-macros may use no nightly feature:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
