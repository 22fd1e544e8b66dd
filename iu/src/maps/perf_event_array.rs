//! `PerfEventArray`: consuming per-CPU perf buffers that programs write with
//! `bpf_perf_event_output`.
//!
//! One `PERF_COUNT_SW_BPF_OUTPUT` event per online CPU, each with a mmapped
//! ring of `2^n` pages, is stored in the map at the CPU's index. Records
//! that wrap around the end of a ring are reassembled.
//!
//! Losses: the kernel counts every output that finds the buffer full
//! (`__perf_output_begin`: `rb->lost` and the event's `lost_samples`), but
//! it writes the `PERF_RECORD_LOST` record only with the next output that
//! fits. Losses at the end of a burst are therefore never reported by
//! records alone. On Linux 6.0+ each event is opened with
//! `PERF_FORMAT_LOST`, and `PerfEvent::Lost` reports the growth of the
//! kernel's own counter, read whenever a lost record arrives and whenever a
//! CPU's buffer has been drained after it was seen too full for the
//! largest record (only then can an output have failed); the record then
//! only triggers the read.
//! Before 6.0 the records' counts are reported as they arrive.

use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    pin::Pin,
    sync::atomic::Ordering,
    task::{Context, Poll},
};

use futures_core::Stream;
use tokio::io::unix::AsyncFd;

use super::{BPF_ANY, Map, map_type};
use crate::{
    Error, Result,
    sys::{self, MmapRegion, PerfEventAttr},
};

/// `PERF_TYPE_SOFTWARE`, `PERF_COUNT_SW_BPF_OUTPUT`, `PERF_SAMPLE_RAW`.
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// `PERF_RECORD_LOST`, `PERF_RECORD_SAMPLE`.
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
/// Offsets of `data_head` and `data_tail` in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;

/// What a perf buffer delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerfEvent {
    /// A record a program wrote, with the CPU it ran on. The kernel pads
    /// `data` to keep records 8-byte aligned.
    Sample {
        /// The CPU.
        cpu: u32,
        /// The bytes the program passed (plus padding).
        data: Vec<u8>,
    },
    /// The kernel dropped `count` records on `cpu` because the buffer was
    /// full: the consumer did not keep up. On Linux 6.0+ these reports add
    /// up to the kernel's count of failed outputs, including those after
    /// the last record that fitted (see [`PerfEventArray::lost`]).
    Lost {
        /// The CPU.
        cpu: u32,
        /// How many records were dropped.
        count: u64,
    },
}

struct CpuBuffer {
    cpu: u32,
    region: MmapRegion,
    page: usize,
    size: u64,
    event: AsyncFd<OwnedFd>,
    /// Whether the event was opened with `PERF_FORMAT_LOST` (Linux 6.0+).
    counts_lost: bool,
    /// Losses reported so far on this CPU.
    reported: u64,
    /// Whether the buffer was seen too full for the largest record since
    /// the kernel's loss counter was last read: only then can an output
    /// have failed, so only then is the counter read (one system call per
    /// drain would double a steady consumer's cost).
    may_have_lost: bool,
    /// The producer's position when last read, and the consumer's, which
    /// is published to the kernel once the records up to `head` are read:
    /// the page that holds both is written by the producer's CPU, so it is
    /// touched once per batch, not per record (as libbpf does).
    head: u64,
    tail: u64,
    /// `tail` when `head` was last read.
    batch_start: u64,
}

/// The largest record a perf buffer holds (its header's size is a `u16`).
const MAX_RECORD: u64 = 1 << 16;

/// A consumer of a perf event array: one buffer per online CPU.
///
/// ```no_run
/// # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::maps::{PerfEvent, PerfEventArray};
/// let mut events = PerfEventArray::new(ebpf.map("EVENTS")?, 64)?;
/// while let Some(event) = events.next().await {
///     match event? {
///         PerfEvent::Sample { cpu, data } => println!("cpu {cpu}: {} bytes", data.len()),
///         PerfEvent::Lost { cpu, count } => eprintln!("cpu {cpu}: lost {count}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct PerfEventArray {
    name: String,
    buffers: Vec<CpuBuffer>,
    lost: u64,
    next: usize,
    /// A record other than a sample being read, reused (samples are read
    /// straight into their own `data`).
    record: Vec<u8>,
}

impl std::fmt::Debug for PerfEventArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerfEventArray")
            .field("name", &self.name)
            .field("cpus", &self.buffers.len())
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

