//! The verifier-gap corpus (`tests/verifier-gap`): small programs written
//! the natural way, each covering a pattern that stock verifiers have
//! refused in Rust BPF programs. Every one must load, and behave, on the
//! running kernel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use iu::{Ebpf, Error, LoopBudget, programs::TestRun};

const DROP: u32 = 1;
const PASS: u32 = 2;
const ABORTED: u32 = 0;
const TX: u32 = 3;

fn load(name: &str) -> Ebpf {
    Ebpf::load_file(iu::object_dir().join(name))
        .unwrap_or_else(|e| panic!("{name} was refused:\n{e}"))
}

/// Corpus programs that Linux 6.1's verifier refuses although iu's code is
/// sound: (program, what the verifier says or its errno, the missing
/// verifier feature).
/// Each must still be refused that way there, so a fix shows up here.
const KNOWN_6_1_GAPS: &[Gap] = &[
    (
        "payload_copy",
        "invalid unbounded variable-offset read from stack",
        "verification of bpf_loop callbacks for every caller state (6.1 checks one, with an impossible branch)",
    ),
    (
        "redact",
        "invalid write to stack",
        "bounds of iu's memset loop checked in the caller's frame (6.1 loses the length's bound)",
    ),
    (
        "token_match",
        "EFAULT",
        "precision tracking across iu's memcmp subprogram (6.1 fails with an internal EFAULT)",
    ),
    // Hidden until panics aborted on 6.1 (it was refused earlier for its
    // panic path): 6.1 loses the range of the scan's stack index.
    (
        "user_path",
        "invalid variable-offset read from stack",
        "bounded variable-offset stack reads from a scan index counting down from a helper's result",
    ),
];

/// The same for Linux 6.12 (6.1 and 6.18 load these).
const KNOWN_6_12_GAPS: &[Gap] = &[(
    "raw_tp_args",
    "The sequence of 8193 jumps is too complex",
    "convergence of iu's bcmp loop over a length read from a map (loads on 6.1 and 6.18)",
)];

