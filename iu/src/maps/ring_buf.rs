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
    sys::{self, MmapRegion},
};

/// Record header flags (`BPF_RINGBUF_BUSY_BIT`, `BPF_RINGBUF_DISCARD_BIT`).
const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`.
const HEADER: usize = 8;

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
    producer: MmapRegion,
    /// Offset of the data area in `producer`.
    data: usize,
    mask: u64,
    fd: Option<AsyncFd<OwnedFd>>,
    owned: Option<OwnedFd>,
}

impl std::fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuf")
            .field("name", &self.name)
            .field("size", &(self.mask + 1))
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
        let producer = MmapRegion::new(fd.as_fd(), page + 2 * size, page, false).map_err(io)?;
        Ok(Self {
            name: map.name().to_owned(),
            consumer,
            producer,
            data: page,
            mask: size as u64 - 1,
            fd: None,
            owned: Some(fd),
        })
    }

    /// Calls `f` with each available record (borrowed from the shared
    /// buffer: no copy), then releases them. Returns the number of records.
    pub fn consume(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        while self.next_record(&mut f) {
            n += 1;
        }
        n
    }

    /// Hands the next committed record to `f` and releases it. Returns
    /// `false` when none is ready.
    fn next_record(&self, f: &mut impl FnMut(&[u8])) -> bool {
        let (Some(consumer_pos), Some(producer_pos)) =
            (self.consumer.atomic_u64(0), self.producer.atomic_u64(0))
        else {
            return false;
        };
        let mut cons = consumer_pos.load(Ordering::Acquire);
        loop {
            let prod = producer_pos.load(Ordering::Acquire);
            if cons >= prod {
                return false;
            }
            let at = self.data + (cons & self.mask) as usize;
            let Some(header) = self.producer.atomic_u32(at) else {
                return false;
            };
            let header = header.load(Ordering::Acquire);
            if header & BUSY != 0 {
                // Reserved but not yet submitted: records after it wait.
                return false;
            }
            let len = (header & !(BUSY | DISCARD)) as usize;
            let delivered = header & DISCARD == 0;
            if delivered {
                let Some(bytes) = self.producer.bytes(at + HEADER, len) else {
                    return false;
                };
                f(bytes);
            }
            cons += (len + HEADER).next_multiple_of(8) as u64;
            consumer_pos.store(cons, Ordering::Release);
            if delivered {
                return true;
            }
        }
    }

    /// The next record, waiting for one. Must be called in a tokio runtime.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
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
        let (Some(consumer_pos), Some(producer_pos)) =
            (self.consumer.atomic_u64(0), self.producer.atomic_u64(0))
        else {
            return false;
        };
        let cons = consumer_pos.load(Ordering::Acquire);
        if cons >= producer_pos.load(Ordering::Acquire) {
            return false;
        }
        let at = self.data + (cons & self.mask) as usize;
        self.producer
            .atomic_u32(at)
            .is_some_and(|header| header.load(Ordering::Acquire) & BUSY == 0)
    }

    /// Waits for epoll readiness once, clearing it. Callers scan the ring
    /// after clearing: a record committed in between is seen by that scan,
    /// and a later one wakes epoll again.
    fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(fd) = self.fd.as_ref() else {
            return Poll::Pending;
        };
        let mut guard = ready!(fd.poll_read_ready(cx)).map_err(|e| self.poll_error("epoll_wait", e))?;
        guard.clear_ready();
        Poll::Ready(Ok(()))
    }

    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.register()?;
        loop {
            if self.has_record() {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_wait(cx))?;
        }
    }

    fn poll_record(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>>> {
        self.register()?;
        loop {
            let mut record = None;
            if self.next_record(&mut |bytes: &[u8]| record = Some(bytes.to_vec())) {
                return Poll::Ready(Ok(record.unwrap_or_default()));
            }
            ready!(self.poll_wait(cx))?;
        }
    }
}

impl Stream for RingBuf {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_record(cx).map(Some)
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
        let name = self.inner.name.clone();
        self.inner.poll_record(cx).map(|record| {
            Some(record.and_then(|bytes| {
                T::from_bytes(&bytes).ok_or(Error::MapSize {
                    name,
                    what: "record",
                    expected: size_of::<T>(),
                    actual: bytes.len(),
                })
            }))
        })
    }
}
