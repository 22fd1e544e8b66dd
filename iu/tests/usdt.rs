//! USDT probes on a C program built with `sys/sdt.h`
//! (iu/tests/c/usdt_target, built by `cargo xtask build`): every argument
//! shape gcc emits (registers of every width, constants, stack memory,
//! signed and unsigned, 1 to 8 bytes) read exactly, hit counts, a probe
//! with two sites, a semaphore-guarded probe that fires only while
//! attached, a pid filter, and the typed errors. Runs on the host (6.18,
//! uprobe.multi) and in both guests (6.1: a perf uprobe per site).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    collections::BTreeMap,
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    sync::Mutex,
};

use iu::{
    Ebpf, Error,
    maps::RingBuf,
    programs::usdt::{self, UsdtArgLocation},
};

/// The tests run the same target: one at a time, so that no test sees
/// another's hits.
static SERIAL: Mutex<()> = Mutex::new(());

fn target() -> PathBuf {
    iu::object_dir().join("usdt_target")
}

/// What the program records per hit (`Hit` in
/// iu/tests/programs/src/bin/usdt.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit {
    cookie: u64,
    count: u64,
    errors: u64,
    args: [i64; 12],
}

fn hits(ring: &mut RingBuf) -> BTreeMap<u64, Vec<Hit>> {
    let mut out: BTreeMap<u64, Vec<Hit>> = BTreeMap::new();
    ring.consume(|bytes| {
        let word = |i: usize| i64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        let mut args = [0; 12];
        for (i, a) in args.iter_mut().enumerate() {
            *a = word(3 + i);
        }
        let hit = Hit {
            cookie: word(0) as u64,
            count: word(1) as u64,
            errors: word(2) as u64,
            args,
        };
        out.entry(hit.cookie).or_default().push(hit);
    });
    for list in out.values_mut() {
        list.sort();
    }
    out
}

fn expect(cookie: u64, rows: impl IntoIterator<Item = Vec<i64>>) -> Vec<Hit> {
    let mut out: Vec<Hit> = rows
        .into_iter()
        .map(|row| {
            let mut args = [0; 12];
            args[..row.len()].copy_from_slice(&row);
            Hit {
                cookie,
                count: row.len() as u64,
                errors: 0,
                args,
            }
        })
        .collect();
    out.sort();
    out
}