/// A program a kernel's verifier refuses although it is sound: (program,
/// what the verifier says or its errno, the missing verifier feature).
type Gap = (&'static str, &'static str, &'static str);

/// Whether `name` is a known gap of the matrix kernel the tests run on
/// (`IU_VM_KERNEL`), per `gaps` (kernel, its list), refused as listed (the
/// verifier's words or its errno): then the skip is reported. A listed
/// program that loads, or is refused otherwise, fails the test.
fn known_gap(name: &str, result: &Result<Ebpf, Error>, gaps: &[(&str, &[Gap])]) -> bool {
    let kernel = std::env::var("IU_VM_KERNEL").unwrap_or_default();
    let Some((_, refusal, why)) = gaps
        .iter()
        .filter(|(k, _)| *k == kernel)
        .flat_map(|(_, list)| list.iter())
        .find(|(n, ..)| *n == name)
    else {
        return false;
    };
    match result {
        Err(Error::Verifier { log, errno, .. })
            if log.full().contains(refusal) || errno == refusal =>
        {
            iu::testing::skip_missing(name, why);
            true
        }
        Ok(_) => panic!("{name} loads on {kernel} now: remove it from its known gaps"),
        Err(e) => panic!("{name} was refused on {kernel} for another reason:\n{e}"),
    }
}

/// `result`, or `None` where the kernel lacks a feature the program needs
/// and the loader refused it for that reason (Linux 6.1 in the VM tier:
/// no `bpf_throw`, no `may_goto`).
fn loaded_where_supported(name: &str, result: Result<Ebpf, Error>) -> Option<Ebpf> {
    if known_gap(
        name,
        &result,
        &[("6.1", KNOWN_6_1_GAPS), ("6.12", KNOWN_6_12_GAPS)],
    ) {
        return None;
    }
    match result {
        Ok(ebpf) => Some(ebpf),
        Err(Error::PanicsUnsupported { .. }) if !iu::features::exceptions() => {
            iu::testing::skip_missing(name, "BPF exceptions (bpf_throw, Linux 6.7)");
            None
        }
        Err(Error::LoopBudgetUnsupported { sites, .. }) if !iu::features::loop_budget() => {
            assert!(
                sites
                    .iter()
                    .any(|s| s.file.ends_with(&format!("{name}.rs"))),
                "{name}: the loop's own line is not named: {sites:?}"
            );
            iu::testing::skip_missing(name, "loop budget (may_goto, Linux 6.9)");
            None
        }
        Err(e) => panic!("{name} was refused:\n{e}"),
    }
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
fn a_helper_result_bounds_a_string_scan() {
    let Some(ebpf) = loaded_where_supported(
        "user_path",
        iu::EbpfLoader::new()
            .set_global("TARGET_TID", &(nix::unistd::gettid().as_raw() as u32))
            .load_file(iu::object_dir().join("user_path")),
    ) else {
        return;
    };
    let link = ebpf.tracepoint("user_path").unwrap().attach().unwrap();
    let path = "/nonexistent-iu-verifier-gap/some_file.name";
    assert!(std::fs::File::open(path).is_err());
    drop(link);
    let last = ebpf.array::<[u8; 32]>("LAST").unwrap();
    assert_eq!(&last.get(0).unwrap()[..15], b"some_file.name\0");
    assert_eq!(&last.get(1).unwrap()[..2], &[14, path.len() as u8]);
    eprintln!(
        "user_path: {} xlated instructions",
        ebpf.program("user_path")
            .unwrap()
            .info()
            .unwrap()
            .xlated_insns
    );
}

#[test]
fn every_program_loads_and_behaves() {
    let mut xlated = vec![];
    let check = |name: &str, cases: &[(Vec<u8>, u32)]| {
        let Some(ebpf) = loaded_where_supported(name, Ebpf::load_file(iu::object_dir().join(name)))
        else {
            return (name.to_owned(), 0);
        };
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

    let mut zeros = udp(0, 9, &[0; 3000]);
    zeros[..14].fill(0xee);
    xlated.push(check(
        "byte_loop",
        &[
            (zeros, DROP),
            (udp(0, 9, &[7; 3000]), PASS),
            (udp(0, 9, b"short"), PASS),
        ],
    ));

    let mut late = vec![b'.'; 70];
    late[66..69].copy_from_slice(b"!!!");
    xlated.push(check(
        "payload_copy",
        &[
            (udp(0, 9, b"hey!!!"), DROP),
            (udp(0, 9, b"!a!b!"), DROP),
            (udp(0, 9, b"hi!!"), PASS),
            (udp(0, 9, b""), PASS),
            // Past the 64 bytes copied.
            (udp(0, 9, &late), PASS),
        ],
    ));

    // 64 bytes of one value: a padding flood; 64 distinct bytes: not.
    xlated.push(check(
        "large_struct",
        &[
            (vec![0u8; 80], DROP),
            ((0..80u8).collect(), PASS),
            (udp(0, 9, b"mostly ordinary traffic"), PASS),
        ],
    ));

    let mut claims_more = udp(0, 9, b"abcdef");
    claims_more.truncate(claims_more.len() - 2);
    let mut short_total = udp(0, 9, b"ab");
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    xlated.push(check(
        "bounds_mixing",
        &[
            (udp(0, 9, b"ab"), PASS),
            (udp(1, 9, &[1, 2, 0xff]), DROP),
            (claims_more, DROP),
            (short_total, DROP),
        ],
    ));

    let icmp_in_vlans = |tags: usize| {
        let mut p = udp(0, 9, b"");
        p[23] = 1;
        for _ in 0..tags {
            p.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        }
        p
    };
    xlated.push(check(
        "qinq",
        &[
            (icmp_in_vlans(0), DROP),
            (icmp_in_vlans(1), DROP),
            (icmp_in_vlans(2), DROP),
            (icmp_in_vlans(3), PASS),
            (udp(0, 9, b""), PASS),
        ],
    ));

    let dns = |name: &[u8]| {
        let mut query = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        query.extend_from_slice(name);
        query.extend_from_slice(&[0, 1, 0, 1]);
        udp(0, 53, &query)
    };
    let mut other_port = dns(b"\x07blocked\x03com\x00");
    other_port[37] = 80;
    xlated.push(check(
        "dns_qname",
        &[
            (dns(b"\x07blocked\x03com\x00"), DROP),
            (dns(b"\x07example\x03com\x00"), PASS),
            (dns(b"\x40xx\x00"), DROP),
            (dns(&b"\x01a".repeat(9)), DROP),
            (other_port, PASS),
        ],
    ));

    let ebpf = load("ipip");
    let tunnel = |outer_options: usize, inner_options: usize, port: u16| {
        let inner = udp(inner_options, port, b"");
        let mut p = inner[..12].to_vec();
        p.extend_from_slice(&[
            0x08,
            0x00,
            0x45 + outer_options as u8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            64,
            4,
        ]);
        p.extend_from_slice(&[0, 0, 10, 1, 1, 1, 10, 2, 2, 2]);
        p.extend(std::iter::repeat_n(1u8, outer_options * 4));
        p.extend_from_slice(&inner[14..]);
        p
    };
    assert_eq!(run(&ebpf, "ipip", &tunnel(0, 0, 53)), DROP);
    assert_eq!(run(&ebpf, "ipip", &tunnel(2, 3, 53)), DROP);
    assert_eq!(run(&ebpf, "ipip", &tunnel(1, 0, 80)), PASS);
    assert_eq!(run(&ebpf, "ipip", &udp(0, 53, b"")), PASS);
    xlated.push((
        "ipip".into(),
        ebpf.program("ipip").unwrap().info().unwrap().xlated_insns,
    ));

    // ARP: a request for 10.0.0.1 becomes the reply, in place.
    let arp = |target: [u8; 4]| {
        let mut p = vec![0xff; 6];
        p.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x22, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        p.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x22, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&target);
        p
    };
    let ebpf = load("arp_reply");
    let program = ebpf.program("arp_reply").unwrap();
    let out = program
        .test_run(&TestRun::packet(&arp([10, 0, 0, 1])))
        .unwrap();
    assert_eq!(out.retval, TX);
    let mut reply = vec![0x02, 0, 0, 0, 0, 0x22, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06];
    reply.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2, 0x02, 0, 0, 0, 0, 0x01, 10, 0, 0, 1]);
    reply.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x22, 10, 0, 0, 2]);
    assert_eq!(out.data, reply);
    assert_eq!(run(&ebpf, "arp_reply", &arp([10, 0, 0, 3])), PASS);
    xlated.push(("arp_reply".into(), program.info().unwrap().xlated_insns));

    // ICMP echo: the reply's checksum equals a full recomputation.
    let icmp_checksum = |bytes: &[u8]| {
        let mut sum = bytes
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum::<u32>();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    };
    let mut echo = udp(0, 9, b"");
    echo.truncate(34);
    echo[23] = 1;
    let mut message = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    message.extend_from_slice(b"ping payload");
    let checksum = icmp_checksum(&message);
    message[2..4].copy_from_slice(&checksum.to_be_bytes());
    echo.extend_from_slice(&message);
    if let Some(ebpf) = loaded_where_supported(
        "icmp_echo",
        Ebpf::load_file(iu::object_dir().join("icmp_echo")),
    ) {
        let program = ebpf.program("icmp_echo").unwrap();
        let out = program.test_run(&TestRun::packet(&echo)).unwrap();
        assert_eq!(out.retval, TX);
        assert_eq!(out.data[34], 0, "echo reply");
        assert_eq!(icmp_checksum(&out.data[34..]), 0, "the ICMP checksum holds");
        assert_eq!(&out.data[26..30], &echo[30..34]);
        assert_eq!(&out.data[30..34], &echo[26..30]);
        assert_eq!(&out.data[..6], &echo[6..12]);
        assert_eq!(run(&ebpf, "icmp_echo", &udp(0, 9, b"")), PASS);
        xlated.push(("icmp_echo".into(), program.info().unwrap().xlated_insns));
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, iu::Pod)]
    #[repr(C)]
    struct Flow {
        protocol: u16,
        port: u16,
    }
    let ebpf = load("port_counts");
    let mut tcp80 = udp(0, 80, b"");
    tcp80[23] = 6;
    let mut icmp = udp(0, 9, b"");
    icmp[23] = 1;
    let mut exotic = udp(0, 9, b"");
    exotic[23] = 200;
    for packet in [udp(0, 53, b""), udp(2, 53, b"q"), tcp80, icmp, exotic] {
        assert_eq!(run(&ebpf, "port_counts", &packet), PASS);
    }
    let flows = ebpf.hash_map::<Flow, u64>("BY_FLOW").unwrap();
    assert_eq!(
        flows
            .get(&Flow {
                protocol: 17,
                port: 53
            })
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        flows
            .get(&Flow {
                protocol: 6,
                port: 80
            })
            .unwrap(),
        Some(1)
    );
    assert_eq!(flows.len().unwrap(), 2);
    let by_protocol = ebpf.per_cpu_array::<u64>("BY_PROTOCOL").unwrap();
    let total = |slot: u32| by_protocol.get(slot).unwrap().iter().sum::<u64>();
    assert_eq!((total(17), total(6), total(1)), (2, 1, 1));
    xlated.push((
        "port_counts".into(),
        ebpf.program("port_counts")
            .unwrap()
            .info()
            .unwrap()
            .xlated_insns,
    ));

    let ebpf = load("tail_chain");
    assert_eq!(
        run(&ebpf, "tail_chain", &udp(0, 9, b"")),
        PASS,
        "no stages yet"
    );
    let stages = ebpf.program_array("STAGES").unwrap();
    stages.set(0, ebpf.program("ipv4_stage").unwrap()).unwrap();
    stages.set(1, ebpf.program("udp_stage").unwrap()).unwrap();
    assert_eq!(run(&ebpf, "tail_chain", &udp(0, 9, b"")), DROP);
    assert_eq!(run(&ebpf, "tail_chain", &udp(3, 9, b"")), DROP);
    assert_eq!(run(&ebpf, "tail_chain", &udp(0, 80, b"")), PASS);

    let syn = |source: u8, flags: u8| {
        let mut p = udp(0, 80, b"");
        p.truncate(34);
        p[23] = 6;
        p[29] = source;
        let mut header = vec![0u8; 20];
        header[12] = 5 << 4;
        header[13] = flags;
        p.extend_from_slice(&header);
        p
    };
    let ebpf = load("tcp_syn");
    for _ in 0..3 {
        assert_eq!(run(&ebpf, "tcp_syn", &syn(7, 0x02)), PASS);
    }
    assert_eq!(run(&ebpf, "tcp_syn", &syn(7, 0x02)), DROP, "fourth SYN");
    assert_eq!(run(&ebpf, "tcp_syn", &syn(7, 0x12)), PASS, "SYN+ACK");
    assert_eq!(run(&ebpf, "tcp_syn", &syn(8, 0x02)), PASS, "another source");
    xlated.push((
        "tcp_syn".into(),
        ebpf.program("tcp_syn")
            .unwrap()
            .info()
            .unwrap()
            .xlated_insns,
    ));

    const TC_OK: u32 = 0;
    const TC_SHOT: u32 = 2;
    let mut scavenger = udp(0, 9, b"");
    scavenger[15] = 8 << 2;
    xlated.push(check(
        "tc_dscp",
        &[(scavenger, TC_SHOT), (udp(0, 9, b""), TC_OK)],
    ));

    // Socket filters see the packet from the network header on.
    xlated.push(check(
        "socket_truncate",
        &[
            (udp(0, 9, &[7; 40]), 20 + 8 + 16),
            (udp(1, 9, &[7; 40]), 24 + 8 + 16),
            (udp(0, 9, b"abc"), 20 + 8 + 3),
        ],
    ));

    for (name, insns) in xlated {
        eprintln!("{name}: {insns} xlated instructions");
    }
}

