//! Socket storage: a sock_ops program keeps, per TCP socket, how many
//! events it saw and its local port; a cgroup sock program marks each
//! socket created in the cgroup.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, cgroup_sock, map,
    maps::SkStorage,
    programs::{CgroupAction, SockContext, SockOpsContext, sock_ops as ops},
    sock_ops,
};

iu_ebpf::license!("GPL");

/// What the sock_ops program keeps per socket.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Seen {
    /// Established events (active or passive).
    pub established: u64,
    /// The socket's local port, as the program saw it.
    pub port: u64,
}

#[map]
static SEEN: SkStorage<Seen> = SkStorage::new();

/// Per socket created in the cgroup: 1 + its protocol << 8.
#[map]
static CREATED: SkStorage<u64> = SkStorage::new();

#[sock_ops]
fn established(ctx: SockOpsContext) -> CgroupAction {
    if matches!(
        ctx.op(),
        ops::op::ACTIVE_ESTABLISHED | ops::op::PASSIVE_ESTABLISHED
    ) {
        let fresh = Seen {
            established: 0,
            port: u64::from(ctx.local_port()),
        };
        if SEEN.get_or_insert(&ctx, &fresh).is_some() {
            SEEN.add_at_offset(&ctx, 0, 1);
        }
    }
    CgroupAction::Allow
}

#[cgroup_sock(attach = "sock_create")]
fn created(ctx: SockContext) -> CgroupAction {
    let _ = CREATED.set(&ctx, &(1 + (u64::from(ctx.protocol()) << 8)));
    CgroupAction::Allow
}
