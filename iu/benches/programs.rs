//! The programs benchmark: loads iu's build of an example and its C peer
//! (`xtask/peers/*.bpf.c`), both through iu's loader so that the
//! measurement is the same, and runs each program with
//! `BPF_PROG_TEST_RUN` on representative packets. Run by `cargo xtask
//! bench --only programs`, once per round.
//!
//! For each object and program it prints what the kernel reports
//! (`xlated_insns`, `jited_bytes`, `verified_insns`) and, for each packet,
//! the kernel's mean duration per run: the mean of `CALLS` test runs of
//! `REPEAT` runs each (the kernel reports whole nanoseconds per call), and
//! the same mean from this thread's CPU time around each call (`cpu_ns`:
//! fractions of a nanosecond, the call's own cost spread over `REPEAT`
//! runs, and no time when the thread was not running).
//! The two objects' calls alternate (iu, C, C, iu, ...), so that changes in
//! the machine's load hit both alike. Return values and the maps' counters
//! are checked, so both objects are known to do the same work, and the
//! maps the kernel created are printed so that xtask can check that both
//! objects define the same ones.
//!
//! ```text
//! programs xdp_firewall|tc_counter|udp_firewall IU_OBJECT C_OBJECT REPEAT CALLS
//! ```
//!
//! Output keys are `<iu|c>.<program>.<what>` and `<iu|c>.map.<name>.<what>`.

use iu::{
    Ebpf,
    maps::{BPF_ANY, LpmKey},
    programs::TestRun,
};

type BoxError = Box<dyn std::error::Error>;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const TC_ACT_OK: u32 = 0;

/// The peers, in output order.
const PEERS: [&str; 2] = ["iu", "c"];

/// An Ethernet + IPv4 + UDP packet from `source`, 64 bytes (the minimum
/// Ethernet frame).
fn packet(source: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    p.extend_from_slice(&[0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&source);
    p.extend_from_slice(&[10, 0, 0, 99]);
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 30, 0, 0]);
    p.resize(64, 0);
    p
}

/// `packet(source)` with 4 bytes of IPv4 options (IHL 6), 68 bytes.
fn packet_with_options(source: [u8; 4]) -> Vec<u8> {
    let mut p = packet(source);
    p[14] = 0x46;
    // A NOP option, three times, then the end of the options.
    for (i, b) in [1u8, 1, 1, 0].into_iter().enumerate() {
        p.insert(34 + i, b);
    }
    p
}

/// An ARP request (not IPv4), 64 bytes.
fn arp() -> Vec<u8> {
    let mut p = packet([10, 1, 2, 3]);
    p[12..14].copy_from_slice(&[0x08, 0x06]);
    p
}

struct Case {
    /// The name in the output: `<peer>.<program>.<case>.ns`.
    name: &'static str,
    packet: Vec<u8>,
    retval: u32,
}

