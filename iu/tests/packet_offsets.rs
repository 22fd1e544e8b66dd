//! Packet offsets with a bounded run-time part (`BoundedLen`: the IPv4
//! header length, the TCP data offset) load without a run-time offset
//! check and read, check and write the right bytes on this kernel:
//! `tests/programs/src/bin/packet_offsets.rs`, run with
//! `BPF_PROG_TEST_RUN`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, programs::TestRun};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;
const TC_ACT_OK: u32 = 0;
const TC_ACT_SHOT: u32 = 2;

/// Ethernet (with a VLAN tag if `vlan`), IPv4 with `options` bytes of
/// options and protocol `protocol`, then `l4`.
fn packet(vlan: bool, options: usize, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if vlan {
        p.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    }
    p.extend_from_slice(&[0x08, 0x00]);
    let ihl = 5 + options / 4;
    p.extend_from_slice(&[0x40 | ihl as u8, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0]);
    p.extend_from_slice(&[192, 168, 1, 1, 10, 0, 0, 99]);
    p.extend(std::iter::repeat_n(1u8, options));
    p.extend_from_slice(l4);
    p
}

fn udp(port: u16) -> Vec<u8> {
    let mut u = vec![0x30, 0x39];
    u.extend_from_slice(&port.to_be_bytes());
    u.extend_from_slice(&[0, 8, 0, 0]);
    u
}

/// A TCP header of `doff` 32-bit words, then the payload byte 0xab.
fn tcp(doff: u8) -> Vec<u8> {
    let mut t = vec![0u8; usize::from(doff) * 4];
    t[12] = doff << 4;
    t.push(0xab);
    t
}

fn run(ebpf: &Ebpf, program: &str, packet: &[u8]) -> (u32, Vec<u8>) {
    let out = ebpf
        .program(program)
        .unwrap()
        .test_run(&TestRun::packet(packet))
        .unwrap();
    (out.retval, out.data)
}

#[test]
fn bounded_header_lengths_read_check_and_write_the_right_bytes() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("packet_offsets")).unwrap();
    let prog = "packet_offsets";
    for (vlan, options) in [(false, 0), (true, 0), (false, 4), (true, 40)] {
        let input = packet(vlan, options, 17, &udp(53));
        let (ret, out) = run(&ebpf, prog, &input);
        assert_eq!(ret, XDP_TX, "UDP, VLAN {vlan}, {options} bytes of options");
        let port_at = if vlan { 18 } else { 14 } + 20 + options + 2;
        let mut expected = input.clone();
        expected[port_at..port_at + 2].copy_from_slice(&54u16.to_be_bytes());
        assert_eq!(
            out, expected,
            "UDP, VLAN {vlan}, {options} bytes of options"
        );

        // One byte short of the UDP header: passed, nothing written.
        let short = &input[..input.len() - 1];
        assert_eq!(run(&ebpf, prog, short), (XDP_PASS, short.to_vec()));
    }
    for (vlan, options, doff) in [(false, 0, 5), (true, 4, 8), (true, 40, 15)] {
        let input = packet(vlan, options, 6, &tcp(doff));
        let (ret, out) = run(&ebpf, prog, &input);
        assert_eq!(
            ret, XDP_TX,
            "TCP, VLAN {vlan}, {options}, data offset {doff}"
        );
        let tos_at = if vlan { 18 } else { 14 } + 1;
        assert_eq!(
            out[tos_at], 0xab,
            "the payload's first byte in the TOS byte"
        );
        // Without the payload byte: passed, nothing written.
        let short = &input[..input.len() - 1];
        assert_eq!(run(&ebpf, prog, short), (XDP_PASS, short.to_vec()));
    }
    let mut arp = packet(false, 0, 17, &udp(53));
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&ebpf, prog, &arp).0, XDP_DROP);
}

#[test]
fn tc_reads_after_a_bounded_header_length() {
    let ebpf = Ebpf::load_file(iu::object_dir().join("packet_offsets")).unwrap();
    let prog = "packet_offsets_tc";
    for options in [0, 8, 40] {
        let dns = packet(false, options, 17, &udp(53));
        assert_eq!(
            run(&ebpf, prog, &dns).0,
            TC_ACT_SHOT,
            "{options} bytes of options"
        );
        let other = packet(false, options, 17, &udp(54));
        assert_eq!(
            run(&ebpf, prog, &other).0,
            TC_ACT_OK,
            "{options} bytes of options"
        );
        // The port cut off.
        assert_eq!(run(&ebpf, prog, &dns[..dns.len() - 5]).0, TC_ACT_OK);
    }
}
