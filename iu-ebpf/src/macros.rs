//! `macro_rules!` glue that emits the few attributes the kernel ABI needs
//! (`export_name`, `link_section`). They count as unsafe code, so they live
//! here, behind `allow_internal_unsafe`, instead of in program crates.

/// Declares the program's license, stored in the `license` section.
///
/// The kernel only allows GPL-only helpers (such as `bpf_trace_vprintk`) in
/// programs whose license is GPL-compatible, for example `"GPL"` or
/// `"Dual MIT/GPL"`.
///
/// ```ignore
/// iu_ebpf::license!("GPL");
/// ```
#[macro_export]
#[allow_internal_unsafe]
macro_rules! license {
    ($license:literal) => {
        const _: () = {
            const LICENSE: &str = ::core::concat!($license, "\0");
            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = "_license")]
            #[unsafe(link_section = "license")]
            static _LICENSE: [u8; LICENSE.len()] = $crate::__private::str_bytes(LICENSE);
        };
    };
}

/// Declares the kernel version the program was built for, stored in the
/// `version` section. Only very old kernels (before 5.0) check it for
/// kprobes; `0xFFFF_FFFE` means "any", and the loader then passes the running
/// kernel's version.
///
/// ```ignore
/// iu_ebpf::version!(0xFFFF_FFFE);
/// ```
#[macro_export]
#[allow_internal_unsafe]
macro_rules! version {
    ($version:expr) => {
        const _: () = {
            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = "_version")]
            #[unsafe(link_section = "version")]
            static _VERSION: u32 = $version;
        };
    };
}

/// Emits the entry point the kernel calls for one program. Used by the
/// program attributes (`#[tracepoint]`, ...); not meant to be called by hand.
#[doc(hidden)]
#[macro_export]
#[allow_internal_unsafe]
macro_rules! __entry {
    ($section:literal, $kind:ident, $func:ident, $on_panic:expr) => {
        const _: () = {
            // What the program returns when it panics, read by the loader (see
            // `iu_ebpf::panic`). A section per program: the object's BTF
            // describes one variable per section correctly.
            #[cfg(target_arch = "bpf")]
            #[used]
            #[unsafe(export_name = ::core::concat!("__iu_on_panic_", ::core::stringify!($func)))]
            #[unsafe(link_section = ::core::concat!("iu_on_panic.", ::core::stringify!($func)))]
            static ON_PANIC: i64 = $on_panic;

            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = ::core::stringify!($func))]
            #[unsafe(link_section = $section)]
            extern "C" fn entry(ctx: *mut ::core::ffi::c_void) -> u32 {
                // SAFETY: the kernel calls this entry point with the context
                // pointer of the program type named by `$section`, and the
                // `FromRawContext<$kind>` bound makes the function's context
                // type match that program type at compile time.
                let ctx = unsafe {
                    <_ as $crate::programs::FromRawContext<$crate::programs::kind::$kind>>::from_raw(ctx)
                };
                $crate::ProgramReturn::into_return_code($func(ctx))
            }
        };
    };
}

/// Places a map static in `.maps` under its own name. Emitted by `#[map]`;
/// not meant to be called by hand.
#[doc(hidden)]
#[macro_export]
#[allow_internal_unsafe]
macro_rules! __map {
    ($(#[$attr:meta])* $vis:vis static $name:ident : $ty:ty = $init:expr; $export:literal) => {
        $(#[$attr])*
        #[cfg_attr(target_arch = "bpf", unsafe(export_name = $export))]
        #[cfg_attr(target_arch = "bpf", unsafe(link_section = ".maps"))]
        #[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
        $vis static $name: $ty = $init;
    };
}
