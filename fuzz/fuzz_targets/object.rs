//! An object from arbitrary bytes through everything `Ebpf::load` does
//! before the kernel: a panic, or an aya-obj panic that iu only caught,
//! is a crash (the caught ones not with `IU_FUZZ_CAUGHT_OK`, which the
//! bounded run of `cargo xtask test` sets: there, only what would crash a
//! user's process fails).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(caught) = iu::fuzz::object(data)
        && std::env::var_os("IU_FUZZ_CAUGHT_OK").is_none()
    {
        panic!("{caught}");
    }
});