/// In-place map values and the memory builtins (#19 items 4 and 5): each
/// program is written the natural way, and its map shows it did its job.
#[test]
fn map_values_and_memory_builtins_load_and_behave() {
    let xlated = |ebpf: &Ebpf, name: &str| {
        let insns = ebpf.program(name).unwrap().info().unwrap().xlated_insns;
        eprintln!("{name}: {insns} xlated instructions");
    };
    // copy_from_slice of a run-time length, from a run-time offset.
    let ebpf = load("record_tail");
    xlated(&ebpf, "record_tail");
    for skip in [0u8, 1, 10, 63, 64, 200] {
        let mut record: Vec<u8> = (0..64u8).map(|b| b ^ 0x5a).collect();
        record[0] = skip;
        assert_eq!(run(&ebpf, "record_tail", &record), PASS);
        let tail = &record[usize::from(skip).min(64)..];
        let out = ebpf.array::<[u8; 64]>("TAIL").unwrap().get(0).unwrap();
        assert_eq!(&out[..tail.len()], tail, "skip {skip}");
        assert!(out[tail.len()..].iter().all(|&b| b == 0), "skip {skip}");
        let len = ebpf.array::<u64>("TAIL_LEN").unwrap().get(0).unwrap();
        assert_eq!(len, tail.len() as u64);
    }

    // fill of a run-time length.
    if let Some(ebpf) =
        loaded_where_supported("redact", Ebpf::load_file(iu::object_dir().join("redact")))
    {
        xlated(&ebpf, "redact");
        for secret in [0u8, 1, 7, 8, 9, 47, 48, 255] {
            let mut packet = vec![secret];
            packet.extend((0..48u8).map(|b| b + 1));
            assert_eq!(run(&ebpf, "redact", &packet), PASS);
            let kept = ebpf.array::<[u8; 48]>("KEPT").unwrap().get(0).unwrap();
            let n = usize::from(secret).min(48);
            assert!(kept[..n].iter().all(|&b| b == b'*'), "secret {secret}");
            assert_eq!(&kept[n..], &packet[1 + n..49], "secret {secret}");
        }
    }

    // == and != on slices of a run-time length.
    #[derive(Clone, Copy, iu::Pod)]
    #[repr(C)]
    struct Token {
        len: u32,
        bytes: [u8; 32],
    }
    if let Some(ebpf) = loaded_where_supported(
        "token_match",
        Ebpf::load_file(iu::object_dir().join("token_match")),
    ) {
        xlated(&ebpf, "token_match");
        let mut bytes = [0u8; 32];
        bytes[..11].copy_from_slice(b"forbidden-1");
        ebpf.array::<Token>("BLOCKED")
            .unwrap()
            .set(0, &Token { len: 11, bytes })
            .unwrap();
        let payload = |head: &[u8]| {
            let mut p = head.to_vec();
            p.resize(40, b'.');
            p
        };
        assert_eq!(
            run(&ebpf, "token_match", &payload(b"forbidden-1 rest")),
            DROP
        );
        assert_eq!(
            run(&ebpf, "token_match", &payload(b"forbidden-2 rest")),
            PASS
        );
        assert_eq!(
            run(&ebpf, "token_match", &payload(b"Forbidden-1 rest")),
            PASS
        );
        assert_eq!(run(&ebpf, "token_match", &payload(b"forbidden-1")), DROP);
        let verdicts = ebpf.array::<u64>("VERDICTS").unwrap();
        assert_eq!((verdicts.get(0).unwrap(), verdicts.get(1).unwrap()), (2, 2));
    }

    // A 512-byte histogram in one Array value, updated in place.
    let ebpf = load("size_histogram");
    xlated(&ebpf, "size_histogram");
    let lens = [14usize, 60, 60, 100, 1000, 1500, 4000];
    for len in lens {
        assert_eq!(run(&ebpf, "size_histogram", &vec![0u8; len]), PASS);
    }
    let sizes = ebpf.array::<[u64; 64]>("SIZES").unwrap().get(0).unwrap();
    let mut expected = [0u64; 64];
    for len in lens {
        expected[(len / 32).min(63)] += 1;
    }
    assert_eq!(sizes, expected);

    // A large struct in a per-CPU array, borrowed in place.
    #[derive(Clone, Copy, iu::Pod)]
    #[repr(C)]
    struct Flow {
        packets: u64,
        bytes: u64,
        sizes: [u64; 64],
        last: [u8; 64],
    }
    let ebpf = load("flow_cells");
    xlated(&ebpf, "flow_cells");
    let packets: Vec<Vec<u8>> = [(1u8, 64usize), (1, 200), (2, 1000), (5, 90)]
        .iter()
        .map(|&(queue, len)| {
            let mut p: Vec<u8> = (0..len).map(|i| i as u8).collect();
            p[0] = queue;
            p
        })
        .collect();
    for p in &packets {
        assert_eq!(run(&ebpf, "flow_cells", p), PASS);
    }
    let flows = ebpf
        .per_cpu_array::<iu::maps::PerCpuCell<Flow>>("FLOWS")
        .unwrap();
    for queue in 0..4u32 {
        let mine: Vec<&Vec<u8>> = packets
            .iter()
            .filter(|p| u32::from(p[0] % 4) == queue)
            .collect();
        let cpus: Vec<Flow> = flows
            .get(queue)
            .unwrap()
            .iter()
            .map(|c| c.value())
            .collect();
        assert_eq!(
            cpus.iter().map(|f| f.packets).sum::<u64>(),
            mine.len() as u64,
            "queue {queue}"
        );
        let bytes: u64 = mine.iter().map(|p| p.len() as u64).sum();
        assert_eq!(
            cpus.iter().map(|f| f.bytes).sum::<u64>(),
            bytes,
            "queue {queue}"
        );
        for p in &mine {
            let bucket = (p.len() / 32).min(63);
            assert!(cpus.iter().any(|f| f.sizes[bucket] > 0), "queue {queue}");
        }
        if let Some(last) = mine.last() {
            assert!(
                cpus.iter().any(|f| f.last[..] == last[..64]),
                "queue {queue}"
            );
        }
    }

    // Spin-locked statistics in an Array slot.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, iu::Pod)]
    #[repr(C)]
    struct Stats {
        packets: u64,
        bytes: u64,
        smallest: u64,
        largest: u64,
    }
    let ebpf = load("locked_stats");
    xlated(&ebpf, "locked_stats");
    for len in [300usize, 60, 1500, 90] {
        assert_eq!(run(&ebpf, "locked_stats", &vec![0u8; len]), PASS);
    }
    let stats = ebpf
        .array::<iu::maps::SpinLocked<Stats>>("STATS")
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(
        stats.value(),
        Stats {
            packets: 4,
            bytes: 1950,
            smallest: 60,
            largest: 1500
        }
    );
}

