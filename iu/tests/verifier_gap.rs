//! The verifier-gap corpus (`tests/verifier-gap`): small programs written
//! the natural way, each covering a pattern that stock verifiers have
//! refused in Rust BPF programs. Every one must load, and behave, on the
//! running kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, programs::TestRun};

const DROP: u32 = 1;
const PASS: u32 = 2;
const ABORTED: u32 = 0;
const TX: u32 = 3;

fn load(name: &str) -> Ebpf {
    Ebpf::load_file(iu::object_dir().join(name))
        .unwrap_or_else(|e| panic!("{name} was refused:\n{e}"))
}

fn run(ebpf: &Ebpf, program: &str, packet: &[u8]) -> u32 {
    ebpf.program(program)
        .unwrap()
        .test_run(&TestRun::packet(packet))
        .unwrap()
        .retval
}

/// Ethernet + IPv4 (with `options` words of IP options) + UDP to `port`,
/// then `payload`. The IPv4 checksum is correct.
fn udp(options: usize, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0xff; 12];
    p.extend_from_slice(&[0x08, 0x00]);
    let ihl = 5 + options;
    let total = (ihl * 4 + 8 + payload.len()) as u16;
    let mut ip = vec![0x40 | ihl as u8, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    ip.extend(std::iter::repeat_n(1u8, options * 4));
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !((folded & 0xffff) + (folded >> 16)) as u16;
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&[0x30, 0x39]);
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn every_program_loads_and_behaves() {
    let mut xlated = vec![];
    let check = |name: &str, cases: &[(Vec<u8>, u32)]| {
        let ebpf = load(name);
        for (i, (packet, expected)) in cases.iter().enumerate() {
            assert_eq!(run(&ebpf, name, packet), *expected, "{name}, case {i}");
        }
        let insns = ebpf.program(name).unwrap().info().unwrap().xlated_insns;
        (name.to_owned(), insns)
    };

    let mut corrupt = udp(0, 80, b"x");
    corrupt[24] ^= 0xff;
    xlated.push(check(
        "checksum",
        &[
            (udp(0, 80, b"x"), PASS),
            (udp(2, 80, b"x"), PASS),
            (corrupt, DROP),
        ],
    ));
    xlated.push(check(
        "ihl_options",
        &[
            (udp(0, 53, b""), DROP),
            (udp(3, 53, b""), DROP),
            (udp(3, 80, b""), PASS),
            (udp(0, 53, b"")[..30].to_vec(), PASS),
        ],
    ));
    let mut vlan = udp(0, 9, b"Xy");
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    xlated.push(check(
        "nested_headers",
        &[
            (udp(0, 9, b"Xy"), DROP),
            (udp(1, 9, b"Xy"), DROP),
            (vlan, DROP),
            (udp(0, 9, b"ok"), PASS),
        ],
    ));
    xlated.push(check(
        "scan_payload",
        &[
            (udp(0, 9, b"key:value"), DROP),
            (udp(0, 9, b"no colon"), PASS),
            (udp(0, 9, &[b'a'; 80]), PASS),
        ],
    ));
    xlated.push(check(
        "many_branches",
        &[
            (udp(0, 22, b""), DROP),
            (udp(0, 443, b""), PASS),
            (udp(0, 137, b""), DROP),
            (udp(0, 1500, b""), ABORTED),
            (udp(0, 9999, b""), PASS),
        ],
    ));
    let mut short = udp(0, 9, b"payload");
    short.truncate(40);
    xlated.push(check(
        "length_bounds",
        &[(udp(0, 9, b"payload"), PASS), (short, DROP)],
    ));
    let mut dense = udp(0, 9, b"");
    dense[14..18].copy_from_slice(&[0xff, 0xff, 0xff, 0x0f]);
    xlated.push(check("popcount", &[(udp(0, 9, b""), PASS), (dense, DROP)]));

    let swapped = {
        let ebpf = load("mac_swap");
        let mut packet = udp(0, 9, b"");
        packet[..6].copy_from_slice(&[1, 1, 1, 1, 1, 1]);
        packet[6..12].copy_from_slice(&[2, 2, 2, 2, 2, 2]);
        let out = ebpf
            .program("mac_swap")
            .unwrap()
            .test_run(&TestRun::packet(&packet))
            .unwrap();
        assert_eq!(out.retval, TX);
        xlated.push((
            "mac_swap".to_owned(),
            ebpf.program("mac_swap")
                .unwrap()
                .info()
                .unwrap()
                .xlated_insns,
        ));
        out.data
    };
    assert_eq!(&swapped[..12], &[2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);

    let ebpf = load("copy_prefix");
    for len in [20usize, 100] {
        let packet: Vec<u8> = (0..len as u8).collect();
        assert_eq!(run(&ebpf, "copy_prefix", &packet), PASS);
        let slots = ebpf.array::<[u8; 64]>("PREFIX").unwrap();
        let copied = len.min(64);
        assert_eq!(&slots.get(0).unwrap()[..copied], &packet[..copied]);
        assert_eq!(
            u64::from_le_bytes(slots.get(1).unwrap()[..8].try_into().unwrap()),
            copied as u64
        );
    }
    xlated.push((
        "copy_prefix".into(),
        ebpf.program("copy_prefix")
            .unwrap()
            .info()
            .unwrap()
            .xlated_insns,
    ));

    let ipv6 = |extension: bool, port: u16| {
        let mut p = vec![0xff; 12];
        p.extend_from_slice(&[0x86, 0xdd]);
        let next = if extension { 0 } else { 17 };
        p.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, next, 64]);
        p.extend_from_slice(&[0; 32]);
        if extension {
            p.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        }
        p.extend_from_slice(&[0x30, 0x39]);
        p.extend_from_slice(&port.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    };
    let truncated = ipv6(true, 53)[..58].to_vec();
    xlated.push(check(
        "ipv6_extensions",
        &[
            (ipv6(false, 53), DROP),
            (ipv6(true, 53), DROP),
            (ipv6(true, 80), PASS),
            (truncated, PASS),
            (udp(0, 53, b""), PASS),
        ],
    ));

    let tcp = |payload: &[u8]| {
        let mut p = udp(0, 80, b"");
        p.truncate(34);
        p[23] = 6;
        // A 32-byte TCP header: data offset 8.
        let mut header = vec![0u8; 32];
        header[12] = 8 << 4;
        p.extend_from_slice(&header);
        p.extend_from_slice(payload);
        p
    };
    xlated.push(check(
        "tcp_payload",
        &[
            (tcp(b"GET /admin/x"), DROP),
            (tcp(b"GET /index"), PASS),
            (tcp(b"GET"), PASS),
        ],
    ));

    let ebpf = load("tail_calls");
    assert_eq!(
        run(&ebpf, "tail_calls", &udp(0, 9, b"")),
        PASS,
        "empty slot falls through"
    );
    ebpf.program_array("BY_PROTOCOL")
        .unwrap()
        .set(17, ebpf.program("drop_udp").unwrap())
        .unwrap();
    assert_eq!(
        run(&ebpf, "tail_calls", &udp(0, 9, b"")),
        DROP,
        "tail call to drop_udp"
    );

    for (name, insns) in xlated {
        eprintln!("{name}: {insns} xlated instructions");
    }
}
