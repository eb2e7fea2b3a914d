//! The tower layer: fails fast while open, lets probes through while half-open, and answers
//! 503 with `Retry-After` through the HTTP adapter.
#![cfg(feature = "http")]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use inframind_breaker::{
    BreakerConfig, BreakerError, CircuitBreaker, CircuitBreakerLayer, CircuitState,
    HttpCircuitBreakerLayer, ManualClock, Outcome,
};
use tower::{Service, ServiceExt, service_fn};

fn breaker(clock: &ManualClock, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::new(
        "upstream",
        BreakerConfig::builder()
            .failure_threshold(threshold)
            .recovery_timeout(Duration::from_secs(30))
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn fails_fast_while_open_without_calling_the_inner_service() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let svc = CircuitBreakerLayer::new(b.clone()).layer_service(service_fn(move |fail: bool| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { if fail { Err("boom") } else { Ok("fine") } }
    }));

    assert_eq!(svc.clone().oneshot(false).await.unwrap(), "fine");
    for _ in 0..2 {
        assert!(matches!(
            svc.clone().oneshot(true).await,
            Err(BreakerError::Inner("boom"))
        ));
    }
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    clock.advance(Duration::from_secs(12));
    for _ in 0..10 {
        let Err(BreakerError::Rejected(r)) = svc.clone().oneshot(false).await else {
            panic!("open circuits reject");
        };
        assert_eq!(r.remaining_open(), Some(Duration::from_secs(18)));
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "rejected requests never reach the service"
    );
    assert_eq!(b.snapshot().rejected_calls, 10);
}

#[tokio::test]
async fn lets_a_probe_through_while_half_open_and_closes_on_its_success() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut svc = b.layer().layer_service(service_fn(move |_: ()| {
        let mut gate = gate.clone();
        async move {
            gate.wait_for(|v| *v).await.unwrap();
            Ok::<_, Infallible>("probe answered")
        }
    }));
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(30));

    // The first request is the probe; while it is in flight, others fail fast.
    let probe = svc.ready().await.unwrap().call(());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let second = tokio::time::timeout(Duration::from_secs(5), svc.ready().await.unwrap().call(()))
        .await
        .expect("a second request is rejected at once, not sent");
    let Err(BreakerError::Rejected(r)) = second else {
        panic!("one probe at a time")
    };
    assert_eq!(r.state(), CircuitState::HalfOpen);

    release.send(true).unwrap();
    assert_eq!(probe.await.unwrap(), "probe answered");
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test]
async fn a_dropped_response_future_hands_its_probe_permit_back() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let mut svc = b.layer().layer_service(service_fn(|_: ()| {
        std::future::pending::<Result<(), Infallible>>()
    }));
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(30));
    let probe = svc.ready().await.unwrap().call(());
    assert!(b.try_acquire().is_err());
    drop(probe);
    b.try_acquire().expect("permit handed back").success();
    assert_eq!(b.state(), CircuitState::Closed);
}

fn status(code: u16) -> Response<String> {
    Response::builder()
        .status(code)
        .body(String::from("upstream"))
        .unwrap()
}

#[tokio::test]
async fn http_adapter_answers_503_with_retry_after_and_classifies_5xx_only() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 3);
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let svc = HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(
        move |req: Request<()>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let code: u16 = req.uri().path()[1..].parse().unwrap();
            async move { Ok::<_, Infallible>(status(code)) }
        },
    ));
    let get = |code: u16| Request::get(format!("/{code}")).body(()).unwrap();

    // 4xx answers are the client's problem: they never trip the circuit.
    for _ in 0..10 {
        assert_eq!(svc.clone().oneshot(get(404)).await.unwrap().status(), 404);
        assert_eq!(svc.clone().oneshot(get(429)).await.unwrap().status(), 429);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    // 5xx answers do.
    for code in [500, 502, 504] {
        assert_eq!(svc.clone().oneshot(get(code)).await.unwrap().status(), code);
    }
    assert_eq!(b.state(), CircuitState::Open);
    let before = hits.load(Ordering::SeqCst);

    clock.advance(Duration::from_millis(10_500));
    let res = svc.clone().oneshot(get(200)).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers()[header::RETRY_AFTER],
        "20",
        "19.5 s rounded up"
    );
    assert!(res.body().is_empty());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "answered without the upstream"
    );

    // Forced open: 503 without a retry hint.
    b.force_open();
    let res = svc.clone().oneshot(get(200)).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(header::RETRY_AFTER).is_none());
}

#[tokio::test]
async fn http_adapter_counts_transport_errors_as_failures() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    let svc =
        HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(|_: Request<()>| async {
            Err::<Response<String>, _>("connect timeout")
        }));
    for _ in 0..2 {
        assert_eq!(
            svc.clone().oneshot(Request::new(())).await.unwrap_err(),
            "connect timeout"
        );
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test]
async fn custom_classifier_on_the_layer() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    // Only "timeout" errors count.
    let classify = |r: &Result<(), &'static str>| match r {
        Ok(()) => Outcome::Success,
        Err("timeout") => Outcome::Failure,
        Err(_) => Outcome::Ignore,
    };
    let svc = CircuitBreakerLayer::new(b.clone())
        .classifier(classify)
        .layer_service(service_fn(|e: &'static str| async move { Err::<(), _>(e) }));
    svc.clone().oneshot("bad request").await.unwrap_err();
    assert_eq!(b.state(), CircuitState::Closed);
    svc.clone().oneshot("timeout").await.unwrap_err();
    assert_eq!(b.state(), CircuitState::Open);
}
