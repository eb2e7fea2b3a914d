//! [`CountingBody`]: the request and response bodies as [`MetricsService`](crate::MetricsService)
//! hands them on, counting bytes of unknown length and, with
//! [`DurationUntil::ResponseEnd`](crate::http::DurationUntil::ResponseEnd), finishing the
//! request's timing when the body ends.

use super::table::{ABANDONED_STATUS, STATUS_ERROR, Slot};
use bytes::Buf;
use http::{HeaderMap, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Instant;

/// The `Content-Length` header's value, if valid.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A response body's length when it is known up front.
pub(crate) fn response_length<B: Body>(res: &Response<B>) -> Option<u64> {
    res.body()
        .size_hint()
        .exact()
        .or_else(|| content_length(res.headers()))
}

/// One request being measured. Dropping it unfinished (the request future was dropped before
/// the response head: the client hung up, or an outer timeout gave up) counts the request
/// with status [`ABANDONED_STATUS`]; dropping it always takes the request out of
/// `http_requests_in_progress`.
#[derive(Debug)]
pub(crate) struct Tracking {
    pub(crate) slot: Slot,
    pub(crate) start: Instant,
    pub(crate) trace: Option<Box<str>>,
    pub(crate) finished: bool,
}

impl Tracking {
    /// Counts the request with `status` (`None`: the inner service failed) and its duration
    /// so far; later calls do nothing.
    pub(crate) fn finish(&mut self, status: Option<u16>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.slot
            .finish(status.unwrap_or(STATUS_ERROR), nanos, self.trace.as_deref());
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        self.finish(Some(ABANDONED_STATUS));
        if let Some(entry) = self.slot.entry() {
            entry.in_progress.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A request whose timing ends with its response body, with the status of its head.
#[derive(Debug)]
struct Timed {
    tracking: Tracking,
    status: u16,
}

impl Drop for Timed {
    fn drop(&mut self) {
        // The head was sent: the request counts under its status even if the body was cut.
        self.tracking.finish(Some(self.status));
    }
}

/// Counts the bytes of a body whose length was not known up front, and records them in
/// `http_request_size_bytes` or `http_response_size_bytes` when the body ends or is dropped.
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

pin_project! {
    /// A request or response body as [`MetricsService`](crate::MetricsService) hands it on: the
    /// original body, counted into `http_request_size_bytes` or `http_response_size_bytes`
    /// when its length was not known up front (recorded when it ends or is dropped), and with
    /// [`DurationUntil::ResponseEnd`](crate::http::DurationUntil::ResponseEnd) the end of the
    /// request's timing.
    #[derive(Debug)]
    pub struct CountingBody<B> {
        #[pin]
        inner: B,
        counter: Option<BodyCounter>,
        timed: Option<Timed>,
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
            timed: None,
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
            timed: None,
        }
    }

    /// Finishes `tracking` with `status` when the body ends or is dropped.
    pub(crate) fn timed(mut self, tracking: Tracking, status: u16) -> Self {
        self.timed = Some(Timed { tracking, status });
        self
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
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if this.counter.is_none() && this.timed.is_none() {
            return Poll::Ready(frame);
        }
        let ended = match &frame {
            Some(Ok(f)) => {
                if let (Some(c), Some(data)) = (this.counter.as_mut(), f.data_ref()) {
                    c.bytes += data.remaining() as u64;
                }
                this.inner.is_end_stream()
            }
            Some(Err(_)) => false,
            None => true,
        };
        if ended {
            // Recorded now, not when the server gets round to dropping the body.
            this.counter.take();
            this.timed.take();
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
