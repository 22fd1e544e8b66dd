//! What the loader can tell about an object without a kernel: its panic
//! paths and whether its user-space stages accept it.

use aya_obj::btf::Btf;

use super::{
    debug_info::{nested_panic_sites, panic_sites},
    externs, parse, relocate,
};
use crate::{error::Result, validate::guarded};

/// The panic paths of each program of an object, found without loading it
/// (no privilege needed): for every program that can panic, the Rust lines
/// that call into a panic path. Such programs abort through `bpf_throw`
/// (Linux 6.7+); older kernels refuse them with
/// [`crate::Error::PanicsUnsupported`]. `cargo xtask build` reports them.
///
/// ```no_run
/// let bytes = std::fs::read(iu::object_dir().join("hello"))?;
/// for (program, sites) in iu::panic_paths(&bytes)? {
///     for site in sites {
///         println!("{program} can panic at {site}");
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn panic_paths(bytes: &[u8]) -> Result<Vec<(String, Vec<crate::SourceLine>)>> {
    let (parsed, btf) = link_without_kernel(bytes, false)?;
    let obj = &parsed.obj;
    guarded("reading line info", || {
        let mut paths = vec![];
        for (name, program) in &obj.programs {
            let Some(function) = obj.functions.get(&program.function_key()) else {
                continue;
            };
            if crate::placeholders::can_abort(&function.instructions) {
                paths.push((name.clone(), panic_sites(function, &btf)));
            }
        }
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        paths
    })
}

/// The panic paths that only BPF exceptions can leave, found without
/// loading: for every program that can panic inside a function the
/// compiler did not inline into it, its ELF section (which names the
/// program type) and the Rust lines that call into the panic path there.
/// A panic reached in the program's own frame is an `exit` with the
/// program's `on_panic` value, in every program type and on every kernel;
/// these need `bpf_throw` (Linux 6.7+, and only in the program types the
/// kernel allows it in). `cargo xtask build` reports them.
///
/// ```no_run
/// let bytes = std::fs::read(iu::object_dir().join("hello"))?;
/// for (program, section, sites) in iu::nested_panic_paths(&bytes)? {
///     println!("{program} ({section}) needs bpf_throw at {sites:?}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nested_panic_paths(bytes: &[u8]) -> Result<Vec<(String, String, Vec<crate::SourceLine>)>> {
    let (parsed, btf) = link_without_kernel(bytes, false)?;
    let (obj, sections) = (&parsed.obj, &parsed.sections);
    guarded("reading line info", || {
        let mut paths = vec![];
        for (name, program) in &obj.programs {
            let Some(function) = obj.functions.get(&program.function_key()) else {
                continue;
            };
            let sites = nested_panic_sites(function, &btf);
            if !sites.is_empty() {
                let section = sections.get(name).cloned().unwrap_or_default();
                paths.push((name.clone(), section, sites));
            }
        }
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        paths
    })
}

/// Runs every stage [`EbpfLoader::load`](crate::EbpfLoader::load) applies to an object before it
/// asks the kernel to create or load anything — parsing, the BTF fixups
/// for the running kernel (which probes its features once per process),
/// linking — and returns the first error. It never panics on any input:
/// malformed objects give [`crate::Error::Parse`], [`crate::Error::Btf`] or
/// [`crate::Error::Relocation`] (docs/safety.md, "Malformed objects").
///
/// ```no_run
/// let bytes = std::fs::read(iu::object_dir().join("hello"))?;
/// iu::check_object(&bytes)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_object(bytes: &[u8]) -> Result<()> {
    let (parsed, btf) = link_without_kernel(bytes, true)?;
    let obj = &parsed.obj;
    guarded("reading line info", || {
        for program in obj.programs.values() {
            if let Some(function) = obj.functions.get(&program.function_key()) {
                panic_sites(function, &btf);
            }
        }
    })
}

/// Runs the user-space stages on an object with placeholder map
/// descriptors; with `sanitize_btf`, also the BTF stage's fixups for this
/// kernel. Returns the parsed object, linked, and its BTF bytes.
fn link_without_kernel(bytes: &[u8], sanitize_btf: bool) -> Result<(parse::Parsed<'_>, Vec<u8>)> {
    let mut parsed = parse::parse(bytes)?;
    externs::resolve(&parsed.file, &mut parsed.obj)?;
    let btf = parsed
        .obj
        .btf
        .as_ref()
        .map(Btf::to_bytes)
        .unwrap_or_default();
    if sanitize_btf {
        super::btf::sanitize(&parsed.file, &mut parsed.obj)?;
    }
    // Linking needs map descriptors only as numbers to write down.
    relocate::link(&mut parsed.obj, |_| Some(0))?;
    Ok((parsed, btf))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::test_objects;

    #[test]
    fn programs_that_can_panic_get_abort_slots_in_name_order() {
        let object = test_objects::bytes("panics");
        let paths = panic_paths(object.bytes()).unwrap();
        let (parsed, _) = link_without_kernel(object.bytes(), false).unwrap();
        let slots = crate::placeholders::abort_slots(&parsed.obj).unwrap();
        let mut by_slot: Vec<(u32, &str)> = slots.iter().map(|(n, s)| (*s, n.as_str())).collect();
        by_slot.sort();
        let names: Vec<&str> = by_slot.iter().map(|(_, n)| *n).collect();
        // The programs panic_paths reports, in name order, slots 0, 1, ...
        let expected: Vec<&str> = paths.iter().map(|(n, _)| n.as_str()).collect();
        assert!(expected.len() > 1, "{expected:?}");
        assert_eq!(names, expected);
        assert!(by_slot.iter().enumerate().all(|(i, (s, _))| *s == i as u32));
        // A panic path names the program's own lines.
        for (program, sites) in &paths {
            assert!(!sites.is_empty(), "{program}");
        }
    }

    #[test]
    fn objects_without_panics_get_no_slots() {
        let object = test_objects::bytes("loader_stages");
        let (parsed, _) = link_without_kernel(object.bytes(), true).unwrap();
        assert!(
            crate::placeholders::abort_slots(&parsed.obj)
                .unwrap()
                .is_empty()
        );
        assert!(panic_paths(object.bytes()).unwrap().is_empty());
    }
}
