//! Loops whose bound the verifier cannot prove.
//!
//! A loop such as `while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >>
//! 16) }` always ends, but the verifier cannot tell and gives up ("The
//! sequence of 8193 jumps is too complex"). Written with [`while_budgeted`],
//! each iteration first spends the kernel's loop budget (`may_goto`, Linux
//! 6.9+): the verifier then checks one iteration instead of unrolling all
//! of them, and the loop stops, returning `false`, if the budget ever runs
//! out — the runtime watchdog that takes the place of a proof. This works
//! when the loop's state settles into a range the verifier recognizes (the
//! carry fold); a loop that counts or shifts keeps producing new states, and
//! [`while_bounded`] (an explicit maximum the verifier unrolls) fits it.

/// Runs `body` on `state` while `condition` holds, within the kernel's
/// loop budget. Returns `true` when `condition` ended the loop, `false`
/// when the budget did (then the program decides what that means: drop,
/// count, pass).
///
/// ```
/// let mut sum: u32 = 0x2_fffe;
/// let done = iu_ebpf::loops::while_budgeted(&mut sum, |s| *s >> 16 != 0, |s| *s = (*s & 0xffff) + (*s >> 16));
/// assert!(done);
/// assert_eq!(sum, 1);
/// ```
#[inline(always)]
pub fn while_budgeted<S>(
    state: &mut S,
    mut condition: impl FnMut(&S) -> bool,
    mut body: impl FnMut(&mut S),
) -> bool {
    loop {
        if !condition(state) {
            return true;
        }
        if budget_exhausted() {
            return false;
        }
        body(state);
    }
}

/// Runs `body` on `state` while `condition` holds, at most `MAX` times: a
/// loop the verifier proves bounded by unrolling it (so `MAX` should stay
/// in the hundreds), for loops whose state keeps changing (a counter, a
/// shifting word) and so never lets the verifier prune a budgeted loop.
/// Returns `true` when `condition` ended the loop, `false` when `MAX` did.
///
/// ```
/// // Clearing the lowest set bit ends within 32 rounds.
/// let mut state = (0xf0f0_u32, 0u32);
/// let done = iu_ebpf::loops::while_bounded::<32, _>(&mut state, |(x, _)| *x != 0, |(x, n)| {
///     *x &= *x - 1;
///     *n += 1;
/// });
/// assert!(done);
/// assert_eq!(state.1, 8);
/// ```
#[inline(always)]
pub fn while_bounded<const MAX: usize, S>(
    state: &mut S,
    mut condition: impl FnMut(&S) -> bool,
    mut body: impl FnMut(&mut S),
) -> bool {
    for _ in 0..MAX {
        if !condition(state) {
            return true;
        }
        body(state);
    }
    !condition(state)
}

/// Spends one unit of the loop budget; `true` once it is exhausted.
#[inline(always)]
fn budget_exhausted() -> bool {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: `may_goto` only reads and decrements the program's hidden
        // loop counter (kept by the kernel on the program's stack) and
        // jumps to the label when it reaches zero; it touches no Rust-visible
        // state.
        unsafe {
            core::arch::asm!("may_goto {}", label { return true; }, options(nomem, nostack));
        }
        false
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        false
    }
}
