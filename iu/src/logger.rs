//! Rendering the structured logs programs write with `info!` and friends.
//!
//! Call sites are read from the object's `iu_log.<id>` sections at load time
//! (format, level, file, line, module); records carry only a site id and
//! the arguments, through the program's `IU_LOGS` ring buffer. Each record
//! becomes a `log::Record` whose target is the program crate's module path.

use std::{
    collections::HashMap,
    fmt::Write,
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use crate::{Ebpf, Error, Result, maps::RingBuf};

/// One log call site, as stored in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSite {
    /// `log::Level` as a number (1 = error ... 5 = trace).
    pub level: u8,
    /// Source line.
    pub line: u32,
    /// Source file.
    pub file: String,
    /// The module path: the program crate and module.
    pub module: String,
    /// The format, normalized to positional placeholders with hints.
    pub format: String,
}

/// Parses the concatenated `iu_log.<id>` sections: site descriptors.
pub(crate) fn parse_sites(section: &[u8]) -> HashMap<u64, LogSite> {
    let mut sites = HashMap::new();
    let mut at = 0;
    let u16_at = |at: usize| {
        section
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    while at + 13 <= section.len() {
        let Some(id) = section
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
        else {
            break;
        };
        let level = section[at + 8];
        let line = section
            .get(at + 9..at + 13)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        let mut cursor = at + 13;
        let mut strings = vec![];
        for _ in 0..3 {
            let Some(len) = u16_at(cursor) else {
                return sites;
            };
            let Some(bytes) = section.get(cursor + 2..cursor + 2 + len) else {
                return sites;
            };
            strings.push(String::from_utf8_lossy(bytes).into_owned());
            cursor += 2 + len;
        }
        let [file, module, format] = <[String; 3]>::try_from(strings).unwrap_or_default();
        sites.insert(
            id,
            LogSite {
                level,
                line,
                file,
                module,
                format,
            },
        );
        // Sites are packed back to back, but the linker may align them.
        at = cursor;
        while at < section.len() && section[at] == 0 {
            at += 1;
        }
    }
    sites
}

/// One argument of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Unsigned(u64),
    Signed(i64),
    Bytes(Vec<u8>),
}

fn parse_args(record: &[u8]) -> Vec<Arg> {
    let mut args = vec![];
    let mut at = 8;
    while let (Some(&tag), Some(&len)) = (record.get(at), record.get(at + 1)) {
        let Some(bytes) = record.get(at + 2..at + 2 + len as usize) else {
            break;
        };
        let word = || bytes.try_into().map(u64::from_le_bytes).unwrap_or(0);
        args.push(match tag {
            1 => Arg::Unsigned(word()),
            2 => Arg::Signed(word() as i64),
            3 => Arg::Bytes(bytes.to_vec()),
            _ => break,
        });
        at += 2 + len as usize;
    }
    args
}

