//! Feature probes against the running kernel.

use iu::features::{self, bpf_map_type, bpf_prog_type};

#[test]
fn probes_program_types_map_types_and_helpers() {
    let tracepoint = bpf_prog_type::BPF_PROG_TYPE_TRACEPOINT as u32;
    assert!(features::program_type(tracepoint, 0));
    assert!(features::program_type(
        bpf_prog_type::BPF_PROG_TYPE_XDP as u32,
        0
    ));
    assert!(
        !features::program_type(9999, 0),
        "a type that does not exist"
    );

    assert!(features::map_type(bpf_map_type::BPF_MAP_TYPE_HASH as u32));
    assert!(features::map_type(
        bpf_map_type::BPF_MAP_TYPE_RINGBUF as u32
    ));
    assert!(features::map_type(bpf_map_type::BPF_MAP_TYPE_QUEUE as u32));
    assert!(features::map_type(
        bpf_map_type::BPF_MAP_TYPE_LPM_TRIE as u32
    ));
    assert!(!features::map_type(9999));

    // bpf_ktime_get_ns (5) everywhere; bpf_override_return (58) is for
    // kprobes only; helper 100000 does not exist.
    assert!(features::helper(tracepoint, 5));
    assert!(!features::helper(
        bpf_prog_type::BPF_PROG_TYPE_XDP as u32,
        58
    ));
    assert!(!features::helper(tracepoint, 100_000));
}

#[test]
fn exceptions_follow_the_kernel_version() {
    // bpf_throw arrived in Linux 6.7; both test kernels (host and VM) are
    // newer, and an older one must say no.
    let code = features::kernel_version_code();
    let at_least_6_7 = (code >> 16, (code >> 8) & 0xff) >= (6, 7);
    assert_eq!(
        features::exceptions(),
        at_least_6_7,
        "kernel code {code:#x}"
    );
}

/// The features each kernel of the VM tier's matrix must report, so that
/// a test that skips for a missing feature cannot hide a broken probe: on
/// 6.1 the pre-6.6/6.7/6.9 fallbacks run, on 6.12 and the host they must
/// not be needed.
#[test]
fn each_kernel_of_the_matrix_reports_its_features() {
    let bpf_loop = features::helper(bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER as u32, 181);
    let seen = (
        features::exceptions(),
        features::tcx_link(),
        features::loop_budget(),
        features::xdp_link(),
        bpf_loop,
        features::kprobe_multi(),
    );
    let expected = match std::env::var("IU_VM_KERNEL").as_deref() {
        // (bpf_throw 6.7, TCX 6.6, may_goto 6.9, XDP links 5.9, bpf_loop
        // 5.17, kprobe.multi 5.18 with CONFIG_FPROBE: not Debian's 6.1)
        Ok("6.1") => (false, false, false, true, true, false),
        Ok("6.12") => (true, true, true, true, true, true),
        // The host (6.18) or a kernel of the user's own: the version says.
        _ => {
            let code = features::kernel_version_code();
            let at_least = |major, minor| (code >> 16, (code >> 8) & 0xff) >= (major, minor);
            (
                at_least(6, 7),
                at_least(6, 6),
                at_least(6, 9),
                at_least(5, 9),
                at_least(5, 17),
                // The host's kernel has no kprobes (no kprobe PMU), nor
                // fprobe.
                at_least(5, 18)
                    && std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists(),
            )
        }
    };
    assert_eq!(
        seen,
        expected,
        "(exceptions, tcx_link, loop_budget, xdp_link, bpf_loop, kprobe_multi) on {}",
        iu::testing::kernel_release()
    );
}

/// The map kinds and program types of issue #15, on every kernel of the
/// matrix (6.1, 6.12) and the host: each probe must say yes where the
/// kernel has the feature, so their tests cannot skip silently.
#[test]
fn issue_15_map_kinds_and_program_types_are_reported() {
    let code = features::kernel_version_code();
    let at_least = |major, minor| (code >> 16, (code >> 8) & 0xff) >= (major, minor);
    for (kind, since) in [
        (bpf_map_type::BPF_MAP_TYPE_ARRAY_OF_MAPS, (4, 12)),
        (bpf_map_type::BPF_MAP_TYPE_HASH_OF_MAPS, (4, 12)),
        (bpf_map_type::BPF_MAP_TYPE_USER_RINGBUF, (6, 1)),
        (bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE, (5, 11)),
        (bpf_map_type::BPF_MAP_TYPE_DEVMAP, (4, 14)),
        (bpf_map_type::BPF_MAP_TYPE_CPUMAP, (4, 15)),
        (bpf_map_type::BPF_MAP_TYPE_DEVMAP_HASH, (5, 4)),
        (bpf_map_type::BPF_MAP_TYPE_SOCKMAP, (4, 14)),
        (bpf_map_type::BPF_MAP_TYPE_SOCKHASH, (4, 18)),
        (bpf_map_type::BPF_MAP_TYPE_SK_STORAGE, (5, 2)),
        (bpf_map_type::BPF_MAP_TYPE_INODE_STORAGE, (5, 10)),
        (bpf_map_type::BPF_MAP_TYPE_CGRP_STORAGE, (6, 2)),
        (bpf_map_type::BPF_MAP_TYPE_XSKMAP, (4, 18)),
    ] {
        assert_eq!(
            features::map_type(kind as u32),
            at_least(since.0, since.1),
            "{kind:?} (Linux {}.{})",
            since.0,
            since.1
        );
    }
}

