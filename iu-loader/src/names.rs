//! bpftool's (libbpf's) spellings of program, map and attach types, so that
//! `--json` output compares field for field with `bpftool --json`.

/// libbpf's `prog_type_name`.
pub fn prog_type(t: u32) -> String {
    const NAMES: [&str; 33] = [
        "unspec",
        "socket_filter",
        "kprobe",
        "sched_cls",
        "sched_act",
        "tracepoint",
        "xdp",
        "perf_event",
        "cgroup_skb",
        "cgroup_sock",
        "lwt_in",
        "lwt_out",
        "lwt_xmit",
        "sock_ops",
        "sk_skb",
        "cgroup_device",
        "sk_msg",
        "raw_tracepoint",
        "cgroup_sock_addr",
        "lwt_seg6local",
        "lirc_mode2",
        "sk_reuseport",
        "flow_dissector",
        "cgroup_sysctl",
        "raw_tracepoint_writable",
        "cgroup_sockopt",
        "tracing",
        "struct_ops",
        "ext",
        "lsm",
        "sk_lookup",
        "syscall",
        "netfilter",
    ];
    NAMES
        .get(t as usize)
        .map_or_else(|| format!("type {t}"), |s| (*s).to_owned())
}

/// libbpf's `map_type_name`.
pub fn map_type(t: u32) -> String {
    const NAMES: [&str; 34] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
        "arena",
    ];
    NAMES
        .get(t as usize)
        .map_or_else(|| format!("type {t}"), |s| (*s).to_owned())
}

/// The number of program and map types the tables above name.
pub const PROG_TYPES: u32 = 33;
/// See [`PROG_TYPES`].
pub const MAP_TYPES: u32 = 34;

/// libbpf's `attach_type_name` (the ones up to TCX).
pub fn attach_type(t: u32) -> String {
    const NAMES: [&str; 48] = [
        "cgroup_inet_ingress",
        "cgroup_inet_egress",
        "cgroup_inet_sock_create",
        "cgroup_sock_ops",
        "sk_skb_stream_parser",
        "sk_skb_stream_verdict",
        "cgroup_device",
        "sk_msg_verdict",
        "cgroup_inet4_bind",
        "cgroup_inet6_bind",
        "cgroup_inet4_connect",
        "cgroup_inet6_connect",
        "cgroup_inet4_post_bind",
        "cgroup_inet6_post_bind",
        "cgroup_udp4_sendmsg",
        "cgroup_udp6_sendmsg",
        "lirc_mode2",
        "flow_dissector",
        "cgroup_sysctl",
        "cgroup_udp4_recvmsg",
        "cgroup_udp6_recvmsg",
        "cgroup_getsockopt",
        "cgroup_setsockopt",
        "trace_raw_tp",
        "trace_fentry",
        "trace_fexit",
        "modify_return",
        "lsm_mac",
        "trace_iter",
        "cgroup_inet4_getpeername",
        "cgroup_inet6_getpeername",
        "cgroup_inet4_getsockname",
        "cgroup_inet6_getsockname",
        "xdp_devmap",
        "cgroup_inet_sock_release",
        "xdp_cpumap",
        "sk_lookup",
        "xdp",
        "sk_skb_verdict",
        "sk_reuseport_select",
        "sk_reuseport_select_or_migrate",
        "perf_event",
        "trace_kprobe_multi",
        "lsm_cgroup",
        "struct_ops",
        "netfilter",
        "tcx_ingress",
        "tcx_egress",
    ];
    NAMES
        .get(t as usize)
        .map_or_else(|| format!("attach type {t}"), |s| (*s).to_owned())
}

/// bpftool's `cgroup attach` names of cgroup attach types, with their
/// `BPF_CGROUP_*` values.
pub const CGROUP_ATTACH_TYPES: &[(&str, u32)] = &[
    ("ingress", 0),
    ("egress", 1),
    ("sock_create", 2),
    ("sock_ops", 3),
    ("device", 6),
    ("bind4", 8),
    ("bind6", 9),
    ("connect4", 10),
    ("connect6", 11),
    ("post_bind4", 12),
    ("post_bind6", 13),
    ("sendmsg4", 14),
    ("sendmsg6", 15),
    ("sysctl", 18),
    ("recvmsg4", 19),
    ("recvmsg6", 20),
    ("getsockopt", 21),
    ("setsockopt", 22),
    ("getpeername4", 29),
    ("getpeername6", 30),
    ("getsockname4", 31),
    ("getsockname6", 32),
    ("sock_release", 34),
];

/// A date in bpftool's `loaded_at` text format (`2024-01-31T12:00:00+0000`,
/// in UTC).
pub fn timestamp(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_civil_dates() {
        assert_eq!(super::timestamp(0), "1970-01-01T00:00:00+0000");
        assert_eq!(super::timestamp(1_709_210_096), "2024-02-29T12:34:56+0000");
    }
}
