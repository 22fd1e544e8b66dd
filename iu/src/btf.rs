//! A small reader of BTF type information (the kernel's
//! `/sys/kernel/btf/vmlinux`, or a `.BTF` section), for CO-RE relocations
//! and `cargo xtask codegen vmlinux`.
//!
//! Only what those need is decoded: names, kinds, sizes, members,
//! enumerators, array shapes and references. Everything is checked against
//! the buffer's length, so a malformed file is an error, never a panic.
//!
//! ```no_run
//! let btf = iu::btf::Btf::parse(std::fs::read("/sys/kernel/btf/vmlinux")?)?;
//! let task = btf.by_name("task_struct").next().expect("task_struct");
//! println!("task_struct is {} bytes", btf.size_of(task).unwrap_or(0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// BTF kinds (`BTF_KIND_*`).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Void,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl Kind {
    fn from_raw(raw: u32) -> Option<Kind> {
        use Kind::*;
        Some(match raw {
            0 => Void,
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// The C keyword of a named kind, as CO-RE records spell it.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Struct => "struct",
            Kind::Union => "union",
            Kind::Enum | Kind::Enum64 => "enum",
            Kind::Typedef => "typedef",
            Kind::Fwd => "fwd",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Func => "func",
            _ => "",
        }
    }
}

/// A member of a struct or union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its name (empty for an anonymous struct or union member).
    pub name: String,
    /// Its type id.
    pub type_id: u32,
    /// Offset from the start of the parent, in bits.
    pub bit_offset: u32,
    /// Width of a bitfield in bits, 0 for an ordinary member.
    pub bitfield_size: u32,
}

/// One type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type {
    /// Its kind.
    pub kind: Kind,
    /// Its name (empty if anonymous).
    pub name: String,
    /// Size in bytes (ints, structs, unions, enums, floats, datasecs).
    pub size: u32,
    /// The type this one refers to (pointers, typedefs, modifiers, vars,
    /// funcs; an array's element type; a function prototype's return).
    pub type_id: u32,
    /// Struct and union members.
    pub members: Vec<Member>,
    /// Enumerators: name and value (sign-extended for signed enums).
    pub enumerators: Vec<(String, u64)>,
    /// An array's number of elements.
    pub nelems: u32,
    /// An int's encoding flag `BTF_INT_SIGNED`.
    pub signed: bool,
}

/// Errors reading BTF.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The data is not BTF, or is truncated.
    #[error("malformed BTF: {0}")]
    Malformed(String),
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Parsed BTF: the types by id (id 0 is `void`) and an index by name.
///
/// Parsing checks every record and string offset but decodes nothing: a
/// type is decoded (names copied, members listed) the first time it is
/// asked for, so loading against the kernel's 5 MB of BTF costs one scan,
/// not a hundred thousand allocations.
#[derive(Debug)]
pub struct Btf {
    types_data: Box<[u8]>,
    strings: Box<[u8]>,
    /// Each type's record offset in `types_data`, by id (0 for `void`).
    offsets: Vec<u32>,
    decoded: Vec<std::sync::OnceLock<Box<Type>>>,
    /// (hash of the essential name, id), sorted, for named types.
    by_name: Vec<(u64, u32)>,
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, BtfError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| BtfError::Malformed(format!("truncated at byte {at}")))
}

/// FNV-1a: the name index's hash.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The `void` type, id 0.
fn void() -> Type {
    Type {
        kind: Kind::Void,
        name: String::new(),
        size: 0,
        type_id: 0,
        members: Vec::new(),
        enumerators: Vec::new(),
        nelems: 0,
        signed: false,
    }
}