/// Runs `program` of both objects on each case: a warm-up, then `calls`
/// test runs of `repeat` each, alternating between the objects, and prints
/// the program's sizes and each case's mean ns per run.
fn measure(
    objects: &[Ebpf; 2],
    program: &str,
    cases: &[Case],
    repeat: u32,
    calls: u32,
    out: &mut Vec<String>,
) -> Result<(), BoxError> {
    let mut progs = vec![];
    for (peer, ebpf) in PEERS.iter().zip(objects) {
        let prog = ebpf.program(program)?;
        let info = prog.info()?;
        out.push(format!(
            "{peer}.{program}.xlated_insns={}",
            info.xlated_insns
        ));
        out.push(format!("{peer}.{program}.jited_bytes={}", info.jited_bytes));
        out.push(format!(
            "{peer}.{program}.verified_insns={}",
            info.verified_insns
        ));
        progs.push((peer, prog));
    }
    for case in cases {
        let run = |peer: &str, prog: &iu::programs::Program, n: u32| -> Result<u32, BoxError> {
            let result = prog.test_run(&TestRun::packet(&case.packet).repeat(n))?;
            if result.retval != case.retval {
                return Err(format!(
                    "{peer}'s {program} on the {} packet returned {}, expected {}",
                    case.name, result.retval, case.retval
                )
                .into());
            }
            Ok(result.duration_ns)
        };
        let (mut totals, mut cpu_totals) = ([0.0; 2], [0.0; 2]);
        for (peer, prog) in &progs {
            run(peer, prog, repeat / 100)?;
        }
        for call in 0..calls {
            // iu, C, then C, iu: each peer goes first half of the time.
            let order: [usize; 2] = if call % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let (peer, prog) = progs[i];
                let start = thread_cpu_ns();
                totals[i] += f64::from(run(peer, prog, repeat)?);
                cpu_totals[i] += (thread_cpu_ns() - start) / f64::from(repeat);
            }
        }
        for ((peer, total), cpu_total) in PEERS.iter().zip(totals).zip(cpu_totals) {
            let per_call = |total: f64| total / f64::from(calls);
            out.push(format!(
                "{peer}.{program}.{}.ns={:.3}",
                case.name,
                per_call(total)
            ));
            out.push(format!(
                "{peer}.{program}.{}.cpu_ns={:.3}",
                case.name,
                per_call(cpu_total)
            ));
        }
    }
    Ok(())
}

/// This thread's CPU time in nanoseconds.
fn thread_cpu_ns() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(0.0, |t| t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64)
}

/// Runs of each case: the warm-up and the measured calls.
fn runs(repeat: u32, calls: u32) -> u64 {
    u64::from(repeat / 100) + u64::from(repeat) * u64::from(calls)
}

fn xdp_firewall(
    objects: &[Ebpf; 2],
    repeat: u32,
    calls: u32,
    out: &mut Vec<String>,
) -> Result<(), BoxError> {
    for ebpf in objects {
        ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")?.insert(
            &LpmKey::new(8, [10, 0, 0, 0]),
            &1,
            BPF_ANY,
        )?;
    }
    let cases = [
        Case {
            name: "blocked",
            packet: packet([10, 1, 2, 3]),
            retval: XDP_DROP,
        },
        Case {
            name: "passed",
            packet: packet([192, 168, 1, 1]),
            retval: XDP_PASS,
        },
        Case {
            name: "not_ipv4",
            packet: arp(),
            retval: XDP_PASS,
        },
    ];
    measure(objects, "xdp_firewall", &cases, repeat, calls, out)?;
    let expected = runs(repeat, calls);
    for (peer, ebpf) in PEERS.iter().zip(objects) {
        // COUNTS: key = source address, then the action (0 passed, 1
        // dropped).
        let counts = ebpf.hash_map::<[u8; 8], u64>("COUNTS")?;
        let count = |addr: [u8; 4], action: u32| -> Result<u64, BoxError> {
            let mut key = [0; 8];
            key[..4].copy_from_slice(&addr);
            key[4..].copy_from_slice(&action.to_ne_bytes());
            Ok(counts.get(&key)?.unwrap_or(0))
        };
        let got = [count([10, 1, 2, 3], 1)?, count([192, 168, 1, 1], 0)?];
        if got != [expected, expected] || counts.entries()?.len() != 2 {
            return Err(
                format!("{peer}: COUNTS holds {got:?}, expected {expected} runs each").into(),
            );
        }
    }
    Ok(())
}

