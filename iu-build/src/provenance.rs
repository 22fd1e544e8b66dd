//! Keeping kernel addresses inside the kernel: program crates may not turn
//! a pointer into an integer.
//!
//! Safe Rust can take the address of any local or map value
//! (`&local as *const u64 as u64`); stored in a map or sent through a ring
//! buffer, it hands user space a kernel stack or heap address, which
//! defeats KASLR. Two layers stop it:
//!
//! - rustc's `lossy_provenance_casts` lint, forbidden in every program
//!   crate build ([`RUSTC_FLAGS`]), refuses pointer-to-integer `as` casts;
//! - [`check_sources`] refuses the ways around the lint that it cannot see,
//!   by name, before the build: the pointer methods that return the address
//!   (`.addr()`, which the lint's own message suggests,
//!   `.expose_provenance()`), the ways to get a raw pointer at all
//!   (`*const`/`*mut`, `addr_of!`, `&raw`, `from_ref`, `as_ptr`, `NonNull`,
//!   `UnsafeCell`), `core::ptr`'s functions (`ptr::hash` hashes an address
//!   given a reference), `{:p}` formatting, and unstable features (the BPF
//!   build runs with `RUSTC_BOOTSTRAP`, and `#![feature]` would open the
//!   rest of the standard library's unstable pointer API).
//!
//! Safe program code can do nothing else with a raw pointer (it cannot
//! dereference one), and iu-ebpf's API hands out none, so refusing them
//! costs programs nothing. The scan is by name, not by type: a method of
//! the program's own that is called `addr` is refused too (rename it).

use std::path::Path;

use crate::{Error, Result};

/// Added to every program crate's `rustc` command line.
///
/// ```
/// assert!(iu_build::provenance::RUSTC_FLAGS.contains(&"lossy_provenance_casts"));
/// ```
pub const RUSTC_FLAGS: &[&str] = &[
    "-Z",
    "crate-attr=feature(strict_provenance_lints)",
    "-F",
    "lossy_provenance_casts",
];

/// What the scan refuses: a pattern found in code (outside `//` comments)
/// and why. Patterns that start with a letter match whole words.
const REFUSED: &[(&str, &str)] = &[
    (".addr(", "`.addr()` is a pointer's address"),
    (
        "expose_provenance",
        "`expose_provenance` is a pointer's address",
    ),
    ("expose_addr", "`expose_addr` is a pointer's address"),
    ("with_exposed_provenance", "makes pointers from addresses"),
    (
        "without_provenance",
        "makes pointers from addresses (to compare an address against)",
    ),
    (
        "align_offset",
        "`align_offset` depends on a pointer's address",
    ),
    (
        "*const",
        "raw pointers only serve to reveal addresses in safe code",
    ),
    (
        "*mut",
        "raw pointers only serve to reveal addresses in safe code",
    ),
    (
        "&raw",
        "raw pointers only serve to reveal addresses in safe code",
    ),
    ("addr_of", "`addr_of!` makes a raw pointer"),
    ("addr_of_mut", "`addr_of_mut!` makes a raw pointer"),
    ("from_ref", "`ptr::from_ref` makes a raw pointer"),
    ("from_mut", "`ptr::from_mut` makes a raw pointer"),
    ("as_ptr", "`as_ptr` makes a raw pointer"),
    ("as_mut_ptr", "`as_mut_ptr` makes a raw pointer"),
    (
        "NonNull",
        "`NonNull` is a raw pointer (and `NonNull::addr` its address)",
    ),
    ("UnsafeCell", "`UnsafeCell::get` makes a raw pointer"),
    (
        "ptr::",
        "`core::ptr`'s functions take references as pointers (`ptr::hash` hashes the address)",
    ),
    (
        "::ptr",
        "`core::ptr`'s functions take references as pointers (`ptr::hash` hashes the address)",
    ),
    (":p}", "`{:p}` formats an address"),
    (":#p}", "`{:#p}` formats an address"),
    ("Pointer", "`fmt::Pointer` formats an address"),
    (
        "#![feature",
        "unstable features would reopen the pointer API these checks close",
    ),
];

/// Every refused use in the Rust sources under `dir`, as
/// `file:line: text (why)`.
///
/// ```no_run
/// for use_ in iu_build::provenance::refused_uses("my-ebpf/src".as_ref())? {
///     println!("{use_}");
/// }
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn refused_uses(dir: &Path) -> Result<Vec<String>> {
    let mut found = vec![];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, "reading", e))? {
            let path = entry.map_err(|e| Error::io(&dir, "reading", e))?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io(&path, "reading", e))?;
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if let Some((_, why)) = REFUSED.iter().find(|(p, _)| contains(code, p)) {
                    found.push(format!(
                        "{}:{}: {} ({why})",
                        path.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `code` contains `pattern`; a pattern that starts and ends with
/// an identifier character must be a whole word.
fn contains(code: &str, pattern: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let starts = pattern.chars().next().is_some_and(word);
    let ends = pattern.chars().last().is_some_and(word);
    code.match_indices(pattern).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + pattern.len()..].chars().next();
        (!starts || !before.is_some_and(word)) && (!ends || !after.is_some_and(word))
    })
}

/// Fails, naming each file and line, when a program crate's sources use
/// one of the refused constructs.
///
/// ```no_run
/// iu_build::provenance::check_sources("my-ebpf/src".as_ref())?;
/// # Ok::<(), iu_build::Error>(())
/// ```
pub fn check_sources(dir: &Path) -> Result<()> {
    let found = refused_uses(dir)?;
    if !found.is_empty() {
        return Err(Error::Provenance(format!(
            "{} turns pointers into addresses, or could: program crates may not, because an address stored \
             in a map or sent through a ring buffer reveals kernel memory layout to user space (it defeats \
             KASLR). Pointer-to-integer casts are refused by rustc (`lossy_provenance_casts`), and these by \
             name (see docs/safety.md, \"Addresses\"):\n  {}",
            dir.parent().unwrap_or(dir).display(),
            found.join("\n  ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_are_found_by_name_outside_comments() {
        let dir = std::env::temp_dir().join(format!("iu-provenance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("lib.rs"),
            "// p.addr() in a comment\nfn f(x: &u64) -> usize {\n    core::ptr::from_ref(x).addr()\n}\n\
             fn g(x: &u64) { let _ = x as *const u64; }\nfn address(a: u32) -> u32 { a }\nfn h(ip: Ip) { ip.address(); }\n\
             fn i(h: &mut H, x: &u64) { core::ptr::hash(x, h) }\n",
        )
        .unwrap();
        let found = refused_uses(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("lib.rs:3:"), "{found:?}");
        assert!(found[1].contains("lib.rs:5:"), "{found:?}");
        assert!(found[2].contains("lib.rs:8:"), "{found:?}");
    }

    #[test]
    fn words_match_whole() {
        assert!(contains("let p = NonNull::from(x);", "NonNull"));
        assert!(!contains("let p = MyNonNullish;", "NonNull"));
        assert!(contains("x.addr()", ".addr("));
        assert!(!contains("x.address()", ".addr("));
        assert!(contains("use core::ptr::hash;", "ptr::"));
        assert!(!contains("fn ptr_len() {}", "ptr::"));
    }
}
