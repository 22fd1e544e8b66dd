//! The firewall on the running kernel: first with `BPF_PROG_TEST_RUN` on
//! crafted packets (malformed and truncated ones included), then on real
//! packets through a veth pair into a fresh network namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf,
    maps::{BPF_ANY, LpmKey},
    programs::TestRun,
    testing::Veth,
};
use xdp_firewall_common::{CountKey, DROPPED, PASSED};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn load() -> Ebpf {
    Ebpf::load_file(iu::object_dir().join("xdp_firewall")).unwrap()
}

/// An Ethernet + IPv4 + UDP packet from `source`.
fn packet(source: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0xff; 12];
    p.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&source);
    ip.extend_from_slice(&[10, 0, 0, 99]);
    p.extend_from_slice(&ip);
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);
    p
}

// ANCHOR: test_run
#[test]
fn drops_blocked_sources_and_counts_on_crafted_packets() {
    let ebpf = load();
    ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")
        .unwrap()
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &1, BPF_ANY)
        .unwrap();
    let program = ebpf.program("xdp_firewall").unwrap();
    let run = |p: &[u8]| program.test_run(&TestRun::packet(p)).unwrap().retval;

    assert_eq!(run(&packet([10, 1, 2, 3])), XDP_DROP);
    assert_eq!(run(&packet([10, 1, 2, 3])), XDP_DROP);
    assert_eq!(run(&packet([192, 168, 1, 1])), XDP_PASS);
    // Not IPv4 (ARP), and an IPv4 Ethernet header with no IP header.
    let mut arp = packet([10, 1, 2, 3]);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&arp), XDP_PASS);
    assert_eq!(run(&packet([10, 1, 2, 3])[..14]), XDP_PASS);
    // Oversized: a jumbo payload behind a blocked source is still dropped.
    let mut big = packet([10, 9, 9, 9]);
    big.resize(3000, 0xab);
    assert_eq!(run(&big), XDP_DROP);

    let counts = ebpf.hash_map::<CountKey, u64>("COUNTS").unwrap();
    let count = |addr, action| counts.get(&CountKey { addr, action }).unwrap().unwrap_or(0);
    assert_eq!(count([10, 1, 2, 3], DROPPED), 2);
    assert_eq!(count([10, 9, 9, 9], DROPPED), 1);
    assert_eq!(count([192, 168, 1, 1], PASSED), 1);
    assert_eq!(count([10, 1, 2, 3], PASSED), 0);
}
// ANCHOR_END: test_run

#[test]
fn stays_as_small_as_the_same_program_in_c() {
    // clang-22 -O2 compiles xtask/peers/xdp_firewall.bpf.c to 61
    // instructions (docs/benchmarks.md, "Programs"); iu's build gives 58.
    // A build change that loses an optimization shows here first.
    let info = load().program("xdp_firewall").unwrap().info().unwrap();
    assert!(
        info.xlated_insns <= 64,
        "xdp_firewall grew to {} instructions (C: 61)",
        info.xlated_insns
    );
}

/// Whether iproute2 and ping are here. They are host tools; the VM guest
/// has neither. On the host (`IU_HOST_TIER`) they are required.
fn veth_tools() -> bool {
    if Veth::tools_available() {
        return true;
    }
    assert!(
        std::env::var_os("IU_HOST_TIER").is_none(),
        "iproute2 and ping are required on the host"
    );
    eprintln!("skipping: iproute2 or ping is not installed here");
    false
}

#[test]
fn filters_real_packets_on_a_veth() {
    if !veth_tools() {
        return;
    }
    let veth = Veth::new(1).unwrap();
    let ebpf = load();
    let link = ebpf
        .xdp("xdp_firewall")
        .unwrap()
        .attach(veth.host(), iu::programs::XdpMode::Generic)
        .unwrap();
    let counts = ebpf.hash_map::<CountKey, u64>("COUNTS").unwrap();
    let count = |action| {
        counts
            .get(&CountKey {
                addr: veth.peer_addr(),
                action,
            })
            .unwrap()
            .unwrap_or(0)
    };

    assert!(veth.ping(3), "pings must pass before blocking");
    let passed = count(PASSED);
    assert!(passed >= 3, "passed {passed}");

    let blocked = ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED").unwrap();
    blocked
        .insert(
            &LpmKey::new(24, [10, 199, veth.peer_addr()[2], 0]),
            &1,
            BPF_ANY,
        )
        .unwrap();
    assert!(!veth.ping(3), "pings must be dropped while blocked");
    assert!(count(DROPPED) >= 3, "dropped {}", count(DROPPED));

    blocked
        .remove(&LpmKey::new(24, [10, 199, veth.peer_addr()[2], 0]))
        .unwrap();
    assert!(veth.ping(2), "pings must pass again after unblocking");
    drop(link);
    // Detached: pings pass and nothing more is counted.
    let before = count(PASSED) + count(DROPPED);
    assert!(veth.ping(2));
    assert_eq!(count(PASSED) + count(DROPPED), before);
}

#[test]
fn filters_real_packets_through_an_rtnetlink_attachment() {
    // The attachment kernels before 5.9 get; here it is asked for.
    if !veth_tools() {
        return;
    }
    let veth = Veth::new(3).unwrap();
    let ifindex = nix::net::if_::if_nametoindex(veth.host()).unwrap();
    let ebpf = load();
    let xdp = ebpf.xdp("xdp_firewall").unwrap();
    let link = xdp
        .attach_netlink(ifindex, iu::programs::XdpMode::Generic)
        .unwrap();
    assert!(!link.is_bpf_link());
    // One XDP program per interface and mode through rtnetlink.
    assert!(
        xdp.attach_netlink(ifindex, iu::programs::XdpMode::Generic)
            .is_err()
    );
    ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")
        .unwrap()
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &1, BPF_ANY)
        .unwrap();
    assert!(!veth.ping(2), "pings must be dropped while attached");
    drop(link);
    assert!(veth.ping(2), "pings must pass after the link is dropped");
}
