//! `cargo xtask codegen vmlinux <type>[:field,field...]...`: typed handles
//! on kernel structs, unions and enums (`iu_ebpf::kernel`), generated from
//! the running kernel's BTF (`/sys/kernel/btf/vmlinux`) or `--btf FILE`.
//!
//! The handles are not layouts: every accessor reads one field at an
//! offset the loader relocates for the kernel the object runs on, so the
//! BTF used here only decides which fields exist and their Rust types.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use iu::btf::{Btf, Kind};

#[derive(Args, Debug)]
pub struct VmlinuxArgs {
    /// Types, as `name` (every field) or `name:field,field` (for example
    /// `task_struct:pid,tgid,real_parent,comm`). Enums generate their
    /// enumerators.
    #[arg(required = true)]
    pub types: Vec<String>,
    /// Read this BTF file instead of `/sys/kernel/btf/vmlinux`.
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &VmlinuxArgs) -> Result<()> {
    let path = args
        .btf
        .clone()
        .unwrap_or_else(|| PathBuf::from("/sys/kernel/btf/vmlinux"));
    let btf = Btf::from_file(&path).with_context(|| format!("reading BTF {}", path.display()))?;
    let mut command = String::from("cargo xtask codegen vmlinux");
    for t in &args.types {
        command.push(' ');
        command.push_str(t);
    }
    let code = generate(&btf, &args.types, &command)?;
    match &args.out {
        Some(out) => {
            std::fs::write(out, code).with_context(|| format!("writing {}", out.display()))?;
            // Formatted as `cargo fmt` would, so the check stays clean.
            let formatted = std::process::Command::new("rustfmt")
                .args(["--edition", "2024"])
                .arg(out)
                .status();
            if !formatted.is_ok_and(|s| s.success()) {
                eprintln!(
                    "xtask: rustfmt failed on {}; the code is unformatted",
                    out.display()
                );
            }
            Ok(())
        }
        None => {
            print!("{code}");
            Ok(())
        }
    }
}

/// `task_struct` -> `TaskStruct`.
fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A field name as a Rust method name.
fn method(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
        "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
        "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async",
        "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
        "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    match name {
        "self" | "Self" | "super" | "crate" => format!("{name}_"),
        n if KEYWORDS.contains(&n) => format!("r#{n}"),
        n => n.to_owned(),
    }
}

