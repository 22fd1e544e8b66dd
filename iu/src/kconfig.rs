//! `__kconfig` externs of C objects: values of the running kernel's build
//! configuration (`extern bool CONFIG_BPF_SYSCALL __kconfig;`) and
//! libbpf's few computed ones (`LINUX_KERNEL_VERSION`, ...), as libbpf
//! provides them.
//!
//! clang lists such externs in a BTF DATASEC `.kconfig` that no ELF
//! section backs, and refers to each with an `ld_imm64` of an undefined
//! symbol. The loader lays the externs out in one read-only array map
//! (`.kconfig`), fills it from `/boot/config-<release>` or
//! `/proc/config.gz`, freezes it, and points every reference at its
//! extern's bytes in the map (`BPF_PSEUDO_MAP_VALUE`), so that the
//! verifier knows each value and prunes the code a configuration rules
//! out. A missing option is 0 for a `__weak` extern and an error
//! otherwise, as in libbpf.

use std::{collections::HashMap, io::Read as _};

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use crate::{
    Error, Result,
    btf_linkage::{name_of, records, u32_at},
};

/// BTF kinds, from `info >> 24`.
const INT: u32 = 1;
const ARRAY: u32 = 3;
const ENUM: u32 = 6;
const TYPEDEF: u32 = 8;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;
const DATASEC: u32 = 15;
const ENUM64: u32 = 19;
/// `BTF_INT_SIGNED`, `BTF_INT_CHAR` and `BTF_INT_BOOL` in an INT's
/// encoding.
const INT_SIGNED: u32 = 1;
const INT_CHAR: u32 = 2;
const INT_BOOL: u32 = 4;

/// The `imm` the loader gives a `.kconfig` reference until the map
/// exists: no descriptor is negative.
pub(crate) const FD_PLACEHOLDER: i32 = -0x6b63;

/// What an extern's bytes hold, which decides how an option's text is
/// written into them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// `bool`: `y` is 1, `n` 0.
    Bool,
    /// `enum libbpf_tristate`: `n` 0, `y` 1, `m` 2.
    Tristate,
    /// `char`: the letter itself (`y`, `n`, `m`).
    Char,
    /// An integer of the extern's size.
    Int { signed: bool },
    /// `char[N]`: a quoted string, cut to fit with its terminating zero.
    String,
}

/// One `__kconfig` extern: its name, where its bytes are in the map, how
/// many, and what they hold.
#[derive(Debug, Clone)]
pub(crate) struct Extern {
    pub(crate) name: String,
    pub(crate) offset: usize,
    size: usize,
    shape: Shape,
    weak: bool,
}

/// The object's `__kconfig` externs laid out in one value (each at its
/// natural alignment), and that value's size.
pub(crate) fn externs(file: &object::File<'_>) -> Result<(Vec<Extern>, usize)> {
    let Some(btf) = file.section_by_name(".BTF").and_then(|s| s.data().ok()) else {
        return Ok((vec![], 0));
    };
    let Some((types, str_off)) = records(btf) else {
        return Ok((vec![], 0));
    };
    let Some(datasec) = types
        .iter()
        .find(|r| r.kind == DATASEC && name_of(btf, r.at, str_off) == Some(b".kconfig"))
    else {
        return Ok((vec![], 0));
    };
    let weak: Vec<String> = file
        .symbols()
        .filter(|s| s.is_undefined() && s.is_weak())
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect();
    let record = |id: u32| types.get((id as usize).checked_sub(1)?);
    let bad = |what: String| Error::Parse(format!("the `.kconfig` externs' BTF: {what}"));
    let mut out = vec![];
    let mut end = 0usize;
    for entry in 0..datasec.vlen {
        let at = datasec.at + 12 + 12 * entry;
        let var = u32_at(btf, at)
            .and_then(record)
            .ok_or_else(|| bad(format!("entry {entry} is not a variable")))?;
        let name = name_of(btf, var.at, str_off)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| bad(format!("entry {entry} has no name")))?;
        let (size, shape) = u32_at(btf, var.at + 8)
            .and_then(|t| shape_of(btf, &types, str_off, t))
            .ok_or_else(|| {
                bad(format!(
                    "`{name}` is not a bool, char, integer, tristate or char array"
                ))
            })?;
        let align = if shape == Shape::String {
            1
        } else {
            size.next_power_of_two().min(8)
        };
        let offset = end.div_ceil(align) * align;
        end = offset + size;
        out.push(Extern {
            weak: weak.contains(&name),
            name,
            offset,
            size,
            shape,
        });
    }
    Ok((out, end.div_ceil(8) * 8))
}

