//! What a process that dies without running its destructors (SIGKILL, an
//! abort) leaves behind, and removing it.
//!
//! bpf_links, perf events and program descriptors close with the process,
//! so the kernel detaches those by itself. Three kinds of attachment
//! outlive their process: XDP programs set through rtnetlink, `cls_bpf`
//! filters, and kprobe events created in tracefs's `kprobe_events`. iu
//! marks each one it creates:
//!
//! - kprobe events are named `iu_<pid>_<n>`;
//! - each netlink attachment gets a record in `/run/iu/attachments/`,
//!   named after its owner (pid and start time) and holding the hook and
//!   the id of the program there.
//!
//! An entry is stale when its owner is no longer alive. [`remove_stale`]
//! (`iu-loader cleanup`) removes every stale entry; attaching to a hook
//! first removes the stale entries of that hook. Nothing else is touched:
//! an XDP program is detached only if it is still the recorded program
//! (`XDP_FLAGS_REPLACE`), a filter is deleted only if it still runs the
//! recorded program, and kprobe events without iu's name, or with a live
//! owner, stay.

use std::{
    io::Write,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use crate::{
    error::{Error, Result},
    sys::{self, netlink},
};

/// Where the records of netlink attachments are kept.
const RECORDS: &str = "/run/iu/attachments";

/// What [`remove_stale`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// The stale entries removed, described (`XDP on interface 3, program
    /// 42, left by pid 1234`).
    pub removed: Vec<String>,
    /// Stale entries that could not be removed, with why.
    pub failed: Vec<String>,
}

/// Removes every attachment and kprobe event that iu created in a process
/// that is no longer alive; leaves everything else alone.
///
/// ```no_run
/// let report = iu::cleanup::remove_stale()?;
/// for entry in &report.removed {
///     println!("removed {entry}");
/// }
/// # Ok::<(), iu::Error>(())
/// ```
pub fn remove_stale() -> Result<CleanupReport> {
    let mut report = CleanupReport::default();
    remove_stale_records(|_| true, &mut report);
    if crate::tracefs::KProbeEvent::supported() {
        remove_stale_kprobe_events(None, &mut report)?;
    }
    Ok(report)
}

/// A netlink attachment, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An XDP program set with `RTM_SETLINK`, in mode `flags`.
    Xdp {
        netns: u64,
        ifindex: u32,
        flags: u32,
        prog_id: u32,
    },
    /// A `cls_bpf` filter.
    Tc {
        netns: u64,
        filter: netlink::TcFilter,
        prog_id: u32,
    },
}

