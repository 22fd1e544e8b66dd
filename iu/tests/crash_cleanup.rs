//! A process holding every kind of attachment iu makes is killed with
//! SIGKILL (no destructor runs). What is fd-based (bpf_links, perf events:
//! tracepoints, kprobes and uprobes through the PMUs, XDP and TCX links,
//! cgroup links) goes with it; what is not (XDP and `cls_bpf` set through
//! netlink, kprobe events in tracefs) stays, and is removed by the next
//! attach to the same hook or by `iu::cleanup::remove_stale` (`iu-loader
//! cleanup`), which leave other owners' entries alone.
//!
//! The holder is this test binary run again, the same test with
//! `IU_CRASH_HOLDER` set (`hold`). kprobes run in the VM tier only (the host
//! has no CONFIG_KPROBES); the networking hooks need iproute2, which the
//! guests' busybox lacks, so they run on the host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

#[path = "cgroup_support/mod.rs"]
mod cgroup_support;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use iu::{
    Ebpf,
    programs::{TcDirection, XdpMode},
    testing::Veth,
};

/// What the holder's uprobe probes, in this test binary.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_crash_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x) + 1
}

fn object(name: &str) -> Ebpf {
    Ebpf::load_file(iu::object_dir().join(name)).unwrap()
}

fn id(ebpf: &Ebpf, program: &str) -> u32 {
    ebpf.program(program).unwrap().info().unwrap().id
}

/// The holder: attaches everything it is given, prints `<kind> <program
/// id>` for each attachment and `READY`, then waits to be killed.
fn hold() {
    let mut out = std::io::stdout().lock();
    let mut links: Vec<Box<dyn std::any::Any>> = vec![];
    let mut objects = vec![];
    let mut report = |kind: &str, id: u32| writeln!(out, "{kind} {id}").unwrap();

    let hello = object("hello");
    links.push(Box::new(
        hello.tracepoint("hello").unwrap().attach().unwrap(),
    ));
    report("tracepoint", id(&hello, "hello"));

    let probes = object("probes");
    let exe = std::env::current_exe().unwrap();
    let uprobe = probes.uprobe("uprobe_target").unwrap();
    links.push(Box::new(
        uprobe.attach(&exe, "iu_crash_uprobe_target", None).unwrap(),
    ));
    report("uprobe", id(&probes, "uprobe_target"));
    // Also keeps the symbol in the binary.
    assert_eq!(iu_crash_uprobe_target(1), 2);
    if iu::features::kprobes() {
        // Two programs, to tell which ids are gone.
        let pmu = object("probes");
        links.push(Box::new(
            pmu.kprobe("kprobe_getppid").unwrap().attach().unwrap(),
        ));
        report("kprobe-pmu", id(&pmu, "kprobe_getppid"));
        let kprobe = probes.kprobe("kprobe_getppid").unwrap();
        links.push(Box::new(
            kprobe.attach_via_tracefs("__x64_sys_getppid", 0).unwrap(),
        ));
        links.push(Box::new(
            kprobe.attach_via_tracefs("__x64_sys_getpid", 0).unwrap(),
        ));
        report("kprobe-tracefs", id(&probes, "kprobe_getppid"));
        objects.push(pmu);
    }

    if let Ok(cgroup) = std::env::var("IU_CRASH_CGROUP") {
        let programs = object("cgroup");
        links.push(Box::new(
            programs
                .cgroup_skb("deny_udp_port")
                .unwrap()
                .attach(&cgroup)
                .unwrap(),
        ));
        report("cgroup", id(&programs, "deny_udp_port"));
        objects.push(programs);
    }

    if let (Ok(first), Ok(second)) = (
        std::env::var("IU_CRASH_VETH1"),
        std::env::var("IU_CRASH_VETH2"),
    ) {
        let xdp_link = object("xdp_firewall");
        let xdp = xdp_link.xdp("xdp_firewall").unwrap();
        let link = xdp.attach(&first, XdpMode::Generic).unwrap();
        assert!(link.is_bpf_link());
        links.push(Box::new(link));
        report("xdp-link", id(&xdp_link, "xdp_firewall"));

        let xdp_netlink = object("xdp_firewall");
        let ifindex = nix::net::if_::if_nametoindex(second.as_str()).unwrap();
        let xdp = xdp_netlink.xdp("xdp_firewall").unwrap();
        links.push(Box::new(
            xdp.attach_netlink(ifindex, XdpMode::Generic).unwrap(),
        ));
        report("xdp-netlink", id(&xdp_netlink, "xdp_firewall"));

        let tcx = object("tc_counter");
        for (program, direction) in [
            ("ingress", TcDirection::Ingress),
            ("egress", TcDirection::Egress),
        ] {
            let classifier = tcx.classifier(program).unwrap();
            let link = classifier.attach(&first, direction).unwrap();
            assert!(link.is_bpf_link());
            links.push(Box::new(link));
            report(&format!("tcx-{program}"), id(&tcx, program));
        }
        let cls_bpf = object("tc_counter");
        for (program, direction) in [
            ("ingress", TcDirection::Ingress),
            ("egress", TcDirection::Egress),
        ] {
            let classifier = cls_bpf.classifier(program).unwrap();
            links.push(Box::new(
                classifier.attach_netlink(&second, direction).unwrap(),
            ));
            report(&format!("cls_bpf-{program}"), id(&cls_bpf, program));
        }
        objects.extend([xdp_link, xdp_netlink, tcx, cls_bpf]);
    }
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    drop(out);
    std::thread::sleep(Duration::from_secs(600));
    drop((links, objects, hello, probes));
}