/// The size and shape of type `id`, through typedefs and qualifiers.
fn shape_of(
    btf: &[u8],
    types: &[crate::btf_linkage::Record],
    str_off: usize,
    mut id: u32,
) -> Option<(usize, Shape)> {
    for _ in 0..16 {
        let r = types.get((id as usize).checked_sub(1)?)?;
        match r.kind {
            TYPEDEF | VOLATILE | CONST => id = u32_at(btf, r.at + 8)?,
            INT => {
                let size = u32_at(btf, r.at + 8)? as usize;
                let encoding = u32_at(btf, r.at + 12)? >> 24;
                let shape = if encoding & INT_BOOL != 0 {
                    Shape::Bool
                } else if encoding & INT_CHAR != 0 && size == 1 {
                    Shape::Char
                } else {
                    Shape::Int {
                        signed: encoding & INT_SIGNED != 0,
                    }
                };
                return Some((size, shape));
            }
            ENUM | ENUM64 => {
                let size = u32_at(btf, r.at + 8)? as usize;
                let shape = if name_of(btf, r.at, str_off) == Some(b"libbpf_tristate") {
                    Shape::Tristate
                } else {
                    Shape::Int { signed: false }
                };
                return Some((size, shape));
            }
            ARRAY => {
                let element = u32_at(btf, r.at + 12)?;
                let len = u32_at(btf, r.at + 20)? as usize;
                let (1, Shape::Char | Shape::Int { .. }) = shape_of(btf, types, str_off, element)?
                else {
                    return None;
                };
                return Some((len, Shape::String));
            }
            _ => return None,
        }
    }
    None
}

/// The running kernel's configuration, `CONFIG_X` to its text (`y`, `m`,
/// `"a string"`, `1000`): `/boot/config-<release>`, else
/// `/proc/config.gz` (`CONFIG_IKCONFIG_PROC`). `None` when neither exists.
fn kernel_config() -> Option<Result<HashMap<String, String>>> {
    let release = nix::sys::utsname::uname()
        .ok()?
        .release()
        .to_string_lossy()
        .into_owned();
    let boot = format!("/boot/config-{release}");
    let io = |path: &str, source| Error::Io {
        context: format!("reading the kernel configuration {path}"),
        source,
    };
    let text = match std::fs::read_to_string(&boot) {
        Ok(text) => Ok(text),
        Err(_) => {
            let gz = std::fs::File::open("/proc/config.gz").ok()?;
            let mut text = String::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_string(&mut text)
                .map(|_| text)
                .map_err(|e| io("/proc/config.gz", e))
        }
    };
    Some(text.map(|text| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(name, _)| name.starts_with("CONFIG_"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }))
}

/// libbpf's computed externs, by name.
fn computed(name: &str) -> Option<String> {
    match name {
        "LINUX_KERNEL_VERSION" => {
            let (a, b, c) = crate::kernel_version()?;
            Some(((a << 16) | (b << 8) | c.min(255)).to_string())
        }
        // `bpf_get_attach_cookie` (helper 174), probed in a kprobe.
        "LINUX_HAS_BPF_COOKIE" => {
            let kprobe = aya_obj::generated::bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32;
            Some(
                if crate::features::helper(kprobe, 174) {
                    "y"
                } else {
                    "n"
                }
                .to_owned(),
            )
        }
        "LINUX_HAS_SYSCALL_WRAPPER" => Some(
            if crate::features::kernel_function_exists("__x64_sys_bpf") {
                "y"
            } else {
                "n"
            }
            .to_owned(),
        ),
        _ => None,
    }
}

