//! kprobes, uprobes and raw tracepoints on the running kernel. kprobes need
//! CONFIG_KPROBES: the host lacks it, so those tests run in the VM tier and
//! say so when skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error};

// ANCHOR: target
/// The function the uprobe tests probe, in this test binary.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x) * 2 + 1
}
// ANCHOR_END: target

fn load() -> Ebpf {
    let ebpf = Ebpf::load_file(iu::object_dir().join("probes")).unwrap();
    // Programs count this thread's calls only (tests run in parallel).
    let tid = nix::unistd::gettid().as_raw() as u32;
    ebpf.array::<u32>("CONFIG").unwrap().set(0, &tid).unwrap();
    ebpf
}

fn seen(ebpf: &Ebpf, slot: u32) -> u64 {
    ebpf.array::<u64>("SEEN").unwrap().get(slot).unwrap()
}

#[test]
fn raw_tracepoint_sees_each_syscall() {
    let ebpf = load();
    let link = ebpf.raw_tracepoint("raw_enter").unwrap().attach().unwrap();
    assert_eq!(link.target(), "raw tracepoint sys_enter");
    for _ in 0..25 {
        std::hint::black_box(std::os::unix::process::parent_id());
    }
    assert_eq!(seen(&ebpf, 0), 25);
    drop(link);
    std::hint::black_box(std::os::unix::process::parent_id());
    assert_eq!(seen(&ebpf, 0), 25, "still counting after detach");
}

// ANCHOR: uprobe
#[test]
fn uprobe_and_uretprobe_see_arguments_and_return_values() {
    let ebpf = load();
    let exe = std::env::current_exe().unwrap();
    let enter = ebpf
        .uprobe("uprobe_target")
        .unwrap()
        .attach(&exe, "iu_uprobe_target", Some(std::process::id() as i32))
        .unwrap();
    let exit = ebpf
        .uprobe("uretprobe_target")
        .unwrap()
        .attach(&exe, "iu_uprobe_target", None)
        .unwrap();
    assert_eq!(iu_uprobe_target(20), 41);
    assert_eq!(iu_uprobe_target(7), 15);
    assert_eq!(seen(&ebpf, 3), 2);
    assert_eq!(seen(&ebpf, 4), 7);
    assert_eq!(seen(&ebpf, 5), 15);
    drop((enter, exit));
    iu_uprobe_target(100);
    assert_eq!(seen(&ebpf, 3), 2, "still probing after detach");

    match ebpf
        .uprobe("uprobe_target")
        .unwrap()
        .attach(&exe, "no_such_symbol", None)
    {
        Err(Error::UnknownSymbol { symbol, .. }) => assert_eq!(symbol, "no_such_symbol"),
        other => panic!("expected UnknownSymbol, got {other:?}"),
    }
}
// ANCHOR_END: uprobe

#[test]
fn kprobe_and_kretprobe_see_calls_and_return_values() {
    let ebpf = load();
    let kprobe = match ebpf.kprobe("kprobe_getppid").unwrap().attach() {
        Err(Error::MissingFeature { feature, detail }) => {
            // The VM tier's kernel has kprobes: there, skipping is a failure.
            assert!(
                std::env::var_os("IU_VM_TIER").is_none(),
                "{feature}: {detail}"
            );
            eprintln!("skipping: {feature}: {detail}");
            assert!(feature.starts_with("kprobes"));
            return;
        }
        other => other.unwrap(),
    };
    let kretprobe = ebpf.kprobe("kretprobe_getppid").unwrap().attach().unwrap();
    let mut ppid = 0;
    for _ in 0..10 {
        ppid = std::os::unix::process::parent_id();
    }
    assert_eq!(seen(&ebpf, 1), 10);
    assert_eq!(seen(&ebpf, 2), u64::from(ppid));
    drop((kprobe, kretprobe));
    std::hint::black_box(std::os::unix::process::parent_id());
    assert_eq!(seen(&ebpf, 1), 10, "still probing after detach");

    // The same through a kprobe event in tracefs, the way for kernels
    // without the kprobe PMU.
    let kprobe = ebpf
        .kprobe("kprobe_getppid")
        .unwrap()
        .attach_via_tracefs("__x64_sys_getppid", 0)
        .unwrap();
    let events = iu::tracefs::root().unwrap().join("kprobe_events");
    let ours = format!("iu_{}_", std::process::id());
    assert!(std::fs::read_to_string(&events).unwrap().contains(&ours));
    for _ in 0..5 {
        std::hint::black_box(std::os::unix::process::parent_id());
    }
    assert_eq!(seen(&ebpf, 1), 15);
    drop(kprobe);
    assert!(
        !std::fs::read_to_string(&events).unwrap().contains(&ours),
        "the kprobe event outlived its link"
    );
    std::hint::black_box(std::os::unix::process::parent_id());
    assert_eq!(seen(&ebpf, 1), 15, "still probing after detach");
}

#[test]
fn a_sleepable_uprobe_sees_calls() {
    let tid = nix::unistd::gettid().as_raw() as u32;
    let ebpf = iu::EbpfLoader::new()
        .set_global("TARGET_TID", &tid)
        .load_file(iu::object_dir().join("sleepable_uprobe"))
        .unwrap();
    assert_eq!(
        ebpf.program("sleepy_uprobe").unwrap().section_name(),
        "uprobe.s"
    );
    let exe = std::env::current_exe().unwrap();
    let link = ebpf
        .uprobe("sleepy_uprobe")
        .unwrap()
        .attach(&exe, "iu_uprobe_target", None)
        .unwrap();
    assert_eq!(iu_uprobe_target(33), 67);
    assert_eq!(iu_uprobe_target(5), 11);
    let seen = ebpf.array::<u64>("SEEN").unwrap();
    assert_eq!((seen.get(0).unwrap(), seen.get(1).unwrap()), (2, 5));
    drop(link);
    iu_uprobe_target(9);
    assert_eq!(seen.get(0).unwrap(), 2, "still probing after detach");
}
