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
    request: bool,
}

impl Drop for BodyCounter {
    fn drop(&mut self) {
        if let Some(entry) = self.slot.entry() {
            if self.request {
                entry.observe_request_size(self.bytes);
            } else {
                entry.observe_response_size(self.bytes);
            }
        }
    }
}

fn count<D: Buf, E>(counter: &mut Option<BodyCounter>, frame: &Option<Result<Frame<D>, E>>) {
    if let Some(c) = counter.as_mut() {
        match frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    c.bytes += data.remaining() as u64;
                }
            }
            None => {
                counter.take();
            }
            Some(Err(_)) => {}
        }
    }
}

pin_project! {
    /// A request or response body as [`MetricsService`](crate::MetricsService) hands it on: the
    /// original body, counted into `http_request_size_bytes` or `http_response_size_bytes`
    /// when its length was not known up front (recorded when it ends or is dropped).
    #[derive(Debug)]
    pub struct CountingBody<B> {
        #[pin]
        inner: B,
        counter: Option<BodyCounter>,
    }
}

/// The request body the inner service sees with
/// [`MetricsLayer::count_request_bodies`](crate::MetricsLayer::count_request_bodies).
pub type RequestBody<B> = CountingBody<B>;

/// The response body of [`MetricsService`](crate::MetricsService).
pub type ResponseBody<B> = CountingBody<B>;

impl<B> CountingBody<B> {
    pub(crate) fn untracked(inner: B) -> Self {
        Self {
            inner,
            counter: None,
        }
    }

    /// Counts into `http_request_size_bytes` (`request`) or `http_response_size_bytes`.
    pub(crate) fn counting(inner: B, slot: Slot, request: bool) -> Self {
        Self {
            inner,
            counter: Some(BodyCounter {
                slot,
                bytes: 0,
                request,
            }),
        }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for CountingBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        count(this.counter, &frame);
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
