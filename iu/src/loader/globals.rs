//! Stage 2: globals. The values a user sets with
//! [`EbpfLoader::set_global`](super::EbpfLoader::set_global), and the
//! logger's level, written into the object's global-data sections before
//! their maps are created.

use aya_obj::Object;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use crate::{
    error::{Error, Result, chain},
    validate::guarded,
};

/// The logger's level variable, declared by `iu_ebpf::logger!()`.
const LOG_LEVEL: &str = "IU_LOG_LEVEL";

/// Writes `globals` (checked against the object's variables) and, where
/// the object has a logger, `log_level` into the object's data.
pub(super) fn patch(
    file: &object::File<'_>,
    obj: &mut Object,
    globals: &[(String, Vec<u8>)],
    log_level: Option<u8>,
) -> Result<()> {
    if globals.is_empty() && log_level.is_none() {
        return Ok(());
    }
    check_globals(file, globals)?;
    let level = log_level.map(|l| [l]);
    let mut values: std::collections::HashMap<&str, (&[u8], bool)> = globals
        .iter()
        .map(|(name, value)| (name.as_str(), (value.as_slice(), true)))
        .collect();
    if let Some(level) = &level {
        // Only objects that declare `iu_ebpf::logger!()` have it.
        values.insert(LOG_LEVEL, (level.as_slice(), false));
    }
    guarded("setting globals", || obj.patch_map_data(values))?
        .map_err(|e| Error::Parse(format!("setting globals: {}", chain(&e))))
}

/// Checks the globals a user sets against the object's: each must be a
/// variable of a global-data section (`.rodata`, `.data`, `.bss`) of the
/// value's size.
fn check_globals(file: &object::File<'_>, globals: &[(String, Vec<u8>)]) -> Result<()> {
    let in_data_section = |index: object::SectionIndex| {
        file.section_by_index(index)
            .and_then(|s| s.name().map(str::to_owned))
            .is_ok_and(|n| {
                [".rodata", ".data", ".bss"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
    };
    let mut variables: Vec<(String, u64)> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Data && s.size() > 0)
        // Not the compiler's own constants (`anon.<hash>.0`).
        .filter(|s| s.name().is_ok_and(|n| !n.starts_with("anon.")))
        .filter(|s| s.section_index().is_some_and(in_data_section))
        .filter_map(|s| Some((s.name().ok()?.to_owned(), s.size())))
        .collect();
    variables.sort();
    variables.dedup();
    for (name, value) in globals {
        match variables.iter().find(|(n, _)| n == name) {
            None => {
                return Err(Error::UnknownGlobal {
                    name: name.clone(),
                    available: variables,
                });
            }
            Some(&(_, size)) if size != value.len() as u64 => {
                return Err(Error::GlobalSize {
                    name: name.clone(),
                    expected: size,
                    actual: value.len(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{parse::parse, test_objects};

    fn set(globals: &[(&str, &[u8])]) -> Result<aya_obj::Object> {
        let object = test_objects::bytes("loader_stages");
        let mut parsed = parse(object.bytes()).unwrap();
        let globals: Vec<(String, Vec<u8>)> = globals
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
            .collect();
        patch(&parsed.file, &mut parsed.obj, &globals, None)?;
        Ok(parsed.obj)
    }

    #[test]
    fn a_global_is_written_into_its_section() {
        let before = set(&[]).unwrap();
        assert_eq!(&before.maps[".rodata"].data()[..4], &7u32.to_ne_bytes());
        let obj = set(&[("threshold", &42u32.to_ne_bytes())]).unwrap();
        assert_eq!(&obj.maps[".rodata"].data()[..4], &42u32.to_ne_bytes());
    }

    #[test]
    fn an_unknown_global_lists_the_objects() {
        match set(&[("thresold", &1u32.to_ne_bytes())]) {
            Err(Error::UnknownGlobal { name, available }) => {
                assert_eq!(name, "thresold");
                let names: Vec<&str> = available.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, ["dropped", "seen", "threshold"]);
            }
            other => panic!("wrong outcome: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_global_of_the_wrong_size_is_refused() {
        match set(&[("seen", &1u32.to_ne_bytes())]) {
            Err(Error::GlobalSize {
                name,
                expected,
                actual,
            }) => assert_eq!((name.as_str(), expected, actual), ("seen", 8, 4)),
            other => panic!("wrong outcome: {:?}", other.map(|_| ())),
        }
    }
}