impl Btf {
    /// Reads and parses a BTF file.
    ///
    /// ```no_run
    /// let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Btf::parse(data)
    }

    /// Parses raw BTF (little-endian: the hosts iu runs on).
    ///
    /// ```no_run
    /// let btf = iu::btf::Btf::parse(std::fs::read("/sys/kernel/btf/vmlinux")?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(data: impl AsRef<[u8]>) -> Result<Btf, BtfError> {
        let data = data.as_ref();
        let magic = data
            .get(..2)
            .ok_or_else(|| BtfError::Malformed("empty".into()))?;
        if magic != [0x9f, 0xeb] {
            return Err(BtfError::Malformed(
                "bad magic (not little-endian BTF)".into(),
            ));
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let type_off = u32_at(data, 8)? as usize;
        let type_len = u32_at(data, 12)? as usize;
        let str_off = u32_at(data, 16)? as usize;
        let str_len = u32_at(data, 20)? as usize;
        let section = |off: usize, len: usize| {
            let start = hdr_len.checked_add(off)?;
            data.get(start..start.checked_add(len)?)
        };
        let types_data = section(type_off, type_len)
            .ok_or_else(|| BtfError::Malformed("type section out of bounds".into()))?;
        let strings = section(str_off, str_len)
            .ok_or_else(|| BtfError::Malformed("string section out of bounds".into()))?;
        let check_string = |off: u32| {
            if (off as usize) < strings.len() || off == 0 {
                Ok(())
            } else {
                Err(BtfError::Malformed(format!("string offset {off}")))
            }
        };
        let mut offsets = vec![0u32];
        let mut by_name = vec![];
        let mut at = 0usize;
        while at < types_data.len() {
            let id = offsets.len() as u32;
            offsets.push(
                u32::try_from(at)
                    .map_err(|_| BtfError::Malformed("type section too large".into()))?,
            );
            let name_off = u32_at(types_data, at)?;
            let info = u32_at(types_data, at + 4)?;
            check_string(name_off)?;
            let vlen = (info & 0xffff) as usize;
            let kind = Kind::from_raw((info >> 24) & 0x1f).ok_or_else(|| {
                BtfError::Malformed(format!("unknown kind {}", (info >> 24) & 0x1f))
            })?;
            let (extra, per_item, named_items) = match kind {
                Kind::Int | Kind::Var | Kind::DeclTag => (4, 0, false),
                Kind::Array => (12, 0, false),
                Kind::Struct | Kind::Union => (0, 12, true),
                Kind::Enum => (0, 8, true),
                Kind::Enum64 => (0, 12, true),
                Kind::FuncProto => (0, 8, false),
                Kind::Datasec => (0, 12, false),
                _ => (0, 0, false),
            };
            let body = at + 12;
            let end = body + extra + per_item * vlen;
            if end > types_data.len() {
                return Err(BtfError::Malformed(format!("type {id} is truncated")));
            }
            if named_items {
                for item in 0..vlen {
                    check_string(u32_at(types_data, body + item * per_item)?)?;
                }
            }
            if name_off != 0 {
                let name = &strings[name_off as usize..];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                let name = String::from_utf8_lossy(name);
                by_name.push((name_hash(essential_name(&name).as_bytes()), id));
            }
            at = end;
        }
        by_name.sort_unstable();
        let mut decoded = Vec::with_capacity(offsets.len());
        decoded.resize_with(offsets.len(), std::sync::OnceLock::new);
        Ok(Btf {
            types_data: types_data.into(),
            strings: strings.into(),
            offsets,
            decoded,
            by_name,
        })
    }

    /// The string at `off`, lossily decoded.
    fn string(&self, off: u32) -> String {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        String::from_utf8_lossy(&rest[..end]).into_owned()
    }

    /// Decodes type `id`, whose record [`Btf::parse`] checked.
    fn decode(&self, id: u32) -> Type {
        let Some(&start) = self.offsets.get(id as usize).filter(|_| id != 0) else {
            return void();
        };
        let data = &*self.types_data;
        let at_u32 = |at: usize| u32_at(data, at).unwrap_or(0);
        let mut at = start as usize;
        let name_off = at_u32(at);
        let info = at_u32(at + 4);
        let size_or_type = at_u32(at + 8);
        at += 12;
        let vlen = (info & 0xffff) as usize;
        let kind_flag = info >> 31 != 0;
        let kind = Kind::from_raw((info >> 24) & 0x1f).unwrap_or(Kind::Void);
        let mut ty = Type {
            kind,
            name: self.string(name_off),
            ..void()
        };
        match kind {
            Kind::Int
            | Kind::Struct
            | Kind::Union
            | Kind::Enum
            | Kind::Enum64
            | Kind::Float
            | Kind::Datasec => ty.size = size_or_type,
            _ => ty.type_id = size_or_type,
        }
        match kind {
            Kind::Int => ty.signed = (at_u32(at) >> 24) & 1 != 0,
            Kind::Array => {
                ty.type_id = at_u32(at);
                ty.nelems = at_u32(at + 8);
            }
            Kind::Struct | Kind::Union => {
                ty.members = (0..vlen)
                    .map(|i| {
                        let m = at + 12 * i;
                        let offset = at_u32(m + 8);
                        let (bit_offset, bitfield_size) = if kind_flag {
                            (offset & 0xff_ffff, offset >> 24)
                        } else {
                            (offset, 0)
                        };
                        Member {
                            name: self.string(at_u32(m)),
                            type_id: at_u32(m + 4),
                            bit_offset,
                            bitfield_size,
                        }
                    })
                    .collect();
            }
            Kind::Enum => {
                ty.enumerators = (0..vlen)
                    .map(|i| {
                        let e = at + 8 * i;
                        let raw = at_u32(e + 4);
                        let value = if kind_flag {
                            raw as i32 as i64 as u64
                        } else {
                            u64::from(raw)
                        };
                        (self.string(at_u32(e)), value)
                    })
                    .collect();
                ty.signed = kind_flag;
            }
            Kind::Enum64 => {
                ty.enumerators = (0..vlen)
                    .map(|i| {
                        let e = at + 12 * i;
                        let lo = u64::from(at_u32(e + 4));
                        let hi = u64::from(at_u32(e + 8));
                        (self.string(at_u32(e)), hi << 32 | lo)
                    })
                    .collect();
                ty.signed = kind_flag;
            }
            _ => {}
        }
        ty
    }

    /// The type with id `id`.
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// assert_eq!(btf.get(0).map(|t| t.kind), Some(iu::btf::Kind::Void));
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn get(&self, id: u32) -> Option<&Type> {
        let cell = self.decoded.get(id as usize)?;
        Some(cell.get_or_init(|| Box::new(self.decode(id))))
    }

    /// The variables of DATASEC `id`: each one's type id (a `VAR`), offset
    /// and size in the section, in the record's order (empty for other
    /// kinds).
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// for id in btf.by_name(".data..percpu") {
    ///     println!("{} variables", btf.datasec_vars(id).len());
    /// }
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn datasec_vars(&self, id: u32) -> Vec<(u32, u32, u32)> {
        let Some(&start) = self.offsets.get(id as usize).filter(|_| id != 0) else {
            return Vec::new();
        };
        let data = &*self.types_data;
        let at = start as usize;
        let info = u32_at(data, at + 4).unwrap_or(0);
        if Kind::from_raw((info >> 24) & 0x1f) != Some(Kind::Datasec) {
            return Vec::new();
        }
        // `parse` checked that the records lie inside the type section.
        (0..(info & 0xffff) as usize)
            .filter_map(|i| {
                let v = at + 12 + 12 * i;
                Some((
                    u32_at(data, v).ok()?,
                    u32_at(data, v + 4).ok()?,
                    u32_at(data, v + 8).ok()?,
                ))
            })
            .collect()
    }

    /// The string at `offset` of the string section (names, and the file
    /// names and source lines of line info records).
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// assert_eq!(btf.string_at(0), Some(""));
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn string_at(&self, offset: u32) -> Option<&str> {
        let rest = self.strings.get(offset as usize..)?;
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// Number of types, `void` included.
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// println!("{} types", btf.len());
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether only `void` is there.
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// assert!(!btf.is_empty());
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.offsets.len() <= 1
    }

    /// The ids of the types whose name, `___flavor` suffix removed, is
    /// `name`'s, `___flavor` suffix removed.
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// let ids: Vec<u32> = btf.by_name("task_struct___old").collect();
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let wanted = essential_name(name);
        let hash = name_hash(wanted.as_bytes());
        let first = self.by_name.partition_point(|&(h, _)| h < hash);
        self.by_name[first..]
            .iter()
            .take_while(move |&&(h, _)| h == hash)
            .map(|&(_, id)| id)
            .filter(move |&id| {
                self.get(id)
                    .is_some_and(|t| essential_name(&t.name) == wanted)
            })
    }

    /// Skips typedefs and modifiers (`const`, `volatile`, `restrict`, type
    /// tags) to the type they name.
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// let pid_t = btf.by_name("pid_t").next().unwrap_or(0);
    /// let int = btf.skip_mods_and_typedefs(pid_t);
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn skip_mods_and_typedefs(&self, mut id: u32) -> u32 {
        for _ in 0..64 {
            match self.get(id).map(|t| t.kind) {
                Some(
                    Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag,
                ) => id = self.get(id).map_or(0, |t| t.type_id),
                _ => break,
            }
        }
        id
    }

    /// Size in bytes of type `id`, following typedefs and arrays; `None`
    /// for types without a size (functions, `void`).
    ///
    /// ```no_run
    /// # let btf = iu::btf::Btf::from_file("/sys/kernel/btf/vmlinux")?;
    /// let size = btf.by_name("task_struct").next().and_then(|id| btf.size_of(id));
    /// # Ok::<(), iu::btf::BtfError>(())
    /// ```
    pub fn size_of(&self, id: u32) -> Option<u64> {
        // Iterative, with a depth bound: an array that contains itself (a
        // malformed object's BTF) overflowed the stack when this recursed
        // (found by the `btf` fuzz target, issue #17).
        let mut id = id;
        let mut elements: u64 = 1;
        for _ in 0..64 {
            let ty = self.get(self.skip_mods_and_typedefs(id))?;
            let size = match ty.kind {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Float
                | Kind::Datasec => u64::from(ty.size),
                Kind::Ptr => 8,
                Kind::Array => {
                    elements = elements.checked_mul(u64::from(ty.nelems))?;
                    id = ty.type_id;
                    continue;
                }
                _ => return None,
            };
            return size.checked_mul(elements);
        }
        None
    }
}

