//! Load → attach → detach cycles of the example objects in one process
//! leak nothing: open descriptors come back to their number, the resident
//! set stays flat, and no program is left in the kernel.
//!
//! A cycle takes one example's object in turn: a turn over the 12
//! examples takes a few seconds on the host (`bmc`'s load is most of it,
//! and detaching waits for the kernel's RCU grace periods), so the default
//! is two turns on the host and one in the guests, after a warm-up turn;
//! `IU_LEAK_CYCLES` sets another number (docs/testing.md has the
//! 10,000-cycle run). Descriptors are counted exactly, so one leaked
//! object or link shows in any number of cycles.
//!
//! A long run on a shared machine sets `IU_LEAK_LOCK` to the lock file
//! that serialises kernel tests (`/tmp/iu-kernel.lock`): the test then
//! holds it for 21 turns (252 cycles) at a time, and lets others' tests
//! run in between, in the same process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf,
    programs::{PerfEventKind, SampleRate, TcDirection, XdpMode},
    testing::Veth,
};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Programs loaded in the kernel with these names (by anyone).
fn loaded_named(names: &[&str]) -> usize {
    iu::programs::loaded()
        .unwrap()
        .iter()
        .filter(|p| names.iter().any(|n| n.starts_with(p.name.as_str())))
        .count()
}

/// Every example, one per cycle in turn (`examples/<name>`).
const EXAMPLES: [&str; 12] = [
    "hello",
    "map_test",
    "syscount",
    "execsnoop",
    "perf_output",
    "runqlat",
    "profile",
    "tracex5",
    "error_injector",
    "xdp_firewall",
    "tc_counter",
    "bmc",
];

/// Every program of the examples, for the kernel check.
const PROGRAMS: [&str; 23] = [
    "hello",
    "map_test",
    "tail_target",
    "sys_enter",
    "sys_exit",
    "fork",
    "execsnoop",
    "perf_output",
    "sched_wakeup",
    "sched_wakeup_new",
    "sched_switch",
    "profile",
    "tracex5",
    "sys_write",
    "sys_read",
    "sys_mmap",
    "error_injector",
    "xdp_firewall",
    "ingress",
    "egress",
    "bmc_rx",
    "bmc_tx",
    "bmc_pass",
];

/// One cycle: an example's object loaded, each of its programs attached
/// where this kernel and machine allow (kprobes where the kernel has them,
/// the networking programs on a veth pair when there is one), then
/// everything dropped.
fn cycle(example: &str, veth: Option<&Veth>) {
    // Kprobe objects load where the kernel has kprobes (the host has not);
    // `error_injector` also needs `bpf_override_return`.
    let kprobes = iu::features::kprobes();
    let loadable = match example {
        "tracex5" => kprobes,
        "error_injector" => {
            kprobes
                && iu::features::helper(
                    iu::features::bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32,
                    58,
                )
        }
        _ => true,
    };
    if !loadable {
        return;
    }
    let ebpf = Ebpf::load_file(iu::object_dir().join(example)).unwrap();
    let mut links: Vec<Box<dyn std::any::Any>> = vec![];
    let mut tracepoint =
        |name| links.push(Box::new(ebpf.tracepoint(name).unwrap().attach().unwrap()));
    match example {
        "hello" | "map_test" | "perf_output" | "execsnoop" => tracepoint(example),
        "syscount" => ["sys_enter", "sys_exit"].into_iter().for_each(tracepoint),
        _ => {}
    }
    match example {
        "execsnoop" => links.push(Box::new(ebpf.tracepoint("fork").unwrap().attach().unwrap())),
        "runqlat" => {
            for name in ["sched_wakeup", "sched_wakeup_new", "sched_switch"] {
                links.push(Box::new(
                    ebpf.btf_tracepoint(name).unwrap().attach().unwrap(),
                ));
            }
        }
        "profile" => {
            let per_cpu = ebpf
                .perf_event("profile")
                .unwrap()
                .attach_all_cpus(PerfEventKind::CpuClock, SampleRate::Frequency(49))
                .unwrap();
            links.push(Box::new(per_cpu));
        }
        "tracex5" | "error_injector" => {
            links.push(Box::new(ebpf.kprobe(example).unwrap().attach().unwrap()));
        }
        _ => {}
    }
    let Some(veth) = veth else { return };
    let host = veth.host();
    match example {
        "xdp_firewall" => links.push(Box::new(
            ebpf.xdp(example)
                .unwrap()
                .attach(host, XdpMode::Generic)
                .unwrap(),
        )),
        "tc_counter" => {
            for (name, direction) in [
                ("ingress", TcDirection::Ingress),
                ("egress", TcDirection::Egress),
            ] {
                links.push(Box::new(
                    ebpf.classifier(name)
                        .unwrap()
                        .attach(host, direction)
                        .unwrap(),
                ));
            }
        }
        "bmc" => {
            links.push(Box::new(
                ebpf.xdp("bmc_rx")
                    .unwrap()
                    .attach(host, XdpMode::Generic)
                    .unwrap(),
            ));
            links.push(Box::new(
                ebpf.classifier("bmc_tx")
                    .unwrap()
                    .attach(host, TcDirection::Egress)
                    .unwrap(),
            ));
        }
        _ => {}
    }
}