/// Issue #18's firewall: Ethernet, IPv4 with options, UDP; an LPM
/// blocklist and `{packets, bytes}` per source, counted with atomic adds.
fn udp_firewall(
    objects: &[Ebpf; 2],
    repeat: u32,
    calls: u32,
    out: &mut Vec<String>,
) -> Result<(), BoxError> {
    for ebpf in objects {
        ebpf.lpm_trie::<[u8; 4], u32>("BLOCKED")?.insert(
            &LpmKey::new(8, [10, 0, 0, 0]),
            &1,
            BPF_ANY,
        )?;
    }
    let cases = [
        Case {
            name: "blocked",
            packet: packet([10, 1, 2, 3]),
            retval: XDP_DROP,
        },
        Case {
            name: "counted",
            packet: packet([192, 168, 1, 1]),
            retval: XDP_PASS,
        },
        Case {
            name: "options",
            packet: packet_with_options([192, 168, 1, 2]),
            retval: XDP_PASS,
        },
        Case {
            name: "not_ipv4",
            packet: arp(),
            retval: XDP_PASS,
        },
    ];
    measure(objects, "udp_firewall", &cases, repeat, calls, out)?;
    let n = runs(repeat, calls);
    // The UDP length field of `packet`.
    let udp_len = 30;
    for (peer, ebpf) in PEERS.iter().zip(objects) {
        // SOURCES: source address -> {packets, bytes}.
        let sources = ebpf.hash_map::<[u8; 4], [u64; 2]>("SOURCES")?;
        let got = [
            sources.get(&[192, 168, 1, 1])?,
            sources.get(&[192, 168, 1, 2])?,
        ];
        let want = Some([n, n * udp_len]);
        if got != [want, want] || sources.entries()?.len() != 2 {
            return Err(format!(
                "{peer}: SOURCES holds {got:?}, expected {want:?} for each of two sources"
            )
            .into());
        }
    }
    Ok(())
}

fn tc_counter(
    objects: &[Ebpf; 2],
    repeat: u32,
    calls: u32,
    out: &mut Vec<String>,
) -> Result<(), BoxError> {
    let case = |name| Case {
        name,
        packet: packet([192, 168, 1, 1]),
        retval: TC_ACT_OK,
    };
    measure(objects, "ingress", &[case("ipv4")], repeat, calls, out)?;
    measure(objects, "egress", &[case("ipv4")], repeat, calls, out)?;
    let n = runs(repeat, calls);
    let len = packet([0; 4]).len() as u64;
    for (peer, ebpf) in PEERS.iter().zip(objects) {
        // COUNTERS: bytes and packets of each direction.
        let counters = ebpf.array::<u64>("COUNTERS")?;
        let got: Vec<u64> = (0..4).map(|i| counters.get(i)).collect::<Result<_, _>>()?;
        if got != [n * len, n, n * len, n] {
            return Err(
                format!("{peer}: COUNTERS holds {got:?} after {n} runs of each program").into(),
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [which, iu_object, c_object, repeat, calls] = args.as_slice() else {
        return Err(
            "usage: programs xdp_firewall|tc_counter|udp_firewall IU_OBJECT C_OBJECT REPEAT CALLS"
                .into(),
        );
    };
    let (repeat, calls): (u32, u32) = (repeat.parse()?, calls.parse()?);
    if repeat < 100 || calls == 0 {
        return Err("REPEAT must be at least 100 and CALLS at least 1".into());
    }
    let objects = [Ebpf::load_file(iu_object)?, Ebpf::load_file(c_object)?];
    let mut out = vec![];
    // The maps as the kernel created them.
    for (peer, ebpf) in PEERS.iter().zip(&objects) {
        for map in ebpf.maps() {
            let name = map.name();
            out.push(format!("{peer}.map.{name}.type={}", map.map_type()));
            out.push(format!("{peer}.map.{name}.key_size={}", map.key_size()));
            out.push(format!("{peer}.map.{name}.value_size={}", map.value_size()));
            out.push(format!(
                "{peer}.map.{name}.max_entries={}",
                map.max_entries()
            ));
        }
    }
    match which.as_str() {
        "xdp_firewall" => xdp_firewall(&objects, repeat, calls, &mut out)?,
        "tc_counter" => tc_counter(&objects, repeat, calls, &mut out)?,
        "udp_firewall" => udp_firewall(&objects, repeat, calls, &mut out)?,
        _ => return Err(format!("unknown program set `{which}`").into()),
    }
    println!("{}", out.join(" "));
    Ok(())
}
