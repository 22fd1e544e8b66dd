//! Load → attach → detach cycles of the example objects in one process
//! leak nothing: open descriptors come back to their number, the resident
//! set stays flat, and no program is left in the kernel.
//!
//! A cycle takes about 0.2 s on the host (detaching waits for the kernel's
//! RCU grace periods), so the default is 30 cycles on the host and 10 in
//! the guests; `IU_LEAK_CYCLES` sets another number (docs/testing.md has
//! the 10,000-cycle run). Descriptors are counted exactly, so one leaked
//! object or link shows in any number of cycles.
//!
//! A long run on a shared machine sets `IU_LEAK_LOCK` to the lock file
//! that serialises kernel tests (`/tmp/iu-kernel.lock`): the test then
//! holds it for chunks of 250 cycles only, and lets others' tests run in
//! between, in the same process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf,
    programs::{TcDirection, XdpMode},
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

/// One cycle: every example object loaded, each program attached (the
/// networking ones when there is a veth pair), then everything dropped.
fn cycle(veth: Option<&Veth>) {
    let object = |name: &str| iu::object_dir().join(name);
    let hello = Ebpf::load_file(object("hello")).unwrap();
    let _hello = hello.tracepoint("hello").unwrap().attach().unwrap();
    let maps = Ebpf::load_file(object("map_test")).unwrap();
    let _maps = maps.tracepoint("map_test").unwrap().attach().unwrap();
    let firewall = Ebpf::load_file(object("xdp_firewall")).unwrap();
    let tc = Ebpf::load_file(object("tc_counter")).unwrap();
    let Some(veth) = veth else { return };
    let _xdp = firewall
        .xdp("xdp_firewall")
        .unwrap()
        .attach(veth.host(), XdpMode::Generic)
        .unwrap();
    let _ingress = tc
        .classifier("ingress")
        .unwrap()
        .attach(veth.host(), TcDirection::Ingress)
        .unwrap();
    let _egress = tc
        .classifier("egress")
        .unwrap()
        .attach(veth.host(), TcDirection::Egress)
        .unwrap();
}

#[test]
fn load_attach_detach_cycles_leak_nothing() {
    let cycles: usize = std::env::var("IU_LEAK_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if std::env::var_os("IU_VM_TIER").is_some() {
            10
        } else {
            30
        });
    let names = ["hello", "map_test", "xdp_firewall", "ingress", "egress"];
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
    let before_in_kernel = loaded_named(&names);
    // Warm-up: lazily parsed kernel BTF, feature probes, allocator pools.
    for _ in 0..20 {
        cycle(veth.as_ref());
    }
    drop(held);
    let (fds, rss) = (open_fds(), rss_kib());
    let start = std::time::Instant::now();
    let chunk = if lock.is_some() { 250 } else { cycles.max(1) };
    let mut done = 0;
    while done < cycles {
        let held = hold();
        let n = chunk.min(cycles - done);
        for _ in 0..n {
            cycle(veth.as_ref());
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
        "{cycles} cycles of 4 objects and 5 attachments in {:.1} s: open fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} KiB",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(fds_after, fds, "descriptors leaked");
    // A leak of one object or link per cycle would be far above this.
    assert!(
        rss_after.saturating_sub(rss) < 4096,
        "RSS grew from {rss} to {rss_after} KiB"
    );
    assert_eq!(
        loaded_named(&names),
        before_in_kernel,
        "programs left in the kernel"
    );
}