/// Whether this kernel has a runtime loop budget of `kind` for the loader
/// to add.
fn has_budget(kind: LoopBudget) -> bool {
    let iterators = iu::features::kernel_function_exists("bpf_iter_num_new");
    match kind {
        LoopBudget::MayGoto => iu::features::loop_budget(),
        LoopBudget::Iterator => iterators,
        _ => iu::features::loop_budget() || iterators,
    }
}

/// The budgets the loop tests load with: the default, and iterators alone
/// (what a 6.4-6.8 kernel, which has no `may_goto`, gets).
const BUDGETS: [LoopBudget; 2] = [LoopBudget::Any, LoopBudget::Iterator];

/// Loads a corpus program whose plain loops need a runtime budget that iu
/// adds itself (`may_goto`, Linux 6.9+, or numeric iterators, 6.4+), of
/// `kind`. Where the kernel has it, the program must load with budgets;
/// elsewhere it must be refused with the hint that names Linux 6.4 and
/// `iu_ebpf::loops`.
fn load_budgeted(name: &str, kind: LoopBudget) -> Option<Ebpf> {
    let result = iu::EbpfLoader::new()
        .loop_budget(kind)
        .load_file(iu::object_dir().join(name));
    if has_budget(kind) {
        let ebpf = result.unwrap_or_else(|e| panic!("{name} ({kind:?}) was refused:\n{e}"));
        assert!(ebpf.loop_budgeted(name).unwrap(), "{name}: no budget added");
        assert_eq!(ebpf.loop_budget_exhausted(name).unwrap(), 0);
        return Some(ebpf);
    }
    match result {
        // Without a budget the verifier gives up on these loops in its
        // own ways (6.1: "too complex", a packet offset grown out of range
        // after many iterations, "back-edge"); where it says it gave up on
        // the loop, the hint names Linux 6.4 and `iu_ebpf::loops`.
        Err(Error::Verifier { log, errno, .. }) => {
            assert!(
                log.program_line()
                    .is_some_and(|l| l.file.ends_with(&format!("{name}.rs"))),
                "{name} ({errno}): the refusal names no line of the program:\n{log}"
            );
            if let Some(hint) = log.hint() {
                assert!(
                    hint.contains("Linux 6.4") && hint.contains("iu_ebpf::loops"),
                    "{name}: {hint:?}"
                );
            }
            iu::testing::skip_missing(
                name,
                "runtime loop budget (numeric iterators, Linux 6.4; may_goto, 6.9)",
            );
            None
        }
        Ok(_) => panic!("{name} loads without a loop budget now: test it as a plain program"),
        Err(e) => panic!("{name} was refused for another reason:\n{e}"),
    }
}

