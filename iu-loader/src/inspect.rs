//! The inspection subcommands: `prog`, `map`, `link`, `net`, `cgroup`,
//! `features`. Each is a thin layer over `iu`'s typed APIs
//! (`iu::programs::LoadedProgram`, `iu::maps::LoadedMap`, `iu::links`,
//! `iu::features`) that prints bpftool's text or JSON.

use std::path::PathBuf;

use clap::Subcommand;
use iu::{
    maps::{LoadedMap, MapInfo},
    programs::{LoadedProgram, ProgramInfo, TcDirection, XdpMode},
};
use serde_json::{Map, Value, json};

use crate::{btf_json, disasm, names};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `println!` that returns the error (a closed pipe: `| head`) instead of
/// panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// Errors of the command line itself (the library's are `iu::Error`s).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments do not follow the subcommand's grammar.
    #[error("{0}")]
    Usage(String),
    /// A key or value argument is not JSON.
    #[error(
        "the {what} `{text}` is not JSON ({reason}); quote it for the shell, for example '{example}'"
    )]
    NotJson {
        /// `key` or `value`.
        what: &'static str,
        /// The argument.
        text: String,
        /// serde_json's message.
        reason: String,
        /// A value of the map's type, as JSON.
        example: String,
    },
    /// A key or value is JSON, but not of the map's type.
    #[error(
        "the {what} does not fit map {map}'s {what} type {ty} ({size} bytes): {reason}; for example: '{example}'"
    )]
    BadJson {
        /// `key` or `value`.
        what: &'static str,
        /// The map.
        map: u32,
        /// The BTF type, or `bytes` without BTF.
        ty: String,
        /// Its size.
        size: usize,
        /// What does not fit.
        reason: String,
        /// A value of the type, as JSON.
        example: String,
    },
    /// Nothing matched a name or tag.
    #[error("no {kind} is called `{name}`: list them with `iu-loader {kind} list`")]
    NoMatch {
        /// `prog` or `map`.
        kind: &'static str,
        /// The name or tag.
        name: String,
    },
}

fn usage(text: impl Into<String>) -> Box<dyn std::error::Error> {
    Box::new(CliError::Usage(text.into()))
}

/// `--json` / `--pretty`.
#[derive(Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub pretty: bool,
}

