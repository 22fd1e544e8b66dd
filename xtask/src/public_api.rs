//! `cargo xtask public-api`: the public API of each library crate as text
//! (`docs/public-api/<crate>.txt`), from rustdoc's JSON output, compared
//! with the checked-in snapshot so that API changes are deliberate (`--bless`
//! rewrites the snapshots). Part of `cargo xtask test`.
//!
//! One line per public item: modules, types, fields, variants, functions
//! and methods with their signatures, constants, traits and the trait impls
//! a crate writes (not the ones the compiler derives for every type).

use std::{collections::BTreeSet, path::PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

/// The crates whose API is snapshotted.
pub const CRATES: [&str; 4] = ["iu", "iu-ebpf", "iu-macros", "iu-build"];

#[derive(Args, Debug)]
pub struct PublicApiArgs {
    /// Rewrite the snapshots instead of comparing with them.
    #[arg(long)]
    pub bless: bool,
}

pub fn run(args: &PublicApiArgs) -> Result<()> {
    let mut changed = vec![];
    for krate in CRATES {
        let current = render(&rustdoc_json(krate)?)?;
        let path = snapshot(krate);
        if args.bless {
            std::fs::create_dir_all(crate::root().join("docs/public-api"))?;
            std::fs::write(&path, &current)?;
            continue;
        }
        let before = std::fs::read_to_string(&path).unwrap_or_default();
        if before != current {
            let old: BTreeSet<&str> = before.lines().collect();
            let new: BTreeSet<&str> = current.lines().collect();
            let mut diff = String::new();
            for line in old.difference(&new) {
                diff.push_str(&format!("  - {line}\n"));
            }
            for line in new.difference(&old) {
                diff.push_str(&format!("  + {line}\n"));
            }
            changed.push(format!("{krate} ({}):\n{diff}", path.display()));
        }
    }
    if !changed.is_empty() {
        bail!(
            "the public API changed:\n{}if the change is deliberate, run `cargo xtask public-api --bless` and commit the snapshots",
            changed.join("")
        );
    }
    Ok(())
}

fn snapshot(krate: &str) -> PathBuf {
    crate::root().join(format!("docs/public-api/{krate}.txt"))
}

/// rustdoc's JSON for `krate` (an unstable output format: the Debian
/// rustc allows it with `RUSTC_BOOTSTRAP`).
fn rustdoc_json(krate: &str) -> Result<Value> {
    let target = crate::root().join("target/public-api");
    crate::run_cmd(
        crate::cargo()
            .args(["rustdoc", "-q", "--lib", "-p", krate, "--target-dir"])
            .arg(&target)
            .args(["--", "-Z", "unstable-options", "--output-format", "json"])
            .env("RUSTC_BOOTSTRAP", "1"),
    )?;
    let path = target.join(format!("doc/{}.json", krate.replace('-', "_")));
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The sorted lines of the crate's public API.
fn render(doc: &Value) -> Result<String> {
    let index = doc["index"]
        .as_object()
        .context("rustdoc JSON has no index")?;
    let root = doc["root"].to_string();
    let name = index[&root]["name"].as_str().unwrap_or_default().to_owned();
    let mut lines = BTreeSet::new();
    let mut walker = Walker {
        index,
        lines: &mut lines,
        seen: BTreeSet::new(),
    };
    walker.module(&root, &name);
    let mut out: String = lines.into_iter().collect::<Vec<_>>().join("\n");
    out.push('\n');
    Ok(out)
}

struct Walker<'a> {
    index: &'a serde_json::Map<String, Value>,
    lines: &'a mut BTreeSet<String>,
    seen: BTreeSet<String>,
}

impl Walker<'_> {
    fn item(&self, id: &Value) -> Option<&Value> {
        self.index.get(&id.to_string())
    }

    fn module(&mut self, id: &str, path: &str) {
        let Some(module) = self.index.get(id) else {
            return;
        };
        let items: Vec<Value> = module["inner"]["module"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for item in &items {
            self.public_item(item, path);
        }
    }

    fn public_item(&mut self, id: &Value, parent: &str) {
        let Some(item) = self.item(id).cloned() else {
            return;
        };
        if item["visibility"] != "public" {
            return;
        }
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        // A `use` has no name of its own: it is the name it binds.
        let name = item["name"]
            .as_str()
            .or_else(|| inner["name"].as_str())
            .unwrap_or("_");
        let path = format!("{parent}::{name}");
        if !self.seen.insert(format!("{path}#{id}")) {
            return;
        }
        match kind.as_str() {
            "module" => {
                self.lines.insert(format!("pub mod {path}"));
                self.module(&id.to_string(), &path);
            }
            "use" => {
                // A re-export: the item under its new name, where it is
                // local; otherwise the `use` itself.
                let target = &inner["id"];
                let local = self.item(target).is_some_and(|t| t["crate_id"] == 0);
                if local && inner["is_glob"] == false {
                    let mut target_item = self.item(target).cloned().unwrap_or_default();
                    target_item["name"] = inner["name"].clone();
                    target_item["visibility"] = "public".into();
                    self.render_item(&target_item, &path, target);
                } else {
                    let glob = if inner["is_glob"] == true { "::*" } else { "" };
                    let source = inner["source"].as_str().unwrap_or_default();
                    self.lines
                        .insert(format!("pub use {parent}::{{{source}{glob}}}"));
                }
            }
            _ => self.render_item(&item, &path, id),
        }
    }

    /// An item that is not a module or a `use`, at `path`.
    fn render_item(&mut self, item: &Value, path: &str, id: &Value) {
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        match kind.as_str() {
            "module" => {
                self.lines.insert(format!("pub mod {path}"));
                self.module(&id.to_string(), path);
            }
            "struct" => {
                let generics = generics(&inner["generics"]);
                self.lines.insert(format!("pub struct {path}{generics}"));
                if let Some(fields) = inner["kind"]["plain"]["fields"].as_array() {
                    for field in fields {
                        self.field(field, path);
                    }
                }
                if let Some(fields) = inner["kind"]["tuple"].as_array() {
                    for field in fields.iter().filter(|f| !f.is_null()) {
                        self.field(field, path);
                    }
                }
                self.impls(&inner["impls"], path);
            }
            "enum" => {
                let generics = generics(&inner["generics"]);
                self.lines.insert(format!("pub enum {path}{generics}"));
                for variant in inner["variants"].as_array().into_iter().flatten() {
                    if let Some(v) = self.item(variant) {
                        let name = v["name"].as_str().unwrap_or("_");
                        self.lines.insert(format!("pub {path}::{name}"));
                    }
                }
                self.impls(&inner["impls"], path);
            }
            "union" => {
                self.lines.insert(format!("pub union {path}"));
                self.impls(&inner["impls"], path);
            }
            "trait" => {
                self.lines.insert(format!("pub trait {path}"));
                for member in inner["items"].as_array().into_iter().flatten() {
                    if let Some(m) = self.item(member).cloned() {
                        let name = m["name"].as_str().unwrap_or("_");
                        self.member(&m, &format!("{path}::{name}"));
                    }
                }
            }
            "function" => {
                self.lines.insert(format!("pub {}", function(path, inner)));
            }
            "constant" => {
                self.lines
                    .insert(format!("pub const {path}: {}", ty(&inner["type"])));
            }
            "static" => {
                self.lines
                    .insert(format!("pub static {path}: {}", ty(&inner["type"])));
            }
            "type_alias" => {
                self.lines
                    .insert(format!("pub type {path} = {}", ty(&inner["type"])));
            }
            "macro" => {
                self.lines.insert(format!("pub macro {path}!"));
            }
            "proc_macro" => {
                let kind = inner["kind"].as_str().unwrap_or("bang");
                self.lines.insert(format!("pub proc_macro({kind}) {path}"));
            }
            other => {
                self.lines.insert(format!("pub {other} {path}"));
            }
        }
    }

    fn field(&mut self, id: &Value, owner: &str) {
        let Some(field) = self.item(id) else {
            return;
        };
        if field["visibility"] != "public" {
            return;
        }
        let name = field["name"].as_str().unwrap_or("_");
        let line = format!(
            "pub {owner}::{name}: {}",
            ty(&field["inner"]["struct_field"])
        );
        self.lines.insert(line);
    }

    /// The inherent methods and the written (not derived, not blanket)
    /// trait impls of a type.
    fn impls(&mut self, impls: &Value, owner: &str) {
        for id in impls.as_array().into_iter().flatten() {
            let Some(imp) = self.item(id).cloned() else {
                continue;
            };
            let inner = &imp["inner"]["impl"];
            if inner["is_synthetic"] == true || !inner["blanket_impl"].is_null() {
                continue;
            }
            if imp["attrs"].to_string().contains("automatically_derived") {
                continue;
            }
            if let Some(name) = inner["trait"]["path"].as_str() {
                let args = generic_args(&inner["trait"]["args"]);
                self.lines.insert(format!("impl {name}{args} for {owner}"));
                continue;
            }
            for member in inner["items"].as_array().into_iter().flatten() {
                if let Some(m) = self.item(member).cloned()
                    && m["visibility"] == "public"
                {
                    let name = m["name"].as_str().unwrap_or("_");
                    self.member(&m, &format!("{owner}::{name}"));
                }
            }
        }
    }

    /// A method, associated constant or associated type.
    fn member(&mut self, m: &Value, path: &str) {
        let Some((kind, inner)) = m["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        let line = match kind.as_str() {
            "function" => function(path, inner),
            "assoc_const" => format!("const {path}: {}", ty(&inner["type"])),
            "assoc_type" => format!("type {path}"),
            other => format!("{other} {path}"),
        };
        self.lines.insert(format!("pub {line}"));
    }
}

/// `fn path<generics>(inputs) -> output`.
fn function(path: &str, inner: &Value) -> String {
    let sig = &inner["sig"];
    let inputs: Vec<String> = sig["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|input| {
            let name = input[0].as_str().unwrap_or("_");
            let t = ty(&input[1]);
            match (name, t.as_str()) {
                ("self", "Self") => "self".to_owned(),
                ("self", "&Self") => "&self".to_owned(),
                ("self", "&mut Self") => "&mut self".to_owned(),
                _ => format!("{name}: {t}"),
            }
        })
        .collect();
    let output = match &sig["output"] {
        Value::Null => String::new(),
        t => format!(" -> {}", ty(t)),
    };
    let unsafety = if inner["header"]["is_unsafe"] == true {
        "unsafe "
    } else {
        ""
    };
    let constness = if inner["header"]["is_const"] == true {
        "const "
    } else {
        ""
    };
    format!(
        "{constness}{unsafety}fn {path}{}({}){output}",
        generics(&inner["generics"]),
        inputs.join(", ")
    )
}

