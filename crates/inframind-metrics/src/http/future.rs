use super::body::ResponseBody;
use super::service::response_length;
use super::table::{STATUS_ERROR, Slot};
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Instant;

/// One request being measured. Dropping it (the response arrived, or the request future was
/// cancelled) takes the request out of `http_requests_in_progress`.
#[derive(Debug)]
pub(crate) struct Tracking {
    pub(crate) slot: Slot,
    pub(crate) start: Instant,
    pub(crate) trace: Option<Box<str>>,
}

impl Drop for Tracking {
    fn drop(&mut self) {
        if let Some(entry) = self.slot.entry() {
            entry.in_progress.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pin_project! {
    /// The response future of [`MetricsService`](crate::MetricsService).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tracking: Option<Tracking>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn tracked(inner: F, tracking: Tracking) -> Self {
        Self {
            inner,
            tracking: Some(tracking),
        }
    }

    pub(crate) fn untracked(inner: F) -> Self {
        Self {
            inner,
            tracking: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(t) = this.tracking.take() else {
            return Poll::Ready(result.map(|r| r.map(ResponseBody::untracked)));
        };
        let nanos = u64::try_from(t.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Poll::Ready(match result {
            Ok(res) => {
                t.slot
                    .finish(res.status().as_u16(), nanos, t.trace.as_deref());
                match response_length(&res) {
                    Some(len) => {
                        if let Some(entry) = t.slot.entry() {
                            entry.observe_response_size(len);
                        }
                        Ok(res.map(ResponseBody::untracked))
                    }
                    None => {
                        let slot = t.slot.clone();
                        Ok(res.map(|b| ResponseBody::counting(b, slot, false)))
                    }
                }
            }
            Err(e) => {
                t.slot.finish(STATUS_ERROR, nanos, t.trace.as_deref());
                Err(e)
            }
        })
    }
}
