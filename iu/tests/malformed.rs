//! `Ebpf::load` never panics or hangs on malformed objects (issue #21,
//! item 6): thousands of mutated copies of the examples' objects
//! (truncations, bit flips, byte overwrites, `u32::MAX` fields, biased
//! towards the ELF headers, the symbol table and the BTF sections) go
//! through everything the loader does before it creates or loads anything
//! (`iu::check_object`: parsing, BTF fixups, linking, line info) and
//! through `iu::panic_paths`, and each one either works or fails with a
//! short error; nothing panics, and nothing is printed by a panic hook. The crash classes the audit found
//! have minimised regression inputs below.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    time::{Duration, Instant},
};

use object::{Object, ObjectSection};

/// Longest error message accepted: no message may quote object data at
/// length.
const MAX_MESSAGE: usize = 600;

fn object(name: &str) -> Vec<u8> {
    let path = iu::object_dir().join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask build`)", path.display()))
}

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Byte ranges worth aiming at: the ELF header, the section header table,
/// and the symbol table, `.BTF`, `.BTF.ext`, `license` and `.maps`.
fn targets(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = vec![(0, 64)];
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    ranges.push((shoff, bytes.len() - shoff));
    let file = object::File::parse(bytes).unwrap();
    for section in file.sections() {
        let name = section.name().unwrap_or_default();
        if matches!(name, ".symtab" | ".BTF" | ".BTF.ext" | "license" | ".maps")
            && let Some((offset, size)) = section.file_range()
        {
            ranges.push((offset as usize, size as usize));
        }
    }
    ranges
}

fn mutate(rng: &mut Rng, original: &[u8], targets: &[(usize, usize)]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let offset = |rng: &mut Rng, len: usize| {
        if rng.below(4) == 0 {
            rng.below(len)
        } else {
            let (start, size) = targets[rng.below(targets.len())];
            (start + rng.below(size)).min(len - 1)
        }
    };
    match rng.below(4) {
        0 => bytes.truncate(rng.below(original.len())),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let at = offset(rng, bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let at = offset(rng, bytes.len());
            let len = (1 + rng.below(16)).min(bytes.len() - at);
            for b in &mut bytes[at..at + len] {
                *b = rng.next() as u8;
            }
        }
        _ => {
            let at = offset(rng, bytes.len()) & !3;
            if at + 4 <= bytes.len() {
                bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            }
        }
    }
    bytes
}

/// Runs the loader's user-space stages on `bytes`: `Err(panic message)` if
/// anything panicked, else the error message if it failed.
fn check(bytes: &[u8]) -> Result<Option<String>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let checked = iu::check_object(bytes).err().map(|e| e.to_string());
        let paths = iu::panic_paths(bytes).err().map(|e| e.to_string());
        // Both take the same path up to linking, so they agree on whether
        // the object is malformed.
        assert!(checked.is_some() || paths.is_none(), "{paths:?}");
        checked.or(paths)
    }))
    .map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn thousands_of_mutated_objects_never_panic_or_hang() {
    // `IU_MUTATION_SEED` and `IU_MUTATIONS` (per object) explore further.
    // Parsing does not depend on the kernel: the host tier runs the full
    // set, and each VM-tier guest (TCG, about 10x slower) the first 150.
    let seed = std::env::var("IU_MUTATION_SEED").map_or(21, |s| s.parse().unwrap());
    let default = if std::env::var_os("IU_VM_TIER").is_some() {
        150
    } else {
        1500
    };
    let per_object = std::env::var("IU_MUTATIONS").map_or(default, |s| s.parse().unwrap());
    let mut rng = Rng(0x1u64 << 63 | seed);
    let mut failures = vec![];
    let (mut cases, mut errors, mut slowest) = (0, 0, Duration::ZERO);
    let mut caught = vec![];
    let start = Instant::now();
    for name in ["hello", "xdp_firewall", "map_test"] {
        let original = object(name);
        let targets = targets(&original);
        for case in 0..per_object {
            let bytes = mutate(&mut rng, &original, &targets);
            let began = Instant::now();
            let outcome = check(&bytes);
            slowest = slowest.max(began.elapsed());
            cases += 1;
            match outcome {
                Err(panic) => failures.push(format!("{name} #{case}: panicked: {panic}")),
                Ok(Some(message)) => {
                    errors += 1;
                    if message.contains("parser panicked") {
                        caught.push(format!("{name} #{case}: {message}"));
                    }
                    if message.len() > MAX_MESSAGE {
                        failures.push(format!(
                            "{name} #{case}: a {}-byte message: {}...",
                            message.len(),
                            &message[..200]
                        ));
                    }
                }
                Ok(None) => {}
            }
        }
    }
    eprintln!(
        "{cases} mutated objects, {errors} refused ({} by a caught panic), {} failures, slowest {slowest:?}, {:?} in all",
        caught.len(),
        failures.len(),
        start.elapsed()
    );
    for message in &caught {
        eprintln!("  {message}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        slowest < Duration::from_secs(2),
        "one object took {slowest:?}"
    );
}

/// The originals pass, so the checks refuse only what is malformed.
#[test]
fn the_examples_objects_pass_the_checks() {
    for name in [
        "hello",
        "xdp_firewall",
        "map_test",
        "scratch",
        "perf_burst",
        "events",
    ] {
        iu::check_object(&object(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

// Minimised inputs, one per crash class of the audit. Each must be refused
// by the checks before aya-obj (not by the caught-panic fallback), with a
// short message naming what is wrong.

fn section(bytes: &[u8], name: &str) -> (usize, usize, usize) {
    let file = object::File::parse(bytes).unwrap();
    let section = file.section_by_name(name).unwrap();
    let (offset, size) = section.file_range().unwrap();
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let header = shoff + section.index().0 * 64;
    (offset as usize, size as usize, header)
}

/// The file offset of the symbol table entry of `symbol`.
fn symbol_entry(bytes: &[u8], symbol: &str) -> usize {
    use object::ObjectSymbol;
    let file = object::File::parse(bytes).unwrap();
    let index = file
        .symbols()
        .find(|s| s.name() == Ok(symbol))
        .unwrap_or_else(|| panic!("no symbol {symbol}"))
        .index()
        .0;
    let (symtab, _, _) = section(bytes, ".symtab");
    symtab + index * 24
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn refused(bytes: &[u8], expected: &str) {
    let message = match check(bytes) {
        Err(panic) => panic!("panicked: {panic}"),
        Ok(None) => panic!("accepted"),
        Ok(Some(message)) => message,
    };
    assert!(
        !message.contains("parser panicked"),
        "refused only by the fallback: {message}"
    );
    assert!(message.contains(expected), "{message}");
    assert!(
        message.len() <= MAX_MESSAGE,
        "{} bytes: {message}",
        message.len()
    );
    // And the loader itself says the same, without loading anything.
    let loaded = iu::Ebpf::load(bytes).unwrap_err().to_string();
    assert!(loaded.contains(expected), "{loaded}");
}

/// `SecInfoIter` sliced `num_info * rec_size` bytes past `.BTF.ext`.
#[test]
fn a_btf_ext_record_count_past_the_section_is_refused() {
    let mut bytes = object("hello");
    let (ext, _, _) = section(&bytes, ".BTF.ext");
    let hdr_len = u32::from_le_bytes(bytes[ext + 4..ext + 8].try_into().unwrap()) as usize;
    let func_info_off = u32::from_le_bytes(bytes[ext + 8..ext + 12].try_into().unwrap()) as usize;
    // Record size (4 bytes), then the first section's name and count.
    put_u32(&mut bytes, ext + hdr_len + func_info_off + 8, u32::MAX);
    refused(&bytes, "func info: 4294967295 records");
}

/// A `.BTF.ext` section name offset outside the strings: aya-obj
/// unwrapped `None`.
#[test]
fn a_btf_ext_section_name_outside_the_strings_is_refused() {
    let mut bytes = object("hello");
    let (ext, _, _) = section(&bytes, ".BTF.ext");
    let hdr_len = u32::from_le_bytes(bytes[ext + 4..ext + 8].try_into().unwrap()) as usize;
    let line_info_off = u32::from_le_bytes(bytes[ext + 16..ext + 20].try_into().unwrap()) as usize;
    put_u32(&mut bytes, ext + hdr_len + line_info_off + 4, 0x00ff_ffff);
    refused(
        &bytes,
        "line info: section name offset 16777215 outside the strings",
    );
}

/// A function's range built from its symbol ("range start index
/// 4294967296 out of range").
#[test]
fn a_function_symbol_past_its_section_is_refused() {
    let mut bytes = object("hello");
    let entry = symbol_entry(&bytes, "hello");
    put_u64(&mut bytes, entry + 8, 1 << 32);
    refused(&bytes, "symbol `hello` (");
    let mut bytes = object("hello");
    put_u64(&mut bytes, entry + 16, u64::from(u32::MAX));
    refused(&bytes, "does not fit in section");
}

/// A BTF type name offset inside `hdr_len + str_off + str_len` but past
/// the strings: aya-obj's `string_at` checked the wrong bound and sliced.
#[test]
fn a_btf_name_past_the_strings_is_refused() {
    let mut bytes = object("hello");
    let (btf, _, _) = section(&bytes, ".BTF");
    let hdr_len = u32::from_le_bytes(bytes[btf + 4..btf + 8].try_into().unwrap()) as usize;
    let type_off = u32::from_le_bytes(bytes[btf + 8..btf + 12].try_into().unwrap()) as usize;
    let str_len = u32::from_le_bytes(bytes[btf + 20..btf + 24].try_into().unwrap());
    // Type 1's name.
    put_u32(&mut bytes, btf + hdr_len + type_off, str_len + 8);
    refused(&bytes, "type 1: name offset");
}

/// A `license` section whose size was flipped gave a 241,226-byte error
/// (the section as a list of decimal bytes).
#[test]
fn a_huge_license_section_gives_a_short_error() {
    let mut bytes = object("hello");
    let (offset, _, header) = section(&bytes, "license");
    let size = (bytes.len() - offset) as u64;
    put_u64(&mut bytes, header + 32, size);
    refused(&bytes, "the `license` section is");
}

/// A `.bss` section declaring 2^51 bytes: aya-obj allocated them up front
/// and the process aborted ("memory allocation of 2533274790395908 bytes
/// failed"), which no `catch_unwind` catches. Found by the `object` fuzz
/// target (issue #17).
#[test]
fn a_huge_bss_section_is_refused_before_it_is_allocated() {
    let mut bytes = object("co_re_c_missing");
    let index = {
        let file = object::File::parse(&*bytes).unwrap();
        file.section_by_name(".bss").unwrap().index().0
    };
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    put_u64(&mut bytes, shoff + index * 64 + 32, 2_533_274_790_395_908);
    refused(&bytes, "section `.bss` declares 2533274790395908 bytes");
}

/// A call's relocation changed to a type aya-obj does not handle (here
/// `R_BPF_NONE`, 0 bits) against a section symbol in code: aya-obj hit an
/// unfinished branch that panics ("FIXME: return an error here for
/// kind=Section"), which only
/// the caught-panic fallback turned into an error. Found by the `object`
/// fuzz target (issue #17).
#[test]
fn a_call_relocation_of_an_unknown_type_is_refused() {
    let (mut bytes, entry) = code_relocation_against(object::SymbolKind::Section)
        .expect("an object with a call through a section symbol");
    // r_info's low half is the type: R_BPF_NONE.
    put_u32(&mut bytes, entry + 8, 0);
    refused(&bytes, "points into code through symbol");
}

/// A call relocation against a function symbol whose section index is
/// reserved (`SHN_LOPROC + 1`: neither a section, undefined, absolute
/// nor common): aya-obj's call linking unwrapped the missing section
/// (`relocation.rs:393`), which only the caught-panic fallback turned into
/// an error. The class the `object` fuzz target stopped on (issue #17).
#[test]
fn a_call_to_a_function_outside_any_section_is_refused() {
    use object::{ObjectSection as _, ObjectSymbol as _};
    let (mut bytes, entry) = code_relocation_against(object::SymbolKind::Text)
        .expect("an object with a call relocation to a function");
    // The file symbol becomes the relocation's target.
    let file = object::File::parse(&*bytes).unwrap();
    let symtab = file
        .section_by_name(".symtab")
        .unwrap()
        .file_range()
        .unwrap()
        .0 as usize;
    let spare = file
        .symbols()
        .find(|s| s.kind() == object::SymbolKind::File)
        .expect("a file symbol")
        .index()
        .0;
    let spare_entry = symtab + spare * 24;
    // Elf64_Sym: st_info (global function) at 4, st_shndx at 6.
    bytes[spare_entry + 4] = 0x12;
    bytes[spare_entry + 6..spare_entry + 8].copy_from_slice(&0xff01u16.to_le_bytes());
    put_u32(&mut bytes, entry + 12, spare as u32);
    refused(&bytes, "outside any section");
}

/// The first built object with a relocation in code against a symbol of
/// `kind` that lies in code (a section symbol: a BPF-to-BPF call or a
/// function address; a function symbol: a call), and the file offset of
/// that `Elf64_Rel` entry.
fn code_relocation_against(kind: object::SymbolKind) -> Option<(Vec<u8>, usize)> {
    use object::{ObjectSymbol, SectionKind};
    let in_code = |file: &object::File<'_>, index: usize| {
        file.section_by_index(object::SectionIndex(index))
            .is_ok_and(|s| s.kind() == SectionKind::Text)
    };
    std::fs::read_dir(iu::object_dir())
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .filter(|bytes| iu::check_object(bytes).is_ok())
        .find_map(|bytes| {
            let file = object::File::parse(&*bytes).ok()?;
            let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
            // sh_info of a relocation section: the section it applies to.
            let target = |index: usize| {
                let at = shoff + index * 64 + 44;
                u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
            };
            for section in file.sections() {
                if !section.name().ok()?.starts_with(".rel")
                    || !in_code(&file, target(section.index().0))
                {
                    continue;
                }
                let (start, size) = section.file_range()?;
                for entry in (start as usize..(start + size) as usize).step_by(16) {
                    let info = u64::from_le_bytes(bytes[entry + 8..entry + 16].try_into().unwrap());
                    let symbol = file
                        .symbol_by_index(object::SymbolIndex((info >> 32) as usize))
                        .ok()?;
                    if symbol.kind() == kind
                        && symbol.section_index().is_some_and(|i| in_code(&file, i.0))
                    {
                        return Some((bytes.clone(), entry));
                    }
                }
            }
            None
        })
}

/// No object the build makes is refused by the checks added for fuzzing
/// findings.
#[test]
fn no_built_object_is_refused_by_the_code_relocation_check() {
    for entry in std::fs::read_dir(iu::object_dir()).unwrap().flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if !bytes.starts_with(b"\x7fELF") {
            continue;
        }
        if let Err(e) = iu::check_object(&bytes) {
            let message = e.to_string();
            assert!(
                !message.contains("points into code through symbol")
                    && !message.contains("bytes of zeroed data"),
                "{}: {message}",
                entry.path().display()
            );
        }
    }
}
