//! Plain old data: types that can be copied to and from map memory as
//! bytes.

/// A type that is valid for every bit pattern and has no padding, so that
/// it can be read from and written to kernel memory as raw bytes.
///
/// Derive it with `#[derive(Pod)]` (from `iu_ebpf`), which checks at compile
/// time that the type is `#[repr(C)]`, that every field is `Pod`, and that
/// the fields fill the type with no padding. Padding bytes would carry
/// uninitialized memory into the kernel and make equal keys compare unequal;
/// add explicit `_pad` fields instead.
///
/// ```ignore
/// #[derive(Clone, Copy, iu_ebpf::Pod)]
/// #[repr(C)]
/// pub struct Event {
///     pub pid: u32,
///     pub cpu: u32,
///     pub ts: u64,
/// }
/// ```
///
/// # Safety
///
/// Every bit pattern must be a valid value, and the type must have no
/// padding bytes.
pub unsafe trait Pod: Copy + Send + Sync + 'static {
    /// Reads a value from the first `size_of::<Self>()` bytes, or returns
    /// `None` when there are fewer.
    #[inline(always)]
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < core::mem::size_of::<Self>() {
            return None;
        }
        // SAFETY: the slice holds enough bytes, `read_unaligned` has no
        // alignment requirement, and `Self: Pod` is valid for any bytes.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<Self>()) })
    }

    /// The value's bytes.
    #[inline(always)]
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Self: Pod` has no padding, so all its bytes are
        // initialized; the slice borrows `self`.
        unsafe {
            core::slice::from_raw_parts(
                (self as *const Self).cast::<u8>(),
                core::mem::size_of::<Self>(),
            )
        }
    }

    /// The value's bytes, writable: any bytes written form a valid value.
    #[inline(always)]
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `Self: Pod` has no padding and is valid for any bytes, so
        // writing arbitrary bytes keeps it valid; the slice borrows `self`
        // exclusively.
        unsafe {
            core::slice::from_raw_parts_mut(
                (self as *mut Self).cast::<u8>(),
                core::mem::size_of::<Self>(),
            )
        }
    }

    /// The bytes of a slice of values, writable: what a system call that
    /// fills an array of them (a batch lookup) writes into.
    ///
    /// ```
    /// use iu_ebpf::Pod;
    ///
    /// let mut keys = [0u32; 4];
    /// u32::slice_as_bytes_mut(&mut keys)[0] = 7;
    /// assert_eq!(keys[0], u32::from_ne_bytes([7, 0, 0, 0]));
    /// ```
    #[inline(always)]
    fn slice_as_bytes_mut(values: &mut [Self]) -> &mut [u8] {
        // SAFETY: as `as_bytes_mut`, for each element; elements of a slice
        // are contiguous with no padding between them (size is a multiple
        // of alignment), and the byte length cannot overflow because the
        // slice already spans it.
        unsafe {
            core::slice::from_raw_parts_mut(
                values.as_mut_ptr().cast::<u8>(),
                core::mem::size_of_val(values),
            )
        }
    }

    /// Whether the type holds a `bpf_spin_lock` ([`crate::maps::SpinLocked`]
    /// or a struct or array with one): map APIs that copy whole values
    /// refuse such types at compile time, since the verifier refuses a
    /// program that reads or writes the lock word. Set by the impls of
    /// iu-ebpf and `#[derive(Pod)]`; leave it alone.
    #[doc(hidden)]
    const __SPIN_LOCKED: bool = false;

    /// A value with every byte zero.
    #[inline(always)]
    fn zeroed() -> Self {
        // SAFETY: all-zero bytes are a valid `Self: Pod`.
        unsafe { core::mem::zeroed() }
    }
}

macro_rules! impl_pod {
    ($($t:ty),*) => {$(
        // SAFETY: primitive integers and floats are valid for every bit
        // pattern and have no padding.
        unsafe impl Pod for $t {}
    )*};
}

impl_pod!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

// SAFETY: an array of `Pod` has no padding between elements (size is a
// multiple of alignment) and is valid for any bytes.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {
    const __SPIN_LOCKED: bool = T::__SPIN_LOCKED;
}

// SAFETY: the unit type has no bytes.
unsafe impl Pod for () {}