/// A DNS query for `labels` (each a length byte and its bytes) to port 53.
fn dns_query(labels: &[&[u8]]) -> Vec<u8> {
    let mut payload = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in labels {
        payload.push(label.len() as u8);
        payload.extend_from_slice(label);
    }
    payload.extend_from_slice(&[0, 0, 1, 0, 1]);
    udp(0, 53, &payload)
}

#[test]
fn plain_loops_load_with_a_runtime_budget_and_behave() {
    for kind in BUDGETS {
        plain_loops_behave(kind);
    }
}

fn plain_loops_behave(kind: LoopBudget) {
    if let Some(ebpf) = load_budgeted("dns_labels", kind) {
        let long = [&b"abcdefghijklmnopqrstuvwxyz"[..]; 3];
        let mut malformed = dns_query(&[b"www", b"example", b"com"]);
        malformed[54] = 64;
        let mut truncated = dns_query(&[b"www", b"example", b"com"]);
        truncated.truncate(60);
        for (i, (packet, expected)) in [
            (dns_query(&[b"www", b"example", b"com"]), PASS),
            (dns_query(&[]), PASS),
            (dns_query(&long), DROP),
            (malformed, DROP),
            (truncated, DROP),
            (udp(0, 80, b"not dns"), PASS),
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                run(&ebpf, "dns_labels", packet),
                *expected,
                "dns_labels, case {i}"
            );
        }
        assert_eq!(ebpf.loop_budget_exhausted("dns_labels").unwrap(), 0);
    }
    if let Some(ebpf) = load_budgeted("csum_fold", kind) {
        // Carries to fold: a header whose words sum past 0x1ffff.
        let mut heavy = udp(0, 80, b"x");
        heavy[26..34].copy_from_slice(&[0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfd]);
        heavy[24..26].fill(0);
        let sum: u32 = heavy[14..34]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        assert!(sum > 0x1ffff);
        let folded = (sum & 0xffff) + (sum >> 16);
        let folded = (folded & 0xffff) + (folded >> 16);
        heavy[24..26].copy_from_slice(&(!(folded as u16)).to_be_bytes());
        let mut corrupt = udp(0, 80, b"x");
        corrupt[24] ^= 0x5a;
        for (i, (packet, expected)) in [(udp(0, 80, b"x"), PASS), (heavy, PASS), (corrupt, DROP)]
            .iter()
            .enumerate()
        {
            assert_eq!(
                run(&ebpf, "csum_fold", packet),
                *expected,
                "csum_fold, case {i}"
            );
        }
        assert_eq!(ebpf.loop_budget_exhausted("csum_fold").unwrap(), 0);
    }
}

