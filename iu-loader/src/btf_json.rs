//! Map keys and values between their bytes and JSON, following the map's
//! BTF types (ints, enums, structs, unions, arrays, floats, pointers), or
//! as bytes when the map has no BTF.

use iu::btf::{Btf, Kind};
use serde_json::{Map, Value, json};

/// The type's name for messages: `struct Counts`, `u32`, `[u8; 4]`.
pub fn type_name(btf: &Btf, id: u32) -> String {
    let Some(ty) = btf.get(id) else {
        return format!("type {id}");
    };
    match ty.kind {
        Kind::Array => format!("[{}; {}]", type_name(btf, ty.type_id), ty.nelems),
        Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag
            if ty.name.is_empty() =>
        {
            type_name(btf, ty.type_id)
        }
        Kind::Ptr => format!("*{}", type_name(btf, ty.type_id)),
        Kind::Void => "void".into(),
        k if !k.keyword().is_empty()
            && matches!(k, Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64) =>
        {
            format!("{} {}", k.keyword(), ty.name)
        }
        _ => ty.name.clone(),
    }
}

fn int_value(bytes: &[u8], signed: bool) -> Value {
    let mut buf = [0u8; 16];
    let n = bytes.len().min(16);
    buf[..n].copy_from_slice(&bytes[..n]);
    let raw = u128::from_le_bytes(buf);
    if signed {
        let shift = 128 - 8 * n as u32;
        let v = ((raw << shift) as i128) >> shift;
        match i64::try_from(v) {
            Ok(v) => json!(v),
            Err(_) => json!(v.to_string()),
        }
    } else {
        match u64::try_from(raw) {
            Ok(v) => json!(v),
            Err(_) => json!(raw.to_string()),
        }
    }
}

/// The bytes as a JSON array of hex strings, bpftool's format without BTF.
pub fn hex(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|b| json!(format!("0x{b:02x}"))).collect())
}

/// `bytes` as a value of type `id`.
pub fn format(btf: &Btf, id: u32, bytes: &[u8]) -> Value {
    let id = btf.skip_mods_and_typedefs(id);
    let Some(ty) = btf.get(id) else {
        return hex(bytes);
    };
    let size = btf.size_of(id).unwrap_or(bytes.len() as u64) as usize;
    let bytes = &bytes[..size.min(bytes.len())];
    match ty.kind {
        Kind::Int => int_value(bytes, ty.signed),
        Kind::Enum | Kind::Enum64 => {
            let raw = match int_value(bytes, false) {
                Value::Number(n) => n.as_u64().unwrap_or(0),
                _ => 0,
            };
            let mask = if bytes.len() >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * bytes.len())) - 1
            };
            ty.enumerators
                .iter()
                .find(|(_, v)| v & mask == raw)
                .map_or_else(|| int_value(bytes, ty.signed), |(name, _)| json!(name))
        }
        Kind::Float => match bytes.len() {
            4 => json!(f32::from_le_bytes(bytes.try_into().unwrap_or([0; 4]))),
            8 => json!(f64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))),
            _ => hex(bytes),
        },
        Kind::Ptr => json!(format!(
            "{:#x}",
            match int_value(bytes, false) {
                Value::Number(n) => n.as_u64().unwrap_or(0),
                _ => 0,
            }
        )),
        Kind::Array => {
            let elem = ty.type_id;
            let esize = btf.size_of(elem).unwrap_or(0) as usize;
            if esize == 0 {
                return hex(bytes);
            }
            Value::Array(
                bytes
                    .chunks(esize)
                    .take(ty.nelems as usize)
                    .map(|c| format(btf, elem, c))
                    .collect(),
            )
        }
        Kind::Struct | Kind::Union => {
            let mut out = Map::new();
            for (n, m) in ty.members.iter().enumerate() {
                let name = if m.name.is_empty() {
                    format!("<anon{n}>")
                } else {
                    m.name.clone()
                };
                let start = (m.bit_offset / 8) as usize;
                let value = if m.bitfield_size > 0 {
                    let mut buf = [0u8; 8];
                    let avail = bytes.len().saturating_sub(start).min(8);
                    buf[..avail].copy_from_slice(&bytes[start..start + avail]);
                    let raw = u64::from_le_bytes(buf) >> (m.bit_offset % 8);
                    json!(raw & ((1u64 << m.bitfield_size.min(63)) - 1))
                } else {
                    format(btf, m.type_id, bytes.get(start..).unwrap_or(&[]))
                };
                out.insert(name, value);
            }
            Value::Object(out)
        }
        _ => hex(bytes),
    }
}

