//! USDT probes: every argument of every hit, read through the site's spec,
//! pushed into a ring buffer (see iu/tests/usdt.rs and its target,
//! iu/tests/c/usdt_target).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::RingBuf,
    programs::{UsdtContext, UsdtError},
    usdt,
};

iu_ebpf::license!("GPL");

/// One hit of a probe.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Hit {
    /// The attach cookie (`Usdt::with_cookie`).
    cookie: u64,
    /// `arg_count()`.
    count: u64,
    /// Bit `i`: argument `i` failed other than by not existing.
    errors: u64,
    /// Arguments; 0 past the count.
    args: [i64; 12],
}

#[map]
static HITS: RingBuf<{ 1 << 16 }> = RingBuf::new();

fn submit(hit: Hit) {
    if let Some(mut entry) = HITS.reserve::<Hit>() {
        entry.write(hit);
        entry.submit();
    }
}

/// Attached to any probe, told apart by cookie: every argument, read
/// together.
#[usdt]
fn any_probe(ctx: UsdtContext) -> u32 {
    let args = ctx.args();
    submit(Hit {
        cookie: ctx.cookie(),
        count: args.count() as u64,
        errors: u64::from(args.unreadable()),
        args: args.values(),
    });
    0
}

/// The probe its section names (three arguments), read one by one.
#[usdt(provider = "iu_test", name = "consts")]
fn consts(ctx: UsdtContext) -> u32 {
    let mut hit = Hit {
        cookie: ctx.cookie(),
        count: ctx.arg_count() as u64,
        errors: 0,
        args: [0; 12],
    };
    for (i, slot) in hit.args.iter_mut().enumerate().take(3) {
        match ctx.arg(i) {
            Ok(v) => *slot = v,
            Err(UsdtError::NoSuchArgument) => {}
            Err(_) => hit.errors |= 1 << i,
        }
    }
    submit(hit);
    0
}
