//! `iu-loader`'s messages for what a user gets wrong, run as a user runs
//! the binary: an XDP program without `--iface` fails the run and names
//! `--skip-unsupported`, which then skips it and says so; `list` without
//! privilege says which capability it needs; `cleanup` runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::process::Command;

fn loader() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iu-loader"));
    cmd.env("RUST_LOG_STYLE", "never");
    cmd
}

fn firewall() -> String {
    let path = iu::object_dir().join("xdp_firewall");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

#[test]
fn a_program_that_cannot_attach_fails_the_run_or_is_skipped_when_asked() {
    let out = loader()
        .args(["run", "--duration", "1", &firewall()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot attach `xdp_firewall`: an XDP program: pass --iface")
            && stderr.contains("pass --skip-unsupported"),
        "{stderr}"
    );

    let out = loader()
        .args(["run", "--duration", "1", "--skip-unsupported", &firewall()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped `xdp_firewall`: an XDP program: pass --iface"),
        "{stderr}"
    );
}

#[test]
fn list_without_privilege_names_the_capability() {
    use std::os::unix::process::CommandExt;
    // As `nobody`: a root process that changes its uid loses its
    // capabilities.
    let out = loader().arg("list").uid(65534).gid(65534).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.is_empty(),
        "no table header before the refusal: {stdout}"
    );
    assert!(
        stderr.contains("permission denied") && stderr.contains("CAP_SYS_ADMIN"),
        "{stderr}"
    );
}

#[test]
fn cleanup_removes_only_stale_entries_and_says_how_many() {
    // The removal itself is checked in iu/tests/crash_cleanup.rs; here the
    // command runs as a user runs it.
    let out = loader().arg("cleanup").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stale entr"), "{stdout}");
}
