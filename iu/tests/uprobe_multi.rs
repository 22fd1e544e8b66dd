//! uprobe.multi: one link on several functions of this test binary, each
//! with a cookie the program reads; uretprobe.multi on a glob of them.
//! Linux 6.6+ (the host and the 6.12 guest); 6.1 skips, naming it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error};

/// Probed.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_umulti_first(x: u64) -> u64 {
    std::hint::black_box(x) + 1
}

/// Probed.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_umulti_second(x: u64) -> u64 {
    std::hint::black_box(x) * 3
}

/// Probed.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_umulti_third(x: u64) -> u64 {
    std::hint::black_box(x) ^ 0x100
}

fn load() -> Option<Ebpf> {
    if !iu::features::uprobe_multi() {
        iu::testing::skip_missing("uprobe.multi", "uprobe.multi (Linux 6.6)");
        return None;
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join("uprobe_multi")).unwrap();
    // Count this thread's calls only (tests run in parallel).
    let tid = nix::unistd::gettid().as_raw() as u32;
    ebpf.array::<u32>("CONFIG").unwrap().set(0, &tid).unwrap();
    Some(ebpf)
}

#[test]
fn uprobe_multi_on_three_functions_tells_them_apart_by_cookie() {
    let Some(ebpf) = load() else { return };
    let exe = std::env::current_exe().unwrap();
    let probe = ebpf.uprobe_multi("calls").unwrap();
    assert!(!probe.is_return());
    let link = probe
        .attach_symbols(
            &exe,
            &[
                ("iu_umulti_first", 1),
                ("iu_umulti_second", 2),
                ("iu_umulti_third", 5),
            ],
            None,
        )
        .unwrap();
    assert!(link.target().contains("3 places"), "{}", link.target());
    for i in 0..4 {
        iu_umulti_first(i);
    }
    for i in 0..2 {
        iu_umulti_second(i);
    }
    iu_umulti_third(9);
    let calls = ebpf.array::<u64>("CALLS").unwrap();
    let per_cookie: Vec<u64> = (0..8).map(|i| calls.get(i).unwrap()).collect();
    assert_eq!(per_cookie, [0, 4, 2, 0, 0, 1, 0, 0]);

    // Dropping the link removes every probe.
    drop(link);
    iu_umulti_first(0);
    iu_umulti_third(0);
    assert_eq!(calls.get(1).unwrap(), 4);
    assert_eq!(calls.get(5).unwrap(), 1);
}

#[test]
fn uprobe_multi_return_probe_on_a_glob_sees_every_return() {
    let Some(ebpf) = load() else { return };
    let exe = std::env::current_exe().unwrap();
    let probe = ebpf.uprobe_multi("returns").unwrap();
    assert!(probe.is_return());
    let link = probe
        .attach_pattern(&exe, "iu_umulti_*", Some(std::process::id() as i32))
        .unwrap();
    assert!(link.target().contains("3 places"), "{}", link.target());
    let sum = iu_umulti_first(10) + iu_umulti_second(10) + iu_umulti_third(10);
    let returns = ebpf.array::<u64>("RETURNS").unwrap();
    assert_eq!(returns.get(0).unwrap(), 3);
    assert_eq!(returns.get(1).unwrap(), sum);
    drop(link);
    iu_umulti_second(1);
    assert_eq!(returns.get(0).unwrap(), 3, "still counting after drop");
}

#[test]
fn uprobe_multi_unknown_functions_and_plain_uprobe_use_are_errors() {
    let Some(ebpf) = load() else { return };
    let exe = std::env::current_exe().unwrap();
    let probe = ebpf.uprobe_multi("calls").unwrap();
    assert!(matches!(
        probe.attach_pattern(&exe, "iu_no_such_function_*", None),
        Err(Error::UnknownSymbol { .. })
    ));
    assert!(matches!(
        probe.attach_symbols(&exe, &[("iu_umulti_first", 0), ("iu_nope", 1)], None),
        Err(Error::UnknownSymbol { .. })
    ));
    // The section names no binary.
    assert!(matches!(probe.attach(None), Err(Error::NoAttachTarget(_))));
    assert!(matches!(
        ebpf.uprobe("calls"),
        Err(Error::WrongProgramType { .. })
    ));
}
