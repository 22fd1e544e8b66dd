//! Objects handed over as `include_bytes!` (how iu-build gives them to
//! user crates) have no alignment; the ELF reader needs 8 bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

#[test]
fn an_object_at_an_odd_address_loads() {
    let path = iu::object_dir().join("hello");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build`)", path.display()));
    let mut buffer = vec![0u8; bytes.len() + 1];
    let odd = usize::from(buffer.as_ptr().align_offset(2) == 0);
    buffer[odd..odd + bytes.len()].copy_from_slice(&bytes);
    let unaligned = &buffer[odd..odd + bytes.len()];
    assert_ne!(unaligned.as_ptr().align_offset(8), 0);
    let ebpf = iu::Ebpf::load(unaligned).unwrap();
    assert!(ebpf.program("hello").is_ok());
}
