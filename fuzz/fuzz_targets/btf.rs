//! BTF from arbitrary bytes: iu's parser, then as the `.BTF` section of the
//! object in `IU_FUZZ_TEMPLATE` through the loader's fixups and
//! sanitising.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(caught) = iu::fuzz::btf(data)
        && std::env::var_os("IU_FUZZ_CAUGHT_OK").is_none()
    {
        panic!("{caught}");
    }
});
