//! The counters on a veth pair with real pings, on the running kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, programs::TcDirection, testing::Veth};

#[test]
fn counts_bytes_and_packets_in_both_directions() {
    // iproute2 and ping are host tools; the VM guest has neither. On the
    // host (`IU_HOST_TIER`) they are required.
    if !Veth::tools_available() {
        assert!(
            std::env::var_os("IU_HOST_TIER").is_none(),
            "iproute2 and ping are required on the host"
        );
        eprintln!("skipping: iproute2 or ping is not installed here");
        return;
    }
    let veth = Veth::new(2).unwrap();
    let ebpf = Ebpf::load_file(iu::object_dir().join("tc_counter")).unwrap();
    let ingress = ebpf
        .classifier("ingress")
        .unwrap()
        .attach(veth.host(), TcDirection::Ingress)
        .unwrap();
    let egress = ebpf
        .classifier("egress")
        .unwrap()
        .attach(veth.host(), TcDirection::Egress)
        .unwrap();
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
    // Late packets (neighbour traffic) may be counted until the detach:
    // compare from after it.
    let detached = ebpf.array::<u64>("COUNTERS").unwrap().values().unwrap();
    assert!(veth.ping(1));
    let after = ebpf.array::<u64>("COUNTERS").unwrap().values().unwrap();
    assert_eq!(after, detached, "still counting after detach");
}
