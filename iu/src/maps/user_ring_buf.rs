//! `UserRingBuf`: producing records into a `BPF_MAP_TYPE_USER_RINGBUF`
//! (Linux 6.1+) that a program drains with `bpf_user_ringbuf_drain`.
//!
//! The consumer page (the kernel's position, read-only to us) and the
//! producer page plus the data area (writable, mapped twice in a row by the
//! kernel so records that wrap are contiguous) are mmapped. A record is
//! written with its header first, then published with a release store of
//! the producer position, which the kernel loads with acquire; free space
//! comes from the consumer position, loaded with acquire (the kernel
//! stores it with release after reading the records). The kernel allows
//! one producer: a second `UserRingBuf` on the same map in this process is
//! refused ([`Error::ProducerBusy`]).

use std::{
    collections::HashSet,
    mem::size_of,
    os::fd::{AsFd, OwnedFd},
    sync::{Mutex, atomic::Ordering},
};

use iu_ebpf::Pod;
use tokio::io::unix::AsyncFd;

use super::{Map, map_type};
use crate::{
    Error, Result,
    sys::{self, MmapRegion},
};

/// `BPF_RINGBUF_HDR_SZ`.
const HEADER: usize = 8;
/// The header's flag bits (busy, discard), which a length may not use.
const FLAGS: usize = 3 << 30;

/// Maps (by kernel id) that have a producer in this process.
static PRODUCERS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn producers() -> std::sync::MutexGuard<'static, Option<HashSet<u32>>> {
    PRODUCERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The producer of a user ring buffer. It owns its own descriptor of the
/// map, so it may outlive the [`crate::Ebpf`] it came from.
///
/// ```no_run
/// # async fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let mut commands = iu::maps::UserRingBuf::new(ebpf.map("COMMANDS")?)?;
/// commands.push(&42u64)?; // false: no room now
/// commands.send(&43u64).await?; // waits for the program to drain
/// # Ok(()) }
/// ```
pub struct UserRingBuf {
    name: String,
    consumer: MmapRegion,
    producer: MmapRegion,
    /// Offset of the data area in `producer`.
    data: usize,
    mask: u64,
    /// Registered with tokio on the first wait.
    fd: Option<AsyncFd<OwnedFd>>,
    owned: Option<OwnedFd>,
    /// This process's one producer slot for the map.
    _claim: Claim,
}

impl std::fmt::Debug for UserRingBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRingBuf")
            .field("name", &self.name)
            .field("size", &(self.mask + 1))
            .finish_non_exhaustive()
    }
}

impl UserRingBuf {
    /// Maps the user ring buffer `map` for producing.
    pub fn new(map: &Map) -> Result<Self> {
        map.check(
            &[map_type::USER_RINGBUF],
            "user ring buffer",
            Some(0),
            Some(0),
        )?;
        let io = |e| map.op_error("mapping the user ring buffer", e);
        let id = map.id()?;
        if !producers().get_or_insert_with(HashSet::new).insert(id) {
            return Err(Error::ProducerBusy {
                name: map.name().to_owned(),
            });
        }
        let claimed = Claim(id);
        let fd = map.as_fd().try_clone_to_owned().map_err(io)?;
        let page = sys::page_size();
        let size = map.max_entries() as usize;
        let consumer = MmapRegion::new(fd.as_fd(), page, 0, false).map_err(io)?;
        let producer = MmapRegion::new(fd.as_fd(), page + 2 * size, page, true).map_err(io)?;
        Ok(Self {
            name: map.name().to_owned(),
            consumer,
            producer,
            data: page,
            mask: size as u64 - 1,
            fd: None,
            owned: Some(fd),
            _claim: claimed,
        })
    }

    /// The largest record, in bytes: the buffer's size less one header.
    pub fn max_record(&self) -> usize {
        (self.mask as usize + 1) - HEADER
    }

    /// The bytes free for records and their 8-byte headers.
    pub fn free(&self) -> usize {
        let (cons, prod) = self.positions();
        (self.mask + 1).saturating_sub(prod.wrapping_sub(cons)) as usize
    }