impl PerfEventArray {
    /// Opens a buffer of `pages` pages (a power of two) on every online CPU
    /// and stores it in `map`. Must be called in a tokio runtime.
    ///
    /// The kernel wakes the consumer on every record; for fewer wakeups
    /// under load, see [`with_wakeup_events`](Self::with_wakeup_events).
    pub fn new(map: &Map, pages: usize) -> Result<Self> {
        Self::with_wakeup_events(map, pages, 1)
    }

    /// Like [`new`](Self::new), but the kernel wakes the consumer only
    /// every `wakeup_events` records on a CPU (the perf event's
    /// `wakeup_events`, what libbpf users set through
    /// `perf_buffer__new_raw`): fewer wakeups and system calls per record
    /// when events are frequent. Records written since the last wakeup wait
    /// in the buffer until more arrive, so a consumer that must see every
    /// record promptly also calls [`consume`](Self::consume) from time to
    /// time (on a timer, and at exit).
    ///
    /// ```no_run
    /// # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// use iu::maps::{PerfEvent, PerfEventArray};
    /// let mut events = PerfEventArray::with_wakeup_events(ebpf.map("EVENTS")?, 64, 64)?;
    /// let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    /// loop {
    ///     tokio::select! {
    ///         event = events.next() => match event {
    ///             Some(event) => println!("{:?}", event?),
    ///             None => break,
    ///         },
    ///         // The last records of a quiet spell.
    ///         _ = tick.tick() => {
    ///             events.consume(|event| println!("{event:?}"));
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn with_wakeup_events(map: &Map, pages: usize, wakeup_events: u32) -> Result<Self> {
        map.check(
            &[map_type::PERF_EVENT_ARRAY],
            "perf event array",
            Some(4),
            Some(4),
        )?;
        let invalid = |what| {
            map.op_error(
                "opening perf buffers",
                std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
            )
        };
        if !pages.is_power_of_two() {
            return Err(invalid("pages must be a power of two"));
        }
        if wakeup_events == 0 {
            return Err(invalid("wakeup_events must be at least 1"));
        }
        let page = sys::page_size();
        let mut buffers = vec![];
        for cpu in online_cpus().map_err(|e| map.op_error("reading online CPUs", e))? {
            let mut attr = PerfEventAttr {
                type_: PERF_TYPE_SOFTWARE,
                config: PERF_COUNT_SW_BPF_OUTPUT,
                sample_type: PERF_SAMPLE_RAW,
                sample_period: 1,
                wakeup_events,
                read_format: sys::PERF_FORMAT_LOST,
                ..Default::default()
            };
            let io = |e| map.op_error("opening a perf buffer", e);
            // Kernels before 6.0 refuse the unknown format bit.
            let (event, counts_lost) = match sys::perf_event_open(&attr, -1, cpu as i32) {
                Ok(event) => (event, true),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    attr.read_format = 0;
                    (
                        sys::perf_event_open(&attr, -1, cpu as i32).map_err(io)?,
                        false,
                    )
                }
                Err(e) => return Err(io(e)),
            };
            let region = MmapRegion::new(event.as_fd(), page * (pages + 1), 0, true).map_err(io)?;
            let fd = event.as_raw_fd() as u32;
            map.update(&cpu.to_ne_bytes(), &fd.to_ne_bytes(), BPF_ANY)?;
            sys::perf_event_enable(event.as_fd()).map_err(io)?;
            buffers.push(CpuBuffer {
                cpu,
                region,
                page,
                size: (page * pages) as u64,
                event: sys::async_fd(event).map_err(io)?,
                counts_lost,
                reported: 0,
                may_have_lost: false,
                head: 0,
                tail: 0,
                batch_start: 0,
            });
        }
        Ok(Self {
            name: map.name().to_owned(),
            buffers,
            lost: 0,
            next: 0,
            record: Vec::new(),
        })
    }

    /// Records lost so far, over all CPUs: the sum of the
    /// [`PerfEvent::Lost`] reports delivered so far.
    ///
    /// On Linux 6.0+ this is the kernel's own count of outputs that found
    /// a buffer full, as of the last time each buffer was drained: after
    /// [`consume`](Self::consume), or once the stream has nothing left to
    /// deliver, delivered samples plus `lost()` equal the outputs programs
    /// attempted (those that returned an error included). Before 6.0 it
    /// is the sum of the kernel's `PERF_RECORD_LOST` records, which the
    /// kernel writes only with the next output that fits, so losses at
    /// the end of a burst are not counted until then; programs that need
    /// the exact figure there count failed `output` calls themselves.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Waits until [`consume`](Self::consume) has something to deliver: a
    /// record in some CPU's buffer, or losses to report. With
    /// [`with_wakeup_events`](Self::with_wakeup_events), the way to read
    /// records in batches at the least cost per record (no future per
    /// record, as [`next`](Self::next) has).
    ///
    /// ```no_run
    /// # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
    /// use iu::maps::{PerfEvent, PerfEventArray};
    /// let mut events = PerfEventArray::with_wakeup_events(ebpf.map("EVENTS")?, 64, 32)?;
    /// loop {
    ///     events.readable().await?;
    ///     events.consume(|event| {
    ///         if let PerfEvent::Sample { cpu, data } = event {
    ///             println!("cpu {cpu}: {} bytes", data.len());
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    ///
    /// Must be called in a tokio runtime.
    pub async fn readable(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| {
            loop {
                if self.buffers.iter().any(CpuBuffer::has_news) {
                    return Poll::Ready(Ok(()));
                }
                match self.poll_woken(cx) {
                    Ok(true) => {}
                    Ok(false) => return Poll::Pending,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        })
        .await
    }

    /// Takes the readiness tokio's reactor saw on any CPU's event: `true`
    /// if there was some (look at the buffers again), `false` when every
    /// one is registered to wake `cx`.
    fn poll_woken(&self, cx: &mut Context<'_>) -> Result<bool> {
        let mut woke = false;
        for buffer in &self.buffers {
            match buffer.event.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => {
                    guard.clear_ready();
                    woke = true;
                }
                Poll::Ready(Err(e)) => {
                    return Err(Error::MapOp {
                        name: self.name.clone(),
                        op: "polling",
                        source: sys::SyscallError::new("epoll_wait", e),
                    });
                }
                Poll::Pending => {}
            }
        }
        Ok(woke)
    }

    /// Handles every available record synchronously, then reports any
    /// losses not yet carried by a record; returns how many events `f` got.
    pub fn consume(&mut self, mut f: impl FnMut(PerfEvent)) -> usize {
        let mut n = 0;
        for i in 0..self.buffers.len() {
            while let Some(event) = self.read_one(i) {
                f(event);
                n += 1;
            }
            if let Some(event) = self.unreported_lost(i) {
                f(event);
                n += 1;
            }
        }
        n
    }

    /// Losses on CPU buffer `i` that the kernel counted and nothing has
    /// reported yet (Linux 6.0+; `None` before, or if the count cannot be
    /// read).
    fn unreported_lost(&mut self, i: usize) -> Option<PerfEvent> {
        let buffer = self.buffers.get_mut(i)?;
        if !buffer.counts_lost || !buffer.may_have_lost {
            return None;
        }
        buffer.may_have_lost = false;
        let total = sys::perf_event_read_lost(buffer.event.get_ref().as_fd()).ok()?;
        let new = total.checked_sub(buffer.reported).filter(|&n| n > 0)?;
        buffer.reported = total;
        self.lost += new;
        Some(PerfEvent::Lost {
            cpu: buffer.cpu,
            count: new,
        })
    }

    /// The next sample or loss report, waiting for one.
    pub async fn next(&mut self) -> Option<Result<PerfEvent>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads one record from CPU buffer `i`, and releases it.
    fn read_one(&mut self, i: usize) -> Option<PerfEvent> {
        let buffer = self.buffers.get_mut(i)?;
        if buffer.tail >= buffer.head {
            // The batch is read: hand its space back, then look for more.
            let region = &buffer.region;
            if buffer.tail != buffer.batch_start {
                region
                    .atomic_u64(DATA_TAIL)?
                    .store(buffer.tail, Ordering::Release);
            }
            let head = region.atomic_u64(DATA_HEAD)?.load(Ordering::Acquire);
            // An output that failed since the last look found the buffer
            // fuller than the largest record; the tail has not gone back
            // since `batch_start` and the head only grows, so the buffer
            // holds at least as much between those two now.
            if head.saturating_sub(buffer.batch_start) > buffer.size.saturating_sub(MAX_RECORD) {
                buffer.may_have_lost = true;
            }
            (buffer.head, buffer.batch_start) = (head, buffer.tail);
            if buffer.tail >= head {
                return None;
            }
        }
        let buffer = self.buffers.get(i)?;
        let tail = buffer.tail;
        // The header and, for a sample, its size.
        let header = buffer.header(tail);
        let kind = u32::from_ne_bytes(header[0..4].try_into().ok()?);
        let size = u16::from_ne_bytes(header[6..8].try_into().ok()?) as u64;
        let sample = if kind == PERF_RECORD_SAMPLE && size >= 12 {
            // Straight into the sample's own bytes: one copy, no zeroing.
            let len = u32::from_ne_bytes(header[8..12].try_into().ok()?);
            let len = (len as u64).min(size - 12) as usize;
            let mut data = Vec::with_capacity(len);
            buffer.append_to(tail + 12, len, &mut data);
            Some(data)
        } else {
            self.record.clear();
            buffer.append_to(tail, size as usize, &mut self.record);
            None
        };
        let cpu = buffer.cpu;
        if let Some(buffer) = self.buffers.get_mut(i) {
            buffer.tail = tail + size.max(8);
            buffer.may_have_lost |= kind == PERF_RECORD_LOST;
        }
        if let Some(data) = sample {
            return Some(PerfEvent::Sample { cpu, data });
        }
        match kind {
            PERF_RECORD_LOST => {
                let count = u64::from_ne_bytes(self.record.get(16..24)?.try_into().ok()?);
                if self.buffers.get(i)?.counts_lost {
                    // The kernel's counter includes this record's losses,
                    // unless they were reported already.
                    return self.unreported_lost(i).or_else(|| self.read_one(i));
                }
                if let Some(buffer) = self.buffers.get_mut(i) {
                    buffer.reported += count;
                }
                self.lost += count;
                Some(PerfEvent::Lost { cpu, count })
            }
            // Other record types are not produced by BPF output events.
            _ => self.read_one(i),
        }
    }
}