/// Renders `format` (positional `{}` / `{:hint}`) with `args`.
fn render(format: &str, args: &[Arg]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let hint: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let hint = hint.strip_prefix(':').unwrap_or("");
                match args.next() {
                    Some(arg) => render_arg(&mut out, arg, hint),
                    None => out.push_str("<missing>"),
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn render_arg(out: &mut String, arg: &Arg, hint: &str) {
    let _ = match (arg, hint) {
        (Arg::Unsigned(v), "x") => write!(out, "{v:x}"),
        (Arg::Unsigned(v), "X") => write!(out, "{v:X}"),
        (Arg::Signed(v), "x") => write!(out, "{v:x}"),
        (Arg::Signed(v), "X") => write!(out, "{v:X}"),
        (Arg::Unsigned(v), "ipv4") => write!(out, "{}", Ipv4Addr::from(*v as u32)),
        (Arg::Unsigned(v), _) => write!(out, "{v}"),
        (Arg::Signed(v), _) => write!(out, "{v}"),
        (Arg::Bytes(b), "ipv4") if b.len() == 4 => {
            write!(out, "{}", Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        (Arg::Bytes(b), "ipv6") if b.len() == 16 => {
            let octets: [u8; 16] = b.as_slice().try_into().unwrap_or_default();
            write!(out, "{}", Ipv6Addr::from(octets))
        }
        (Arg::Bytes(b), "mac") => {
            let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            write!(out, "{}", parts.join(":"))
        }
        (Arg::Bytes(b), "x") => b.iter().try_for_each(|x| write!(out, "{x:02x}")),
        (Arg::Bytes(b), "X") => b.iter().try_for_each(|x| write!(out, "{x:02X}")),
        (Arg::Bytes(b), _) => write!(out, "{b:?}"),
    };
}

/// A rendered log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The level.
    pub level: log::Level,
    /// The module path of the call site (the `log` target).
    pub target: String,
    /// Source file and line.
    pub location: (String, u32),
    /// The rendered message.
    pub message: String,
}

fn level(n: u8) -> log::Level {
    match n {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    }
}

/// Reads a program's log records and hands them to the `log` crate (or to
/// the caller).
///
/// ```no_run
/// # async fn run() -> Result<(), iu::Error> {
/// let ebpf = iu::EbpfLoader::new()
///     .log_level(log::LevelFilter::Debug)
///     .load_file("target/bpf/bpfel-unknown-none/release/logging")?;
/// let logger = iu::EbpfLogger::new(&ebpf)?;
/// tokio::spawn(logger.run());
/// # Ok(()) }
/// ```
pub struct EbpfLogger {
    ring: RingBuf,
    sites: Arc<HashMap<u64, LogSite>>,
}

impl std::fmt::Debug for EbpfLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbpfLogger")
            .field("sites", &self.sites.len())
            .finish_non_exhaustive()
    }
}

impl EbpfLogger {
    /// A logger for the object's `IU_LOGS` ring buffer (declared in the
    /// program crate with `iu_ebpf::logger!()`).
    pub fn new(ebpf: &Ebpf) -> Result<Self> {
        Ok(Self {
            ring: RingBuf::new(ebpf.map("IU_LOGS")?)?,
            sites: ebpf.log_sites(),
        })
    }

    /// The next record, rendered, waiting for one.
    pub async fn next(&mut self) -> Option<Result<LogRecord>> {
        let record = self.ring.next().await?;
        Some(record.and_then(|bytes| self.decode(&bytes)))
    }

    fn decode(&self, record: &[u8]) -> Result<LogRecord> {
        let id = record
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or_default();
        let site = self.sites.get(&id).ok_or_else(|| Error::Parse(format!(
            "log record for unknown call site {id:#x}: no `iu_log` section of the object describes it (was the program rebuilt with `cargo xtask build` after this object was loaded?)"
        )))?;
        Ok(LogRecord {
            level: level(site.level),
            target: site.module.clone(),
            location: (site.file.clone(), site.line),
            message: render(&site.format, &parse_args(record)),
        })
    }

    /// Forwards every record to the `log` crate until an error.
    pub async fn run(mut self) -> Result<()> {
        while let Some(record) = self.next().await {
            let record = record?;
            log::logger().log(
                &log::Record::builder()
                    .level(record.level)
                    .target(&record.target)
                    .file(Some(&record.location.0))
                    .line(Some(record.location.1))
                    .args(format_args!("{}", record.message))
                    .build(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_hints() {
        let args = [
            Arg::Unsigned(255),
            Arg::Signed(-3),
            Arg::Bytes(vec![10, 0, 0, 1]),
            Arg::Bytes(vec![0xde, 0xad, 0xbe, 0xef, 0, 1]),
            Arg::Unsigned(0x7f00_0001),
        ];
        assert_eq!(
            render(
                "{} {:x} {:X} {{}} {:ipv4} {:mac} {:ipv4}",
                &[
                    args[0].clone(),
                    args[0].clone(),
                    args[0].clone(),
                    args[2].clone(),
                    args[3].clone(),
                    args[4].clone()
                ]
            ),
            "255 ff FF {} 10.0.0.1 de:ad:be:ef:00:01 127.0.0.1"
        );
        assert_eq!(render("{}", &args[1..2]), "-3");
        assert_eq!(
            render("{:x}|{:X}", &[args[3].clone(), args[3].clone()]),
            "deadbeef0001|DEADBEEF0001"
        );
        let v6 = Arg::Bytes(vec![
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ]);
        assert_eq!(render("{:ipv6}", &[v6]), "2001:db8::1");
        assert_eq!(render("{} {}", &args[..1]), "255 <missing>");
    }

    #[test]
    fn parses_sites_and_args() {
        let mut section = vec![];
        section.extend_from_slice(&7u64.to_le_bytes());
        section.push(3);
        section.extend_from_slice(&42u32.to_le_bytes());
        for s in ["main.rs", "prog", "x={}"] {
            section.extend_from_slice(&(s.len() as u16).to_le_bytes());
            section.extend_from_slice(s.as_bytes());
        }
        let sites = parse_sites(&section);
        assert_eq!(sites[&7].format, "x={}");
        assert_eq!(sites[&7].line, 42);
        let mut record = 7u64.to_le_bytes().to_vec();
        record.extend_from_slice(&[1, 8]);
        record.extend_from_slice(&9u64.to_le_bytes());
        record.extend_from_slice(&[0; 16]);
        assert_eq!(parse_args(&record), vec![Arg::Unsigned(9)]);
    }
}
