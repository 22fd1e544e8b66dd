//! Programs that panic on chosen inputs, written the natural way: an index
//! out of bounds, a division by zero, a failed conversion. A panic aborts
//! the run through `bpf_throw`: the program returns its `on_panic` value
//! and its abort count grows. Other inputs are unaffected.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    classifier, helpers,
    programs::{TcAction, TcContext, TracePointContext, XdpAction, XdpContext},
    tracepoint,
    tracepoints::syscalls::SysEnter,
    xdp,
};

iu_ebpf::license!("GPL");

// ANCHOR: index
/// Byte 0 picks an action from a table of four: 4 and above panic.
#[xdp(on_panic = "drop")]
fn index_out_of_bounds(ctx: XdpContext) -> XdpAction {
    let actions = [
        XdpAction::Pass,
        XdpAction::Tx,
        XdpAction::Pass,
        XdpAction::Tx,
    ];
    let index = ctx.read::<u8>(0).unwrap_or(0) as usize;
    actions[index]
}
// ANCHOR_END: index

/// Divides 100 by byte 0: 0 panics, and the default `on_panic` (pass)
/// applies.
#[xdp]
fn divide_by_zero(ctx: XdpContext) -> XdpAction {
    let divisor = ctx.read::<u8>(0).unwrap_or(1);
    if 100 / divisor > 10 {
        XdpAction::Drop
    } else {
        XdpAction::Tx
    }
}

iu_ebpf::global!(
    /// The process whose seeks the tracepoint looks at.
    static TARGET_PID: u32 = 0
);

/// Seek offsets as 4 KiB page numbers in a u16: an offset past 256 MiB
/// panics.
#[tracepoint(category = "syscalls", name = "sys_enter_lseek")]
fn failed_conversion(ctx: TracePointContext<SysEnter>) -> u32 {
    if helpers::pid() != TARGET_PID.get() {
        return 0;
    }
    let page = u16::try_from(ctx.args().args[1] / 4096).unwrap();
    u32::from(page) & 0
}

/// A tc classifier dividing 1000 by byte 0: 0 panics and returns the
/// declared `shot`.
#[classifier(on_panic = "shot")]
fn tc_divide(ctx: TcContext) -> TcAction {
    let divisor = ctx.read::<u8>(0).unwrap_or(1);
    if 1000 / u32::from(divisor) > 500 {
        TcAction::Ok
    } else {
        TcAction::Unspec
    }
}

/// The same with the tc default, `unspec` (-1: the next program decides).
#[classifier]
fn tc_divide_default(ctx: TcContext) -> TcAction {
    let divisor = ctx.read::<u8>(0).unwrap_or(1);
    if 1000 / u32::from(divisor) > 500 {
        TcAction::Ok
    } else {
        TcAction::Shot
    }
}

/// No panic path: its abort count stays 0.
#[xdp]
fn never_panics(_ctx: XdpContext) -> XdpAction {
    XdpAction::Pass
}
