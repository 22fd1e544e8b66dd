//! `ProgramArray`: tail calls (`BPF_MAP_TYPE_PROG_ARRAY`).

use super::{map_def, map_type};

map_def! {
    /// `BPF_MAP_TYPE_PROG_ARRAY`: slots that user space fills with programs
    /// of the same type; a program jumps to one with [`ProgramArray::tail_call`].
    ///
    /// ```ignore
    /// #[map]
    /// static JUMP: ProgramArray<8> = ProgramArray::new();
    /// JUMP.tail_call(&mut ctx, 1); // only returns if slot 1 is empty
    /// ```
    pub struct ProgramArray<; MAX_ENTRIES> {
        r#type: [i32; map_type::PROG_ARRAY],
        key_size: [i32; 4],
        value_size: [i32; 4],
        max_entries: [i32; MAX_ENTRIES],
    }
}

impl<const MAX_ENTRIES: usize> ProgramArray<MAX_ENTRIES> {
    /// Jumps to the program in slot `index`, never to return. Returns (and
    /// the program goes on) only when the slot is empty or the tail-call
    /// limit (33) is reached.
    ///
    /// It takes the context by `&mut`: a [`PerCpuScratch::with`](super::PerCpuScratch::with)
    /// closure, which holds a CPU's scratch slot and borrows the context,
    /// cannot tail-call, so no slot is left busy by a program that never
    /// returns to release it.
    ///
    /// On the host there are no programs to jump to: the call returns, as
    /// for an empty slot, and [`crate::sim::take_tail_call`] reports it.
    #[inline(always)]
    pub fn tail_call<C: crate::programs::Context>(&self, ctx: &mut C, index: u32) {
        #[cfg(target_arch = "bpf")]
        // SAFETY: the context is the running program's own, and the map is a
        // `#[map]` program array; the verifier checks the program types.
        unsafe {
            crate::helpers::raw::tail_call(
                crate::programs::raw_context(&*ctx),
                self.as_ptr(),
                index,
            );
        }
        #[cfg(not(target_arch = "bpf"))]
        {
            let _ = ctx;
            crate::sim::record_tail_call(index);
        }
    }
}
