//! Symbols for sampled addresses: kernel frames from `/proc/kallsyms`, user
//! frames from the process's mappings (`/proc/<pid>/maps`) and the symbol
//! tables of the mapped ELF files.

use std::{collections::HashMap, path::PathBuf};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// Kernel symbols by address, from `/proc/kallsyms` (addresses are zero
/// unless the reader is privileged).
pub struct Kallsyms {
    symbols: Vec<(u64, String)>,
}

impl Kallsyms {
    pub fn read() -> Self {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
                let _kind = parts.next()?;
                Some((addr, parts.next()?.to_owned()))
            })
            .filter(|(addr, _)| *addr != 0)
            .collect();
        symbols.sort_unstable();
        Self { symbols }
    }

    /// `symbol+offset` for an address, or `?`.
    pub fn name(&self, ip: u64) -> String {
        match self
            .symbols
            .partition_point(|(addr, _)| *addr <= ip)
            .checked_sub(1)
        {
            Some(i) => format!("{}+{:#x}", self.symbols[i].1, ip - self.symbols[i].0),
            None => "?".to_owned(),
        }
    }
}

/// One executable mapping of a process.
struct Mapping {
    start: u64,
    end: u64,
    /// File offset of `start`.
    offset: u64,
    path: PathBuf,
}

/// An ELF file's loadable segments and function symbols.
struct ElfSymbols {
    /// (file offset, size in the file, virtual address)
    segments: Vec<(u64, u64, u64)>,
    /// (address, size, name), sorted by address.
    functions: Vec<(u64, u64, String)>,
}

impl ElfSymbols {
    fn read(path: &PathBuf) -> Option<Self> {
        let data = std::fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let segments = file
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                (offset, size, s.address())
            })
            .collect();
        let mut functions: Vec<(u64, u64, String)> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_owned())))
            .collect();
        functions.sort_unstable();
        functions.dedup_by_key(|(addr, _, _)| *addr);
        Some(Self {
            segments,
            functions,
        })
    }

    /// The function containing file offset `offset`, and the offset in it.
    fn function_at(&self, offset: u64) -> Option<(&str, u64)> {
        let &(file_offset, _, vaddr) = self
            .segments
            .iter()
            .find(|(start, size, _)| (*start..start + size).contains(&offset))?;
        let addr = offset - file_offset + vaddr;
        let i = self
            .functions
            .partition_point(|(start, _, _)| *start <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &self.functions[i];
        (*size == 0 || addr < start + size).then_some((name.as_str(), addr - start))
    }
}

/// The user-space symbols of the sampled processes, read while they run.
#[derive(Default)]
pub struct UserSymbols {
    mappings: HashMap<u32, Vec<Mapping>>,
    files: HashMap<PathBuf, Option<ElfSymbols>>,
}

impl UserSymbols {
    /// `symbol+offset (file)` for address `ip` in process `pid`; `[user]`
    /// when the process or its mapping is gone, `? (file)` when the file has
    /// no symbol there.
    pub fn name(&mut self, pid: u32, ip: u64) -> String {
        let mappings = self.mappings.entry(pid).or_insert_with(|| read_maps(pid));
        let Some(mapping) = mappings.iter().find(|m| (m.start..m.end).contains(&ip)) else {
            return "[user]".to_owned();
        };
        let file_name = mapping
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let symbols = self
            .files
            .entry(mapping.path.clone())
            .or_insert_with(|| ElfSymbols::read(&mapping.path));
        match symbols
            .as_ref()
            .and_then(|s| s.function_at(ip - mapping.start + mapping.offset))
        {
            Some((name, offset)) => format!("{}+{offset:#x} ({file_name})", demangle(name)),
            None => format!("? ({file_name})"),
        }
    }
}

