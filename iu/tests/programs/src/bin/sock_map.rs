//! Socket maps: an sk_msg program that redirects what one socket sends
//! out of another (chosen by local port in a `SockHash`), and sk_skb
//! programs that parse and pass, drop or redirect what a socket of a
//! `SockMap` receives.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{Array, SockDirection, SockHash, SockMap},
    programs::{SkAction, SkMsgContext, SkSkbContext},
    sk_msg, sk_skb,
};

iu_ebpf::license!("GPL");

/// Sockets by local port, for the sk_msg program.
#[map]
static BY_PORT: SockHash<u32, 8> = SockHash::new();

/// Slot 0: the receiving socket; slot 1: where its data goes.
#[map]
static PAIR: SockMap<2> = SockMap::new();

/// 0: sk_msg: 0 pass, `u32::MAX` drop, else the local port of the socket
/// to send out of. 1: stream verdict: 0 pass, 1 redirect out of slot 1,
/// 2 drop, 3 redirect into slot 1's receive queue.
#[map]
static CONFIG: Array<u32, 2> = Array::new();

/// 0: messages seen, 1: their bytes, 2: parser runs, 3: verdicts.
#[map]
static COUNTS: Array<u64, 4> = Array::new();

#[sk_msg]
fn splice(ctx: SkMsgContext) -> SkAction {
    COUNTS.add(0, 1);
    COUNTS.add(1, u64::from(ctx.size()));
    match CONFIG.get(0).unwrap_or(0) {
        0 => SkAction::Pass,
        u32::MAX => SkAction::Drop,
        port => BY_PORT.redirect_msg(&ctx, &port, SockDirection::Egress),
    }
}

/// Each chunk of data as it comes is one message.
#[sk_skb(stream_parser)]
fn whole(ctx: SkSkbContext) -> u32 {
    COUNTS.add(2, 1);
    ctx.len()
}

#[sk_skb(stream_verdict)]
fn forward(ctx: SkSkbContext) -> SkAction {
    COUNTS.add(3, 1);
    match CONFIG.get(1).unwrap_or(0) {
        1 => PAIR.redirect_skb(&ctx, 1, SockDirection::Egress),
        2 => SkAction::Drop,
        3 => PAIR.redirect_skb(&ctx, 1, SockDirection::Ingress),
        _ => SkAction::Pass,
    }
}
