//! Global variables that user space can set before the program loads.

/// A global constant that user space may override before loading
/// (`iu::EbpfLoader::set_global`). Declare it with [`crate::global!`]; read
/// it with [`Global::get`].
///
/// Reads are volatile so that the compiler does not fold in the default:
/// the loader patches the value into `.rodata`, and the verifier, seeing a
/// frozen map, treats it as a known constant.
#[repr(transparent)]
pub struct Global<T: crate::Pod> {
    value: T,
}

impl<T: crate::Pod> Global<T> {
    /// A global with its default value.
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// The value the program was loaded with.
    #[inline(always)]
    pub fn get(&self) -> T {
        // SAFETY: `value` is a live, aligned `T`; a volatile read of it is
        // sound, and keeps the read from being constant-folded.
        unsafe { core::ptr::read_volatile(&self.value) }
    }
}