impl Output {
    fn emit(self, value: &Value) -> Result<()> {
        let text = if self.pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        };
        outln!("{}", text.unwrap_or_default());
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum ProgCommand {
    /// Every loaded program.
    #[command(alias = "show-all")]
    List,
    /// One program (or every program without PROG).
    Show {
        /// `id ID`, `ID`, `name NAME`, `tag TAG` or `pinned FILE`.
        prog: Vec<String>,
    },
    /// `dump xlated PROG`: the translated instructions with the source
    /// lines of the program's line info (`; <line> @ file:line`).
    Dump {
        /// `xlated` (the JITed code is not disassembled).
        what: String,
        /// `id ID`, `ID`, `name NAME`, `tag TAG` or `pinned FILE`.
        prog: Vec<String>,
    },
    /// `pin PROG FILE`: pins the program in bpffs.
    Pin {
        /// PROG then FILE.
        args: Vec<String>,
    },
    /// `unpin FILE`: removes a program's pin.
    Unpin {
        /// The pin.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum MapCommand {
    /// Every loaded map.
    List,
    /// One map (or every map without MAP).
    Show {
        /// `id ID`, `ID`, `name NAME` or `pinned FILE`.
        map: Vec<String>,
    },
    /// Every entry, keys and values shown through the map's BTF.
    Dump {
        /// `id ID`, `ID`, `name NAME` or `pinned FILE`.
        map: Vec<String>,
    },
    /// `lookup MAP key JSON`.
    Lookup {
        /// MAP, then `key JSON`.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// `update MAP key JSON value JSON`: creates or replaces the entry.
    Update {
        /// MAP, then `key JSON value JSON`.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// `delete MAP key JSON`.
    Delete {
        /// MAP, then `key JSON`.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// `pin MAP FILE`: pins the map in bpffs.
    Pin {
        /// MAP then FILE.
        args: Vec<String>,
    },
    /// `unpin FILE`: removes a map's pin.
    Unpin {
        /// The pin.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum LinkCommand {
    /// Every bpf_link.
    List,
    /// One link (or every link without `id ID`).
    Show {
        /// `id ID` or `ID`.
        link: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum NetCommand {
    /// `attach xdp|xdpgeneric|xdpdrv|tcx_ingress|tcx_egress PROG dev
    /// IFACE`.
    Attach {
        /// The attach type, PROG, then `dev IFACE`.
        args: Vec<String>,
    },
    /// `detach xdp|xdpgeneric|xdpdrv dev IFACE`, `detach
    /// tcx_ingress|tcx_egress [PROG] dev IFACE`.
    Detach {
        /// The attach type, PROG for TCX, then `dev IFACE`.
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum CgroupCommand {
    /// `show CGROUP`: the programs attached to the cgroup with
    /// `BPF_PROG_ATTACH`, per attach type.
    Show {
        /// The cgroup directory.
        cgroup: PathBuf,
    },
    /// `attach CGROUP TYPE PROG`.
    Attach {
        /// The cgroup directory, the attach type, then PROG.
        args: Vec<String>,
    },
    /// `detach CGROUP TYPE PROG`.
    Detach {
        /// The cgroup directory, the attach type, then PROG.
        args: Vec<String>,
    },
}

/// A program or map as the command line names it.
enum Spec {
    Id(u32),
    Name(String),
    Tag(String),
    Pinned(PathBuf),
}

/// Parses one object spec at the start of `args`; returns it and the rest.
fn parse_spec<'a>(kind: &str, args: &'a [String]) -> Result<(Spec, &'a [String])> {
    let bad = || {
        usage(format!(
            "expected a {kind}: `id ID`, `ID`, `name NAME`{} or `pinned FILE`",
            if kind == "prog" { ", `tag TAG`" } else { "" }
        ))
    };
    match args {
        [w, v, rest @ ..] if w == "id" => Ok((Spec::Id(v.parse().map_err(|_| bad())?), rest)),
        [w, v, rest @ ..] if w == "name" => Ok((Spec::Name(v.clone()), rest)),
        [w, v, rest @ ..] if w == "tag" && kind == "prog" => Ok((Spec::Tag(v.clone()), rest)),
        [w, v, rest @ ..] if w == "pinned" => Ok((Spec::Pinned(PathBuf::from(v)), rest)),
        [v, rest @ ..] => Ok((Spec::Id(v.parse().map_err(|_| bad())?), rest)),
        [] => Err(bad()),
    }
}

/// False for an object freed between listing the ids and opening one:
/// a name match skips it, as `bpftool` does.
fn still_loaded<T>(opened: &iu::Result<T>) -> bool {
    !matches!(opened, Err(iu::Error::UnknownId { .. }))
}

fn programs(spec: &Spec) -> Result<Vec<LoadedProgram>> {
    Ok(match spec {
        Spec::Id(id) => vec![LoadedProgram::from_id(*id)?],
        Spec::Pinned(path) => vec![LoadedProgram::from_pin(path)?],
        Spec::Name(want) | Spec::Tag(want) => {
            let mut infos = iu::programs::loaded()?;
            if matches!(spec, Spec::Name(_)) {
                // The whole name (from BTF), or the kernel's 15 bytes of it.
                let kernel_names: Vec<String> = infos.iter().map(|p| p.name.clone()).collect();
                full_names(&mut infos);
                for (p, kernel) in infos.iter_mut().zip(kernel_names) {
                    if &kernel == want {
                        p.name = kernel;
                    }
                }
            }
            let found: Vec<_> = infos
                .into_iter()
                .filter(|p| match spec {
                    Spec::Tag(_) => &p.tag_hex() == want,
                    _ => &p.name == want,
                })
                .map(|p| LoadedProgram::from_id(p.id))
                .filter(still_loaded)
                .collect::<std::result::Result<_, _>>()?;
            if found.is_empty() {
                return Err(Box::new(CliError::NoMatch {
                    kind: "prog",
                    name: want.clone(),
                }));
            }
            found
        }
    })
}

fn one_program(args: &[String]) -> Result<(LoadedProgram, &[String])> {
    let (spec, rest) = parse_spec("prog", args)?;
    let mut found = programs(&spec)?;
    if found.len() > 1 {
        return Err(usage(
            "that name matches several programs: give `id ID` (see `iu-loader prog list`)",
        ));
    }
    let program = found.pop().ok_or_else(|| usage("no program matched"))?;
    Ok((program, rest))
}

fn maps(spec: &Spec) -> Result<Vec<LoadedMap>> {
    Ok(match spec {
        Spec::Id(id) => vec![LoadedMap::from_id(*id)?],
        Spec::Pinned(path) => vec![LoadedMap::from_pin(path)?],
        Spec::Name(want) | Spec::Tag(want) => {
            let found: Vec<_> = iu::maps::loaded()?
                .into_iter()
                .filter(|m| &m.name == want)
                .map(|m| LoadedMap::from_id(m.id))
                .filter(still_loaded)
                .collect::<std::result::Result<_, _>>()?;
            if found.is_empty() {
                return Err(Box::new(CliError::NoMatch {
                    kind: "map",
                    name: want.clone(),
                }));
            }
            found
        }
    })
}

fn one_map(args: &[String]) -> Result<(LoadedMap, &[String])> {
    let (spec, rest) = parse_spec("map", args)?;
    let mut found = maps(&spec)?;
    if found.len() > 1 {
        return Err(usage(
            "that name matches several maps: give `id ID` (see `iu-loader map list`)",
        ));
    }
    let map = found.pop().ok_or_else(|| usage("no map matched"))?;
    Ok((map, rest))
}

fn stats_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|s| s.trim() != "0")
}

fn unix_time(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// bpftool's `prog show --json` object.
pub fn prog_json(p: &ProgramInfo) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(p.id));
    o.insert("type".into(), json!(names::prog_type(p.prog_type)));
    if !p.name.is_empty() {
        o.insert("name".into(), json!(p.name));
    }
    o.insert("tag".into(), json!(p.tag_hex()));
    o.insert("gpl_compatible".into(), json!(p.gpl_compatible));
    if p.run_time_ns > 0 || p.run_cnt > 0 || stats_enabled() {
        o.insert("run_time_ns".into(), json!(p.run_time_ns));
        o.insert("run_cnt".into(), json!(p.run_cnt));
    }
    if p.recursion_misses > 0 {
        o.insert("recursion_misses".into(), json!(p.recursion_misses));
    }
    o.insert("loaded_at".into(), json!(unix_time(p.loaded_at())));
    o.insert("uid".into(), json!(p.uid));
    o.insert("bytes_xlated".into(), json!(p.xlated_bytes));
    o.insert("jited".into(), json!(p.jited_bytes > 0));
    if p.jited_bytes > 0 {
        o.insert("bytes_jited".into(), json!(p.jited_bytes));
    }
    if !p.map_ids.is_empty() {
        o.insert("map_ids".into(), json!(p.map_ids));
    }
    if p.btf_id != 0 {
        o.insert("btf_id".into(), json!(p.btf_id));
    }
    if p.verified_insns > 0 {
        o.insert("verified_insns".into(), json!(p.verified_insns));
    }
    Value::Object(o)
}

fn prog_text(p: &ProgramInfo) -> String {
    let mut s = format!("{}: {}  ", p.id, names::prog_type(p.prog_type));
    if !p.name.is_empty() {
        s += &format!("name {}  ", p.name);
    }
    s += &format!("tag {}", p.tag_hex());
    if p.gpl_compatible {
        s += "  gpl";
    }
    if p.run_time_ns > 0 || p.run_cnt > 0 || stats_enabled() {
        s += &format!("  run_time_ns {} run_cnt {}", p.run_time_ns, p.run_cnt);
    }
    s += &format!(
        "\n\tloaded_at {}  uid {}\n\txlated {}B  ",
        names::timestamp(unix_time(p.loaded_at())),
        p.uid,
        p.xlated_bytes
    );
    if p.jited_bytes > 0 {
        s += &format!("jited {}B", p.jited_bytes);
    } else {
        s += "not jited";
    }
    if !p.map_ids.is_empty() {
        let ids: Vec<String> = p.map_ids.iter().map(u32::to_string).collect();
        s += &format!("  map_ids {}", ids.join(","));
    }
    if p.btf_id != 0 || p.verified_insns > 0 {
        s += "\n\t";
        if p.btf_id != 0 {
            s += &format!("btf_id {}  ", p.btf_id);
        }
        if p.verified_insns > 0 {
            s += &format!("verified_insns {}", p.verified_insns);
        }
    }
    s.trim_end().to_owned()
}

/// The kernel keeps 15 bytes of a program's name: a name that long is
/// replaced by the whole one from the program's BTF, as bpftool does.
fn full_names(infos: &mut [ProgramInfo]) {
    for p in infos.iter_mut().filter(|p| p.name.len() == 15) {
        // A program that went away, or has no BTF, keeps the kernel's name.
        if let Ok(Some(name)) = LoadedProgram::from_id(p.id).and_then(|l| l.btf_name())
            && name.starts_with(&p.name)
        {
            p.name = name;
        }
    }
}

fn show_programs(infos: &mut [ProgramInfo], out: Output) -> Result<()> {
    full_names(infos);
    if out.json {
        out.emit(&Value::Array(infos.iter().map(prog_json).collect()))?;
    } else {
        for p in infos {
            outln!("{}", prog_text(p));
        }
    }
    Ok(())
}

/// `prog ...`.
pub fn prog(command: ProgCommand, out: Output) -> Result<()> {
    match command {
        ProgCommand::List => show_programs(&mut iu::programs::loaded()?, out)?,
        ProgCommand::Show { prog } if prog.is_empty() => {
            show_programs(&mut iu::programs::loaded()?, out)?
        }
        ProgCommand::Show { prog } => {
            let (spec, rest) = parse_spec("prog", &prog)?;
            if !rest.is_empty() {
                return Err(usage(format!("unexpected `{}`", rest.join(" "))));
            }
            let mut infos = programs(&spec)?
                .iter()
                .map(LoadedProgram::info)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if out.json && matches!(spec, Spec::Id(_) | Spec::Pinned(_)) {
                // bpftool prints one object, not an array, for one program.
                full_names(&mut infos);
                if let Some(p) = infos.first() {
                    out.emit(&prog_json(p))?;
                }
            } else {
                show_programs(&mut infos, out)?;
            }
        }
        ProgCommand::Dump { what, prog } => {
            if what == "jited" {
                return Err(usage(
                    "`prog dump jited`: iu-loader has no machine-code disassembler; use `bpftool prog dump jited` (iu's programs are ordinary BPF programs), or `prog dump xlated` for the instructions with their Rust lines",
                ));
            }
            if what != "xlated" {
                return Err(usage(format!(
                    "`prog dump {what}`: only `prog dump xlated PROG` is supported"
                )));
            }
            let (program, _) = one_program(&prog)?;
            dump_xlated(&program, out)?;
        }
        ProgCommand::Pin { args } => {
            let (program, rest) = one_program(&args)?;
            let [file] = rest else {
                return Err(usage("expected `prog pin PROG FILE`"));
            };
            program.pin(file)?;
        }
        ProgCommand::Unpin { file } => LoadedProgram::unpin(file)?,
    }
    Ok(())
}

fn dump_xlated(program: &LoadedProgram, out: Output) -> Result<()> {
    let xlated = program.xlated()?;
    let symbols = disasm::Symbols::load();
    let insns = disasm::disassemble(&xlated.insns, &symbols);
    let mut lines = xlated.lines.iter().peekable();
    let mut json_insns = vec![];
    for (pc, text) in insns {
        let mut line_info = None;
        while let Some(line) = lines.next_if(|l| l.insn as usize <= pc) {
            line_info = Some(line);
            if !out.json {
                if line.source.is_empty() {
                    outln!("; @ {}:{}", line.file, line.line);
                } else {
                    outln!("; {} @ {}:{}", line.source, line.file, line.line);
                }
            }
        }
        if out.json {
            let mut o = Map::new();
            o.insert("pc".into(), json!(pc));
            o.insert("disasm".into(), json!(text));
            if let Some(l) = line_info {
                o.insert(
                    "line_info".into(),
                    json!({"file": l.file, "line_num": l.line, "line_col": l.column, "src": l.source}),
                );
            }
            json_insns.push(Value::Object(o));
        } else {
            outln!("{pc:4}: {text}");
        }
    }
    if out.json {
        out.emit(&Value::Array(json_insns))?;
    }
    Ok(())
}

/// bpftool's `map show --json` object.
pub fn map_json(m: &MapInfo) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(m.id));
    o.insert("type".into(), json!(names::map_type(m.map_type)));
    if !m.name.is_empty() {
        o.insert("name".into(), json!(m.name));
    }
    o.insert("flags".into(), json!(m.flags));
    o.insert("bytes_key".into(), json!(m.key_size));
    o.insert("bytes_value".into(), json!(m.value_size));
    o.insert("max_entries".into(), json!(m.max_entries));
    if m.btf_id != 0 {
        o.insert("btf_id".into(), json!(m.btf_id));
    }
    Value::Object(o)
}

fn map_text(m: &MapInfo) -> String {
    let mut s = format!("{}: {}  ", m.id, names::map_type(m.map_type));
    if !m.name.is_empty() {
        s += &format!("name {}  ", m.name);
    }
    s += &format!(
        "flags 0x{:x}\n\tkey {}B  value {}B  max_entries {}",
        m.flags, m.key_size, m.value_size, m.max_entries
    );
    if m.btf_id != 0 {
        s += &format!("\n\tbtf_id {}", m.btf_id);
    }
    s
}

fn show_maps(infos: &[MapInfo], out: Output) -> Result<()> {
    if out.json {
        out.emit(&Value::Array(infos.iter().map(map_json).collect()))?;
    } else {
        for m in infos {
            outln!("{}", map_text(m));
        }
    }
    Ok(())
}

/// A map's keys or values between bytes and JSON.
struct Codec {
    btf: Option<iu::maps::MapBtf>,
    cpus: usize,
}

impl Codec {
    fn new(map: &LoadedMap) -> Result<Self> {
        Ok(Self {
            btf: map.btf()?,
            cpus: if map.info().is_per_cpu() {
                iu::maps::possible_cpus()?
            } else {
                0
            },
        })
    }

    fn type_id(&self, what: &str) -> Option<(&iu::btf::Btf, u32)> {
        let b = self.btf.as_ref()?;
        let id = if what == "key" { b.key } else { b.value };
        (id != 0).then_some((&b.btf, id))
    }

    fn format(&self, what: &str, bytes: &[u8]) -> Value {
        match self.type_id(what) {
            Some((btf, id)) => btf_json::format(btf, id, bytes),
            None => btf_json::hex(bytes),
        }
    }

    fn format_value(&self, info: &MapInfo, bytes: &[u8]) -> Value {
        if self.cpus == 0 {
            return self.format("value", bytes);
        }
        let slot = (info.value_size as usize).next_multiple_of(8);
        Value::Array(
            bytes
                .chunks(slot.max(1))
                .enumerate()
                .map(|(cpu, b)| {
                    json!({"cpu": cpu, "value": self.format("value", &b[..(info.value_size as usize).min(b.len())])})
                })
                .collect(),
        )
    }

    /// Parses `text` as JSON of the map's `what` type.
    fn parse(&self, map: &MapInfo, what: &'static str, text: &str) -> Result<Vec<u8>> {
        let size = if what == "key" {
            map.key_size
        } else {
            map.value_size
        } as usize;
        let ty = self.type_id(what).map_or_else(
            || "bytes".to_owned(),
            |(btf, id)| btf_json::type_name(btf, id),
        );
        let example =
            serde_json::to_string(&self.format(what, &vec![0u8; size])).unwrap_or_default();
        let value: Value = serde_json::from_str(text).map_err(|e| CliError::NotJson {
            what,
            text: text.to_owned(),
            reason: e.to_string(),
            example: example.clone(),
        })?;
        let mut bytes = vec![0u8; size];
        let encoded = match self.type_id(what) {
            Some((btf, id)) => btf_json::encode(btf, id, &value, &mut bytes),
            None => btf_json::encode_bytes(&value, &mut bytes),
        };
        encoded.map_err(|reason| CliError::BadJson {
            what,
            map: map.id,
            ty,
            size,
            reason,
            example,
        })?;
        if what == "value" && self.cpus > 0 {
            // One value for every CPU.
            let slot = size.next_multiple_of(8);
            let mut all = vec![0u8; slot * self.cpus];
            for chunk in all.chunks_mut(slot) {
                chunk[..size].copy_from_slice(&bytes);
            }
            return Ok(all);
        }
        Ok(bytes)
    }
}

/// Takes `word JSON` from the front of `args`.
fn take<'a>(word: &str, args: &'a [String]) -> Result<(&'a str, &'a [String])> {
    match args {
        [w, v, rest @ ..] if w == word => Ok((v.as_str(), rest)),
        _ => Err(usage(format!("expected `{word} JSON`"))),
    }
}

/// `map ...`.
pub fn map(command: MapCommand, out: Output) -> Result<()> {
    match command {
        MapCommand::List => show_maps(&iu::maps::loaded()?, out)?,
        MapCommand::Show { map } if map.is_empty() => show_maps(&iu::maps::loaded()?, out)?,
        MapCommand::Show { map } => {
            let (spec, _) = parse_spec("map", &map)?;
            let infos: Vec<MapInfo> = maps(&spec)?.iter().map(|m| m.info().clone()).collect();
            if out.json && matches!(spec, Spec::Id(_) | Spec::Pinned(_)) {
                if let Some(m) = infos.first() {
                    out.emit(&map_json(m))?;
                }
            } else {
                show_maps(&infos, out)?;
            }
        }
        MapCommand::Dump { map } => {
            let (map, _) = one_map(&map)?;
            let codec = Codec::new(&map)?;
            let entries = map.entries()?;
            let rows: Vec<Value> = entries
                .iter()
                .map(|(k, v)| {
                    json!({"key": codec.format("key", k), "value": codec.format_value(map.info(), v)})
                })
                .collect();
            if out.json {
                out.emit(&Value::Array(rows))?;
            } else {
                for row in &rows {
                    outln!("key: {}  value: {}", row["key"], row["value"]);
                }
                outln!(
                    "Found {} element{}",
                    rows.len(),
                    if rows.len() == 1 { "" } else { "s" }
                );
            }
        }
        MapCommand::Lookup { args } => {
            let (map, rest) = one_map(&args)?;
            let codec = Codec::new(&map)?;
            let (key, _) = take("key", rest)?;
            let key = codec.parse(map.info(), "key", key)?;
            match map.lookup(&key)? {
                Some(value) => {
                    let row = json!({"key": codec.format("key", &key), "value": codec.format_value(map.info(), &value)});
                    if out.json {
                        out.emit(&row)?;
                    } else {
                        outln!("key: {}  value: {}", row["key"], row["value"]);
                    }
                }
                None => return Err(usage("key not found")),
            }
        }
        MapCommand::Update { args } => {
            let (map, rest) = one_map(&args)?;
            let codec = Codec::new(&map)?;
            let (key, rest) = take("key", rest)?;
            let (value, _) = take("value", rest)?;
            let key = codec.parse(map.info(), "key", key)?;
            let value = codec.parse(map.info(), "value", value)?;
            map.update(&key, &value)?;
        }
        MapCommand::Delete { args } => {
            let (map, rest) = one_map(&args)?;
            let codec = Codec::new(&map)?;
            let (key, _) = take("key", rest)?;
            let key = codec.parse(map.info(), "key", key)?;
            if !map.delete(&key)? {
                return Err(usage("key not found: nothing deleted"));
            }
        }
        MapCommand::Pin { args } => {
            let (map, rest) = one_map(&args)?;
            let [file] = rest else {
                return Err(usage("expected `map pin MAP FILE`"));
            };
            map.pin(file)?;
        }
        MapCommand::Unpin { file } => LoadedMap::unpin(file)?,
    }
    Ok(())
}

fn ifname(ifindex: u32) -> Option<String> {
    nix::net::if_::if_indextoname(ifindex)
        .ok()
        .and_then(|n| n.into_string().ok())
}

/// bpftool's `link show --json` object.
fn link_json(l: &iu::links::LinkInfo) -> Value {
    use iu::links::LinkAttach as A;
    let mut o = Map::new();
    o.insert("id".into(), json!(l.id));
    o.insert("type".into(), json!(l.type_name()));
    o.insert("prog_id".into(), json!(l.prog_id));
    match &l.attach {
        A::RawTracepoint { tp_name } => {
            o.insert("tp_name".into(), json!(tp_name));
        }
        A::Tracing {
            attach_type,
            target_obj_id,
            target_btf_id,
        } => {
            o.insert(
                "attach_type".into(),
                json!(names::attach_type(*attach_type)),
            );
            o.insert("target_obj_id".into(), json!(target_obj_id));
            o.insert("target_btf_id".into(), json!(target_btf_id));
        }
        A::Cgroup {
            cgroup_id,
            attach_type,
        } => {
            o.insert("cgroup_id".into(), json!(cgroup_id));
            o.insert(
                "attach_type".into(),
                json!(names::attach_type(*attach_type)),
            );
        }
        A::Netns {
            netns_ino,
            attach_type,
        } => {
            o.insert("netns_ino".into(), json!(netns_ino));
            o.insert(
                "attach_type".into(),
                json!(names::attach_type(*attach_type)),
            );
        }
        A::Xdp { ifindex } => {
            o.insert("ifindex".into(), json!(ifindex));
            if let Some(name) = ifname(*ifindex) {
                o.insert("devname".into(), json!(name));
            }
        }
        A::Tcx {
            ifindex,
            attach_type,
        } => {
            o.insert("ifindex".into(), json!(ifindex));
            if let Some(name) = ifname(*ifindex) {
                o.insert("devname".into(), json!(name));
            }
            o.insert(
                "attach_type".into(),
                json!(names::attach_type(*attach_type)),
            );
        }
        A::PerfEvent { event_type } => {
            o.insert("event_type".into(), json!(event_type));
        }
        _ => {}
    }
    Value::Object(o)
}

fn link_text(l: &iu::links::LinkInfo) -> String {
    let v = link_json(l);
    let mut s = format!("{}: {}  prog {}", l.id, l.type_name(), l.prog_id);
    if let Value::Object(o) = v {
        let extra: Vec<String> = o
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "type" | "prog_id"))
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k} {s}"),
                v => format!("{k} {v}"),
            })
            .collect();
        if !extra.is_empty() {
            s += &format!("\n\t{}", extra.join("  "));
        }
    }
    s
}