impl CpuBuffer {
    /// Whether a record is waiting, or losses may be (what
    /// `PerfEventArray::consume` would deliver).
    fn has_news(&self) -> bool {
        self.tail < self.head
            || (self.counts_lost && self.may_have_lost)
            || self
                .region
                .atomic_u64(DATA_HEAD)
                .is_some_and(|head| head.load(Ordering::Acquire) > self.tail)
    }

    /// The `len` bytes at ring position `pos`, as one or two slices (two
    /// if they wrap); `None` for a part outside the mapping.
    #[inline]
    fn parts(&self, pos: u64, len: usize) -> [(usize, Option<&[u8]>); 2] {
        // The size is a power of two.
        let start = (pos & (self.size - 1)) as usize;
        let first = len.min(self.size as usize - start);
        [
            (first, self.region.bytes(self.page + start, first)),
            (len - first, self.region.bytes(self.page, len - first)),
        ]
    }

    /// The record header at ring position `pos` and the `u32` after it (a
    /// sample's size), reassembled if they wrap (zeros where the mapping
    /// would be left).
    #[inline]
    fn header(&self, pos: u64) -> [u8; 12] {
        if let [(12, Some(bytes)), _] = self.parts(pos, 12)
            && let Ok(header) = bytes.try_into()
        {
            return header;
        }
        let mut header = [0; 12];
        self.append_to(pos, 12, &mut Vec::with_capacity(12))
            .iter()
            .zip(&mut header)
            .for_each(|(byte, out)| *out = *byte);
        header
    }

