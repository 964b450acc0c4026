//! [`Messages`]: a worker's replies as a `futures::Stream`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::Stream;

use crate::sync::Arc;
use crate::worker::link::Link;

/// The receiving side of a link, with the host's message type erased.
pub(crate) trait ReceiverSide<Out>: Send + Sync {
    fn new_stream_id(&self) -> usize;
    fn poll_message(&self, id: usize, waker: &Waker) -> Option<Option<Out>>;
    fn forget_stream(&self, id: usize);
    fn name(&self) -> &str;
}

impl<In: Send, Out: Send> ReceiverSide<Out> for Link<In, Out> {
    fn new_stream_id(&self) -> usize {
        Link::new_stream_id(self)
    }
    fn poll_message(&self, id: usize, waker: &Waker) -> Option<Option<Out>> {
        Link::poll_message(self, id, waker)
    }
    fn forget_stream(&self, id: usize) {
        Link::forget_stream(self, id)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The messages a worker sends, as a [`Stream`] (from [`Worker::messages`](crate::Worker::messages)).
///
/// It yields what [`Worker::recv`](crate::Worker::recv) would, without blocking a thread, and
/// ends when the worker has ended and every message was taken. Several streams (and `recv`
/// callers) of one worker share its messages: each message goes to one of them.
#[must_use = "streams do nothing unless polled"]
pub struct Messages<Out> {
    link: Arc<dyn ReceiverSide<Out>>,
    /// This stream's entry among the link's wakers (taken back when it is dropped).
    id: usize,
}

impl<Out> Messages<Out> {
    pub(crate) fn new(link: Arc<dyn ReceiverSide<Out>>) -> Messages<Out> {
        let id = link.new_stream_id();
        Messages { link, id }
    }
}

impl<Out> Drop for Messages<Out> {
    /// Lets go of the waker this stream left while it waited: a stream dropped unfinished (a
    /// wait that timed out, a `select!` that took another branch) must not keep its task's
    /// waker until the worker's next message.
    fn drop(&mut self) {
        self.link.forget_stream(self.id);
    }
}

impl<Out> Stream for Messages<Out> {
    type Item = Out;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Out>> {
        match self.link.poll_message(self.id, cx.waker()) {
            Some(item) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }
}

impl<Out> fmt::Debug for Messages<Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messages")
            .field("worker", &self.link.name())
            .finish()
    }
}
