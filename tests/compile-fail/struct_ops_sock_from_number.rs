// A `TcpSock` (a `tcp_sock` BTF pointer the setters write through) comes
// only from the kernel's callback arguments: on BPF there is no way to
// make one from a number.
// expect: not found in `TcpSock`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{TcpCongestionOps, TcpSock};

pub struct Cc;

#[iu_ebpf::struct_ops(name = "cc")]
impl TcpCongestionOps for Cc {
    fn ssthresh(sk: TcpSock) -> u32 {
        TcpSock::from_btf_addr(0xffff_8880_0000_0000).set_snd_cwnd(1);
        sk.snd_cwnd() / 2
    }
    fn cong_avoid(_sk: TcpSock, _ack: u32, _acked: u32) {}
    fn undo_cwnd(sk: TcpSock) -> u32 {
        sk.snd_cwnd()
    }
}
