//! [`ResponseFuture`]: counts the request when the inner service answers (or fails, or the
//! future is dropped first), and hands the response body on.

use super::body::{ResponseBody, Tracking, response_length};
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The response future of [`MetricsService`](crate::MetricsService).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tracking: Option<Tracking>,
        until_end: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn tracked(inner: F, tracking: Tracking, until_end: bool) -> Self {
        Self {
            inner,
            tracking: Some(tracking),
            until_end,
        }
    }

    pub(crate) fn untracked(inner: F) -> Self {
        Self {
            inner,
            tracking: None,
            until_end: false,
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
        let Some(mut t) = this.tracking.take() else {
            return Poll::Ready(result.map(|r| r.map(ResponseBody::untracked)));
        };
        Poll::Ready(match result {
            Ok(res) => {
                let status = res.status().as_u16();
                if !*this.until_end {
                    t.finish(Some(status));
                }
                let len = response_length(&res);
                if let (Some(len), Some(entry)) = (len, t.slot.entry()) {
                    entry.observe_response_size(len);
                }
                let slot = t.slot.clone();
                let until_end = *this.until_end;
                Ok(res.map(|b| {
                    let body = match len {
                        Some(_) => ResponseBody::untracked(b),
                        None => ResponseBody::counting(b, slot, false),
                    };
                    if until_end {
                        body.timed(t, status)
                    } else {
                        drop(t);
                        body
                    }
                }))
            }
            Err(e) => {
                t.finish(None);
                Err(e)
            }
        })
    }
}
