//! A byte histogram of the first 64 packet bytes, kept in a struct larger
//! than the 512-byte BPF stack (`PerCpuScratch`): drops packets that are
//! mostly one repeated byte (padding floods).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::PerCpuScratch,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Histogram {
    counts: [u16; 256],
    distinct: u32,
    most: u32,
    samples: [u8; 64],
}

#[map]
static SCRATCH: PerCpuScratch<Histogram> = PerCpuScratch::new();

#[xdp]
fn large_struct(ctx: XdpContext) -> XdpAction {
    SCRATCH
        .with(&ctx, |h| {
            h.counts = [0; 256];
            h.distinct = 0;
            h.most = 0;
            let Some(samples) = ctx.read::<[u8; 64]>(0) else {
                return XdpAction::Pass;
            };
            h.samples = samples;
            for i in 0..64 {
                let byte = usize::from(h.samples[i]);
                if h.counts[byte] == 0 {
                    h.distinct += 1;
                }
                h.counts[byte] += 1;
                h.most = h.most.max(u32::from(h.counts[byte]));
            }
            if h.most >= 48 {
                XdpAction::Drop
            } else {
                XdpAction::Pass
            }
        })
        .unwrap_or(XdpAction::Pass)
}
