//! Finding (and if needed mounting) tracefs.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use crate::error::{Error, Result};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// The tracefs mount point, mounting tracefs at `/sys/kernel/tracing` if
/// it is not mounted yet. Decided once per process.
///
/// ```no_run
/// let root = iu::tracefs::root()?;
/// assert!(root.join("trace_pipe").exists());
/// # Ok::<(), iu::Error>(())
/// ```
pub fn root() -> Result<&'static Path> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(find_or_mount)
        .as_deref()
        .map_err(|e| Error::Tracefs(e.clone()))
}

fn find_or_mount() -> Result<PathBuf, String> {
    for candidate in [TRACEFS, DEBUGFS_TRACING] {
        if Path::new(candidate).join("trace_pipe").exists() {
            return Ok(candidate.into());
        }
    }
    nix::mount::mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mounting tracefs at {TRACEFS} failed: {e:?} ({})", e.desc()))?;
    log::info!("mounted tracefs at {TRACEFS}");
    Ok(TRACEFS.into())
}

/// The id of tracepoint `category/name`, from `events/<category>/<name>/id`.
pub(crate) fn tracepoint_id(category: &str, name: &str) -> Result<u64> {
    let path = root()?.join("events").join(category).join(name).join("id");
    let text = std::fs::read_to_string(&path).map_err(|_| Error::UnknownTracePoint {
        category: category.to_owned(),
        name: name.to_owned(),
        path: path.clone(),
    })?;
    text.trim().parse().map_err(|_| Error::Io {
        context: format!("reading {}", path.display()),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an id: {text:?}"),
        ),
    })
}

/// The offset and size of `field` in the record of tracepoint
/// `category/name`, from its `format` file. Layouts change between kernel
/// versions; programs take such offsets through a global (see
/// `TracePointContext::read_at` in iu-ebpf).
///
/// ```no_run
/// let (offset, size) = iu::tracefs::field("sched", "sched_process_fork", "child_pid")?;
/// # Ok::<(), iu::Error>(())
/// ```
pub fn field(category: &str, name: &str, field: &str) -> Result<(u32, u32)> {
    let path = root()?
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text = std::fs::read_to_string(&path).map_err(|_| Error::UnknownTracePoint {
        category: category.to_owned(),
        name: name.to_owned(),
        path: path.clone(),
    })?;
    parse_field(&text, field).ok_or_else(|| Error::Io {
        context: format!("reading {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("no field `{field}`")),
    })
}

/// Finds `field:<type> <field>; offset:<o>; size:<s>;` in a format file.
fn parse_field(format: &str, field: &str) -> Option<(u32, u32)> {
    format.lines().find_map(|line| {
        let mut parts = line.trim().split(';').map(str::trim);
        let declaration = parts.next()?.strip_prefix("field:")?;
        let declared = declaration.rsplit(' ').next()?;
        // `char comm[16]` declares `comm`.
        if declared.split('[').next()? != field {
            return None;
        }
        let number = |key: &str, part: Option<&str>| part?.strip_prefix(key)?.parse().ok();
        Some((
            number("offset:", parts.next())?,
            number("size:", parts.next())?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_in_format_files() {
        let format = "name: sched_process_fork\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:char parent_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;\n";
        assert_eq!(parse_field(format, "child_pid"), Some((44, 4)));
        assert_eq!(parse_field(format, "parent_comm"), Some((8, 16)));
        assert_eq!(parse_field(format, "common_type"), Some((0, 2)));
        assert_eq!(parse_field(format, "nope"), None);
    }
}

/// A kprobe event created in tracefs's `kprobe_events` (for kernels without
/// the kprobe perf PMU), removed when dropped.
#[derive(Debug)]
pub(crate) struct KProbeEvent {
    name: String,
}

impl KProbeEvent {
    /// Creates `kprobes/<unique name>` on `function` + `offset` (a return
    /// probe if `ret`), and returns it with its tracepoint id.
    pub(crate) fn create(ret: bool, function: &str, offset: u64) -> std::io::Result<(Self, u64)> {
        use std::io::Write;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = root().map_err(std::io::Error::other)?;
        crate::cleanup::before_kprobe_event(function);
        // The pid in the name is the mark `iu::cleanup` goes by.
        let name = format!(
            "iu_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let definition = if ret {
            format!("r:kprobes/{name} {function}\n")
        } else {
            format!("p:kprobes/{name} {function}+{offset}\n")
        };
        std::fs::OpenOptions::new()
            .append(true)
            .open(root.join("kprobe_events"))?
            .write_all(definition.as_bytes())?;
        let event = Self { name };
        let id = tracepoint_id("kprobes", &event.name).map_err(std::io::Error::other)?;
        Ok((event, id))
    }

    /// Whether this kernel can create kprobe events in tracefs.
    pub(crate) fn supported() -> bool {
        root().is_ok_and(|root| root.join("kprobe_events").exists())
    }
}

impl Drop for KProbeEvent {
    fn drop(&mut self) {
        use std::io::Write;
        let removed = root().map_err(std::io::Error::other).and_then(|root| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(root.join("kprobe_events"))?
                .write_all(format!("-:kprobes/{}\n", self.name).as_bytes())
        });
        if let Err(e) = removed {
            log::warn!("cannot remove kprobe event kprobes/{}: {e}", self.name);
        }
    }
}