/// The program types of issue #15, probed with tiny loads.
#[test]
fn issue_15_program_types_are_reported() {
    use iu::features::bpf_attach_type;
    let code = features::kernel_version_code();
    let at_least = |major, minor| (code >> 16, (code >> 8) & 0xff) >= (major, minor);
    assert_eq!(features::task_iterator(), at_least(5, 8));
    assert_eq!(features::iterator("task"), at_least(5, 8));
    assert_eq!(features::iterator("bpf_map_elem"), at_least(5, 9));
    assert_eq!(features::iterator("tcp"), at_least(5, 9));
    // uprobe.multi: 6.6 (every kernel of the matrix has CONFIG_UPROBES).
    assert_eq!(features::uprobe_multi(), at_least(6, 6));
    // USDT: uprobes with BPF cookies, 5.15.
    assert_eq!(features::usdt(), at_least(5, 15));
    // netfilter links: 6.4 (the matrix's kernels have CONFIG_NETFILTER_BPF_LINK).
    assert_eq!(features::netfilter(), at_least(6, 4));
    // freplace: 5.6, and every machine of the matrix JITs.
    assert_eq!(features::freplace(), at_least(5, 6));
    // AF_XDP with the 5.4 ring layout (the matrix's kernels have
    // CONFIG_XDP_SOCKETS).
    assert_eq!(features::af_xdp(), at_least(5, 4));
    // struct_ops of tcp_congestion_ops: 5.6 (every kernel of the matrix);
    // struct_ops links: 6.4.
    assert_eq!(features::struct_ops("tcp_congestion_ops"), at_least(5, 6));
    assert!(!features::struct_ops("no_such_ops"));
    assert_eq!(features::struct_ops_link(), at_least(6, 4));
    assert!(!features::iterator("no_such_target"));
    for (kind, attach, since) in [
        (bpf_prog_type::BPF_PROG_TYPE_SOCK_OPS, 0, (4, 13)),
        (
            bpf_prog_type::BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
            bpf_attach_type::BPF_CGROUP_INET4_CONNECT as u32,
            (4, 17),
        ),
        (
            bpf_prog_type::BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
            bpf_attach_type::BPF_CGROUP_UDP4_RECVMSG as u32,
            (5, 2),
        ),
        (
            bpf_prog_type::BPF_PROG_TYPE_CGROUP_SYSCTL,
            bpf_attach_type::BPF_CGROUP_SYSCTL as u32,
            (5, 2),
        ),
        (
            bpf_prog_type::BPF_PROG_TYPE_CGROUP_DEVICE,
            bpf_attach_type::BPF_CGROUP_DEVICE as u32,
            (4, 15),
        ),
        (
            bpf_prog_type::BPF_PROG_TYPE_CGROUP_SOCKOPT,
            bpf_attach_type::BPF_CGROUP_SETSOCKOPT as u32,
            (5, 3),
        ),
        (bpf_prog_type::BPF_PROG_TYPE_SK_MSG, 0, (4, 17)),
        (
            bpf_prog_type::BPF_PROG_TYPE_FLOW_DISSECTOR,
            bpf_attach_type::BPF_FLOW_DISSECTOR as u32,
            (4, 20),
        ),
        (
            bpf_prog_type::BPF_PROG_TYPE_SK_SKB,
            bpf_attach_type::BPF_SK_SKB_STREAM_VERDICT as u32,
            (4, 14),
        ),
        (
            bpf_prog_type::BPF_PROG_TYPE_SK_LOOKUP,
            bpf_attach_type::BPF_SK_LOOKUP as u32,
            (5, 9),
        ),
    ] {
        assert_eq!(
            features::program_type(kind as u32, attach),
            at_least(since.0, since.1),
            "{kind:?} attach {attach} (Linux {}.{})",
            since.0,
            since.1
        );
    }
}
