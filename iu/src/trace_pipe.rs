//! An async stream of the kernel's trace pipe, read from a private tracefs
//! instance so that concurrent readers do not steal each other's lines.

use std::{
    collections::VecDeque,
    fs::File,
    io::{self, Read},
    os::unix::fs::OpenOptionsExt,
    path::PathBuf,
    pin::Pin,
    sync::atomic::{AtomicU32, Ordering},
    task::{Context, Poll, ready},
};

use futures_core::Stream;
use tokio::io::unix::AsyncFd;

use crate::{
    error::{Error, Result},
    tracefs,
};

/// One line of trace output from `bpf_trace_printk` (`printk!`).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    /// The command name of the task that ran the program.
    pub task: String,
    /// The thread id of that task.
    pub tid: u32,
    /// The CPU the program ran on.
    pub cpu: u32,
    /// Seconds since boot, as the trace clock says.
    pub timestamp: f64,
    /// The text the program printed, without the trailing newline.
    pub message: String,
}

impl TraceLine {
    /// Parses a trace-pipe line such as
    /// `dup-4242 [001] ..... 123.456789: bpf_trace_printk: hi`.
    /// Returns `None` for other events and malformed lines.
    pub fn parse(line: &str) -> Option<Self> {
        // The CPU field is the first `[digits]`; the task name before it may
        // contain anything, including spaces, dashes and brackets.
        let (open, close) = line.match_indices('[').find_map(|(i, _)| {
            let close = i + line[i..].find(']')?;
            let digits = &line[i + 1..close];
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((i, close))
        })?;
        let cpu = line[open + 1..close].parse().ok()?;
        let mut head = line[..open].trim();
        if head.ends_with(')') {
            // `task-pid (tgid)` with the record-tgid option.
            head = head[..head.rfind('(')?].trim_end();
        }
        let (task, tid) = head.rsplit_once('-')?;
        let rest = &line[close + 1..];
        let (before, event_and_message) = rest.split_once(": ")?;
        let timestamp = before.split_whitespace().last()?.parse().ok()?;
        let (event, message) = event_and_message.split_once(": ")?;
        if event.trim() != "bpf_trace_printk" {
            return None;
        }
        Some(Self {
            task: task.trim().to_owned(),
            tid: tid.parse().ok()?,
            cpu,
            timestamp,
            message: message.trim_end_matches('\n').to_owned(),
        })
    }
}

/// A `bpf_trace_printk` format found in an object, used to keep only the
/// lines a given object printed (see [`TracePipe::only`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintkFormat {
    format: String,
}

impl PrintkFormat {
    /// Wraps a kernel printf format, for example `pid %llu`.
    pub fn new(format: impl Into<String>) -> Self {
        Self {
            format: format.into(),
        }
    }

    /// The format text.
    pub fn as_str(&self) -> &str {
        &self.format
    }

    /// Whether `message` could have been printed with this format.
    pub fn matches(&self, message: &str) -> bool {
        matches_from(
            self.format.trim_end_matches('\n').as_bytes(),
            message.as_bytes(),
        )
    }
}

/// Backtracking match of a printf format (`%[-0][width][ll](d|u|x|X|i)` and
/// `%%`) against a rendered line.
fn matches_from(fmt: &[u8], text: &[u8]) -> bool {
    match fmt.first() {
        None => text.is_empty(),
        Some(b'%') if fmt.get(1) == Some(&b'%') => {
            text.first() == Some(&b'%') && matches_from(&fmt[2..], &text[1..])
        }
        Some(b'%') => {
            let spec_len = 1 + fmt[1..]
                .iter()
                .position(|c| c.is_ascii_alphabetic() && *c != b'l')
                .map_or(fmt.len() - 1, |p| p + 1);
            let conversion = fmt[spec_len - 1];
            let allowed = |c: u8| match conversion {
                b'x' | b'X' | b'p' => c.is_ascii_hexdigit() || c == b' ',
                _ => c.is_ascii_digit() || c == b'-' || c == b' ',
            };
            let max = text.iter().take_while(|c| allowed(**c)).count();
            (1..=max)
                .rev()
                .any(|n| matches_from(&fmt[spec_len..], &text[n..]))
        }
        Some(c) => text.first() == Some(c) && matches_from(&fmt[1..], &text[1..]),
    }
}

/// The trace pipe as an async [`Stream`] of [`TraceLine`]s.
///
/// Each `TracePipe` reads from its own tracefs instance
/// (`instances/iu-<pid>-<n>`) with the `bpf_trace_printk` event enabled, so
/// it sees every `printk!` line from the moment it is opened, without taking
/// them from other readers of the global trace pipe. Open it before
/// attaching the programs whose output it should see. Dropping it removes
/// the instance.
///
/// ```no_run
/// # async fn run(ebpf: &iu::Ebpf) -> Result<(), Box<dyn std::error::Error>> {
/// let mut pipe = iu::TracePipe::open()?.only(ebpf.printk_formats());
/// let _link = ebpf.tracepoint("hello")?.attach()?;
/// while let Some(line) = pipe.next_line().await {
///     let line = line?;
///     println!("[cpu {}] {}", line.cpu, line.message);
/// }
/// # Ok(()) }
/// ```
pub struct TracePipe {
    instance: PathBuf,
    file: Option<AsyncFd<File>>,
    partial: Vec<u8>,
    ready: VecDeque<TraceLine>,
    formats: Vec<PrintkFormat>,
}

