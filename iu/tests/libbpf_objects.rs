//! C objects as libbpf 1.x lays them out load with iu: `tc` and the TCX
//! section names are classifiers, and `?` sections are parsed but loaded
//! only when asked for (`EbpfLoader::autoload`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, EbpfLoader, programs::TestRun};

fn object() -> std::path::PathBuf {
    let path = iu::object_dir().join("libbpf_sections");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build`",
        path.display()
    );
    path
}

#[test]
fn tc_sections_are_classifiers_and_question_marks_turn_autoload_off() {
    let ebpf = Ebpf::load_file(object()).unwrap();
    let mut names: Vec<&str> = ebpf.programs().map(|p| p.name()).collect();
    names.sort();
    assert_eq!(names, ["tc_plain", "tcx_ingress"]);
    for name in names {
        ebpf.classifier(name).unwrap();
    }
    // The classifier runs: a 64-byte packet passes (TC_ACT_OK).
    let packet = [0u8; 64];
    let run = ebpf
        .program("tc_plain")
        .unwrap()
        .test_run(&TestRun::packet(&packet))
        .unwrap();
    assert_eq!(run.retval, 0);

    let ebpf = EbpfLoader::new()
        .autoload("xdp_off", true)
        .load_file(object())
        .unwrap();
    ebpf.xdp("xdp_off").unwrap();
    assert!(ebpf.program("raw_tp_off").is_err(), "autoload stays off");
}

#[test]
fn kfuncs_resolve_to_the_kernels_and_a_missing_weak_one_stays_out() {
    let path = iu::object_dir().join("kfuncs");
    if !iu::features::kernel_function_exists("bpf_iter_num_new") {
        iu::testing::skip_missing("kfuncs", "open-coded iterators (bpf_iter_num, Linux 6.4)");
        return;
    }
    let ebpf = Ebpf::load_file(path).unwrap();
    let packet = [0u8; 64];
    let run = ebpf
        .program("kfunc_iter")
        .unwrap()
        .test_run(&TestRun::packet(&packet))
        .unwrap();
    // XDP_PASS: the iterator summed 0..10.
    assert_eq!(run.retval, 2);
}

/// A kfunc nf_conntrack defines: built into the host's kernel (its BTF
/// id in vmlinux), a module in the guests' (`nf_conntrack`, which the
/// guest loads): the call then names the module's BTF through the
/// program's `fd_array`, and the lookup runs for real either way.
#[test]
fn a_modules_kernel_function_is_called_through_the_modules_btf() {
    if !iu::features::kernel_function_exists("bpf_xdp_ct_lookup") {
        iu::testing::skip_missing(
            "conntrack_kfunc",
            "nf_conntrack's kfuncs (CONFIG_NF_CONNTRACK with BTF, Linux 6.0)",
        );
        return;
    }
    let in_module = std::path::Path::new("/sys/kernel/btf/nf_conntrack").exists();
    eprintln!(
        "bpf_xdp_ct_lookup is in {}",
        if in_module {
            "the nf_conntrack module"
        } else {
            "the kernel"
        }
    );
    let ebpf = Ebpf::load_file(iu::object_dir().join("conntrack_kfunc")).unwrap();
    let run = ebpf
        .program("ct_lookup")
        .unwrap()
        .test_run(&TestRun::packet(&[0u8; 64]))
        .unwrap();
    assert_eq!(run.retval, 2, "XDP_PASS");
    // No such connection: the kernel's lookup ran and said so.
    let out = ebpf.array::<i64>("out").unwrap();
    let (found, error) = (out.get(0).unwrap(), out.get(1).unwrap());
    assert_eq!((found, error), (0, -i64::from(libc::ENOENT)));
}

/// `.values`: a program array starts with the object's programs in the
/// slots the object gives, and a map of maps with its inner maps; the
/// other slots stay empty.
#[test]
fn initial_values_fill_program_arrays_and_maps_of_maps() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("map_values")).unwrap();
    let verdicts = |program: &str| -> Vec<u32> {
        let program = ebpf.program(program).unwrap();
        (0u8..4)
            .map(|slot| {
                let mut packet = [0u8; 64];
                packet[0] = slot;
                program.test_run(&TestRun::packet(&packet)).unwrap().retval
            })
            .collect()
    };
    // XDP_PASS (2) where the slot is empty, else the tail call's verdict:
    // XDP_DROP (1) from `tail_drop`, XDP_TX (3) from `tail_tx`.
    assert_eq!(verdicts("jump"), [2, 1, 2, 3]);
    // XDP_PASS where `outer` holds a map (slots 0 and 2), XDP_ABORTED (0)
    // where not.
    assert_eq!(verdicts("has_inner"), [2, 0, 2, 0]);
}

/// Typeless `__ksym` variables hold the symbol's address from kallsyms,
/// and a weak one no kernel has is 0.
#[test]
fn typeless_ksyms_are_kallsyms_addresses() {
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    // `_stext`: every kernel has it, also without CONFIG_KALLSYMS_ALL.
    let stext = kallsyms
        .lines()
        .find_map(|l| l.strip_suffix(" _stext")?.split(' ').next())
        .map(|a| u64::from_str_radix(a, 16).unwrap())
        .expect("_stext in /proc/kallsyms");
    assert_ne!(stext, 0, "root reads kallsyms' addresses");
    let ebpf = Ebpf::load_file(iu::object_dir().join("typeless_ksym")).unwrap();
    assert_eq!(
        ebpf.syscall("addresses").unwrap().run(&mut [0u64]).unwrap(),
        0
    );
    let out = ebpf.array::<u64>("out").unwrap();
    assert_eq!(out.get(0).unwrap(), stext);
    assert_eq!(out.get(1).unwrap(), 0);
}

/// The running kernel's configuration as libbpf reads it:
/// `/boot/config-<release>`, else `/proc/config.gz`.
fn kernel_config() -> Option<String> {
    use std::io::Read as _;
    let release = nix::sys::utsname::uname().ok()?;
    let release = release.release().to_string_lossy();
    if let Ok(text) = std::fs::read_to_string(format!("/boot/config-{release}")) {
        return Some(text);
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open("/proc/config.gz").ok()?)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[test]
fn kconfig_externs_hold_this_kernels_configuration() {
    let path = iu::object_dir().join("kconfig");
    let Some(config) = kernel_config() else {
        // Without a configuration file an object that needs an option
        // (not `__weak`) is refused, naming it.
        let err = Ebpf::load_file(&path).unwrap_err();
        assert!(
            matches!(&err, iu::Error::KernelConfig { name, .. } if name == "CONFIG_BPF_SYSCALL"),
            "{err}"
        );
        iu::testing::skip_missing(
            "kconfig values",
            "a readable kernel configuration (/boot/config-<release> or /proc/config.gz)",
        );
        return;
    };
    let option = |name: &str| {
        config
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let ebpf = Ebpf::load_file(&path).unwrap();
    assert_eq!(
        ebpf.syscall("kconfig_values")
            .unwrap()
            .run(&mut [0u64])
            .unwrap(),
        0
    );
    let out = ebpf.array::<u64>("out").unwrap();
    let (a, b, c) = iu::kernel_version().unwrap();
    assert_eq!(
        out.get(0).unwrap(),
        u64::from((a << 16) | (b << 8) | c.min(255))
    );
    assert_eq!(out.get(1).unwrap(), 1, "CONFIG_BPF_SYSCALL=y");
    let tristate = match option("CONFIG_VETH").as_deref() {
        Some("y") => 1,
        Some("m") => 2,
        _ => 0,
    };
    assert_eq!(out.get(2).unwrap(), tristate, "CONFIG_VETH");
    let hz: u64 = option("CONFIG_HZ").map_or(0, |v| v.parse().unwrap());
    assert_eq!(out.get(3).unwrap(), hz, "CONFIG_HZ");
    // The first 8 bytes of the string, cut with its terminating zero.
    let hostname = option("CONFIG_DEFAULT_HOSTNAME").unwrap_or_default();
    let mut bytes = [0u8; 8];
    let text = hostname.trim_matches('"').as_bytes();
    let n = text.len().min(7);
    bytes[..n].copy_from_slice(&text[..n]);
    assert_eq!(out.get(4).unwrap(), u64::from_le_bytes(bytes), "{hostname}");
    assert_eq!(out.get(5).unwrap(), 0, "a missing __weak option is 0");
    let wrapper = iu::features::kernel_function_exists("__x64_sys_bpf");
    assert_eq!(out.get(6).unwrap(), u64::from(wrapper));
}
