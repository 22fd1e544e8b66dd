// A tail call from inside `PerCpuScratch::with`: the slot would stay
// marked busy for the program jumped to. `with` borrows the context, and
// `tail_call` needs it mutably.
// expect: cannot borrow `ctx` as mutable because it is also borrowed as immutable
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::{
    map,
    maps::{PerCpuScratch, ProgramArray},
    programs::{XdpAction, XdpContext},
};

#[map]
static SCRATCH: PerCpuScratch<[u64; 8]> = PerCpuScratch::new();

#[map]
static JUMPS: ProgramArray<4> = ProgramArray::new();

#[iu_ebpf::xdp]
fn jump_inside(mut ctx: XdpContext) -> XdpAction {
    SCRATCH.with(&ctx, |buf| {
        buf[0] = 1;
        JUMPS.tail_call(&mut ctx, 0);
    });
    XdpAction::Pass
}