/// How a field is read.
enum Access {
    /// An integer (`u32`, `i64`, `bool`): Rust type, size, shape.
    Scalar(&'static str, u64, char),
    /// A pointer to a generated type: its handle.
    Handle(String),
    /// Any other pointer: its address.
    Address,
    /// An array of integers: element type, length, total size.
    Array(&'static str, u64, u64),
    /// A struct or union inside the object, with a generated handle.
    Embedded(String),
}

fn int_type(size: u64, signed: bool) -> Option<&'static str> {
    Some(match (size, signed) {
        (1, false) => "u8",
        (1, true) => "i8",
        (2, false) => "u16",
        (2, true) => "i16",
        (4, false) => "u32",
        (4, true) => "i32",
        (8, false) => "u64",
        (8, true) => "i64",
        _ => return None,
    })
}

/// How to read a member of type `id`, or why it cannot be read.
fn access(btf: &Btf, id: u32, handles: &HashMap<String, String>) -> Result<Access, String> {
    let rid = btf.skip_mods_and_typedefs(id);
    let ty = btf.get(rid).ok_or("unknown type id")?;
    match ty.kind {
        Kind::Int => {
            let size = u64::from(ty.size);
            if ty.name == "_Bool" {
                return Ok(Access::Scalar("bool", size, 'i'));
            }
            int_type(size, ty.signed)
                .map(|t| Access::Scalar(t, size, 'i'))
                .ok_or_else(|| format!("{size}-byte integers are not supported"))
        }
        Kind::Enum | Kind::Enum64 => {
            let size = u64::from(ty.size);
            int_type(size, ty.signed)
                .map(|t| Access::Scalar(t, size, 'E'))
                .ok_or_else(|| format!("{size}-byte enums are not supported"))
        }
        Kind::Ptr => {
            let target = btf.get(btf.skip_mods_and_typedefs(ty.type_id));
            match target {
                Some(t) if matches!(t.kind, Kind::Struct | Kind::Union) => {
                    match handles.get(&t.name) {
                        Some(h) => Ok(Access::Handle(h.clone())),
                        None => Ok(Access::Address),
                    }
                }
                _ => Ok(Access::Address),
            }
        }
        Kind::Array => {
            let elem = btf
                .get(btf.skip_mods_and_typedefs(ty.type_id))
                .ok_or("unknown element type")?;
            let total = btf.size_of(rid).unwrap_or(0);
            if total > 256 {
                return Err(format!(
                    "a {total}-byte array is too large for the BPF stack; read it by address"
                ));
            }
            match elem.kind {
                Kind::Int | Kind::Enum => int_type(u64::from(elem.size), false)
                    .map(|t| Access::Array(t, u64::from(ty.nelems), total))
                    .ok_or_else(|| "unsupported element type".into()),
                Kind::Ptr => Ok(Access::Array("u64", u64::from(ty.nelems), total)),
                _ => {
                    Err("arrays of structs are not supported: read the elements by address".into())
                }
            }
        }
        Kind::Struct | Kind::Union if !ty.name.is_empty() => match handles.get(&ty.name) {
            Some(h) => Ok(Access::Embedded(h.clone())),
            None => Err(format!(
                "embedded `{} {}`: add it to the generated types to reach its fields",
                ty.kind.keyword(),
                ty.name
            )),
        },
        Kind::Struct | Kind::Union => Err("anonymous struct or union type".into()),
        Kind::Float => Err("floating-point fields are not supported".into()),
        _ => Err("unsupported kind".into()),
    }
}

/// The members of composite `id`, anonymous members flattened (the loader
/// finds them by name through anonymous members, as libbpf does).
fn members(btf: &Btf, id: u32, out: &mut Vec<(String, u32, u32)>, depth: u32) {
    let Some(ty) = btf.get(btf.skip_mods_and_typedefs(id)) else {
        return;
    };
    for m in &ty.members {
        if m.name.is_empty() {
            if depth < 16 {
                members(btf, m.type_id, out, depth + 1);
            }
        } else {
            out.push((m.name.clone(), m.type_id, m.bitfield_size));
        }
    }
}

pub fn generate(btf: &Btf, specs: &[String], command: &str) -> Result<String> {
    // Parse the specs; every named type must exist.
    let mut wanted: Vec<(String, u32, Option<Vec<String>>)> = Vec::new();
    for spec in specs {
        let (name, fields) = match spec.split_once(':') {
            Some((n, f)) => (
                n,
                Some(
                    f.split(',')
                        .map(str::to_owned)
                        .filter(|f| !f.is_empty())
                        .collect(),
                ),
            ),
            None => (spec.as_str(), None),
        };
        let id = btf
            .by_name(name)
            .find(|&id| {
                btf.get(id).is_some_and(|t| {
                    t.name == name
                        && matches!(
                            t.kind,
                            Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64
                        )
                })
            })
            .with_context(|| format!("the BTF has no struct, union or enum named `{name}`"))?;
        wanted.push((name.to_owned(), id, fields));
    }
    let handles: HashMap<String, String> = wanted
        .iter()
        .filter(|(_, id, _)| {
            btf.get(*id)
                .is_some_and(|t| matches!(t.kind, Kind::Struct | Kind::Union))
        })
        .map(|(n, _, _)| (n.clone(), camel(n)))
        .collect();
    let mut code = format!(
        "// Generated by `{command}`.\n\
         // Do not edit: run the command again to add types or fields. The\n\
         // offsets are not here: the loader relocates every access for the\n\
         // kernel the object runs on (see `iu_ebpf::kernel`).\n"
    );
    let mut errors = Vec::new();
    for (name, id, fields) in &wanted {
        let ty = btf.get(*id).context("type")?;
        if matches!(ty.kind, Kind::Enum | Kind::Enum64) {
            let handle = camel(name);
            writeln!(
                code,
                "\n/// `enum {name}` of the kernel: its enumerators' values on the running kernel."
            )?;
            writeln!(
                code,
                "#[derive(Clone, Copy, Debug)]\npub struct {handle};\n\nimpl {handle} {{"
            )?;
            for (variant, _) in &ty.enumerators {
                if fields.as_ref().is_some_and(|f| !f.contains(variant)) {
                    continue;
                }
                writeln!(
                    code,
                    "    /// `{variant}`, `None` if the running kernel's enum lacks it.\n    \
                     #[inline(always)]\n    pub fn {}() -> Option<u64> {{\n        \
                     ::iu_ebpf::enum_value!({name}::{variant})\n    }}",
                    method(&variant.to_lowercase())
                )?;
            }
            code.push_str("}\n");
            continue;
        }
        let handle = &handles[name];
        let keyword = ty.kind.keyword();
        let k = "::iu_ebpf::kernel";
        write!(
            code,
            "\n/// `{keyword} {name}` of the kernel: a handle whose accessors each read\n\
             /// one field at the running kernel's offset: a probe read\n\
             /// (`bpf_probe_read_kernel`) over a `KernelAddr`, a direct load over a\n\
             /// `BtfAddr` (a BTF pointer, in BTF-enabled programs).\n\
             #[derive(Clone, Copy, PartialEq, Eq)]\n\
             pub struct {handle}<A = {k}::KernelAddr> {{\n    addr: A,\n}}\n\n\
             impl<A: {k}::Address> {k}::KernelType for {handle}<A> {{\n    \
             const TYPE_NAME: &'static str = \"{name}\";\n    \
             type Addr = A;\n    \
             #[inline(always)]\n    fn from_kernel_addr(addr: A) -> Self {{\n        {handle} {{ addr }}\n    }}\n    \
             #[inline(always)]\n    fn kernel_addr(self) -> A {{\n        self.addr\n    }}\n}}\n\n\
             impl<A: {k}::Address> {k}::Rebind for {handle}<A> {{\n    \
             type On<B: {k}::Address> = {handle}<B>;\n}}\n\n\
             impl<A: {k}::Address> {handle}<A> {{\n"
        )?;
        let mut all = Vec::new();
        members(btf, *id, &mut all, 0);
        let mut seen = BTreeSet::new();
        if let Some(fields) = fields {
            for f in fields {
                if !all.iter().any(|(n, _, _)| n == f) {
                    errors.push(format!("`{name}` has no field `{f}`"));
                }
            }
        }
        for (field, type_id, bitfield) in &all {
            let named = fields.as_ref().is_some_and(|f| f.contains(field));
            if fields.is_some() && !named || !seen.insert(field.clone()) {
                continue;
            }
            let access = if *bitfield != 0 {
                Err("bitfields are not supported".to_owned())
            } else {
                access(btf, *type_id, &handles)
            };
            let access = match access {
                Ok(a) => a,
                Err(why) if named => {
                    errors.push(format!("`{name}.{field}`: {why}"));
                    continue;
                }
                Err(why) => {
                    writeln!(code, "    // `{field}` left out: {why}.")?;
                    continue;
                }
            };
            let m = method(field);
            let site = |size: u64, shape: char| {
                format!("::iu_ebpf::core_value!(\"o|{name}|{field}|{size}|{shape}\")")
            };
            let body = match &access {
                Access::Scalar("bool", _, _) => format!(
                    "    /// `{field}`, `None` if the read faults.\n    #[inline(always)]\n    \
                     pub fn {m}(self) -> Option<bool> {{\n        \
                     ::iu_ebpf::kernel::__read_bool(self.addr, {})\n    }}\n",
                    site(1, 'i')
                ),
                Access::Scalar(t, size, shape) => format!(
                    "    /// `{field}`, `None` if the read faults.\n    #[inline(always)]\n    \
                     pub fn {m}(self) -> Option<{t}> {{\n        \
                     ::iu_ebpf::kernel::__read::<{t}>(self.addr, {})\n    }}\n",
                    site(*size, *shape)
                ),
                Access::Handle(h) => format!(
                    "    /// `{field}`, `None` if it is null or the read faults.\n    #[inline(always)]\n    \
                     pub fn {m}(self) -> Option<{h}<A>> {{\n        \
                     ::iu_ebpf::kernel::__read_ptr::<{h}<A>>(self.addr, {})\n    }}\n",
                    site(8, 'p')
                ),
                Access::Address => format!(
                    "    /// The (opaque) address `{field}` holds, `None` if the read faults.\n    #[inline(always)]\n    \
                     pub fn {m}(self) -> Option<::iu_ebpf::kernel::KernelAddr> {{\n        \
                     ::iu_ebpf::kernel::__read_addr(self.addr, {})\n    }}\n",
                    site(8, 'p')
                ),
                Access::Array(t, n, total) => format!(
                    "    /// `{field}`, `None` if the read faults.\n    #[inline(always)]\n    \
                     pub fn {m}(self) -> Option<[{t}; {n}]> {{\n        \
                     ::iu_ebpf::kernel::__read::<[{t}; {n}]>(self.addr, {})\n    }}\n",
                    site(*total, 'a')
                ),
                Access::Embedded(h) => format!(
                    "    /// The `{field}` inside this object (no read).\n    #[inline(always)]\n    \
                     pub fn {m}(self) -> {h}<A> {{\n        \
                     <{h}<A> as ::iu_ebpf::kernel::KernelType>::from_kernel_addr(::iu_ebpf::kernel::Address::__offset(self.addr, {}))\n    }}\n",
                    site(0, 'c')
                ),
            };
            code.push_str(&body);
        }
        code.push_str("}\n");
    }
    if !errors.is_empty() {
        bail!("cannot generate:\n  {}", errors.join("\n  "));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Btf {
        Btf::from_file("/sys/kernel/btf/vmlinux").expect("the host kernel's BTF")
    }

    #[test]
    fn task_struct_fields_become_accessors() {
        let code = generate(
            &host(),
            &[
                "task_struct:pid,tgid,real_parent,comm,__state,se".into(),
                "sched_entity:vruntime".into(),
            ],
            "test",
        )
        .expect("generate");
        assert!(code.contains("pub fn pid(self) -> Option<i32>"), "{code}");
        assert!(
            code.contains("pub fn real_parent(self) -> Option<TaskStruct<A>>"),
            "{code}"
        );
        assert!(
            code.contains("pub fn comm(self) -> Option<[u8; 16]>"),
            "{code}"
        );
        assert!(
            code.contains("pub fn __state(self) -> Option<u32>"),
            "{code}"
        );
        assert!(code.contains("pub fn se(self) -> SchedEntity<A>"), "{code}");
        assert!(
            code.contains("impl<A: ::iu_ebpf::kernel::Address> TaskStruct<A>"),
            "{code}"
        );
        assert!(code.contains("\"o|task_struct|pid|4|i\""), "{code}");
    }

    #[test]
    fn bitfields_and_arrays_of_structs_are_refused_by_name() {
        // `sk_buff.pkt_type` is a bitfield; `task_struct.pids`-like arrays
        // of structs: `signal_struct.rlim` (struct rlimit[16]).
        let err = generate(&host(), &["sk_buff:pkt_type".into()], "test").unwrap_err();
        assert!(
            format!("{err}").contains("bitfields are not supported"),
            "{err}"
        );
        let err = generate(&host(), &["signal_struct:rlim".into()], "test").unwrap_err();
        assert!(format!("{err}").contains("arrays of structs"), "{err}");
        let err = generate(&host(), &["task_struct:no_such".into()], "test").unwrap_err();
        assert!(format!("{err}").contains("no field `no_such`"), "{err}");
    }

    #[test]
    fn enums_generate_their_enumerators() {
        let code = generate(&host(), &["pid_type".into()], "test").expect("generate");
        assert!(
            code.contains("enum_value!(pid_type::PIDTYPE_TGID)"),
            "{code}"
        );
    }
}