fn json_int(v: &Value) -> Result<i128, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => {
            let s = s.trim();
            let parsed = if let Some(hex) = s.strip_prefix("0x") {
                i128::from_str_radix(hex, 16)
            } else {
                s.parse()
            };
            parsed.map_err(|_| format!("\"{s}\" is not an integer"))
        }
        Value::Bool(b) => Ok(i128::from(*b)),
        other => Err(format!("{other} is not an integer")),
    }
}

fn put_int(out: &mut [u8], v: i128, signed: bool) -> Result<(), String> {
    let bits = 8 * out.len() as u32;
    let fits = if signed {
        bits >= 128 || (v >= -(1i128 << (bits - 1)) && v < (1i128 << (bits - 1)))
    } else {
        v >= 0 && (bits >= 128 || v < (1i128 << bits))
    };
    if !fits {
        return Err(format!(
            "{v} does not fit in {} {bits}-bit integer",
            if signed { "a signed" } else { "an unsigned" }
        ));
    }
    let bytes = v.to_le_bytes();
    let n = out.len().min(16);
    out[..n].copy_from_slice(&bytes[..n]);
    Ok(())
}

/// Writes `value` as type `id` into `out` (zeroed, of the type's size).
pub fn encode(btf: &Btf, id: u32, value: &Value, out: &mut [u8]) -> Result<(), String> {
    let id = btf.skip_mods_and_typedefs(id);
    let Some(ty) = btf.get(id) else {
        return encode_bytes(value, out);
    };
    let at = |path: &str, e: String| {
        if path.is_empty() {
            e
        } else {
            format!("{path}: {e}")
        }
    };
    match ty.kind {
        Kind::Int | Kind::Ptr => put_int(out, json_int(value)?, ty.signed),
        Kind::Enum | Kind::Enum64 => {
            let v = match value {
                Value::String(s) => match ty.enumerators.iter().find(|(n, _)| n == s) {
                    Some((_, v)) => i128::from(*v as i64),
                    None => json_int(value).map_err(|_| {
                        format!(
                            "\"{s}\" is not one of {}",
                            ty.enumerators
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?,
                },
                _ => json_int(value)?,
            };
            let bytes = v.to_le_bytes();
            let n = out.len().min(16);
            out[..n].copy_from_slice(&bytes[..n]);
            Ok(())
        }
        Kind::Float => {
            let f = value
                .as_f64()
                .ok_or_else(|| format!("{value} is not a number"))?;
            match out.len() {
                4 => out.copy_from_slice(&(f as f32).to_le_bytes()),
                8 => out.copy_from_slice(&f.to_le_bytes()),
                _ => return Err("unsupported float size".into()),
            }
            Ok(())
        }
        Kind::Array => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{value} is not an array of {}", ty.nelems))?;
            if items.len() != ty.nelems as usize {
                return Err(format!(
                    "the array has {} elements, the type {}",
                    items.len(),
                    ty.nelems
                ));
            }
            let esize = btf.size_of(ty.type_id).unwrap_or(0) as usize;
            for (n, item) in items.iter().enumerate() {
                let slot = out
                    .get_mut(n * esize..(n + 1) * esize)
                    .ok_or("array out of bounds")?;
                encode(btf, ty.type_id, item, slot).map_err(|e| at(&format!("[{n}]"), e))?;
            }
            Ok(())
        }
        Kind::Struct | Kind::Union => {
            let fields = value.as_object().ok_or_else(|| {
                format!(
                    "{value} is not an object with the fields of {}",
                    type_name(btf, id)
                )
            })?;
            for key in fields.keys() {
                if !ty.members.iter().any(|m| &m.name == key) {
                    return Err(format!(
                        "{} has no field `{key}` (it has {})",
                        type_name(btf, id),
                        ty.members
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            for m in &ty.members {
                // Missing fields stay zero.
                let Some(field) = fields.get(&m.name) else {
                    continue;
                };
                if m.bitfield_size > 0 {
                    return Err(format!("{}: bitfields cannot be written", m.name));
                }
                let start = (m.bit_offset / 8) as usize;
                let size = btf.size_of(m.type_id).unwrap_or(0) as usize;
                let slot = out
                    .get_mut(start..start + size)
                    .ok_or("field out of bounds")?;
                encode(btf, m.type_id, field, slot).map_err(|e| at(&m.name, e))?;
            }
            Ok(())
        }
        _ => encode_bytes(value, out),
    }
}

/// Without BTF: an integer (little-endian, of the size), an array of
/// bytes, or a string of hex bytes (`"0a 00 00 00"`).
pub fn encode_bytes(value: &Value, out: &mut [u8]) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            if items.len() != out.len() {
                return Err(format!(
                    "{} bytes given, {} expected",
                    items.len(),
                    out.len()
                ));
            }
            for (slot, item) in out.iter_mut().zip(items) {
                let mut b = [0u8];
                put_int(&mut b, json_int(item)?, false)?;
                *slot = b[0];
            }
            Ok(())
        }
        Value::String(s) if s.contains(' ') => {
            let bytes: Result<Vec<u8>, _> = s
                .split_whitespace()
                .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16))
                .collect();
            let bytes = bytes.map_err(|_| format!("\"{s}\" is not hex bytes"))?;
            encode_bytes(
                &Value::Array(bytes.into_iter().map(|b| json!(b)).collect()),
                out,
            )
        }
        _ => put_int(out, json_int(value)?, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BTF for `struct S { a: u32, c: enum Color { Red = 0, Blue = 5 },
    /// arr: [u32; 2] }`, written out by hand.
    fn sample() -> Btf {
        let strings = b"\0u32\0Color\0Red\0Blue\0S\0a\0c\0arr\0";
        let off = |name: &str| {
            let needle = format!("\0{name}\0");
            strings
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .map(|p| p as u32 + 1)
                .unwrap_or_else(|| panic!("{name}"))
        };
        let mut types: Vec<u32> = vec![];
        // 1: u32.
        types.extend([off("u32"), 1 << 24, 4, 32]);
        // 2: enum Color.
        types.extend([
            off("Color"),
            (6 << 24) | 2,
            4,
            off("Red"),
            0,
            off("Blue"),
            5,
        ]);
        // 3: [u32; 2].
        types.extend([0, 3 << 24, 0, 1, 1, 2]);
        // 4: struct S.
        types.extend([off("S"), (4 << 24) | 3, 16]);
        types.extend([off("a"), 1, 0, off("c"), 2, 32, off("arr"), 3, 64]);
        let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut data = vec![0x9f, 0xeb, 1, 0];
        for w in [
            24u32,
            0,
            type_bytes.len() as u32,
            type_bytes.len() as u32,
            strings.len() as u32,
        ] {
            data.extend(w.to_le_bytes());
        }
        data.extend(type_bytes);
        data.extend(strings);
        Btf::parse(data).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn structs_enums_and_arrays_round_trip() {
        let btf = sample();
        let bytes: Vec<u8> = [7u32, 5, 1, 2]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let value = format(&btf, 4, &bytes);
        assert_eq!(value, json!({"a": 7, "c": "Blue", "arr": [1, 2]}));
        assert_eq!(type_name(&btf, 4), "struct S");
        let mut out = vec![0u8; 16];
        encode(&btf, 4, &value, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, bytes);
        // An enumerator's value that has no name prints as a number.
        let odd: Vec<u8> = [0u32, 9, 0, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert_eq!(format(&btf, 4, &odd)["c"], json!(9));
        let err = encode(&btf, 4, &json!({"c": "Green"}), &mut out).unwrap_err();
        assert_eq!(err, "c: \"Green\" is not one of Red, Blue");
        let err = encode(&btf, 4, &json!({"arr": [1]}), &mut out).unwrap_err();
        assert_eq!(err, "arr: the array has 1 elements, the type 2");
        let err = encode(&btf, 4, &json!({"b": 1}), &mut out).unwrap_err();
        assert_eq!(err, "struct S has no field `b` (it has a, c, arr)");
    }

    #[test]
    fn bytes_without_btf() {
        let mut out = [0u8; 4];
        encode_bytes(&json!(258), &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, [2, 1, 0, 0]);
        encode_bytes(&json!("0a 0b 0c 0d"), &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, [10, 11, 12, 13]);
        assert!(encode_bytes(&json!([1, 2]), &mut out).is_err());
        assert!(encode_bytes(&json!(1u64 << 40), &mut out).is_err());
        assert_eq!(hex(&[1, 255]), json!(["0x01", "0xff"]));
    }
}