/// A Rust symbol in the legacy mangling (`_ZN...E`, rustc's default) as
/// its path, without the trailing hash; any other name as it is.
fn demangle(name: &str) -> String {
    let Some(mut rest) = name.strip_prefix("_ZN") else {
        return name.to_owned();
    };
    let mut parts: Vec<String> = vec![];
    while let Some(digits) = rest.find(|c: char| !c.is_ascii_digit()).filter(|&n| n > 0) {
        let Ok(len) = rest[..digits].parse::<usize>() else {
            return name.to_owned();
        };
        let Some(part) = rest.get(digits..digits + len) else {
            return name.to_owned();
        };
        parts.push(unescape(part));
        rest = &rest[digits + len..];
    }
    if rest != "E" || parts.is_empty() {
        return name.to_owned();
    }
    if parts.last().is_some_and(|h| {
        h.len() == 17 && h.starts_with('h') && h[1..].chars().all(|c| c.is_ascii_hexdigit())
    }) {
        parts.pop();
    }
    parts.join("::")
}

/// Undoes the legacy mangling's escapes (`$LT$`, `$u7b$`, `..`, ...).
fn unescape(part: &str) -> String {
    let part = part
        .strip_prefix("_$")
        .map_or(part.to_owned(), |p| format!("${p}"));
    let mut out = String::new();
    let mut rest = part.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("..") {
            out.push_str("::");
            rest = after;
        } else if rest.starts_with('$')
            && let Some(end) = rest[1..].find('$')
        {
            let code = &rest[1..=end];
            let decoded = match code {
                "LT" => Some('<'),
                "GT" => Some('>'),
                "RF" => Some('&'),
                "BP" => Some('*'),
                "C" => Some(','),
                "SP" => Some('@'),
                _ => code
                    .strip_prefix('u')
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .and_then(char::from_u32),
            };
            match decoded {
                Some(c) => {
                    out.push(c);
                    rest = &rest[end + 2..];
                }
                None => {
                    out.push('$');
                    rest = &rest[1..];
                }
            }
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The executable, file-backed mappings of process `pid`.
fn read_maps(pid: u32) -> Vec<Mapping> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            // start-end perms offset dev inode path
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let perms = fields.next()?;
            let offset = fields.next()?;
            let path = fields.nth(2)?;
            (perms.contains('x') && path.starts_with('/')).then(|| {
                Some(Mapping {
                    start: u64::from_str_radix(start, 16).ok()?,
                    end: u64::from_str_radix(end, 16).ok()?,
                    offset: u64::from_str_radix(offset, 16).ok()?,
                    path: PathBuf::from(path),
                })
            })?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::UserSymbols;

    #[test]
    fn legacy_rust_symbols_demangle_to_their_paths() {
        assert_eq!(
            super::demangle(
                "_ZN7profile7symbols5tests27marker_function_for_symbols17h0123456789abcdefE"
            ),
            "profile::symbols::tests::marker_function_for_symbols"
        );
        assert_eq!(
            super::demangle(
                "_ZN4core3ptr46drop_in_place$LT$alloc..vec..Vec$LT$u8$GT$$GT$17h0123456789abcdefE"
            ),
            "core::ptr::drop_in_place<alloc::vec::Vec<u8>>"
        );
        assert_eq!(
            super::demangle("_ZN7profile4main28_$u7b$$u7b$closure$u7d$$u7d$17h0123456789abcdefE"),
            "profile::main::{{closure}}"
        );
        assert_eq!(super::demangle("getppid"), "getppid");
        assert_eq!(super::demangle("_ZN3fooE"), "foo");
        assert_eq!(super::demangle("_ZN3fo"), "_ZN3fo");
    }

    /// This test's own code resolves to its own function.
    #[test]
    fn a_function_of_this_process_resolves_to_its_name() {
        #[inline(never)]
        fn marker_function_for_symbols() -> u64 {
            std::hint::black_box(7)
        }
        let ip = marker_function_for_symbols as fn() -> u64 as usize as u64;
        std::hint::black_box(marker_function_for_symbols());
        let name = UserSymbols::default().name(std::process::id(), ip + 1);
        assert!(
            name.contains("marker_function_for_symbols") && name.contains("+0x1 ("),
            "{name}"
        );
        assert_eq!(UserSymbols::default().name(std::process::id(), 1), "[user]");
    }
}