    fn positions(&self) -> (u64, u64) {
        let load = |region: &MmapRegion| {
            region
                .atomic_u64(0)
                .map_or(0, |pos| pos.load(Ordering::Acquire))
        };
        (load(&self.consumer), load(&self.producer))
    }

    /// Adds one record holding `record`'s bytes, if there is room: `false`
    /// when the buffer is full for now. A record larger than
    /// [`max_record`](Self::max_record) is an [`Error::RecordTooLarge`].
    pub fn push_bytes(&mut self, record: &[u8]) -> Result<bool> {
        self.try_push(record)
    }

    /// `push_bytes` through `&self`: the one caller at a time is the
    /// `&mut self` of the public methods.
    fn try_push(&self, record: &[u8]) -> Result<bool> {
        let len = record.len();
        if len > self.max_record() || len & FLAGS != 0 {
            return Err(Error::RecordTooLarge {
                name: self.name.clone(),
                len,
                max: self.max_record(),
            });
        }
        let total = (len + HEADER).next_multiple_of(8);
        let (cons, prod) = self.positions();
        let free = (self.mask + 1).saturating_sub(prod.wrapping_sub(cons));
        if (total as u64) > free {
            return Ok(false);
        }
        let at = self.data + (prod & self.mask) as usize;
        // The header (length, no busy bit: the record is published whole)
        // and the record, both before the position moves past them.
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(len as u32).to_ne_bytes());
        let written = self
            .producer
            .write(at, &header)
            .and_then(|()| self.producer.write(at + HEADER, record));
        let Some(position) = self.producer.atomic_u64(0).filter(|_| written.is_some()) else {
            return Err(Error::MapOp {
                name: self.name.clone(),
                op: "writing a record",
                source: sys::SyscallError::new(
                    "mmap",
                    std::io::Error::other("record outside the mapping"),
                ),
            });
        };
        position.store(prod + total as u64, Ordering::Release);
        Ok(true)
    }

    /// Adds one record holding `value`, if there is room (`false` when
    /// the buffer is full for now).
    pub fn push<T: Pod>(&mut self, value: &T) -> Result<bool> {
        self.push_bytes(value.as_bytes())
    }

    /// Adds one record holding `record`'s bytes, waiting (through tokio)
    /// for a program to drain enough room. The kernel wakes a waiting
    /// producer after each drain that consumed records. Must be called in
    /// a tokio runtime.
    pub async fn send_bytes(&mut self, record: &[u8]) -> Result<()> {
        if self.try_push(record)? {
            return Ok(());
        }
        if let Some(owned) = self.owned.take() {
            self.fd = Some(sys::async_fd(owned).map_err(|e| Error::MapOp {
                name: self.name.clone(),
                op: "registering with tokio",
                source: sys::SyscallError::new("epoll_ctl", e),
            })?);
        }
        let Some(fd) = self.fd.as_ref() else {
            return Err(Error::MapOp {
                name: self.name.clone(),
                op: "waiting for room",
                source: sys::SyscallError::new(
                    "epoll_ctl",
                    std::io::Error::other("the descriptor is not registered with tokio"),
                ),
            });
        };
        loop {
            let mut guard = fd.writable().await.map_err(|e| Error::MapOp {
                name: self.name.clone(),
                op: "waiting for room",
                source: sys::SyscallError::new("epoll_wait", e),
            })?;
            // A drain after this look sets readiness again: tokio's
            // `clear_ready` keeps readiness that arrived after the guard.
            if self.try_push(record)? {
                return Ok(());
            }
            guard.clear_ready();
        }
    }

    /// Adds one record holding `value`, waiting for room.
    pub async fn send<T: Pod>(&mut self, value: &T) -> Result<()> {
        self.send_bytes(value.as_bytes()).await
    }

    /// The number of bytes of records the program has not drained yet.
    pub fn pending(&self) -> usize {
        let (cons, prod) = self.positions();
        prod.wrapping_sub(cons) as usize
    }

    /// The size of a `T` record with its header, as it takes room.
    pub fn record_room<T>() -> usize {
        (size_of::<T>() + HEADER).next_multiple_of(8)
    }
}

/// Releases a map's producer slot when dropped.
struct Claim(u32);

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(set) = producers().as_mut() {
            set.remove(&self.0);
        }
    }
}
