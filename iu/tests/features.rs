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
