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
//!
//! [`for_range`] runs a body over `0..count` with the kernel's `bpf_loop`
//! (Linux 5.17+): the verifier checks the body once, whatever the count, so
//! long loops cost neither verification time nor program size. On older
//! kernels the loader selects a bounded loop instead.

use core::ops::ControlFlow;

/// Runs `body(i, state)` for `i` in `0..count.min(MAX)`, stopping early
/// when it returns `ControlFlow::Break`. Returns how many iterations ran.
///
/// Where the kernel has `bpf_loop` (Linux 5.17+, chosen at load time),
/// the body is a callback the verifier checks once, so `MAX` may be large
/// (up to 2^23); elsewhere the loop is a plain bounded loop the verifier
/// walks, so programs that must also load on old kernels keep `MAX` in the
/// hundreds.
///
/// ```
/// use core::ops::ControlFlow;
/// // Sum 0..10, stopping at the first multiple of 7 after 0.
/// let mut sum = 0u32;
/// let ran = iu_ebpf::loops::for_range::<1000, _>(10, &mut sum, |i, sum| {
///     if i > 0 && i % 7 == 0 {
///         return ControlFlow::Break(());
///     }
///     *sum += i;
///     ControlFlow::Continue(())
/// });
/// assert_eq!((ran, sum), (8, 21));
/// ```
#[inline(always)]
pub fn for_range<const MAX: u32, S>(
    count: u32,
    state: &mut S,
    mut body: impl FnMut(u32, &mut S) -> ControlFlow<()>,
) -> u32 {
    let count = count.min(MAX);
    // The loader makes this a constant, and the verifier removes the
    // branch not taken.
    #[cfg(target_arch = "bpf")]
    if crate::placeholders::value(crate::placeholders::HAS_BPF_LOOP) != 0 {
        return with_bpf_loop(count, state, body);
    }
    for i in 0..MAX {
        if i >= count {
            return count;
        }
        if body(i, state).is_break() {
            return i + 1;
        }
    }
    count
}

/// What `bpf_loop` hands its callback: the state and the body, on the
/// caller's stack.
#[cfg(target_arch = "bpf")]
struct Frame<'a, S, F> {
    state: &'a mut S,
    body: F,
    ran: u32,
}

#[cfg(target_arch = "bpf")]
extern "C" fn callback<S, F: FnMut(u32, &mut S) -> ControlFlow<()>>(
    index: u64,
    frame: *mut core::ffi::c_void,
) -> i64 {
    // SAFETY: `bpf_loop` passes back the pointer `with_bpf_loop` gave it,
    // to a `Frame<S, F>` on that function's stack, which outlives the call;
    // nothing else accesses the frame meanwhile.
    let frame = unsafe { &mut *frame.cast::<Frame<'_, S, F>>() };
    frame.ran = index as u32 + 1;
    match (frame.body)(index as u32, frame.state) {
        ControlFlow::Continue(()) => 0,
        ControlFlow::Break(()) => 1,
    }
}

#[cfg(target_arch = "bpf")]
#[inline(always)]
fn with_bpf_loop<S, F: FnMut(u32, &mut S) -> ControlFlow<()>>(
    count: u32,
    state: &mut S,
    body: F,
) -> u32 {
    let mut frame = Frame {
        state,
        body,
        ran: 0,
    };
    // SAFETY: `bpf_loop` (helper 181) calls `callback` at most `count`
    // times with `&mut frame`, a live stack object, and returns before this
    // function does; the verifier checks the callback against that pointer.
    unsafe {
        crate::helpers::raw::bpf_loop(
            count,
            callback::<S, F> as *const core::ffi::c_void,
            (&mut frame as *mut Frame<'_, S, F>).cast(),
            0,
        );
    }
    frame.ran
}

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