/// A name without its `___flavor` suffix (`task_struct___old` is
/// `task_struct`), as libbpf compares them.
///
/// ```
/// assert_eq!(iu::btf::essential_name("task_struct___v1"), "task_struct");
/// assert_eq!(iu::btf::essential_name("__state"), "__state");
/// ```
pub fn essential_name(name: &str) -> &str {
    // libbpf's `bpf_core_essential_name_len`: the last `X___Y` where X and
    // Y are not underscores.
    let b = name.as_bytes();
    for i in (0..b.len().saturating_sub(4)).rev() {
        if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
            return &name[..=i];
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BTF with type 1 an array of itself (indexed by type 2, an int):
    /// `size_of` recursed until the stack overflowed (found by the `btf`
    /// fuzz target, issue #17).
    #[test]
    fn an_array_of_itself_has_no_size() {
        let words: [u32; 10] = [
            0,
            3 << 24, // ARRAY
            0,
            1, // element: itself
            2, // index type
            4, // elements
            0,
            1 << 24, // INT
            4,
            32, // encoding: 32 bits
        ];
        let types: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut data = vec![];
        data.extend_from_slice(&0xeb9fu16.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for word in [24, 0, types.len() as u32, types.len() as u32, 1] {
            data.extend_from_slice(&word.to_le_bytes());
        }
        data.extend_from_slice(&types);
        data.push(0);
        let btf = Btf::parse(&data).unwrap();
        assert_eq!(btf.size_of(2), Some(4));
        assert_eq!(btf.size_of(1), None);
    }
}
