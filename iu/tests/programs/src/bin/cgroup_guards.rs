//! cgroup sysctl, device and socket-option programs: deny reads of
//! `kernel/ostype`, opens of /dev/zero, and `setsockopt(IP_TOS)`; count
//! what they see.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    cgroup_device, cgroup_sockopt, cgroup_sysctl, map,
    maps::Array,
    programs::{CgroupAction, DeviceContext, SockoptContext, SysctlContext, cgroup_device as dev},
};

iu_ebpf::license!("GPL");

/// 0: ostype reads denied, 1: the first byte of ostype's value, 2: /dev/zero
/// opens denied, 3: IP_TOS sets denied, 4: SO_RCVBUF gets seen.
#[map]
static COUNTS: Array<u64, 5> = Array::new();

#[cgroup_sysctl]
fn guard_sysctl(ctx: SysctlContext) -> CgroupAction {
    let mut name = [0u8; 64];
    if ctx.name(&mut name) != Some(b"kernel/ostype") || ctx.is_write() {
        return CgroupAction::Allow;
    }
    let mut value = [0u8; 16];
    if let Some(&first) = ctx.current_value(&mut value).and_then(|v| v.first()) {
        let _ = COUNTS.set(1, &u64::from(first));
    }
    COUNTS.add(0, 1);
    CgroupAction::Deny
}

#[cgroup_device]
fn guard_device(ctx: DeviceContext) -> CgroupAction {
    if ctx.device_type() == dev::CHAR && (ctx.major(), ctx.minor()) == (1, 5) {
        COUNTS.add(2, 1);
        return CgroupAction::Deny;
    }
    CgroupAction::Allow
}

#[cgroup_sockopt(attach = "setsockopt")]
fn guard_setsockopt(ctx: SockoptContext) -> CgroupAction {
    // IPPROTO_IP, IP_TOS
    if (ctx.level(), ctx.optname()) == (0, 1) {
        COUNTS.add(3, 1);
        return CgroupAction::Deny;
    }
    CgroupAction::Allow
}

#[cgroup_sockopt(attach = "getsockopt")]
fn watch_getsockopt(ctx: SockoptContext) -> CgroupAction {
    // SOL_SOCKET, SO_RCVBUF, answered by the kernel
    if (ctx.level(), ctx.optname()) == (1, 8) && ctx.retval() == 0 {
        COUNTS.add(4, 1);
    }
    CgroupAction::Allow
}
