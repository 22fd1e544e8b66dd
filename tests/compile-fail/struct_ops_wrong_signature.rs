// A callback's signature is the kernel's (`u32 (*ssthresh)(struct sock *)`):
// another one is a compile error.
// expect: incompatible type for trait
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{TcpCongestionOps, TcpSock};

pub struct Cc;

#[iu_ebpf::struct_ops(name = "cc")]
impl TcpCongestionOps for Cc {
    fn ssthresh(sk: TcpSock) -> u64 {
        u64::from(sk.snd_cwnd() / 2)
    }
    fn cong_avoid(_sk: TcpSock, _ack: u32, _acked: u32) {}
    fn undo_cwnd(sk: TcpSock) -> u32 {
        sk.snd_cwnd()
    }
}
