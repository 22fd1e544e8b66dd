//! What the running kernel supports, decided once per process.
//!
//! The answers come from the kernel version (`uname`): every feature here
//! has a fixed version in mainline, and probing each one with a syscall
//! would cost more than the whole load of a small program.

use std::sync::OnceLock;

use aya_obj::{Features, btf::BtfFeatures};

fn at_least(major: u32, minor: u32) -> bool {
    crate::sys::kernel_version().is_some_and(|(a, b, _)| (a, b) >= (major, minor))
}

/// The running kernel's version as `KERNEL_VERSION(a, b, c)`, the value
/// `BPF_PROG_LOAD` compares against for kprobes on kernels before 5.0.
pub fn kernel_version_code() -> u32 {
    crate::sys::kernel_version()
        .map(|(a, b, c)| (a << 16) | (b << 8) | c.min(255))
        .unwrap_or(0)
}

/// Features aya-obj uses to sanitize BTF and instructions.
pub(crate) fn object_features() -> &'static Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    FEATURES.get_or_init(|| {
        let btf = BtfFeatures::new(
            at_least(5, 0),  // BTF_KIND_FUNC
            at_least(5, 6),  // global functions
            at_least(5, 2),  // BTF_KIND_DATASEC
            at_least(5, 13), // zero-sized DATASEC entries
            at_least(5, 13), // BTF_KIND_FLOAT
            at_least(5, 16), // BTF_KIND_DECL_TAG
            at_least(5, 17), // BTF_KIND_TYPE_TAG
            at_least(6, 0),  // BTF_KIND_ENUM64
        );
        Features::new(
            at_least(4, 15), // program and map names
            at_least(5, 5),  // bpf_probe_read_kernel
            perf_link(),
            at_least(5, 2),  // global data
            at_least(5, 15), // bpf cookies
            at_least(5, 9),  // cpumap program ids
            at_least(5, 8),  // devmap program ids
            Some(btf),
        )
    })
}

/// Whether `BPF_LINK_CREATE` takes perf events (kprobes, uprobes,
/// tracepoints): Linux 5.15.
pub fn perf_link() -> bool {
    at_least(5, 15)
}

/// Whether the kernel reports the full verifier log size
/// (`log_true_size`): Linux 6.4.
pub fn log_true_size() -> bool {
    at_least(6, 4)
}
