//! The classifiers in the kernel (`BPF_PROG_TEST_RUN`) against the same
//! functions in the host simulation, over packets of every size from a bare
//! Ethernet header to a jumbo frame: same verdicts, same counters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, testing::differential};
use iu_ebpf::sim;

#[test]
fn the_kernel_and_the_host_simulation_agree() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("tc_counter")).unwrap();
    let _sim = sim::session();
    let packets: Vec<Vec<u8>> = [14usize, 15, 60, 64, 98, 576, 1500, 1514, 3000, 9000]
        .iter()
        .map(|&len| (0..len).map(|i| i as u8).collect())
        .collect();
    let ingress = differential(
        ebpf.program("ingress").unwrap(),
        &packets,
        tc_counter_ebpf::ingress,
    )
    .unwrap();
    let egress = differential(
        ebpf.program("egress").unwrap(),
        &packets[..3],
        tc_counter_ebpf::egress,
    )
    .unwrap();
    // skb test runs take at most about a page: only the jumbo frame is left
    // out.
    for &(index, ref error) in &ingress.refused {
        assert!(
            packets[index].len() > 4096,
            "packet {index} refused: {error}"
        );
    }
    assert_eq!(ingress.compared, packets.len() - 1, "{:?}", ingress.refused);
    assert_eq!(egress.compared, 3);
    let kernel = ebpf.array::<u64>("COUNTERS").unwrap().values().unwrap();
    let host: Vec<u64> = (0..4)
        .map(|i| tc_counter_ebpf::COUNTERS.get(i).unwrap_or(0))
        .collect();
    assert_eq!(kernel, host);
    assert_eq!(kernel[1], ingress.compared as u64);
}