/// `link ...`.
pub fn link(command: LinkCommand, out: Output) -> Result<()> {
    let links = match command {
        LinkCommand::List => iu::links::loaded()?,
        LinkCommand::Show { link } if link.is_empty() => iu::links::loaded()?,
        LinkCommand::Show { link } => {
            let id = match link.as_slice() {
                [w, id] if w == "id" => id,
                [id] => id,
                _ => return Err(usage("expected `link show id ID`")),
            };
            let id = id
                .parse()
                .map_err(|_| usage(format!("`{id}` is not a link id")))?;
            let link = iu::links::info(id)?;
            if out.json {
                out.emit(&link_json(&link))?;
            } else {
                outln!("{}", link_text(&link));
            }
            return Ok(());
        }
    };
    if out.json {
        out.emit(&Value::Array(links.iter().map(link_json).collect()))?;
    } else {
        for l in &links {
            outln!("{}", link_text(l));
        }
    }
    Ok(())
}

fn xdp_mode(word: &str) -> Result<XdpMode> {
    match word {
        "xdp" => Ok(XdpMode::Auto),
        "xdpgeneric" => Ok(XdpMode::Generic),
        "xdpdrv" => Ok(XdpMode::Driver),
        "xdpoffload" => Ok(XdpMode::Offload),
        other => Err(usage(format!(
            "`{other}` is not an attach type: use xdp, xdpgeneric, xdpdrv, xdpoffload, tcx_ingress or tcx_egress"
        ))),
    }
}

