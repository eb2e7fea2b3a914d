use super::table::Slot;
use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Counts the bytes of a body whose length was not known up front, and records them in
/// `http_response_size_bytes` when the body ends or is dropped.
#[derive(Debug)]
struct BodyCounter {
    slot: Slot,
    bytes: u64,
}

impl Drop for BodyCounter {
    fn drop(&mut self) {
        if let Some(entry) = self.slot.entry() {
            entry.observe_response_size(self.bytes);
        }
    }
}

pin_project! {
    /// The response body of [`MetricsService`](crate::MetricsService): the inner body, counted
    /// when its length was not known from `Content-Length` or its size hint.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        counter: Option<BodyCounter>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn untracked(inner: B) -> Self {
        Self {
            inner,
            counter: None,
        }
    }

    pub(crate) fn counting(inner: B, slot: Slot) -> Self {
        Self {
            inner,
            counter: Some(BodyCounter { slot, bytes: 0 }),
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(counter) = this.counter.as_mut() {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(data) = f.data_ref() {
                        counter.bytes += data.remaining() as u64;
                    }
                }
                None => {
                    this.counter.take();
                }
                Some(Err(_)) => {}
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
