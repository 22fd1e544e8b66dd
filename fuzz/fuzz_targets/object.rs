//! An object from arbitrary bytes through everything `Ebpf::load` does
//! before the kernel: a panic, or an aya-obj panic that iu only caught,
//! is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(caught) = iu::fuzz::object(data) {
        panic!("{caught}");
    }
});