#[test]
fn load_attach_detach_cycles_leak_nothing() {
    let cycles: usize = std::env::var("IU_LEAK_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if std::env::var_os("IU_VM_TIER").is_some() {
            EXAMPLES.len()
        } else {
            2 * EXAMPLES.len()
        });
    // The guests' busybox has no `ip netns`: there the networking programs
    // are loaded but not attached. The host tier has iproute2.
    let veth = if Veth::tools_available() {
        Some(Veth::new(41).unwrap())
    } else {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "iproute2 is required on the host"
        );
        None
    };
    let lock = std::env::var_os("IU_LEAK_LOCK").map(|path| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap()
    });
    // The shared lock, if any, until the guard is dropped.
    let hold = || {
        lock.as_ref().map(|file| {
            nix::fcntl::Flock::lock(
                file.try_clone().unwrap(),
                nix::fcntl::FlockArg::LockExclusive,
            )
            .map_err(|(_, e)| e)
            .unwrap()
        })
    };
    let held = hold();
    let before_in_kernel = loaded_named(&PROGRAMS);
    // Warm-up: lazily parsed kernel BTF, feature probes, allocator pools.
    for example in EXAMPLES {
        cycle(example, veth.as_ref());
    }
    drop(held);
    let (fds, rss) = (open_fds(), rss_kib());
    let start = std::time::Instant::now();
    // Whole turns over the examples per hold of the lock.
    let chunk = if lock.is_some() {
        21 * EXAMPLES.len()
    } else {
        cycles.max(1)
    };
    let mut done = 0;
    while done < cycles {
        let held = hold();
        let n = chunk.min(cycles - done);
        for i in done..done + n {
            cycle(EXAMPLES[i % EXAMPLES.len()], veth.as_ref());
        }
        done += n;
        if held.is_some() {
            // Progress of a long run, so that a stopped run still tells.
            eprintln!(
                "after {done} cycles ({:.0} s): open fds {fds} -> {}, RSS {rss} -> {} KiB",
                start.elapsed().as_secs_f64(),
                open_fds(),
                rss_kib()
            );
            drop(held);
            // Time for the tests waiting on the lock to take it.
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
    }
    let (fds_after, rss_after) = (open_fds(), rss_kib());
    let _held = hold();
    eprintln!(
        "{cycles} cycles over the {} examples in {:.1} s: open fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} KiB",
        EXAMPLES.len(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(fds_after, fds, "descriptors leaked");
    // A leak of one object or link per cycle would be far above this.
    assert!(
        rss_after.saturating_sub(rss) < 4096,
        "RSS grew from {rss} to {rss_after} KiB"
    );
    assert_eq!(
        loaded_named(&PROGRAMS),
        before_in_kernel,
        "programs left in the kernel"
    );
}

/// The cycles cover every example in the repository.
#[test]
fn every_example_is_cycled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    if std::env::var_os("IU_VM_TIER").is_some() && !dir.exists() {
        // The guests run the test binaries without the source tree; the
        // host tier checks this.
        return;
    }
    let mut examples: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.path()
                .join(format!("{}-ebpf", e.file_name().to_string_lossy()))
                .is_dir()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    examples.sort();
    let mut cycled: Vec<String> = EXAMPLES.iter().map(|e| e.to_string()).collect();
    cycled.sort();
    assert_eq!(
        examples, cycled,
        "EXAMPLES must name every example with a program crate"
    );
}
