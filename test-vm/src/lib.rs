//! The QEMU test tier: see `cargo xtask test --vm`.
