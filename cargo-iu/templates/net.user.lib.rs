//! {{name}}'s user side: the object that build.rs built (iu-build), loaded
//! and attached with iu.
#![forbid(unsafe_code)]

use {{crate}}_common::{BYTES, COUNTS_MAP, EVENTS};

/// The BPF object, built from `../{{name}}-ebpf` by build.rs.
pub const OBJECT: &[u8] = include_bytes!(env!("IU_OBJECT_{{NAME}}"));

/// Loads the object into the kernel (maps created, program verified).
pub fn load() -> Result<iu::Ebpf, iu::Error> {
    iu::Ebpf::load(OBJECT)
}

/// Attaches the program to interface `iface` ({{hook}}). Detached when the
/// link is dropped.
pub fn attach(ebpf: &iu::Ebpf, iface: &str) -> Result<iu::programs::{{link}}, iu::Error> {
    ebpf.{{accessor}}("{{crate}}")?.attach({{attach_args}})
}

/// The packets and bytes counted so far.
pub fn counts(ebpf: &iu::Ebpf) -> Result<(u64, u64), iu::Error> {
    let counts = ebpf.array::<u64>(COUNTS_MAP)?;
    Ok((counts.get(EVENTS)?, counts.get(BYTES)?))
}

/// One line of what the program counted.
pub fn summary(ebpf: &iu::Ebpf) -> Result<String, iu::Error> {
    let (packets, bytes) = counts(ebpf)?;
    Ok(format!("packets: {packets}, bytes: {bytes}"))
}
