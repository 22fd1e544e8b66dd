//! `RingBuf`: consuming a `BPF_MAP_TYPE_RINGBUF` from user space.
//!
//! The consumer page (our position, writable) and the producer page plus
//! the data area (mapped twice in a row by the kernel, so records that wrap
//! are contiguous) are mmapped. Positions are read with acquire and written
//! with release ordering, as the kernel's producers expect; records still
//! being written (`BUSY`) stop the scan, discarded ones are skipped.

use std::{
    marker::PhantomData,
    mem::size_of,
    os::fd::{AsFd, OwnedFd},
    pin::Pin,
    sync::atomic::Ordering,
    task::{Context, Poll, ready},
};

use futures_core::Stream;
use iu_ebpf::Pod;
use tokio::io::unix::AsyncFd;

use super::{Map, map_type, read};
use crate::{
    Error, Result,
    sys::{self, MmapRegion, RingArea, RingRecord},
};

/// The most bytes of consumed records whose release to the kernel may be
/// deferred (see [`RingBuf::publish`]); a sixteenth of smaller rings.
const RELEASE_BATCH: u64 = 64 * 1024;

/// A consumer of a ring buffer. It owns its own descriptor of the map, so
/// it may outlive the [`crate::Ebpf`] it came from.
///
/// As a [`Stream`] it yields each record's bytes, waiting on epoll (through
/// tokio) when the buffer is empty. [`RingBuf::consume`] is the synchronous,
/// zero-copy alternative. Several consumers can be driven from one task
/// with `tokio::select!`.
///
/// ```no_run
/// # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let mut events = iu::maps::RingBuf::new(ebpf.map("EVENTS")?)?.typed::<[u8; 16]>();
/// while let Some(event) = events.next().await {
///     println!("{:?}", event?);
/// }
/// # Ok(()) }
/// ```
pub struct RingBuf {
    name: String,
    consumer: MmapRegion,
    producer: RingArea,
    /// Our consumer position: records before it have been handed out.
    cons: u64,
    /// The producer position last read: records before it are at least
    /// reserved, so it is read again only when `cons` reaches it.
    prod: u64,
    /// The consumer position the kernel last saw from us (`<= cons`).
    published: u64,
    /// Publish once `cons - published` reaches this.
    release_batch: u64,
    fd: Option<AsyncFd<OwnedFd>>,
    owned: Option<OwnedFd>,
}

impl std::fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuf")
            .field("name", &self.name)
            .field("size", &self.producer.size())
            .finish_non_exhaustive()
    }
}

impl RingBuf {
    /// Maps the ring buffer `map` for consumption.
    pub fn new(map: &Map) -> Result<Self> {
        map.check(&[map_type::RINGBUF], "ring buffer", Some(0), Some(0))?;
        let io = |e| map.op_error("mapping the ring buffer", e);
        let fd = map.as_fd().try_clone_to_owned().map_err(io)?;
        let page = sys::page_size();
        let size = map.max_entries() as usize;
        let consumer = MmapRegion::new(fd.as_fd(), page, 0, true).map_err(io)?;
        let producer = RingArea::new(fd.as_fd(), size).map_err(io)?;
        let cons = consumer
            .atomic_u64(0)
            .map_or(0, |pos| pos.load(Ordering::Acquire));
        Ok(Self {
            name: map.name().to_owned(),
            consumer,
            producer,
            cons,
            prod: cons,
            published: cons,
            release_batch: (size as u64 / 16).clamp(8, RELEASE_BATCH),
            fd: None,
            owned: Some(fd),
        })
    }