#[test]
fn an_exhausted_loop_budget_leaves_the_loop_and_is_counted_per_run() {
    for kind in BUDGETS {
        exhausted_budget_is_counted(kind);
    }
}

fn exhausted_budget_is_counted(kind: LoopBudget) {
    let Some(ebpf) = load_budgeted("collatz", kind) else {
        return;
    };
    let word = |x: u32| {
        let mut p = udp(0, 9, b"");
        p[14..18].copy_from_slice(&x.to_be_bytes());
        p
    };
    let program = ebpf.program("collatz").unwrap();
    // 27 reaches 1 in 111 steps: no budget is spent to the end.
    assert_eq!(run(&ebpf, "collatz", &word(27)), PASS);
    assert_eq!(ebpf.loop_budget_exhausted("collatz").unwrap(), 0);
    // 0 never reaches 1: the budget ends the loop, the program goes on
    // after it and returns normally, and each run counts once.
    let runs = 3;
    let start = std::time::Instant::now();
    let out = program
        .test_run(&TestRun::packet(&word(0)).repeat(runs))
        .unwrap();
    eprintln!(
        "collatz(0), {kind:?}: {runs} runs until the budget ran out, {:?} in all, {} ns per run (kernel)",
        start.elapsed(),
        out.duration_ns
    );
    assert_eq!(out.retval, PASS);
    assert_eq!(
        ebpf.loop_budget_exhausted("collatz").unwrap(),
        u64::from(runs)
    );
    assert_eq!(run(&ebpf, "collatz", &word(7)), PASS);
    assert_eq!(
        ebpf.loop_budget_exhausted("collatz").unwrap(),
        u64::from(runs)
    );
    assert_eq!(ebpf.aborts("collatz").unwrap(), 0);
}

/// Loops whose counters the verifier tracks exactly (1, 2, 3, ...), so
/// a budget alone never lets its walk settle: `popcount_while` and
/// `ipv6_ext_chain` count iterations and compare the count after the loop,
/// and `tcp_options` grows its offset by a different step on each path.
/// They load once the loader also makes the verifier forget those counters
/// where the loop is entered (docs/safety.md, "Plain loops").
#[test]
fn loops_with_exact_counters_load_and_behave() {
    for kind in BUDGETS {
        exact_counters_behave(kind);
    }
}

