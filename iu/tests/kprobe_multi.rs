//! kprobe.multi: one link on the kernel functions a glob matches, or on a
//! list. kprobes exist only in the VM tier's kernels (the host has no
//! CONFIG_KPROBES): there the test must run; on the host it skips, naming
//! the feature.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error};

#[test]
fn kprobe_multi_attaches_one_link_to_every_matching_function() {
    if !iu::features::kprobe_multi() {
        iu::testing::skip_missing(
            "kprobe.multi",
            "kprobe.multi (Linux 5.18 with CONFIG_FPROBE)",
        );
        return;
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join("kprobe_multi")).unwrap();
    ebpf.array::<u32>("CONFIG")
        .unwrap()
        .set(0, &std::process::id())
        .unwrap();
    let hits = ebpf.array::<u64>("HITS").unwrap();
    // `features::kprobe_multi` said yes: a refusal is a failure.
    let entry = ebpf.kprobe_multi("made").unwrap().attach().unwrap();
    let returns = ebpf.kprobe_multi("made_ret").unwrap();
    assert!(returns.is_return());
    let returns = returns.attach().unwrap();
    let functions: usize = entry
        .target()
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(
        functions >= 2,
        "do_mkdirat and do_mknodat: {}",
        entry.target()
    );

    let dir = std::env::temp_dir().join(format!("iupt-kpm-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    assert_eq!(hits.get(0).unwrap(), 2, "two mkdirs, seen at entry");
    assert_eq!(hits.get(1).unwrap(), 2, "and at return");
    drop((entry, returns));
    std::fs::create_dir(dir.join("sub2")).unwrap();
    assert_eq!(hits.get(0).unwrap(), 2, "detached on drop");

    // A list instead of the pattern.
    let listed = ebpf
        .kprobe_multi("made")
        .unwrap()
        .attach_symbols(&["do_mkdirat", "do_rmdir"])
        .unwrap();
    std::fs::remove_dir(dir.join("sub2")).unwrap();
    std::fs::create_dir(dir.join("sub3")).unwrap();
    assert_eq!(hits.get(0).unwrap(), 4, "rmdir and mkdir");
    drop(listed);
    std::fs::remove_dir_all(&dir).unwrap();

    // Nothing matches.
    let err = ebpf
        .kprobe_multi("made")
        .unwrap()
        .attach_pattern("iu_no_such_function_*")
        .unwrap_err();
    assert!(
        err.to_string().contains("no traceable kernel function"),
        "{err}"
    );
}

#[test]
fn kprobe_multi_handles_check_the_program_type() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("raw_tp_writable")).unwrap();
    let err = ebpf.kprobe_multi("finish").unwrap_err();
    assert!(matches!(err, Error::WrongProgramType { .. }), "{err}");
}
