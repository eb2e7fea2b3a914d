//! [`ResponseFuture`]: the future [`CacheService`](crate::CacheService) returns.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::CacheBody;

/// The boxed state machine of a cacheable request: allocated once per request, which pays for a
/// store round trip anyway.
pub(crate) type CachedFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<CacheBody<B>>, E>> + Send>>;

pin_project! {
    /// Response future of [`CacheService`](crate::CacheService).
    ///
    /// A request the cache does not handle (bypass) polls the inner future in place, with no
    /// allocation; a hit from a store that answers at once (in-process) is ready at once, with
    /// no allocation either; any other cacheable request runs a state machine boxed once per
    /// request (which pays for a store round trip anyway).
    pub struct ResponseFuture<F, B, E>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E>
    where
        B: Body,
    {
        Bypass {
            #[pin]
            future: F,
            x_cache: HeaderValue,
            cache_status: HeaderValue,
        },
        Cached { future: CachedFuture<B, E> },
        Ready { response: Option<Response<CacheBody<B>>> },
    }
}

impl<F, B: Body, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Bypass { .. } => "Bypass",
            Kind::Cached { .. } => "Cached",
            Kind::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, B: Body, E> ResponseFuture<F, B, E> {
    pub(crate) fn bypass(future: F, x_cache: HeaderValue, cache_status: HeaderValue) -> Self {
        Self {
            kind: Kind::Bypass {
                future,
                x_cache,
                cache_status,
            },
        }
    }

    pub(crate) fn ready(response: Response<CacheBody<B>>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn cached(future: CachedFuture<B, E>) -> Self {
        Self {
            kind: Kind::Cached { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<CacheBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Bypass {
                future,
                x_cache,
                cache_status,
            } => {
                let response = ready!(future.poll(cx))?;
                let (mut parts, body) = response.into_parts();
                parts
                    .headers
                    .insert(crate::headers::X_CACHE, x_cache.clone());
                parts
                    .headers
                    .append(crate::headers::CACHE_STATUS, cache_status.clone());
                Poll::Ready(Ok(Response::from_parts(parts, CacheBody::inner(body))))
            }
            KindProj::Cached { future } => future.as_mut().poll(cx),
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}