impl Entry {
    fn encode(&self) -> String {
        match self {
            Entry::Xdp {
                netns,
                ifindex,
                flags,
                prog_id,
            } => format!("xdp {netns} {ifindex} {flags} {prog_id}\n"),
            Entry::Tc {
                netns,
                filter,
                prog_id,
            } => format!(
                "tc {netns} {} {} {} {} {prog_id}\n",
                filter.ifindex, filter.parent, filter.priority, filter.handle
            ),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let kind = words.next()?;
        let mut number = || words.next()?.parse::<u64>().ok();
        let netns = number()?;
        let entry = match kind {
            "xdp" => Entry::Xdp {
                netns,
                ifindex: u32::try_from(number()?).ok()?,
                flags: u32::try_from(number()?).ok()?,
                prog_id: u32::try_from(number()?).ok()?,
            },
            "tc" => Entry::Tc {
                netns,
                filter: netlink::TcFilter {
                    ifindex: u32::try_from(number()?).ok()?,
                    parent: u32::try_from(number()?).ok()?,
                    priority: u16::try_from(number()?).ok()?,
                    handle: u32::try_from(number()?).ok()?,
                },
                prog_id: u32::try_from(number()?).ok()?,
            },
            _ => return None,
        };
        Some(entry)
    }

    fn netns(&self) -> u64 {
        match self {
            Entry::Xdp { netns, .. } | Entry::Tc { netns, .. } => *netns,
        }
    }

    fn describe(&self) -> String {
        match self {
            Entry::Xdp {
                ifindex, prog_id, ..
            } => format!("XDP on interface {ifindex} (netlink), program {prog_id}"),
            Entry::Tc {
                filter, prog_id, ..
            } => format!(
                "tc filter on interface {} (parent {:x}, priority {}, handle {}), program {prog_id}",
                filter.ifindex, filter.parent, filter.priority, filter.handle
            ),
        }
    }

    /// Removes the attachment if it is still the recorded one. `Ok(true)`:
    /// removed; `Ok(false)`: not there any more (someone else's now, or
    /// gone).
    fn remove(&self) -> std::io::Result<bool> {
        // The program lives as long as something holds it: if its id is
        // gone, so is the attachment.
        let prog_id = match self {
            Entry::Xdp { prog_id, .. } | Entry::Tc { prog_id, .. } => *prog_id,
        };
        let Ok(program) = sys::prog_get_fd_by_id(prog_id) else {
            return Ok(false);
        };
        match self {
            Entry::Xdp { ifindex, flags, .. } => {
                match netlink::xdp_set(
                    *ifindex,
                    -1,
                    Some(program.as_raw_fd()),
                    flags | netlink::XDP_FLAGS_REPLACE,
                ) {
                    Ok(()) => Ok(true),
                    // Another program is there, or none, or no interface.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EEXIST | libc::ENOENT | libc::ENODEV | libc::EBUSY)
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
            Entry::Tc { filter, .. } => {
                if netlink::cls_bpf_prog_id(filter)? != Some(prog_id) {
                    return Ok(false);
                }
                match netlink::cls_bpf_del(filter) {
                    Ok(()) => Ok(true),
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV)) => {
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The record of a live netlink attachment, deleted when dropped (after
/// the attachment it records is removed).
#[derive(Debug)]
pub(crate) struct Record(PathBuf);

impl Drop for Record {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("cannot remove {}: {e}", self.0.display());
        }
    }
}

/// The inode of this process's network namespace (0 if unknown).
pub(crate) fn netns() -> u64 {
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino())
}

/// When process `pid` started (clock ticks after boot), if it is alive.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After `(comm)`, which may hold spaces: field 3 onwards; start time
    // is field 22.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Writes the record of `entry`, owned by this process. Without a record
/// the attachment still works; only the cleanup after a crash cannot find
/// it, which is logged.
pub(crate) fn record(entry: &Entry) -> Option<Record> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let written = (|| {
        let start = start_time(pid).ok_or_else(|| std::io::Error::other("no /proc/self/stat"))?;
        std::fs::create_dir_all(RECORDS)?;
        let path = Path::new(RECORDS).join(format!(
            "{pid}-{start}-{}",
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, entry.encode())?;
        Ok::<_, std::io::Error>(Record(path))
    })();
    written
        .inspect_err(|e| {
            log::warn!(
                "cannot record {} in {RECORDS} (it will not be cleaned up if this process dies): {e}",
                entry.describe()
            );
        })
        .ok()
}

/// Whether the owner named by a record's file name (`<pid>-<start>-<n>`)
/// is alive.
fn owner_alive(name: &str) -> bool {
    let mut parts = name.split('-');
    let (Some(Ok(pid)), Some(Ok(start))) = (
        parts.next().map(str::parse::<u32>),
        parts.next().map(str::parse::<u64>),
    ) else {
        // Not a record of ours: leave it.
        return true;
    };
    start_time(pid) == Some(start)
}

/// Removes the stale records' attachments that `matches` selects, in this
/// network namespace.
fn remove_stale_records(matches: impl Fn(&Entry) -> bool, report: &mut CleanupReport) {
    let Ok(dir) = std::fs::read_dir(RECORDS) else {
        return;
    };
    let here = netns();
    for file in dir.flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if owner_alive(&name) {
            continue;
        }
        let path = file.path();
        let Some(entry) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| Entry::decode(&text))
        else {
            continue;
        };
        // Interface indexes mean something only in their namespace.
        if entry.netns() != here || !matches(&entry) {
            continue;
        }
        let pid = name.split('-').next().unwrap_or_default();
        let what = format!("{}, left by pid {pid}", entry.describe());
        match entry.remove() {
            Ok(removed) => {
                if removed {
                    log::info!("removed stale {what}");
                    report.removed.push(what);
                }
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => report.failed.push(format!("{what}: {e}")),
        }
    }
}

/// Before attaching XDP to `ifindex`: removes what dead iu processes left
/// there through netlink.
pub(crate) fn before_xdp_attach(ifindex: u32) {
    let mut report = CleanupReport::default();
    remove_stale_records(
        |e| matches!(e, Entry::Xdp { ifindex: i, .. } if *i == ifindex),
        &mut report,
    );
    log_failures(&report);
}

/// Before attaching a classifier to `ifindex`'s `parent` hook: removes the
/// filters dead iu processes left there.
pub(crate) fn before_tc_attach(ifindex: u32, ingress: bool) {
    let parent = netlink::clsact_parent(ingress);
    let mut report = CleanupReport::default();
    remove_stale_records(
        |e| matches!(e, Entry::Tc { filter, .. } if filter.ifindex == ifindex && filter.parent == parent),
        &mut report,
    );
    log_failures(&report);
}

/// Before creating a kprobe event on `function`: removes the events dead
/// iu processes left on it.
pub(crate) fn before_kprobe_event(function: &str) {
    let mut report = CleanupReport::default();
    if let Err(e) = remove_stale_kprobe_events(Some(function), &mut report) {
        log::warn!("looking for stale kprobe events: {e}");
    }
    log_failures(&report);
}

fn log_failures(report: &CleanupReport) {
    for failure in &report.failed {
        log::warn!("cannot remove stale {failure}");
    }
}

/// The owner pid of a kprobe event iu named (`iu_<pid>_<n>`).
fn kprobe_event_owner(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix("iu_")?.split_once('_')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// The events of a `kprobe_events` listing that iu created in a process
/// no longer alive, on `function` if given: (`group/name`, function).
fn stale_kprobe_events<'a>(
    listing: &'a str,
    function: Option<&str>,
    alive: impl Fn(u32) -> bool,
) -> Vec<(&'a str, &'a str)> {
    listing
        .lines()
        .filter_map(|line| {
            // `p:kprobes/iu_12_0 do_sys_openat2+0`, `r16:kprobes/... f`.
            let mut words = line.split_whitespace();
            let event = words.next()?.split_once(':')?.1;
            let target = words.next()?;
            let probed = target.split('+').next()?;
            let owner = kprobe_event_owner(event.rsplit('/').next()?)?;
            (function.is_none_or(|f| f == probed) && !alive(owner)).then_some((event, probed))
        })
        .collect()
}

fn remove_stale_kprobe_events(function: Option<&str>, report: &mut CleanupReport) -> Result<()> {
    let path = crate::tracefs::root()?.join("kprobe_events");
    let listing = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    for (event, probed) in stale_kprobe_events(&listing, function, alive) {
        let owner = event
            .rsplit('/')
            .next()
            .and_then(kprobe_event_owner)
            .unwrap_or_default();
        let what = format!("kprobe event {event} on {probed}, left by pid {owner}");
        let removed = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("-:{event}\n").as_bytes()));
        match removed {
            Ok(()) => {
                log::info!("removed stale {what}");
                report.removed.push(what);
            }
            // Someone removed it first.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => report.failed.push(format!("{what}: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let entries = [
            Entry::Xdp {
                netns: 4026531840,
                ifindex: 7,
                flags: 2,
                prog_id: 99,
            },
            Entry::Tc {
                netns: 1,
                filter: netlink::TcFilter {
                    ifindex: 3,
                    parent: 0xffff_fff2,
                    priority: 49152,
                    handle: 1,
                },
                prog_id: 12,
            },
        ];
        for entry in entries {
            assert_eq!(Entry::decode(&entry.encode()), Some(entry));
        }
        assert_eq!(Entry::decode("xdp 1 2"), None);
        assert_eq!(Entry::decode("tc 1 2 3 70000 1 5"), None);
        assert_eq!(Entry::decode("sock 1 2 3 4"), None);
    }

    #[test]
    fn only_iu_events_of_dead_owners_are_stale() {
        let listing = "p:kprobes/iu_100_0 __x64_sys_getppid+0\n\
                       r16:kprobes/iu_100_1 __x64_sys_getppid\n\
                       p:kprobes/iu_200_0 __x64_sys_getppid+0\n\
                       p:kprobes/iu_100_2 do_sys_openat2+4\n\
                       p:kprobes/mine __x64_sys_getppid+0\n\
                       p:kprobes/iu_x_0 __x64_sys_getppid+0\n\
                       p:kprobes/iu_100 __x64_sys_getppid+0\n";
        let alive = |pid| pid == 200;
        assert_eq!(
            stale_kprobe_events(listing, Some("__x64_sys_getppid"), alive),
            vec![
                ("kprobes/iu_100_0", "__x64_sys_getppid"),
                ("kprobes/iu_100_1", "__x64_sys_getppid")
            ]
        );
        assert_eq!(stale_kprobe_events(listing, None, alive).len(), 3);
    }

    #[test]
    fn a_record_of_this_process_is_not_stale() {
        let pid = std::process::id();
        let start = start_time(pid).unwrap();
        assert!(owner_alive(&format!("{pid}-{start}-0")));
        assert!(!owner_alive(&format!("{pid}-{}-0", start + 1)));
        assert!(owner_alive("not-a-record"));
    }
}