fn exact_counters_behave(kind: LoopBudget) {
    let word = |x: u32| {
        let mut p = udp(0, 9, b"");
        p[14..18].copy_from_slice(&x.to_be_bytes());
        p
    };
    if let Some(ebpf) = load_budgeted("popcount_while", kind) {
        for (x, expected) in [(0, PASS), (0xffff, PASS), (0x1ffff, DROP), (u32::MAX, DROP)] {
            assert_eq!(run(&ebpf, "popcount_while", &word(x)), expected, "{x:#x}");
        }
        assert_eq!(ebpf.loop_budget_exhausted("popcount_while").unwrap(), 0);
    }
    if let Some(ebpf) = load_budgeted("ipv6_ext_chain", kind) {
        // Ethernet, IPv6 with first next header `next`, then `headers`.
        let ipv6 = |next: u8, headers: &[u8]| {
            let mut p = vec![0xff; 12];
            p.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            p.extend_from_slice(&(headers.len() as u16).to_be_bytes());
            p.extend_from_slice(&[next, 64]);
            p.extend_from_slice(&[0; 32]);
            p.extend_from_slice(headers);
            p
        };
        // Hop-by-hop (8 bytes), routing (16 bytes), fragment (8 bytes).
        let hop = [43, 0, 0, 0, 0, 0, 0, 0];
        let routing = [44, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let fragment = [58, 0, 0, 0, 0, 0, 0, 0];
        let chain: Vec<u8> = [&hop[..], &routing, &fragment, &[128, 0, 0, 0]].concat();
        let to_udp: Vec<u8> = [&[17, 0, 0, 0, 0, 0, 0, 0][..], &[0; 8]].concat();
        for (i, (packet, expected)) in [
            (ipv6(0, &chain), DROP),
            (ipv6(58, &[128, 0, 0, 0]), PASS),
            (ipv6(0, &to_udp), PASS),
            // The chain runs past the packet's end.
            (ipv6(0, &chain[..20]), DROP),
            (udp(0, 9, b"v4"), PASS),
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                run(&ebpf, "ipv6_ext_chain", packet),
                *expected,
                "ipv6_ext_chain, case {i}"
            );
        }
        assert_eq!(ebpf.loop_budget_exhausted("ipv6_ext_chain").unwrap(), 0);
    }
    if let Some(ebpf) = load_budgeted("tcp_options", kind) {
        // Ethernet, IPv4 without options, TCP SYN with `options`.
        let syn = |options: &[u8]| {
            let mut p = udp(0, 80, b"");
            p.truncate(34);
            p[23] = 6;
            let mut tcp = vec![0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0];
            tcp.push((((20 + options.len()) / 4) << 4) as u8);
            tcp.extend_from_slice(&[0x02, 0xff, 0xff, 0, 0, 0, 0]);
            tcp.extend_from_slice(options);
            p.extend_from_slice(&tcp);
            p
        };
        let mss = |value: u16| [2, 4, (value >> 8) as u8, value as u8];
        let padded = |head: &[u8], tail: &[u8]| [head, tail].concat();
        for (i, (packet, expected)) in [
            (syn(&mss(1460)), PASS),
            (syn(&mss(100)), DROP),
            // NOPs, window scale, SACK permitted, then a small MSS.
            (syn(&padded(&[1, 1, 3, 3, 7, 4, 2, 1], &mss(500))), DROP),
            (syn(&padded(&[1, 1, 3, 3, 7, 4, 2, 1], &mss(1400))), PASS),
            // End of options before the MSS.
            (syn(&padded(&[0, 0, 0, 0], &mss(100))), PASS),
            // A length below 2 is malformed.
            (syn(&[8, 1, 0, 0]), DROP),
            (udp(0, 80, b"not tcp"), PASS),
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                run(&ebpf, "tcp_options", packet),
                *expected,
                "tcp_options, case {i}"
            );
        }
        assert_eq!(ebpf.loop_budget_exhausted("tcp_options").unwrap(), 0);
    }
}

/// The cost of a budget the loader added (`may_goto`, and an iterator),
/// against the same fold through `loops::while_budgeted` (`checksum`) and
/// in C with `can_loop` (`csum_fold_c`, clang-22): all give the same
/// verdict on a header whose fold runs twice, without spending the budget,
/// and the xlated size and ns/run are printed (`cargo test -p iu --test
/// verifier_gap loop_budget_cost -- --nocapture`; docs/benchmarks.md).
/// `IU_LOOP_COST_REPEAT` sets the runs per call (default 10,000; the
/// figures in docs/benchmarks.md used 1,000,000).
#[test]
fn loop_budget_cost() {
    if !iu::features::loop_budget() {
        iu::testing::skip_missing("loop budget cost", "loop budget (may_goto, Linux 6.9)");
        return;
    }
    let repeat: u32 = std::env::var("IU_LOOP_COST_REPEAT").map_or(10_000, |s| s.parse().unwrap());
    let mut heavy = udp(0, 80, b"x");
    heavy[26..34].copy_from_slice(&[0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xfd]);
    let mut verdicts = vec![];
    for (name, kind, budgeted) in [
        ("csum_fold", LoopBudget::MayGoto, true),
        ("csum_fold", LoopBudget::Iterator, true),
        ("checksum", LoopBudget::Any, false),
        ("csum_fold_c", LoopBudget::Any, false),
    ] {
        let ebpf = iu::EbpfLoader::new()
            .loop_budget(kind)
            .load_file(iu::object_dir().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ebpf.loop_budgeted(name).unwrap(), budgeted, "{name}");
        let program = ebpf.program(name).unwrap();
        let mut best = u32::MAX;
        for _ in 0..5 {
            let out = program
                .test_run(&TestRun::packet(&heavy).repeat(repeat))
                .unwrap();
            verdicts.push(out.retval);
            best = best.min(out.duration_ns);
        }
        if budgeted {
            assert_eq!(ebpf.loop_budget_exhausted(name).unwrap(), 0, "{name}");
        }
        let info = program.info().unwrap();
        eprintln!(
            "{name}: budgeted by loader {budgeted} ({kind:?}), {} xlated insns, {} jited bytes, {best} ns/run (best of 5 x {repeat})",
            info.xlated_insns, info.jited_bytes
        );
    }
    assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{verdicts:?}");
}

