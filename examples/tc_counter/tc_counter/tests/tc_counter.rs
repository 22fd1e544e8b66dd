//! The counters on a veth pair with real pings, on the running kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, programs::TcDirection, testing::Veth};

/// iproute2 and ping are host tools; the VM guest has neither. On the
/// host (`IU_HOST_TIER`) they are required.
fn tools() -> bool {
    if !Veth::tools_available() {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "iproute2 and ping are required on the host"
        );
        eprintln!("skipping: iproute2 or ping is not installed here");
        return false;
    }
    true
}

#[test]
fn counts_bytes_and_packets_in_both_directions() {
    if tools() {
        counts_on_a_veth(2, false);
    }
}

/// The way kernels before 6.6 attach: `cls_bpf` filters on `clsact`.
#[test]
fn counts_through_cls_bpf_filters_and_deletes_them() {
    if tools() {
        counts_on_a_veth(5, true);
    }
}

/// The program for a direction and `tc`'s name for its hook.
fn hook(direction: TcDirection) -> &'static str {
    match direction {
        TcDirection::Ingress => "ingress",
        TcDirection::Egress => "egress",
    }
}

/// What `tc filter show` lists on one clsact hook.
fn tc_filters(interface: &str, direction: TcDirection) -> String {
    let out = std::process::Command::new("tc")
        .args(["filter", "show", "dev", interface, hook(direction)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Attaches both counters (through rtnetlink if `netlink`, else as
/// `attach` chooses), pings across the veth, checks the counts, detaches
/// and checks that counting stopped and that no filter is left.
fn counts_on_a_veth(subnet: u8, netlink: bool) {
    let veth = Veth::new(subnet).unwrap();
    let ebpf = Ebpf::load_file(iu::object_dir().join("tc_counter")).unwrap();
    let attach = |direction| {
        let classifier = ebpf.classifier(hook(direction)).unwrap();
        if !netlink {
            let link = classifier.attach(veth.host(), direction).unwrap();
            assert_eq!(link.is_bpf_link(), iu::features::tcx_link());
            return link;
        }
        let link = classifier.attach_netlink(veth.host(), direction).unwrap();
        assert!(!link.is_bpf_link());
        let filters = tc_filters(veth.host(), direction);
        assert!(
            filters.contains("bpf") && filters.contains("direct-action"),
            "{filters}"
        );
        link
    };
    let ingress = attach(TcDirection::Ingress);
    let egress = attach(TcDirection::Egress);
    assert!(veth.ping(4));
    let counters = ebpf.array::<u64>("COUNTERS").unwrap().values().unwrap();
    // Four echo requests in (84-byte IPv4 packets in 98-byte frames), four
    // replies out, plus whatever ARP and neighbour traffic came with them.
    assert!(counters[1] >= 4 && counters[3] >= 4, "{counters:?}");
    assert!(
        counters[0] >= 4 * 98 && counters[2] >= 4 * 98,
        "{counters:?}"
    );
    drop((ingress, egress));
    for direction in [TcDirection::Ingress, TcDirection::Egress] {
        let left = tc_filters(veth.host(), direction);
        assert!(!left.contains("bpf"), "left behind: {left}");
    }
    // Late packets (neighbour traffic) may be counted until the detach:
    // compare from after it.
    let detached = ebpf.array::<u64>("COUNTERS").unwrap().values().unwrap();
    assert!(veth.ping(1));
    let after = ebpf.array::<u64>("COUNTERS").unwrap().values().unwrap();
    assert_eq!(after, detached, "still counting after detach");
}
