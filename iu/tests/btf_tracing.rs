//! fentry, fexit and LSM programs on the running kernel. The development
//! hosts refuse BTF-attached programs even to root (kernel lockdown), so
//! there these tests skip, saying so, and run for real in the VM tier.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, EbpfLoader, Error, programs::TestRun};

/// Loads the object, or `None` (with the reason) when this kernel refuses
/// BTF-attached programs.
fn load() -> Option<Ebpf> {
    load_with(&EbpfLoader::new())
}

/// The fmod_ret program of the object.
const FMOD_RET: &str = "skip_modify_return_test";

/// Whether this kernel lets fmod_ret programs attach to its test function
/// `bpf_modify_return_test` (Linux 6.1 refuses: "is not modifiable").
fn fmod_ret_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(
        || match Ebpf::load_file(iu::object_dir().join("btf_tracing")) {
            Err(Error::Verifier { name, log, .. }) if name == FMOD_RET => {
                assert!(log.full().contains("is not modifiable"), "{}", log.full());
                false
            }
            _ => true,
        },
    )
}

fn load_with(loader: &EbpfLoader) -> Option<Ebpf> {
    let mut loader = loader.clone();
    // The object's other programs do not depend on it.
    loader.autoload(FMOD_RET, fmod_ret_allowed());
    let ebpf = load_object_with(&loader, "btf_tracing")?;
    ebpf.array::<u32>("CONFIG")
        .unwrap()
        .set(0, &std::process::id())
        .unwrap();
    Some(ebpf)
}

/// Loads object `name`, or `None` (with the reason) when this kernel
/// refuses BTF-attached programs.
fn load_object(name: &str) -> Option<Ebpf> {
    load_object_with(&EbpfLoader::new(), name)
}