/// `tcx_ingress` / `tcx_egress`, bpftool's names of the TCX hooks.
fn tcx_direction(word: &str) -> Option<TcDirection> {
    match word {
        "tcx_ingress" => Some(TcDirection::Ingress),
        "tcx_egress" => Some(TcDirection::Egress),
        _ => None,
    }
}

/// `dev IFACE`, the end of every `net` command.
fn dev<'a>(rest: &'a [String], grammar: &str) -> Result<&'a str> {
    match rest {
        [dev, iface] if dev == "dev" => Ok(iface),
        _ => Err(usage(format!("expected `{grammar}`"))),
    }
}

/// `net attach|detach`.
pub fn net(command: NetCommand) -> Result<()> {
    match command {
        NetCommand::Attach { args } => {
            let [hook, rest @ ..] = args.as_slice() else {
                return Err(usage(
                    "expected `net attach xdp|tcx_ingress|tcx_egress PROG dev IFACE`",
                ));
            };
            let (program, rest) = one_program(rest)?;
            let iface = dev(rest, "net attach ATTACH_TYPE PROG dev IFACE")?;
            match tcx_direction(hook) {
                Some(direction) => program.attach_tc(iface, direction)?,
                None => program.attach_xdp(iface, xdp_mode(hook)?)?,
            }
        }
        NetCommand::Detach { args } => {
            let [hook, rest @ ..] = args.as_slice() else {
                return Err(usage(
                    "expected `net detach xdp|tcx_ingress|tcx_egress dev IFACE`",
                ));
            };
            match tcx_direction(hook) {
                Some(direction) => {
                    // `tcx_* PROG dev IFACE`, or `tcx_* dev IFACE` when one
                    // program is attached there.
                    let (program, iface) = if rest.first().is_some_and(|w| w == "dev") {
                        let iface =
                            dev(rest, "net detach tcx_ingress|tcx_egress [PROG] dev IFACE")?;
                        let ids = LoadedProgram::tc_programs(iface, direction)?;
                        let [id] = ids.as_slice() else {
                            return Err(usage(format!(
                                "{} programs are attached to {hook} of {iface} ({ids:?}): name one, `net detach {hook} id ID dev {iface}`",
                                ids.len()
                            )));
                        };
                        (LoadedProgram::from_id(*id)?, iface)
                    } else {
                        let (program, rest) = one_program(rest)?;
                        let iface =
                            dev(rest, "net detach tcx_ingress|tcx_egress [PROG] dev IFACE")?;
                        (program, iface)
                    };
                    program.detach_tc(iface, direction)?;
                }
                None => {
                    let iface = dev(rest, "net detach xdp dev IFACE")?;
                    iu::programs::detach_xdp(iface, xdp_mode(hook)?)?;
                }
            }
        }
    }
    Ok(())
}