    /// Calls `f` with each available record (borrowed from the shared
    /// buffer: no copy), then releases them. Returns the number of records.
    pub fn consume(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        // The producer position is read once per pass, as libbpf reads it.
        let mut n = 0;
        'passes: loop {
            self.prod = self.producer.producer_pos().load(Ordering::Acquire);
            if self.cons >= self.prod {
                break;
            }
            while self.cons < self.prod {
                match self.step(&mut f) {
                    Some(delivered) => n += usize::from(delivered),
                    None => break 'passes,
                }
            }
        }
        self.publish();
        n
    }

    /// Hands the next committed record to `f`, skipping discarded ones.
    /// Returns `false` when none is ready.
    ///
    /// The record's space goes back to the kernel by [`RingBuf::publish`],
    /// which this calls once [`RELEASE_BATCH`] bytes (at most) are
    /// pending: storing the shared consumer position after every record
    /// would pull its cache line away from the producers, which read it on
    /// every reservation. Callers publish before they wait.
    fn next_record(&mut self, f: &mut impl FnMut(&[u8])) -> bool {
        loop {
            if self.cons >= self.prod {
                self.prod = self.producer.producer_pos().load(Ordering::Acquire);
                if self.cons >= self.prod {
                    return false;
                }
            }
            match self.step(f) {
                Some(true) => return true,
                Some(false) => {}
                None => return false,
            }
        }
    }

    /// Moves past the record at the consumer position (which is before
    /// the producer position), handing it to `f` if it was submitted.
    /// Returns whether it was, or `None` if the position cannot move (the
    /// record is still reserved, or its length is corrupt).
    #[inline]
    fn step(&mut self, f: &mut impl FnMut(&[u8])) -> Option<bool> {
        let delivered = match self.producer.at(self.cons) {
            RingRecord::Busy | RingRecord::Corrupt => return None,
            RingRecord::Discarded { next } => {
                self.cons = next;
                false
            }
            RingRecord::Committed { bytes, next } => {
                f(bytes);
                self.cons = next;
                true
            }
        };
        if self.cons - self.published >= self.release_batch {
            self.publish();
        }
        Some(delivered)
    }

    /// Releases the records handed out so far to the kernel (a release
    /// store of the consumer position: our reads of them happen before the
    /// kernel reuses their space).
    #[inline]
    fn publish(&mut self) {
        if self.cons != self.published
            && let Some(consumer_pos) = self.consumer.atomic_u64(0)
        {
            consumer_pos.store(self.cons, Ordering::Release);
            self.published = self.cons;
        }
    }

    /// The next record, waiting for one. Must be called in a tokio runtime.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Waits for the next record and hands it to `f` while it is borrowed
    /// from the shared buffer: the async counterpart of
    /// [`RingBuf::consume`], one record at a time, without the copy that
    /// [`RingBuf::next`] makes. Must be called in a tokio runtime.
    ///
    /// ```no_run
    /// # async fn run(ring: &mut iu::maps::RingBuf) -> Result<(), iu::Error> {
    /// let len = ring.next_with(|bytes| bytes.len()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_with<R>(&mut self, mut f: impl FnMut(&[u8]) -> R) -> Result<R> {
        std::future::poll_fn(|cx| self.poll_record(cx, &mut f)).await
    }

    /// Waits until a record can be consumed (at once if one already can).
    /// With [`RingBuf::consume`] this is the zero-copy way to drain a ring
    /// buffer from async code, like libbpf's `ring_buffer__poll`:
    ///
    /// ```no_run
    /// # async fn run(ring: &mut iu::maps::RingBuf) -> Result<(), iu::Error> {
    /// loop {
    ///     ring.readable().await?;
    ///     ring.consume(|bytes| println!("{} bytes", bytes.len()));
    /// }
    /// # }
    /// ```
    ///
    /// Must be called in a tokio runtime. A discarded record also counts as
    /// consumable, so `consume` may then find nothing to deliver.
    pub async fn readable(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_readable(cx)).await
    }

    /// A stream of `T`s decoded from the records.
    pub fn typed<T: Pod>(self) -> TypedRingBuf<T> {
        TypedRingBuf {
            inner: self,
            _type: PhantomData,
        }
    }

    /// Registers the descriptor with tokio's reactor, on first use.
    fn register(&mut self) -> Result<()> {
        if self.fd.is_none() {
            let owned = self.owned.take();
            let registered = owned
                .map(sys::async_fd)
                .transpose()
                .map_err(|e| self.poll_error("epoll_ctl", e))?;
            self.fd = registered;
        }
        Ok(())
    }

    fn poll_error(&self, call: &'static str, e: std::io::Error) -> Error {
        Error::MapOp {
            name: self.name.clone(),
            op: "polling",
            source: sys::SyscallError::new(call, e),
        }
    }

    /// Whether a record that is no longer `BUSY` (committed or discarded)
    /// waits at the consumer position.
    fn has_record(&self) -> bool {
        self.cons < self.producer.producer_pos().load(Ordering::Acquire)
            && !matches!(self.producer.at(self.cons), RingRecord::Busy)
    }

    /// Waits for epoll readiness once, clearing it. Callers scan the ring
    /// after clearing: a record committed in between is seen by that scan,
    /// and a later one wakes epoll again.
    fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(fd) = self.fd.as_ref() else {
            return Poll::Pending;
        };
        let mut guard =
            ready!(fd.poll_read_ready(cx)).map_err(|e| self.poll_error("epoll_wait", e))?;
        guard.clear_ready();
        Poll::Ready(Ok(()))
    }

    /// Whether the ring is empty for good, so that the consumer may sleep
    /// until epoll says otherwise.
    ///
    /// Publishes our position first: the kernel wakes the consumer only for
    /// a record committed when the consumer position is at that record. A producer commits with a full
    /// barrier between writing the header and reading our position; the
    /// fence here is the other half, between storing our position (in
    /// `next_record`) and reading theirs. Without it the position store
    /// can still sit in this CPU's store buffer while we read a `BUSY`
    /// header: the producer then sees an old position and does not wake us,
    /// we see no record, and we sleep while the ring fills up (edge-
    /// triggered epoll does not look at the ring again). With it, at least
    /// one side sees the other: we find the record, or the kernel wakes us.
    fn settled_empty(&mut self) -> bool {
        self.publish();
        std::sync::atomic::fence(Ordering::SeqCst);
        !self.has_record()
    }

    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.register()?;
        loop {
            if !self.settled_empty() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_wait(cx))?;
        }
    }

    /// The next record, decoded by `decode` while it is borrowed from the
    /// shared buffer (no copy unless `decode` makes one), waiting for one.
    fn poll_record<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut decode: impl FnMut(&[u8]) -> R,
    ) -> Poll<Result<R>> {
        self.register()?;
        loop {
            let mut record = None;
            if self.next_record(&mut |bytes: &[u8]| record = Some(decode(bytes)))
                && let Some(record) = record
            {
                return Poll::Ready(Ok(record));
            }
            if self.settled_empty() {
                ready!(self.poll_wait(cx))?;
            }
        }
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        // Records handed out are consumed, even if their release was
        // deferred.
        self.publish();
    }
}

impl Stream for RingBuf {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_record(cx, <[u8]>::to_vec).map(Some)
    }
}

/// A [`RingBuf`] whose records are `T`s (see [`RingBuf::typed`]). A record
/// shorter than `T` is an error naming the sizes.
pub struct TypedRingBuf<T> {
    inner: RingBuf,
    /// `fn() -> T`: produces `T`s, owns none (and stays `Unpin`).
    _type: PhantomData<fn() -> T>,
}

impl<T: Pod> TypedRingBuf<T> {
    /// The next event, waiting for one.
    pub async fn next(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Calls `f` with each available event, synchronously.
    pub fn consume(&mut self, mut f: impl FnMut(T)) -> usize {
        self.inner.consume(|bytes| f(read(bytes)))
    }
}

impl<T: Pod> Stream for TypedRingBuf<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Decoded in place: no allocation per record.
        let inner = &mut self.inner;
        inner
            .poll_record(cx, |bytes| T::from_bytes(bytes).ok_or(bytes.len()))
            .map(|record| {
                Some(record.and_then(|decoded| {
                    decoded.map_err(|actual| Error::MapSize {
                        name: inner.name.clone(),
                        what: "record",
                        expected: size_of::<T>(),
                        actual,
                    })
                }))
            })
    }
}
