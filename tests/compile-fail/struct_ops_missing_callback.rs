// A TCP congestion control must have the callbacks the kernel requires
// (`ssthresh`, `cong_avoid`, `undo_cwnd`): leaving one out is a compile
// error, not a registration refused at run time.
// expect: missing: `undo_cwnd`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{TcpCongestionOps, TcpSock};

pub struct Cc;

#[iu_ebpf::struct_ops(name = "cc")]
impl TcpCongestionOps for Cc {
    fn ssthresh(sk: TcpSock) -> u32 {
        sk.snd_cwnd() / 2
    }
    fn cong_avoid(_sk: TcpSock, _ack: u32, _acked: u32) {}
}