    /// Appends the `len` bytes at ring position `pos` to `out`, reassembled
    /// if they wrap (zeros where the mapping would be left); returns `out`.
    #[inline]
    fn append_to<'v>(&self, pos: u64, len: usize, out: &'v mut Vec<u8>) -> &'v [u8] {
        for (len, bytes) in self.parts(pos, len) {
            match bytes {
                Some(bytes) => out.extend_from_slice(bytes),
                None => out.resize(out.len() + len, 0),
            }
        }
        out
    }
}

impl Stream for PerfEventArray {
    type Item = Result<PerfEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let n = this.buffers.len();
        loop {
            // Round robin by batches, so that a busy CPU cannot starve the
            // others: a CPU's batch (its records up to the producer
            // position read when the batch began) is read whole, then the
            // next CPU's.
            for k in 0..n {
                let i = (this.next + k) % n;
                if let Some(event) = this.read_one(i) {
                    let batch_left = this.buffers.get(i).is_some_and(|b| b.tail < b.head);
                    this.next = if batch_left { i } else { (i + 1) % n };
                    return Poll::Ready(Some(Ok(event)));
                }
            }
            // Every buffer is drained: report losses no record carried.
            for i in 0..n {
                if let Some(event) = this.unreported_lost(i) {
                    return Poll::Ready(Some(Ok(event)));
                }
            }
            match this.poll_woken(cx) {
                Ok(true) => {}
                Ok(false) => return Poll::Pending,
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

/// The online CPUs (`/sys/devices/system/cpu/online`).
pub(crate) fn online_cpus() -> std::io::Result<Vec<u32>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    let mut cpus = vec![];
    for part in text.trim().split(',') {
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad CPU list {text:?}"),
            )
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    a.parse::<u32>().map_err(|_| bad())?,
                    b.parse::<u32>().map_err(|_| bad())?,
                );
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cpus)
}
