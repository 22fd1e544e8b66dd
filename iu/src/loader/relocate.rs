//! Stage 7: relocate. Map references get the maps' descriptors, calls
//! between functions are linked into each program, and instructions the
//! kernel lacks are sanitized away (aya-obj's relocation, with iu's
//! no-return fixup first).

use std::collections::HashSet;

use aya_obj::Object;

use crate::{
    error::{Error, Result, chain},
    features,
    validate::guarded,
};

/// Writes each map's descriptor (`fd_of` its name; maps without one are
/// left alone, as the maps stage skips them) into the instructions that
/// refer to it, and links every program's calls.
pub(super) fn link(obj: &mut Object, fd_of: impl Fn(&str) -> Option<i32>) -> Result<()> {
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    let maps = obj.maps.clone();
    let fds: Vec<(&str, i32, &aya_obj::Map)> = maps
        .iter()
        .filter_map(|(name, map)| Some((name.as_str(), fd_of(name)?, map)))
        .collect();
    guarded("relocating map references", || {
        obj.relocate_maps(fds.into_iter(), &text_sections)
    })?
    .map_err(|e| Error::Relocation(chain(&e)))?;
    guarded("linking functions", || {
        crate::placeholders::end_noreturn_functions(obj);
        obj.relocate_calls(&text_sections)
    })?
    .map_err(|e| Error::Relocation(chain(&e)))
}

/// Replaces what the running kernel does not have (helpers, instructions)
/// in every function.
pub(super) fn sanitize(obj: &mut Object) -> Result<()> {
    guarded("sanitizing functions", || {
        obj.sanitize_functions(features::object_features())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{externs, parse::parse, test_objects};

    #[test]
    fn map_references_get_descriptors_and_calls_are_linked() {
        let object = test_objects::bytes("loader_stages");
        let mut parsed = parse(object.bytes()).unwrap();
        externs::resolve(&parsed.file, &mut parsed.obj).unwrap();
        let mut names: Vec<String> = parsed.obj.maps.keys().cloned().collect();
        names.sort();
        // Made-up descriptors, one per map, from 1000 on.
        let fd_of = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .map(|i| 1000 + i as i32)
        };
        let program = parsed.obj.programs["classify"].function_key();
        let before = parsed.obj.functions[&program].instructions.len();
        link(&mut parsed.obj, fd_of).unwrap();
        let classify = &parsed.obj.functions[&program].instructions;
        // `bump`, a function of its own in the object, is linked in.
        assert!(classify.len() > before, "{} -> {}", before, classify.len());
        let map_refs: Vec<(u8, i32)> = classify
            .iter()
            .filter(|i| i.code == 0x18 && matches!(i.src_reg(), 1 | 2))
            .map(|i| (i.src_reg(), i.imm))
            .collect();
        // `counts` by descriptor; `.rodata`, `.data` and `.bss` by value.
        assert!(
            map_refs.contains(&(1, fd_of("counts").unwrap())),
            "{map_refs:?}"
        );
        for data in [".rodata", ".data", ".bss"] {
            assert!(
                map_refs.contains(&(2, fd_of(data).unwrap())),
                "{data}: {map_refs:?}"
            );
        }
        assert!(map_refs.iter().all(|(_, fd)| (1000..1100).contains(fd)));
    }
}