fn is_loaded(id: u32) -> bool {
    iu::programs::loaded().unwrap().iter().any(|p| p.id == id)
}

/// Waits up to 10 s for program `id` to be freed (the kernel releases a
/// dead process's links and programs after RCU grace periods).
fn gone(id: u32) -> bool {
    let start = Instant::now();
    while is_loaded(id) {
        if start.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn kprobe_events() -> String {
    std::fs::read_to_string(iu::tracefs::root().unwrap().join("kprobe_events")).unwrap()
}

fn tc_filters(interface: &str, direction: &str) -> String {
    let out = Command::new("tc")
        .args(["filter", "show", "dev", interface, direction])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn add_kprobe_event(definition: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(iu::tracefs::root().unwrap().join("kprobe_events"))
        .unwrap()
        .write_all(format!("{definition}\n").as_bytes())
        .unwrap();
}

#[test]
fn a_killed_process_leaves_only_what_cleanup_removes() {
    if std::env::var_os("IU_CRASH_HOLDER").is_some() {
        // This test binary, run again by the test below as the holder.
        hold();
        return;
    }
    let mount = cgroup_support::cgroup2_mount().expect("cgroup v2 is mounted in both tiers");
    let cgroup = mount.join(format!("iu-crash-{}", std::process::id()));
    std::fs::create_dir(&cgroup).unwrap();
    let veths = if Veth::tools_available() {
        Some((Veth::new(43).unwrap(), Veth::new(44).unwrap()))
    } else {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "iproute2 is required on the host"
        );
        None
    };
    let kprobes = iu::features::kprobes();
    if !kprobes {
        assert!(
            std::env::var_os("IU_VM_TIER").is_none(),
            "the VM tier's kernels have kprobes"
        );
        iu::testing::skip_missing(
            "kprobes held by a killed process",
            "kprobes (CONFIG_KPROBES)",
        );
    }

    let mut holder = Command::new(std::env::current_exe().unwrap());
    holder
        .args([
            "--exact",
            "a_killed_process_leaves_only_what_cleanup_removes",
            "--nocapture",
        ])
        .env("IU_CRASH_HOLDER", "1")
        .env("IU_CRASH_CGROUP", &cgroup)
        .stdout(Stdio::piped());
    if let Some((first, second)) = &veths {
        holder
            .env("IU_CRASH_VETH1", first.host())
            .env("IU_CRASH_VETH2", second.host());
    }
    let mut holder = holder.spawn().unwrap();
    let child = holder.id();
    let (lines, ready) = std::sync::mpsc::channel();
    let stdout = holder.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut ids = BTreeMap::new();
    loop {
        let line = ready
            .recv_timeout(Duration::from_secs(120))
            .expect("the holder exited or hung before attaching everything");
        if line == "READY" {
            break;
        }
        if let Some((kind, id)) = line.split_once(' ')
            && let Ok(id) = id.parse::<u32>()
        {
            ids.insert(kind.to_owned(), id);
        }
    }
    let expected = 2 + usize::from(kprobes) * 2 + 1 + usize::from(veths.is_some()) * 6;
    assert_eq!(ids.len(), expected, "{ids:?}");
    let ours = format!("kprobes/iu_{child}_");
    if kprobes {
        assert_eq!(kprobe_events().matches(&ours).count(), 2);
    }

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    holder.wait().unwrap();

    // What the kernel releases by itself: every program but the netlink
    // ones (the tracefs kprobe's program was held by its perf event; the
    // kprobe event itself stays, below).
    let survivors = ["xdp-netlink", "cls_bpf-ingress", "cls_bpf-egress"];
    for (kind, id) in &ids {
        if !survivors.contains(&kind.as_str()) {
            assert!(gone(*id), "{kind} program {id} outlived its process");
        }
    }
    // What it does not: the reason for iu's cleanup.
    for kind in survivors {
        if let Some(id) = ids.get(kind) {
            assert!(is_loaded(*id), "{kind} program {id} was released");
        }
    }
    if kprobes {
        assert_eq!(kprobe_events().matches(&ours).count(), 2);
        // Others' events: one iu did not name, one of a live iu process.
        add_kprobe_event("p:kprobes/not_iu_crash_test __x64_sys_getppid");
        add_kprobe_event(&format!(
            "p:kprobes/iu_{}_99999 __x64_sys_getppid",
            std::process::id()
        ));
        // Attaching to the same function removes the dead holder's event
        // there, not the one on getpid, nor the others'.
        let probes = object("probes");
        let link = probes
            .kprobe("kprobe_getppid")
            .unwrap()
            .attach_via_tracefs("__x64_sys_getppid", 0)
            .unwrap();
        let events = kprobe_events();
        assert!(!events.contains(&format!("{ours}0 ")), "{events}");
        assert!(events.contains(&format!("{ours}1 ")), "{events}");
        drop(link);
    }

    let mut kept = None;
    if let Some((first, second)) = &veths {
        // A filter iu did not create (classic BPF, through `tc`), on the
        // hook the holder left one on.
        let foreign = Command::new("tc")
            .args([
                "filter",
                "add",
                "dev",
                second.host(),
                "egress",
                "pref",
                "7",
                "bpf",
                "bytecode",
                "1,6 0 0 4294967295,",
            ])
            .status()
            .unwrap();
        assert!(foreign.success());
        // The dead holder's XDP program would make this attach fail
        // (EBUSY); it is removed first. The same for the ingress filter.
        let ifindex = nix::net::if_::if_nametoindex(second.host()).unwrap();
        let xdp = object("xdp_firewall");
        let xdp_link = xdp
            .xdp("xdp_firewall")
            .unwrap()
            .attach_netlink(ifindex, XdpMode::Generic)
            .unwrap();
        assert!(gone(ids["xdp-netlink"]), "stale XDP program still attached");
        let tc = object("tc_counter");
        let ingress = tc
            .classifier("ingress")
            .unwrap()
            .attach_netlink(second.host(), TcDirection::Ingress)
            .unwrap();
        assert!(
            gone(ids["cls_bpf-ingress"]),
            "stale ingress filter still there"
        );
        // Another hook: untouched until the cleanup.
        assert!(is_loaded(ids["cls_bpf-egress"]));
        // This process's own netlink attachments, alive, on the second
        // pair, and an XDP one on the first: the cleanup keeps them.
        let own = object("xdp_firewall");
        let first_index = nix::net::if_::if_nametoindex(first.host()).unwrap();
        let own_link = own
            .xdp("xdp_firewall")
            .unwrap()
            .attach_netlink(first_index, XdpMode::Generic)
            .unwrap();
        kept = Some((xdp, xdp_link, tc, ingress, own, own_link));
    }

    let report = iu::cleanup::remove_stale().unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let mut expected_removed = vec![];
    if veths.is_some() {
        expected_removed.push("tc filter");
        assert!(
            gone(ids["cls_bpf-egress"]),
            "stale egress filter still there"
        );
    }
    if kprobes {
        expected_removed.push("kprobe event");
        let events = kprobe_events();
        assert!(!events.contains(&ours), "{events}");
        assert!(events.contains("not_iu_crash_test"), "{events}");
        assert!(
            events.contains(&format!("iu_{}_99999", std::process::id())),
            "{events}"
        );
        for name in [
            "kprobes/not_iu_crash_test".to_owned(),
            format!("kprobes/iu_{}_99999", std::process::id()),
        ] {
            add_kprobe_event(&format!("-:{name}"));
        }
    }
    let removed: Vec<_> = report
        .removed
        .iter()
        .filter(|r| r.contains(&format!("pid {child}")))
        .collect();
    assert_eq!(removed.len(), expected_removed.len(), "{report:?}");
    for (what, line) in expected_removed.iter().zip(&removed) {
        assert!(line.starts_with(what), "{report:?}");
    }

    if let Some((xdp, xdp_link, tc, ingress, own, own_link)) = kept {
        let (_, second) = veths.as_ref().unwrap();
        assert!(
            is_loaded(id(&xdp, "xdp_firewall")),
            "a live XDP attachment was removed"
        );
        assert!(is_loaded(id(&own, "xdp_firewall")));
        assert!(
            tc_filters(second.host(), "egress").contains("bytecode"),
            "the foreign filter was removed"
        );
        let filters = tc_filters(second.host(), "ingress");
        assert!(
            filters.contains("bpf"),
            "a live filter was removed: {filters}"
        );
        drop((xdp_link, ingress, own_link));
        assert!(!tc_filters(second.host(), "ingress").contains("bpf"));
        drop((xdp, tc, own));
    }
    // Nothing of the holder's is left.
    for (kind, id) in &ids {
        assert!(gone(*id), "{kind} program {id} is still loaded");
    }
    if kprobes {
        assert!(!kprobe_events().contains(&ours));
    }
    let root = iu::tracefs::root().unwrap();
    if let Ok(uprobes) = std::fs::read_to_string(root.join("uprobe_events")) {
        assert!(!uprobes.contains(&format!("iu_{child}_")), "{uprobes}");
    }
    std::fs::remove_dir(&cgroup).unwrap();
}
