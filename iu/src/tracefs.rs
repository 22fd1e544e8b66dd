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