/// The map value holding every extern's value (`size` bytes).
pub(crate) fn values(externs: &[Extern], size: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; size];
    let needs_config = externs.iter().any(|e| e.name.starts_with("CONFIG_"));
    let config = if needs_config {
        kernel_config().transpose()?
    } else {
        None
    };
    for e in externs {
        let text = computed(&e.name).or_else(|| config.as_ref()?.get(&e.name).cloned());
        let Some(text) = text else {
            if e.weak {
                continue;
            }
            let reason = if config.is_none() && e.name.starts_with("CONFIG_") {
                "this kernel's configuration is not readable (no /boot/config-<release> and no /proc/config.gz); declare the extern `__weak` to get 0 here".to_owned()
            } else {
                "the kernel's configuration does not set it; declare the extern `__weak` to get 0 when it is absent".to_owned()
            };
            return Err(Error::KernelConfig {
                name: e.name.clone(),
                reason,
            });
        };
        let bytes = encode(e, &text).map_err(|reason| Error::KernelConfig {
            name: e.name.clone(),
            reason,
        })?;
        out[e.offset..e.offset + bytes.len()].copy_from_slice(&bytes);
    }
    Ok(out)
}

/// An option's text as the extern's bytes.
fn encode(e: &Extern, text: &str) -> std::result::Result<Vec<u8>, String> {
    let letter = match text {
        "y" | "n" | "m" => text.as_bytes().first().copied(),
        _ => None,
    };
    let number = |value: u64| {
        let bytes = value.to_le_bytes();
        let fits = e.size >= 8 || value >> (8 * e.size) == 0;
        if fits {
            Ok(bytes[..e.size.min(8)].to_vec())
        } else {
            Err(format!("`{text}` does not fit in {} bytes", e.size))
        }
    };
    match (e.shape, letter) {
        (Shape::Bool, Some(b'y')) => Ok(vec![1]),
        (Shape::Bool, Some(b'n')) => Ok(vec![0]),
        (Shape::Bool, _) => Err(format!(
            "`{text}` is not a bool (y or n); declare it `enum libbpf_tristate` for modules"
        )),
        (Shape::Tristate, Some(letter)) => number(match letter {
            b'y' => 1,
            b'm' => 2,
            _ => 0,
        }),
        (Shape::Char, Some(letter)) => Ok(vec![letter]),
        (Shape::Tristate | Shape::Char, None) => Err(format!("`{text}` is not y, n or m")),
        (Shape::String, _) => {
            let inner = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .ok_or_else(|| format!("`{text}` is not a string"))?;
            let mut bytes: Vec<u8> = inner.bytes().take(e.size.saturating_sub(1)).collect();
            bytes.push(0);
            Ok(bytes)
        }
        (Shape::Int { signed }, _) => {
            let value = if let Some(hex) = text.strip_prefix("0x") {
                u64::from_str_radix(hex, 16).ok()
            } else if signed {
                text.parse::<i64>().ok().map(|v| v as u64)
            } else {
                text.parse::<u64>().ok()
            };
            let value = value.ok_or_else(|| format!("`{text}` is not a number"))?;
            if signed && e.size < 8 {
                // Two's complement, cut to the extern's size.
                let v = value as i64;
                let bits = 8 * e.size as u32;
                let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
                if !(min..=max).contains(&v) {
                    return Err(format!("`{text}` does not fit in {} bytes", e.size));
                }
                return Ok(value.to_le_bytes()[..e.size].to_vec());
            }
            number(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(size: usize, shape: Shape) -> Extern {
        Extern {
            name: "CONFIG_X".into(),
            offset: 0,
            size,
            shape,
            weak: false,
        }
    }

    #[test]
    fn option_texts_are_written_as_libbpf_writes_them() {
        assert_eq!(encode(&ext(1, Shape::Bool), "y"), Ok(vec![1]));
        assert!(encode(&ext(1, Shape::Bool), "m").is_err());
        assert_eq!(encode(&ext(4, Shape::Tristate), "m"), Ok(vec![2, 0, 0, 0]));
        assert_eq!(encode(&ext(1, Shape::Char), "m"), Ok(vec![b'm']));
        assert_eq!(
            encode(&ext(4, Shape::Int { signed: true }), "-2"),
            Ok(vec![0xfe, 0xff, 0xff, 0xff])
        );
        assert_eq!(
            encode(&ext(2, Shape::Int { signed: false }), "0x1234"),
            Ok(vec![0x34, 0x12])
        );
        assert!(encode(&ext(1, Shape::Int { signed: false }), "300").is_err());
        assert_eq!(
            encode(&ext(4, Shape::String), "\"hello\""),
            Ok(b"hel\0".to_vec())
        );
    }
}