fn cgroup_attach_type(word: &str) -> Result<u32> {
    names::CGROUP_ATTACH_TYPES
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            usage(format!(
                "`{word}` is not a cgroup attach type: use one of {}",
                names::CGROUP_ATTACH_TYPES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn cgroup_show(cgroup: &std::path::Path, out: Output) -> Result<()> {
    let mut rows = vec![];
    for (_, attach_type) in names::CGROUP_ATTACH_TYPES {
        let ids = match LoadedProgram::cgroup_programs(cgroup, *attach_type) {
            Ok(ids) => ids,
            // An attach type this kernel does not have.
            Err(iu::Error::Io { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for id in ids {
            let name = LoadedProgram::from_id(id)
                .and_then(|p| p.info())
                .map(|i| i.name)
                .unwrap_or_default();
            rows.push(
                json!({"id": id, "attach_type": names::attach_type(*attach_type), "name": name}),
            );
        }
    }
    if out.json {
        out.emit(&Value::Array(rows))?;
    } else {
        outln!("{:<8}{:<28}{}", "ID", "AttachType", "Name");
        for r in &rows {
            outln!(
                "{:<8}{:<28}{}",
                r["id"],
                r["attach_type"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// `cgroup show|attach|detach`.
pub fn cgroup(command: CgroupCommand, out: Output) -> Result<()> {
    let (attach, args) = match command {
        CgroupCommand::Show { cgroup } => return cgroup_show(&cgroup, out),
        CgroupCommand::Attach { args } => (true, args),
        CgroupCommand::Detach { args } => (false, args),
    };
    let [cgroup, kind, rest @ ..] = args.as_slice() else {
        return Err(usage("expected `cgroup attach|detach CGROUP TYPE PROG`"));
    };
    let attach_type = cgroup_attach_type(kind)?;
    let (program, _) = one_program(rest)?;
    if attach {
        program.attach_cgroup(cgroup, attach_type)?;
    } else {
        program.detach_cgroup(cgroup, attach_type)?;
    }
    Ok(())
}

/// `features`: what `iu::features` reports about the running kernel.
pub fn features(out: Output) -> Result<()> {
    use iu::features as f;
    let version = iu::kernel_version()
        .map_or_else(|| "unknown".to_owned(), |(a, b, c)| format!("{a}.{b}.{c}"));
    // Types that load only with an expected attach type.
    let expected = |t: u32| match t {
        18 => 8,  // cgroup_sock_addr: BPF_CGROUP_INET4_BIND
        25 => 21, // cgroup_sockopt: BPF_CGROUP_GETSOCKOPT
        _ => 0,
    };
    let mut programs = Map::new();
    for t in 1..names::PROG_TYPES {
        // Tracing, struct_ops, ext and LSM need a BTF target to probe.
        if matches!(t, 26..=29) {
            continue;
        }
        programs.insert(
            format!("have_{}_prog_type", names::prog_type(t)),
            json!(f::program_type(t, expected(t))),
        );
    }
    let mut maps = Map::new();
    for t in 1..names::MAP_TYPES {
        // Types iu's probe cannot create without BTF or a target.
        if matches!(t, 19 | 21 | 24 | 26 | 28 | 32 | 33) {
            continue;
        }
        maps.insert(
            format!("have_{}_map_type", names::map_type(t)),
            json!(f::map_type(t)),
        );
    }
    let misc = json!({
        "perf_link": f::perf_link(),
        "xdp_link": f::xdp_link(),
        "tcx_link": f::tcx_link(),
        "log_true_size": f::log_true_size(),
        "task_iterator": f::task_iterator(),
        "map_elem_iterator": f::iterator("bpf_map_elem"),
        "tcp_iterator": f::iterator("tcp"),
        "uprobe_multi": f::uprobe_multi(),
        "usdt": f::usdt(),
        "netfilter_link": f::netfilter(),
        "struct_ops_tcp_congestion_ops": f::struct_ops("tcp_congestion_ops"),
        "struct_ops_link": f::struct_ops_link(),
        "exceptions": f::exceptions(),
        "loop_budget": f::loop_budget(),
        "open_coded_iterators": f::kernel_function_exists("bpf_iter_num_new"),
        "vmlinux_btf": std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        "bpf_stats_enabled": stats_enabled(),
    });
    if out.json {
        out.emit(&json!({
            "kernel_version": version,
            "program_types": programs,
            "map_types": maps,
            "misc": misc,
        }))?;
        return Ok(());
    }
    let yes = |v: &Value| {
        if v.as_bool() == Some(true) {
            "is"
        } else {
            "is NOT"
        }
    };
    outln!("Kernel {version}\n\nProgram types:");
    for (k, v) in &programs {
        let name = k.trim_start_matches("have_").trim_end_matches("_prog_type");
        outln!("  eBPF program_type {name} {} available", yes(v));
    }
    outln!("\nMap types:");
    for (k, v) in &maps {
        let name = k.trim_start_matches("have_").trim_end_matches("_map_type");
        outln!("  eBPF map_type {name} {} available", yes(v));
    }
    outln!("\nOther features:");
    if let Value::Object(misc) = &misc {
        for (k, v) in misc {
            outln!("  {k} {} available", yes(v));
        }
    }
    Ok(())
}
