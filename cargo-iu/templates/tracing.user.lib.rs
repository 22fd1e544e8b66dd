//! {{name}}'s user side: the object that build.rs built (iu-build), loaded
//! and attached with iu.
#![forbid(unsafe_code)]

use {{crate}}_common::{COUNTS_MAP, EVENTS, TARGET_MAP};

/// The BPF object, built from `../{{name}}-ebpf` by build.rs.
pub const OBJECT: &[u8] = include_bytes!(env!("IU_OBJECT_{{NAME}}"));

/// Loads the object into the kernel (maps created, program verified).
pub fn load() -> Result<iu::Ebpf, iu::Error> {
    iu::Ebpf::load(OBJECT)
}

/// Counts only process `pid` from now on (0: every process).
pub fn set_target(ebpf: &iu::Ebpf, pid: u32) -> Result<(), iu::Error> {
    ebpf.array::<u64>(TARGET_MAP)?.set(0, &u64::from(pid))
}

/// Attaches the program where its section says ({{hook}}); `target` is a
/// process id to count, or empty for every process. Detached when the link
/// is dropped.
pub fn attach(ebpf: &iu::Ebpf, target: &str) -> Result<iu::programs::{{link}}, Box<dyn std::error::Error>> {
    if !target.is_empty() {
        set_target(ebpf, target.parse()?)?;
    }
    Ok(ebpf.{{accessor}}("{{crate}}")?.attach()?)
}

/// The calls counted so far.
pub fn events(ebpf: &iu::Ebpf) -> Result<u64, iu::Error> {
    ebpf.array::<u64>(COUNTS_MAP)?.get(EVENTS)
}

/// One line of what the program counted.
pub fn summary(ebpf: &iu::Ebpf) -> Result<String, iu::Error> {
    Ok(format!("getppid() calls: {}", events(ebpf)?))
}