fn load_object_with(loader: &EbpfLoader, name: &str) -> Option<Ebpf> {
    match loader.load_file(iu::object_dir().join(name)) {
        Ok(ebpf) => Some(ebpf),
        Err(e @ Error::PermissionDenied { .. })
            if nix::unistd::geteuid().is_root() && std::env::var_os("IU_VM_TIER").is_none() =>
        {
            eprintln!(
                "skipping: fentry/fexit/LSM: this kernel refuses BTF-attached programs even to root (lockdown): {e}"
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn seen(ebpf: &Ebpf, slot: u32) -> u64 {
    ebpf.array::<u64>("SEEN").unwrap().get(slot).unwrap()
}

#[test]
fn fentry_and_fexit_see_calls_and_return_values() {
    let Some(ebpf) = load() else { return };
    let enter = ebpf
        .btf_tracing("enter_unlinkat")
        .unwrap()
        .attach()
        .unwrap();
    let exit = ebpf.btf_tracing("exit_unlinkat").unwrap().attach().unwrap();
    let missing = std::env::temp_dir().join("iu-no-such-file");
    for _ in 0..5 {
        assert!(std::fs::remove_file(&missing).is_err());
    }
    assert_eq!(seen(&ebpf, 0), 5);
    // do_unlinkat returned -ENOENT.
    assert_eq!(seen(&ebpf, 1) as i64, -i64::from(libc::ENOENT));
    drop((enter, exit));
    let _ = std::fs::remove_file(&missing);
    assert_eq!(seen(&ebpf, 0), 5, "still tracing after detach");
}

#[test]
fn fentry_pointer_arguments_are_typed_handles_with_direct_loads() {
    let Some(ebpf) = load() else { return };
    // Other tests of this process may start a task at the same moment (the
    // program records the last one this process starts): a few tries.
    let mut pid = 0;
    for _ in 0..5 {
        let link = ebpf.btf_tracing("new_task").unwrap().attach().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        pid = u64::from(child.id());
        child.wait().unwrap();
        drop(link);
        if seen(&ebpf, 8) == pid {
            break;
        }
    }
    assert_eq!(seen(&ebpf, 8), pid, "p->pid of wake_up_new_task");
    assert_eq!(
        seen(&ebpf, 9),
        u64::from(std::process::id()),
        "p->real_parent->tgid"
    );
}

// ANCHOR: lsm_test
#[test]
fn lsm_file_open_denies_while_armed() {
    let Some(ebpf) = load() else { return };
    let link = ebpf.btf_tracing("file_open").unwrap().attach().unwrap();
    let config = ebpf.array::<u32>("CONFIG").unwrap();
    assert!(std::fs::File::open("/proc/self/status").is_ok());
    config.set(1, &1).unwrap();
    let denied = std::fs::File::open("/proc/self/status").unwrap_err();
    config.set(1, &0).unwrap();
    assert_eq!(denied.raw_os_error(), Some(libc::EPERM), "{denied}");
    assert_eq!(seen(&ebpf, 2), 1);
    assert!(std::fs::File::open("/proc/self/status").is_ok());
    drop(link);
}
// ANCHOR_END: lsm_test

#[test]
fn a_test_run_calls_the_kernel_test_functions_an_fexit_traces() {
    let Some(ebpf) = load() else { return };
    let link = ebpf
        .btf_tracing("exit_fentry_test2")
        .unwrap()
        .attach()
        .unwrap();
    let out = ebpf
        .program("exit_fentry_test2")
        .unwrap()
        .test_run(&TestRun::default())
        .unwrap();
    // A tracing test run reports 0 when every test function returned what
    // it should.
    assert_eq!(out.retval, 0);
    assert_eq!(
        [seen(&ebpf, 3), seen(&ebpf, 4), seen(&ebpf, 5)],
        [2, 3, 5],
        "fexit saw bpf_fentry_test2(2, 3) = 5"
    );
    drop(link);
}

#[test]
fn fmod_ret_replaces_the_return_value_and_skips_the_function() {
    let Some(ebpf) = load() else { return };
    if !fmod_ret_allowed() {
        iu::testing::skip_missing(
            "fmod_ret on bpf_modify_return_test",
            "bpf_modify_return_test in its error-injection list (CONFIG_FUNCTION_ERROR_INJECTION)",
        );
        // The rest of the object loaded without it.
        assert!(ebpf.program(FMOD_RET).is_err());
        return;
    }
    let program = ebpf.program("skip_modify_return_test").unwrap();
    let seen_table = ebpf.array::<u64>("SEEN").unwrap();
    // A tracing test run of an fmod_ret program calls the kernel's
    // `bpf_modify_return_test` and reports what it returned in the low 16
    // bits, and how many of the side effects it expected went missing in
    // the high ones.
    let run = |replacement: u64| {
        seen_table.set(7, &replacement).unwrap();
        program.test_run(&TestRun::default()).unwrap().retval
    };
    let plain = run(0);
    let link = ebpf
        .btf_tracing("skip_modify_return_test")
        .unwrap()
        .attach()
        .unwrap();
    assert_eq!(run(0), plain, "returning 0 lets the function run");
    let (small, large) = (run(42), run(1000));
    drop(link);
    assert_eq!(seen(&ebpf, 6), 2, "two calls skipped");
    assert_eq!(
        (large & 0xffff) - (small & 0xffff),
        1000 - 42,
        "the replacement is the return value: {small:#x}, {large:#x}"
    );
    assert_eq!(large >> 16, small >> 16);
    assert_ne!(
        small >> 16,
        plain >> 16,
        "a skipped function has no side effects: {plain:#x}, {small:#x}"
    );
}

#[test]
fn a_sleepable_fmod_ret_replaces_the_return_value() {
    // The kernel lets a sleepable fmod_ret attach only to functions it
    // allows to sleep there (its error-injection list, minus a deny list);
    // the VM tier's Debian kernel refuses bpf_modify_return_test, naming it.
    // The refusal itself shows the load was the sleepable fmod_ret kind.
    match Ebpf::load_file(iu::object_dir().join("sleepable")) {
        Err(Error::Verifier { log, .. })
            if log
                .error()
                .is_some_and(|e| e.contains("bpf_modify_return_test is not sleepable")) =>
        {
            eprintln!(
                "skipping: sleepable fmod_ret on bpf_modify_return_test: this kernel does not allow it to sleep (sleepable targets come from the error-injection list, CONFIG_FUNCTION_ERROR_INJECTION)"
            );
            return;
        }
        _ => {}
    }
    let Some(ebpf) = load_object("sleepable") else {
        return;
    };
    let program = ebpf.program("sleepy_modify_return").unwrap();
    assert_eq!(program.section_name(), "fmod_ret.s/bpf_modify_return_test");
    let state = ebpf.array::<u64>("STATE").unwrap();
    let run = |replacement: u64| {
        state.set(1, &replacement).unwrap();
        program.test_run(&TestRun::default()).unwrap().retval
    };
    let link = ebpf
        .btf_tracing("sleepy_modify_return")
        .unwrap()
        .attach()
        .unwrap();
    let (small, large) = (run(42), run(1000));
    drop(link);
    assert_eq!(
        (large & 0xffff) - (small & 0xffff),
        1000 - 42,
        "the replacement is the return value: {small:#x}, {large:#x}"
    );
    assert_eq!(state.get(0).unwrap(), 2, "called once per run");
}

#[test]
fn a_sleepable_lsm_program_sees_execs() {
    let Some(ebpf) = load_object("sleepable_lsm") else {
        return;
    };
    assert_eq!(
        ebpf.program("sleepy_exec").unwrap().section_name(),
        "lsm.s/bprm_committed_creds"
    );
    let execs = ebpf.array::<u64>("EXECS").unwrap();
    let exec_self = || {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let link = ebpf.btf_tracing("sleepy_exec").unwrap().attach().unwrap();
    let before = execs.get(0).unwrap();
    exec_self();
    let after = execs.get(0).unwrap();
    assert!(after > before, "{before} then {after}");
    drop(link);
    let detached = execs.get(0).unwrap();
    exec_self();
    assert_eq!(execs.get(0).unwrap(), detached, "counting after detach");
}
