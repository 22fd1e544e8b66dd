//! Async polling of maps for daemons.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures_core::Stream;
use tokio::time::{Interval, MissedTickBehavior};

use crate::Result;

/// A [`Stream`] that reads a map every interval (no busy waiting: it sleeps
/// on tokio's timer between reads). The first snapshot comes at once.
pub struct Snapshots<'a, T> {
    interval: Interval,
    read: Box<dyn FnMut() -> Result<T> + Send + 'a>,
}

impl<T> std::fmt::Debug for Snapshots<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("period", &self.interval.period())
            .finish_non_exhaustive()
    }
}

impl<'a, T> Snapshots<'a, T> {
    /// Polls `read` every `interval`. Must be created inside a tokio
    /// runtime.
    pub fn new(interval: Duration, read: impl FnMut() -> Result<T> + Send + 'a) -> Self {
        let mut interval = tokio::time::interval(interval);
        // A slow consumer gets the latest state, not a burst of stale ones.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            interval,
            read: Box::new(read),
        }
    }

    /// The next snapshot.
    pub async fn next(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<T> Stream for Snapshots<'_, T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.interval.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some((this.read)())),
            Poll::Pending => Poll::Pending,
        }
    }
}