/// Runs the target for `rounds` and returns what it printed.
fn run(rounds: u32) -> String {
    let out = Command::new(target())
        .arg(rounds.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn load() -> Option<Ebpf> {
    if !iu::features::usdt() {
        iu::testing::skip_missing("USDT", "uprobes with BPF cookies (Linux 5.15)");
        return None;
    }
    Some(Ebpf::load_file(iu::object_dir().join("usdt")).unwrap())
}

#[test]
fn usdt_notes_list_every_shape_the_compiler_emitted() {
    let probes = usdt::probes(target()).unwrap();
    let spec = |name: &str| -> Vec<String> {
        probes
            .iter()
            .filter(|p| p.provider == "iu_test" && p.name == name)
            .map(|p| p.args.clone())
            .collect()
    };
    // gcc -O2: registers of several widths; -O0: the stack.
    let regs = usdt::parse_args(&spec("regs")[0]).unwrap();
    assert_eq!(regs.len(), 5);
    assert!(
        regs.iter()
            .all(|a| matches!(a.location, UsdtArgLocation::Register { .. }))
    );
    assert_eq!(
        regs.iter().map(|a| (a.size, a.signed)).collect::<Vec<_>>(),
        [(1, true), (2, false), (4, true), (8, true), (8, false)]
    );
    let consts = usdt::parse_args(&spec("consts")[0]).unwrap();
    assert!(
        consts
            .iter()
            .all(|a| matches!(a.location, UsdtArgLocation::Constant(_)))
    );
    let stack = usdt::parse_args(&spec("stack")[0]).unwrap();
    assert!(
        stack
            .iter()
            .all(|a| matches!(a.location, UsdtArgLocation::Memory { .. }))
    );
    assert_eq!(spec("twice").len(), 2, "two sites");
    let guarded: Vec<_> = probes.iter().filter(|p| p.name == "guarded").collect();
    assert_eq!(guarded.len(), 1);
    assert_ne!(guarded[0].semaphore, 0, "semaphore-guarded");
    assert!(
        probes
            .iter()
            .all(|p| p.name == "guarded" || p.semaphore == 0)
    );
}

#[test]
fn usdt_programs_read_every_argument_of_every_hit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Not attached: the semaphore stays 0 and the guarded probe is skipped.
    assert_eq!(run(3), "guarded 0\n");
    let Some(ebpf) = load() else { return };
    // ANCHOR: attach
    let mut ring = RingBuf::new(ebpf.map("HITS").unwrap()).unwrap();
    let path = target();
    let any = ebpf.usdt("any_probe").unwrap();
    let links = [
        any.with_cookie(1)
            .attach_to(&path, "iu_test", "regs", None)
            .unwrap(),
        any.with_cookie(2)
            .attach_to(&path, "iu_test", "stack", None)
            .unwrap(),
        any.with_cookie(3)
            .attach_to(&path, "iu_test", "twice", None)
            .unwrap(),
        any.with_cookie(4)
            .attach_to(&path, "iu_test", "guarded", None)
            .unwrap(),
        // `-4@iu_global(%rip)`: a global, found in the symbol table.
        any.with_cookie(5)
            .attach_to(&path, "iu_test", "global", None)
            .unwrap(),
        // The probe the section names; the default cookie, 0.
        ebpf.usdt("consts")
            .unwrap()
            .attach(Some(&path), None)
            .unwrap(),
    ];
    assert_eq!(
        links.iter().map(|l| l.sites()).collect::<Vec<_>>(),
        [1, 1, 2, 1, 1, 1]
    );
    assert!(
        links
            .iter()
            .all(|l| l.is_multi() == iu::features::uprobe_multi())
    );
    // Attached: the kernel raised the semaphore, so the guarded probe fires.
    assert_eq!(run(3), "guarded 3\n");
    let seen = hits(&mut ring);
    // ANCHOR_END: attach
    let rounds = 0..3i64;
    assert_eq!(
        seen.get(&1).cloned().unwrap_or_default(),
        expect(
            1,
            rounds.clone().map(|i| vec![
                -1 - i,
                65535 - i,
                -100000 * (i + 1),
                -(1 << 40) - i,
                0xfedc_ba98_7654_3210_u64.wrapping_add(i as u64) as i64,
            ])
        ),
        "registers"
    );
    assert_eq!(
        seen.get(&0).cloned().unwrap_or_default(),
        expect(0, rounds.clone().map(|_| vec![5, -7, 123_456_789_012])),
        "constants"
    );
    assert_eq!(
        seen.get(&2).cloned().unwrap_or_default(),
        expect(
            2,
            rounds
                .clone()
                .map(|i| vec![-3 - i, 250, -300, 60000, -70000, -5_000_000_000 - i])
        ),
        "stack memory"
    );
    assert_eq!(
        seen.get(&3).cloned().unwrap_or_default(),
        expect(
            3,
            rounds
                .clone()
                .flat_map(|i| [vec![-(1 << 40) - i], vec![-5_000_000_000 - i]])
        ),
        "two sites with two specs"
    );
    assert_eq!(
        seen.get(&4).cloned().unwrap_or_default(),
        expect(4, rounds.clone().map(|i| vec![i, 42])),
        "semaphore-guarded"
    );
    assert_eq!(
        seen.get(&5).cloned().unwrap_or_default(),
        expect(5, [vec![7]]),
        "a global through rip"
    );
    assert_eq!(seen.len(), 6, "{seen:?}");

    // Dropping the links detaches every site and lowers the semaphore.
    drop(links);
    assert_eq!(run(2), "guarded 0\n");
    assert!(hits(&mut ring).is_empty());
}

#[test]
fn usdt_pid_filter_counts_one_process_and_raises_only_its_semaphore() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ebpf) = load() else { return };
    let mut ring = RingBuf::new(ebpf.map("HITS").unwrap()).unwrap();
    let spawn = || {
        Command::new(target())
            .args(["2", "wait"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut traced, mut other) = (spawn(), spawn());
    let any = ebpf.usdt("any_probe").unwrap();
    let pid = traced.id() as i32;
    let _regs = any
        .with_cookie(1)
        .attach_to(target(), "iu_test", "regs", Some(pid))
        .unwrap();
    let _guarded = any
        .with_cookie(4)
        .attach_to(target(), "iu_test", "guarded", Some(pid))
        .unwrap();
    let traced_out = finish(&mut traced);
    let other_out = finish(&mut other);
    // The semaphore lives in each process: only the traced one has it up.
    assert_eq!(traced_out, "guarded 2\n");
    assert_eq!(other_out, "guarded 0\n");
    let seen = hits(&mut ring);
    assert_eq!(seen.get(&1).map(Vec::len), Some(2), "{seen:?}");
    assert_eq!(
        seen.get(&4).cloned().unwrap_or_default(),
        expect(4, (0..2).map(|i| vec![i, 42]))
    );
}

/// Lets a waiting target go and returns what it printed.
fn finish(child: &mut std::process::Child) -> String {
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(child.wait().unwrap().success());
    out
}

#[test]
fn usdt_unknown_probes_and_unreadable_specs_are_typed_errors() {
    let Some(ebpf) = load() else { return };
    let any = ebpf.usdt("any_probe").unwrap();
    match any.attach_to(target(), "iu_test", "nope", None) {
        Err(e @ Error::UnknownUsdtProbe { .. }) => {
            let message = e.to_string();
            assert!(message.contains("`iu_test:nope`"), "{message}");
            assert!(message.contains("iu_test:regs"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A binary without notes.
    let exe = std::env::current_exe().unwrap();
    match any.attach_to(&exe, "iu_test", "regs", None) {
        Err(e @ Error::UnknownUsdtProbe { .. }) => {
            assert!(e.to_string().contains("no USDT probes"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // `-4@iu_global(%rip)` in a stripped binary: the symbol is gone.
    let stripped = iu::object_dir().join("usdt_target_stripped");
    match any.attach_to(&stripped, "iu_test", "global", None) {
        Err(e @ Error::BadUsdtSpec { .. }) => {
            let message = e.to_string();
            assert!(message.contains("iu_test:global"), "{message}");
            assert!(message.contains("-4@iu_global(%rip)"), "{message}");
            assert!(message.contains("symbol `iu_global`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The stripped binary's other probes still attach.
    drop(any.attach_to(&stripped, "iu_test", "regs", None).unwrap());
    // A section without a probe, attached without naming one.
    assert!(matches!(
        any.attach(Some(&target()), None),
        Err(Error::NoAttachTarget(_))
    ));
    assert!(matches!(
        ebpf.uprobe("any_probe"),
        Err(Error::WrongProgramType { .. })
    ));
    assert!(matches!(
        ebpf.tracepoint("any_probe"),
        Err(Error::WrongProgramType { .. })
    ));
}