impl std::fmt::Debug for TracePipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracePipe")
            .field("instance", &self.instance)
            .field("formats", &self.formats)
            .finish_non_exhaustive()
    }
}

impl TracePipe {
    /// Creates a private tracefs instance that records `bpf_trace_printk`
    /// and opens its pipe. Must be called inside a tokio runtime.
    pub fn open() -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let instances = tracefs::root()?.join("instances");
        remove_stale_instances(&instances);
        let pid = std::process::id();
        let instance = instances.join(format!("iu-{pid}-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let io = |context: String| move |source| Error::Io { context, source };
        std::fs::create_dir(&instance).map_err(io(format!(
            "creating tracefs instance {}",
            instance.display()
        )))?;
        let mut pipe = Self {
            instance,
            file: None,
            partial: Vec::new(),
            ready: VecDeque::new(),
            formats: Vec::new(),
        };
        let enable = pipe
            .instance
            .join("events/bpf_trace/bpf_trace_printk/enable");
        std::fs::write(&enable, "1").map_err(io(format!(
            "enabling {} (kernel built without CONFIG_BPF_EVENTS?)",
            enable.display()
        )))?;
        let path = pipe.instance.join("trace_pipe");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        pipe.file =
            Some(crate::sys::async_fd(file).map_err(io(format!("polling {}", path.display())))?);
        Ok(pipe)
    }

    /// Keeps only lines printed with one of `formats`, for example those of
    /// one object ([`crate::Ebpf::printk_formats`]). With no formats, every
    /// line is kept.
    pub fn only(mut self, formats: impl IntoIterator<Item = PrintkFormat>) -> Self {
        self.formats = formats.into_iter().collect();
        self
    }

    /// The next line; `None` never happens while the pipe is open.
    pub async fn next_line(&mut self) -> Option<io::Result<TraceLine>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    fn keep(&self, line: &TraceLine) -> bool {
        self.formats.is_empty() || self.formats.iter().any(|f| f.matches(&line.message))
    }

    /// Splits complete lines out of `partial` into `ready`.
    fn split_lines(&mut self) {
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&raw[..raw.len() - 1]);
            if let Some(line) = TraceLine::parse(&text)
                && self.keep(&line)
            {
                self.ready.push_back(line);
            }
        }
    }
}

impl Stream for TracePipe {
    type Item = io::Result<TraceLine>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(line) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(line)));
            }
            let Some(file) = this.file.as_ref() else {
                return Poll::Ready(None);
            };
            let mut guard = ready!(file.poll_read_ready(cx))?;
            let mut buf = [0u8; 8192];
            match guard.try_io(|f| f.get_ref().read(&mut buf)) {
                Ok(Ok(0)) => return Poll::Ready(None),
                Ok(Ok(n)) => {
                    this.partial.extend_from_slice(&buf[..n]);
                    this.split_lines();
                }
                Ok(Err(e)) => return Poll::Ready(Some(Err(e))),
                Err(_would_block) => continue,
            }
        }
    }
}

impl Drop for TracePipe {
    fn drop(&mut self) {
        // The pipe must be closed before the instance can be removed.
        self.file.take();
        if let Err(e) = std::fs::remove_dir(&self.instance) {
            log::warn!("removing tracefs instance {}: {e}", self.instance.display());
        }
    }
}

/// Removes instances left by iu processes that no longer exist.
fn remove_stale_instances(instances: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(instances) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("iu-"))
            .and_then(|n| n.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trace_lines() {
        let line = TraceLine::parse(
            "   my task-name-4242    [001] d..31  1234.567890: bpf_trace_printk: Rust triggered from PID 4242 on CPU 1.",
        )
        .unwrap();
        assert_eq!(line.task, "my task-name");
        assert_eq!(line.tid, 4242);
        assert_eq!(line.cpu, 1);
        assert!((line.timestamp - 1234.56789).abs() < 1e-6);
        assert_eq!(line.message, "Rust triggered from PID 4242 on CPU 1.");

        let tgid =
            TraceLine::parse("  cat-12 (     12) [000] ..... 1.000000: bpf_trace_printk: x: y")
                .unwrap();
        assert_eq!((tgid.tid, tgid.message.as_str()), (12, "x: y"));

        assert!(TraceLine::parse("  cat-12 [000] ..... 1.0: sched_switch: x").is_none());
        assert!(TraceLine::parse("garbage").is_none());
    }

    #[test]
    fn formats_match_rendered_lines() {
        let f = PrintkFormat::new("Rust triggered from PID %lld on CPU %llu.");
        assert!(f.matches("Rust triggered from PID 42 on CPU 0."));
        assert!(f.matches("Rust triggered from PID -1 on CPU 17."));
        assert!(!f.matches("Rust triggered from PID x on CPU 0."));
        assert!(!f.matches("Something else"));
        let hex = PrintkFormat::new("v=%08llx 100%% [%-4llu]");
        assert!(hex.matches("v=0000beef 100% [7   ]"));
        assert!(!hex.matches("v=0000beef 100 [7   ]"));
    }
}