/// `<'a, T: Bound, const N: usize>`, or nothing.
fn generics(generics: &Value) -> String {
    let params: Vec<String> = generics["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["kind"]["type"]["is_synthetic"] != true)
        .map(|p| {
            let name = p["name"].as_str().unwrap_or("_").to_owned();
            if let Some(bounds) = p["kind"]["type"]["bounds"].as_array()
                && !bounds.is_empty()
            {
                let bounds: Vec<String> = bounds.iter().map(bound).collect();
                return format!("{name}: {}", bounds.join(" + "));
            }
            if let Some(t) = p["kind"]["const"].get("type") {
                return format!("const {name}: {}", ty(t));
            }
            name
        })
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    }
}

fn bound(b: &Value) -> String {
    if let Some(t) = b.get("trait_bound") {
        let modifier = if t["modifier"] == "maybe" { "?" } else { "" };
        return format!(
            "{modifier}{}{}",
            t["trait"]["path"].as_str().unwrap_or("_"),
            generic_args(&t["trait"]["args"])
        );
    }
    b["outlives"].as_str().unwrap_or("_").to_owned()
}

fn generic_args(args: &Value) -> String {
    let Some(list) = args["angle_bracketed"]["args"].as_array() else {
        if let Some(inputs) = args["parenthesized"]["inputs"].as_array() {
            let inputs: Vec<String> = inputs.iter().map(ty).collect();
            let output = match &args["parenthesized"]["output"] {
                Value::Null => String::new(),
                t => format!(" -> {}", ty(t)),
            };
            return format!("({}){output}", inputs.join(", "));
        }
        return String::new();
    };
    let mut parts: Vec<String> = list
        .iter()
        .map(|a| {
            if let Some(t) = a.get("type") {
                ty(t)
            } else if let Some(l) = a.get("lifetime") {
                l.as_str().unwrap_or("'_").to_owned()
            } else if let Some(c) = a.get("const") {
                c["expr"].as_str().unwrap_or("_").to_owned()
            } else {
                "_".to_owned()
            }
        })
        .collect();
    for c in args["angle_bracketed"]["constraints"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = c["name"].as_str().unwrap_or("_");
        parts.push(format!(
            "{name} = {}",
            ty(&c["binding"]["equality"]["type"])
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("<{}>", parts.join(", "))
    }
}

/// A type as Rust source, near enough to see a change.
fn ty(t: &Value) -> String {
    let Some((kind, inner)) = t.as_object().and_then(|o| o.iter().next()) else {
        return "_".to_owned();
    };
    match kind.as_str() {
        "resolved_path" => format!(
            "{}{}",
            inner["path"].as_str().unwrap_or("_"),
            generic_args(&inner["args"])
        ),
        "generic" | "primitive" => inner.as_str().unwrap_or("_").to_owned(),
        "borrowed_ref" => {
            let lifetime = inner["lifetime"]
                .as_str()
                .map(|l| format!("{l} "))
                .unwrap_or_default();
            let mutability = if inner["is_mutable"] == true {
                "mut "
            } else {
                ""
            };
            format!("&{lifetime}{mutability}{}", ty(&inner["type"]))
        }
        "raw_pointer" => {
            let mutability = if inner["is_mutable"] == true {
                "mut"
            } else {
                "const"
            };
            format!("*{mutability} {}", ty(&inner["type"]))
        }
        "slice" => format!("[{}]", ty(inner)),
        "array" => format!(
            "[{}; {}]",
            ty(&inner["type"]),
            inner["len"].as_str().unwrap_or("_")
        ),
        "tuple" => {
            let items: Vec<String> = inner.as_array().into_iter().flatten().map(ty).collect();
            format!("({})", items.join(", "))
        }
        "impl_trait" => {
            let bounds: Vec<String> = inner.as_array().into_iter().flatten().map(bound).collect();
            format!("impl {}", bounds.join(" + "))
        }
        "dyn_trait" => {
            let traits: Vec<String> = inner["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{}{}",
                        p["trait"]["path"].as_str().unwrap_or("_"),
                        generic_args(&p["trait"]["args"])
                    )
                })
                .collect();
            format!("dyn {}", traits.join(" + "))
        }
        "qualified_path" => format!(
            "<{} as {}>::{}",
            ty(&inner["self_type"]),
            inner["trait"]["path"].as_str().unwrap_or("_"),
            inner["name"].as_str().unwrap_or("_")
        ),
        "function_pointer" => {
            let inputs: Vec<String> = inner["sig"]["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| ty(&i[1]))
                .collect();
            let output = match &inner["sig"]["output"] {
                Value::Null => String::new(),
                t => format!(" -> {}", ty(t)),
            };
            format!("fn({}){output}", inputs.join(", "))
        }
        "infer" => "_".to_owned(),
        other => other.to_owned(),
    }
}
