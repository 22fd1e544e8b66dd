//! Atomic adds on fields of struct map values (issue #18) on this kernel:
//! `tests/programs/src/bin/field_adds.rs` (an `Array` and an
//! `LruHashMap`, `u64` and `u32` fields, `add` and `fetch_add`) and
//! `udp_firewall.rs` (the benchmark firewall: IPv4 header length, UDP,
//! an LPM blocklist, `{packets, bytes}` per source), run with
//! `BPF_PROG_TEST_RUN`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{
    Ebpf,
    maps::{BPF_ANY, LpmKey},
    programs::TestRun,
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn run(ebpf: &Ebpf, program: &str, packet: &[u8], repeat: u32) -> u32 {
    ebpf.program(program)
        .unwrap()
        .test_run(&TestRun::packet(packet).repeat(repeat))
        .unwrap()
        .retval
}

#[test]
fn struct_fields_add_in_place_and_fetch_add_returns_the_old_value() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("field_adds")).unwrap();
    let mut packet = vec![7u8; 60];
    // Each run returns the count before it, plus 2.
    assert_eq!(run(&ebpf, "field_adds", &packet, 1), 2);
    assert_eq!(run(&ebpf, "field_adds", &packet, 1), 3);
    assert_eq!(run(&ebpf, "field_adds", &packet, 98), 2 + 99);
    packet[0] = 9;
    packet.truncate(40);
    assert_eq!(run(&ebpf, "field_adds", &packet, 10), 2 + 109);
    // packets u64, small u32, large u32, bytes u64.
    let totals = ebpf.array::<[u8; 24]>("TOTALS").unwrap().get(0).unwrap();
    let u64_at = |i: usize| u64::from_ne_bytes(totals[i..i + 8].try_into().unwrap());
    let u32_at = |i: usize| u32::from_ne_bytes(totals[i..i + 4].try_into().unwrap());
    assert_eq!(u64_at(0), 110, "packets");
    assert_eq!(u32_at(8), 110, "small");
    assert_eq!(u32_at(12), 110_000, "large");
    assert_eq!(u64_at(16), 100 * 60 + 10 * 40, "bytes");
    // PER_BYTE: {hits u32, len u32} per first byte; created by the first
    // packet of each (`add_or_insert`), added to by the others.
    let per_byte = ebpf.hash_map::<u8, [u32; 2]>("PER_BYTE").unwrap();
    assert_eq!(per_byte.get(&7).unwrap(), Some([100, 6000]));
    assert_eq!(per_byte.get(&9).unwrap(), Some([10, 400]));
    assert_eq!(per_byte.entries().unwrap().len(), 2);
}

/// Ethernet + IPv4 (with `options` bytes of options) + UDP from `source`,
/// UDP length field 30.
fn udp(source: [u8; 4], options: usize) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let ihl = 5 + options / 4;
    p.extend_from_slice(&[0x40 | ihl as u8, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&source);
    p.extend_from_slice(&[10, 0, 0, 99]);
    p.extend(std::iter::repeat_n(1u8, options));
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 30, 0, 0]);
    p.resize(p.len().max(64), 0);
    p
}

#[test]
fn the_benchmark_firewall_counts_udp_per_source_and_drops_blocked_prefixes() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("udp_firewall")).unwrap();
    ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")
        .unwrap()
        .insert(&LpmKey::new(8, [10, 0, 0, 0]), &1, BPF_ANY)
        .unwrap();
    let prog = "udp_firewall";
    assert_eq!(run(&ebpf, prog, &udp([10, 1, 2, 3], 0), 5), XDP_DROP);
    assert_eq!(run(&ebpf, prog, &udp([192, 168, 1, 1], 0), 3), XDP_PASS);
    // The UDP header after 40 bytes of options (IHL 15).
    assert_eq!(run(&ebpf, prog, &udp([192, 168, 1, 2], 40), 2), XDP_PASS);
    // The UDP header cut short by the options: passed, not counted.
    let mut short = udp([192, 168, 1, 3], 40);
    short.truncate(14 + 60 + 6);
    assert_eq!(run(&ebpf, prog, &short, 1), XDP_PASS);
    // Not UDP (TCP), not IPv4 (ARP): passed, not counted.
    let mut tcp = udp([192, 168, 1, 4], 0);
    tcp[23] = 6;
    assert_eq!(run(&ebpf, prog, &tcp, 1), XDP_PASS);
    let mut arp = udp([192, 168, 1, 5], 0);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&ebpf, prog, &arp, 1), XDP_PASS);

    let sources = ebpf.hash_map::<[u8; 4], [u64; 2]>("SOURCES").unwrap();
    assert_eq!(sources.get(&[192, 168, 1, 1]).unwrap(), Some([3, 90]));
    assert_eq!(sources.get(&[192, 168, 1, 2]).unwrap(), Some([2, 60]));
    assert_eq!(sources.entries().unwrap().len(), 2);
}