/// `raw_tp_args`: a slice compare of a run-time length in a raw tracepoint.
/// Comparing more than the two arguments it keeps panics: the run returns
/// 0 and counts an abort, on every kernel.
#[test]
fn raw_tp_args_counts_matching_calls_and_aborts_past_its_arguments() {
    let Some(ebpf) = loaded_where_supported(
        "raw_tp_args",
        Ebpf::load_file(iu::object_dir().join("raw_tp_args")),
    ) else {
        return;
    };
    let config = ebpf.array::<u64>("CONFIG").unwrap();
    // Not a syscall number: nothing else matches while the test runs.
    config.set(0, &0xdead).unwrap();
    ebpf.array::<[u64; 2]>("PATTERN")
        .unwrap()
        .set(0, &[0xdead, 7])
        .unwrap();
    let program = ebpf.program("raw_tp_args").unwrap();
    let run = |regs: u64| {
        let args: Vec<u8> = [regs, 0xdead]
            .iter()
            .flat_map(|a| a.to_ne_bytes())
            .collect();
        program
            .test_run(&TestRun::default().context(&args))
            .unwrap()
            .retval
    };
    config.set(1, &2).unwrap();
    assert_eq!((run(7), run(8)), (1, 0));
    config.set(1, &1).unwrap();
    assert_eq!(run(8), 1);
    assert_eq!(ebpf.aborts("raw_tp_args").unwrap(), 0);
    config.set(1, &3).unwrap();
    assert_eq!(run(7), 0, "the panic returns the tracing default");
    assert_eq!(ebpf.aborts("raw_tp_args").unwrap(), 1);
    assert_eq!(ebpf.array::<u64>("MATCHES").unwrap().get(0).unwrap(), 2);
}

/// `seek_whence`: a tracepoint indexing a `[u64; 4]` with a value from the
/// record. SEEK_HOLE (4) is past the end: that run aborts and counts.
#[test]
fn seek_whence_counts_each_whence_and_aborts_on_seek_hole() {
    let Some(ebpf) = loaded_where_supported(
        "seek_whence",
        iu::EbpfLoader::new()
            .set_global("TARGET_TID", &(nix::unistd::gettid().as_raw() as u32))
            .load_file(iu::object_dir().join("seek_whence")),
    ) else {
        return;
    };
    let link = ebpf.tracepoint("seek_whence").unwrap().attach().unwrap();
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    use nix::unistd::{Whence, lseek};
    for whence in [
        Whence::SeekSet,
        Whence::SeekEnd,
        Whence::SeekSet,
        Whence::SeekHole,
        Whence::SeekCur,
    ] {
        let _ = lseek(&file, 0, whence);
    }
    drop(link);
    let counts = ebpf.array::<[u64; 4]>("WHENCE").unwrap().get(0).unwrap();
    assert_eq!(counts, [2, 1, 1, 0]);
    assert_eq!(ebpf.aborts("seek_whence").unwrap(), 1);
}

/// The function `read_sizes` probes: `(bytes, calls)`.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn iu_gap_read_sizes(bytes: u64, calls: u64) -> u64 {
    std::hint::black_box(bytes ^ calls)
}

/// `read_sizes`: a uprobe dividing by an argument and taking `ilog2` of
/// the result. No calls (a division by zero) or a mean of 0 (`ilog2(0)`)
/// abort and count.
#[test]
fn read_sizes_histograms_means_and_aborts_on_zero() {
    let Some(ebpf) = loaded_where_supported(
        "read_sizes",
        Ebpf::load_file(iu::object_dir().join("read_sizes")),
    ) else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let link = ebpf
        .uprobe("read_sizes")
        .unwrap()
        .attach(&exe, "iu_gap_read_sizes", Some(std::process::id() as i32))
        .unwrap();
    for (bytes, calls) in [(4096, 4), (10, 0), (64, 2), (1, 2), (3 << 20, 1)] {
        iu_gap_read_sizes(bytes, calls);
    }
    drop(link);
    let sizes = ebpf.array::<u64>("SIZES").unwrap();
    let counts: Vec<u64> = (0..16).map(|i| sizes.get(i).unwrap()).collect();
    // 1024 → 10, 32 → 5, 3 MiB → 21, kept at 15.
    let mut expected = vec![0; 16];
    expected[10] = 1;
    expected[5] = 1;
    expected[15] = 1;
    assert_eq!(counts, expected);
    assert_eq!(ebpf.aborts("read_sizes").unwrap(), 2);
}
