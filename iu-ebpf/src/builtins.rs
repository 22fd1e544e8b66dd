//! The memory builtins LLVM calls when it cannot expand a copy, fill or
//! compare inline, because its length is only known at run time:
//! `out[..n].copy_from_slice(..)` (`memcpy`), `buf[..n].fill(b)`
//! (`memset`), `a[..n] == b[..n]` (`bcmp`), `copy_within` (`memmove`) and
//! `Ord` on byte slices (`memcmp`).
//!
//! BPF has no C library, so these are iu's own BPF functions. bpf-linker
//! keeps them in every object (they are its default exports); the loader
//! gives them static linkage, so that the verifier checks each call with
//! its caller's bounds, and links them into the programs that call them.
//!
//! What the verifier can prove shapes them. It follows each register on
//! its own and knows nothing of the relation between a slice's pointer
//! and its length (`&src[i..]` has length `64 - i`: both are ranges to
//! the verifier, and `src + i + k` looks like up to `src + 127`). So:
//!
//! - **reads** go through `bpf_probe_read_kernel`, whose source the
//!   verifier leaves to the helper: Rust guarantees that the source of a
//!   `memcpy`/`bcmp` is valid for `n` bytes, and the helper checks once
//!   more at run time (it cannot fault);
//! - **writes** are checked by the verifier: the destination plus the
//!   largest `n` must lie inside its object. That holds when the
//!   destination starts at a constant offset of a stack buffer or map
//!   value (`out[..n]`); a destination at a run-time offset with a
//!   run-time length (`out[i..].fill(0)`) is refused, with its Rust line.
//! - loops advance by a constant, so the verifier's walk ends after
//!   `n / 8` rounds for the largest `n` it knows.
//!
//! `memcpy`, `memmove` and `memset` return null, not `dst`: the verifier
//! refuses a function that returns a stack pointer, and LLVM never uses
//! the result of the calls it emits for copies and fills.
//!
//! A failed `bpf_probe_read_kernel` (which a valid Rust slice cannot
//! cause) zeroes its destination, as the helper does: never undefined
//! behaviour. Every function is `#[doc(hidden)]`: programs never call them
//! by name, and `#[map]`/program names cannot take them (iu-macros
//! reserves the symbols).

use core::ffi::c_void;

use crate::helpers::raw::probe_read_kernel;

/// Copies `len <= 8` bytes at `src` into a zeroed word.
///
/// # Safety
///
/// `src` must be valid for reading `len` bytes.
#[inline(always)]
unsafe fn read_word(src: *const u8, len: usize) -> [u8; 8] {
    let mut word = [0u8; 8];
    // SAFETY: `word` holds 8 bytes and `len <= 8`; the helper reads `src`
    // without faulting (the caller guarantees it is valid anyway).
    unsafe {
        probe_read_kernel(
            word.as_mut_ptr().cast::<c_void>(),
            len as u32,
            src.cast::<c_void>(),
        )
    };
    word
}

/// `memcpy`: one `bpf_probe_read_kernel` of `n` bytes.
///
/// # Safety
///
/// C's contract: `dst` and `src` valid for `n` bytes, not overlapping.
#[doc(hidden)]
#[unsafe(no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller passes a destination valid for `n` bytes (the
    // verifier checks it against the object it points into) and a source
    // valid for `n` bytes, which the helper reads without faulting.
    unsafe { probe_read_kernel(dst.cast::<c_void>(), n as u32, src.cast::<c_void>()) };
    core::ptr::null_mut()
}

/// `memmove`: forward through a word on the stack when `dst` is below
/// `src`, backward otherwise, so that overlapping bytes are read before
/// they are written.
///
/// # Safety
///
/// C's contract: `dst` and `src` valid for `n` bytes (they may overlap).
#[doc(hidden)]
#[unsafe(no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        let mut i = 0;
        while i < n {
            // SAFETY: `i < n`, inside both ranges; the word is read before
            // it is written, and earlier writes are below `src + i`.
            unsafe {
                let byte = read_word(src.add(i), 1)[0];
                core::ptr::write_volatile(dst.add(i), byte);
            }
            i += 1;
        }
    } else {
        let mut i = n;
        while i > 0 {
            i -= 1;
            // SAFETY: `i < n`, inside both ranges; going down, the bytes
            // of `src` above `i` were read before `dst` overwrote them.
            unsafe {
                let byte = read_word(src.add(i), 1)[0];
                core::ptr::write_volatile(dst.add(i), byte);
            }
        }
    }
    core::ptr::null_mut()
}

/// `memset`: 8-byte stores, then single bytes. The stores are volatile so
/// that LLVM does not turn the loop back into a `memset` call.
///
/// # Safety
///
/// C's contract: `dst` valid for `n` bytes.
#[doc(hidden)]
#[unsafe(no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    let byte = c as u8;
    let word = u64::from_ne_bytes([byte; 8]);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`: inside the destination; `[u8; 8]` has an
        // alignment of 1.
        unsafe { core::ptr::write_volatile(dst.add(i).cast::<[u8; 8]>(), word.to_ne_bytes()) };
        i += 8;
    }
    while i < n {
        // SAFETY: `i < n`.
        unsafe { core::ptr::write_volatile(dst.add(i), byte) };
        i += 1;
    }
    core::ptr::null_mut()
}

/// Compares `n` bytes, 8 at a time; returns the first differing word of
/// each side in memory order (big-endian), or `None` when all are equal.
///
/// # Safety
///
/// `a` and `b` valid for reading `n` bytes.
#[inline(always)]
unsafe fn first_difference(a: *const u8, b: *const u8, n: usize) -> Option<(u64, u64)> {
    let mut i = 0;
    while i < n {
        let len = if n - i < 8 { n - i } else { 8 };
        // SAFETY: `i + len <= n`: inside both ranges.
        let (x, y) = unsafe { (read_word(a.add(i), len), read_word(b.add(i), len)) };
        if x != y {
            return Some((u64::from_be_bytes(x), u64::from_be_bytes(y)));
        }
        i += 8;
    }
    None
}

/// `memcmp`: the sign of the first differing byte (as unsigned), or 0.
///
/// # Safety
///
/// C's contract: `a` and `b` valid for reading `n` bytes.
#[doc(hidden)]
#[unsafe(no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract.
    match unsafe { first_difference(a, b, n) } {
        // Big-endian words of zero-padded bytes compare as the bytes do.
        Some((x, y)) if x < y => -1,
        Some(_) => 1,
        None => 0,
    }
}

/// `bcmp`: 0 when the `n` bytes are equal, 1 otherwise.
///
/// # Safety
///
/// C's contract: `a` and `b` valid for reading `n` bytes.
#[doc(hidden)]
#[unsafe(no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract.
    i32::from(unsafe { first_difference(a, b, n) }.is_some())
}
