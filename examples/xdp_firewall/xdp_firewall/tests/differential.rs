//! The firewall in the kernel (`BPF_PROG_TEST_RUN`) against the same
//! program in the host simulation, over generated packets: well-formed,
//! not IPv4, truncated at every length, malformed, random and oversized.
//! Both must return the same verdict, and leave the same counts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf,
    maps::{BPF_ANY, LpmKey},
    testing::differential,
};
use iu_ebpf::sim;
use xdp_firewall_common::{CountKey, DROPPED, PASSED};

fn load() -> Ebpf {
    Ebpf::load_file(iu::object_dir().join("xdp_firewall")).unwrap()
}

/// An Ethernet + IPv4 + UDP packet from `source`, `len` bytes long
/// (padded with payload).
fn packet(source: [u8; 4], len: usize) -> Vec<u8> {
    let mut p = vec![0xff; 12];
    p.extend_from_slice(&[0x08, 0x00]);
    p.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&source);
    p.extend_from_slice(&[10, 0, 0, 99]);
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);
    p.resize(len.max(p.len()), 0xab);
    p
}

/// A deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The packets both sides run, in order.
fn packets() -> Vec<Vec<u8>> {
    let sources = [
        [10, 1, 2, 3],
        [10, 200, 0, 1],
        [192, 168, 1, 1],
        [192, 168, 7, 7],
        [172, 16, 0, 1],
        [0, 0, 0, 0],
        [255, 255, 255, 255],
    ];
    let mut packets = vec![];
    // Well-formed, from blocked and allowed sources.
    for source in sources {
        packets.push(packet(source, 0));
        packets.push(packet(source, 64));
    }
    // Every truncation of a blocked and of an allowed packet, from empty
    // (refused by the kernel below 14 bytes) to whole.
    for source in [[10, 1, 2, 3], [192, 168, 1, 1]] {
        let whole = packet(source, 0);
        packets.extend((0..=whole.len()).map(|n| whole[..n].to_vec()));
    }
    // Not IPv4: ARP, IPv6, a VLAN tag, and byte-swapped IPv4.
    for ethertype in [[0x08, 0x06], [0x86, 0xdd], [0x81, 0x00], [0x00, 0x08]] {
        let mut p = packet([10, 1, 2, 3], 0);
        p[12..14].copy_from_slice(&ethertype);
        packets.push(p);
    }
    // Malformed IPv4: wrong version, IHL below 5, total length beyond the
    // packet. The firewall reads the source address regardless.
    for (at, byte) in [(14, 0x65), (14, 0x41), (16, 0xff)] {
        let mut p = packet([10, 1, 2, 3], 0);
        p[at] = byte;
        packets.push(p);
    }
    // Random bytes, some dressed up as IPv4.
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for i in 0..200 {
        let len = (rng.next() % 128) as usize;
        let mut p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 2 == 0 && len >= 14 {
            p[12..14].copy_from_slice(&[0x08, 0x00]);
            if len >= 27 && i % 4 == 0 {
                p[26] = 10;
            }
        }
        packets.push(p);
    }
    // Oversized: a full Ethernet frame, more than fits the linear part of
    // a page in BPF_PROG_TEST_RUN, and a jumbo frame.
    for len in [1514, 3000, 4096, 9000] {
        packets.push(packet([10, 1, 2, 3], len));
        packets.push(packet([192, 168, 1, 1], len));
    }
    packets
}

#[test]
fn the_kernel_and_the_host_simulation_agree() {
    let ebpf = load();
    let _sim = sim::session();
    for (prefix_len, addr) in [
        (8, [10, 0, 0, 0]),
        (24, [192, 168, 7, 0]),
        (32, [0, 0, 0, 0]),
    ] {
        let key = LpmKey::new(prefix_len, addr);
        ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")
            .unwrap()
            .insert(&key, &1, BPF_ANY)
            .unwrap();
        xdp_firewall_ebpf::BLOCKED
            .insert(&key, &1, BPF_ANY)
            .unwrap();
    }
    let program = ebpf.program("xdp_firewall").unwrap();
    let packets = packets();
    let report = differential(program, &packets, xdp_firewall_ebpf::xdp_firewall).unwrap();

    // Only what the kernel cannot take is left out: less than an Ethernet
    // header. Oversized packets run (beyond 3520 bytes the kernel puts the
    // rest in fragments; the firewall reads only the headers).
    for &(index, ref error) in &report.refused {
        let len = packets[index].len();
        assert!(len < 14, "packet {index} ({len} bytes) refused: {error}");
    }
    assert_eq!(
        report.refused.len(),
        packets.iter().filter(|p| p.len() < 14).count()
    );
    assert_eq!(report.compared + report.refused.len(), packets.len());

    // The counts the two sides kept agree too.
    let counts = ebpf.hash_map::<CountKey, u64>("COUNTS").unwrap();
    let mut host = vec![];
    xdp_firewall_ebpf::COUNTS.for_each(|key, count| host.push((*key, *count)));
    assert!(host.iter().any(|(k, _)| k.action == DROPPED));
    assert!(host.iter().any(|(k, _)| k.action == PASSED));
    for (key, count) in &host {
        assert_eq!(counts.get(key).unwrap(), Some(*count), "{key:?}");
    }
    assert_eq!(counts.keys().unwrap().len(), host.len());
}

#[test]
fn a_disagreement_names_the_packet_and_both_verdicts() {
    let ebpf = load();
    ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")
        .unwrap()
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &1, BPF_ANY)
        .unwrap();
    let program = ebpf.program("xdp_firewall").unwrap();
    // A "host program" that passes everything disagrees on a blocked source.
    let packets = [packet([192, 168, 1, 1], 0), packet([10, 1, 2, 3], 0)];
    let pass_all = |_: iu_ebpf::programs::XdpContext| iu_ebpf::programs::XdpAction::Pass;
    let err = differential(program, &packets, pass_all).unwrap_err();
    assert!(
        err.contains("packet 1") && err.contains("the kernel returned 1, the host simulation 2"),
        "{err}"
    );
}
