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

    // The first request is the probe (its permit taken at its first poll); while it is in
    // flight, others fail fast.
    let mut probe = Box::pin(svc.ready().await.unwrap().call(()));
    assert!(futures::poll!(&mut probe).is_pending());
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
    let mut probe = Box::pin(svc.ready().await.unwrap().call(()));
    assert!(futures::poll!(&mut probe).is_pending());
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
async fn http_adapter_answers_503_with_retry_after_and_classifies_by_status() {
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
        assert_eq!(svc.clone().oneshot(get(400)).await.unwrap().status(), 400);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.snapshot().ignored_calls, 20);
    // 5xx and 429 answers do.
    for code in [500, 429, 504] {
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

#[tokio::test]
async fn a_client_error_does_not_reset_the_run_of_server_errors() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let svc = HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(
        |req: Request<()>| async move {
            let code: u16 = req.uri().path()[1..].parse().unwrap();
            Ok::<_, Infallible>(status(code))
        },
    ));
    let get = |code: u16| Request::get(format!("/{code}")).body(()).unwrap();
    for code in [500, 500, 500, 500, 404] {
        svc.clone().oneshot(get(code)).await.unwrap();
    }
    let snap = b.snapshot();
    assert_eq!(
        snap.consecutive_failures, 4,
        "the 404 is ignored, not a success"
    );
    assert_eq!(
        (snap.failed_calls, snap.successful_calls, snap.ignored_calls),
        (4, 0, 1)
    );
    svc.clone().oneshot(get(503)).await.unwrap();
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test]
async fn a_client_error_does_not_dilute_the_failure_rate() {
    let b = CircuitBreaker::new(
        "rate",
        BreakerConfig::builder()
            .no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(inframind_breaker::SlidingWindow::Count(4))
            .minimum_calls(4)
            .build()
            .unwrap(),
    );
    let svc = HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(
        |req: Request<()>| async move {
            let code: u16 = req.uri().path()[1..].parse().unwrap();
            Ok::<_, Infallible>(status(code))
        },
    ));
    let get = |code: u16| Request::get(format!("/{code}")).body(()).unwrap();
    for code in [200, 500, 404, 404, 404, 200] {
        svc.clone().oneshot(get(code)).await.unwrap();
    }
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "3 counted calls: below the minimum"
    );
    svc.clone().oneshot(get(500)).await.unwrap();
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "2 failures of 4 counted calls"
    );
}

#[tokio::test]
async fn the_http_classifier_is_configurable() {
    use inframind_breaker::{Classify, HttpClassifier};
    let res = |code: u16| status(code);
    let c = HttpClassifier::new()
        .client_errors(Outcome::Failure)
        .too_many_requests(Outcome::Ignore)
        .server_errors(Outcome::Failure)
        .errors(Outcome::Ignore);
    assert_eq!(c.classify(&res(400)), Outcome::Failure);
    assert_eq!(c.classify(&res(429)), Outcome::Ignore);
    assert_eq!(c.classify(&res(502)), Outcome::Failure);
    assert_eq!(c.classify(&res(302)), Outcome::Success);
    let err: Result<Response<String>, &str> = Err("reset");
    assert_eq!(c.classify(&err), Outcome::Ignore);
    assert_eq!(HttpClassifier::default(), HttpClassifier::new());
    assert_eq!(HttpClassifier::new().classify(&res(408)), Outcome::Failure);
}

#[tokio::test]
async fn a_response_future_made_while_closed_is_rejected_if_the_circuit_opened_before_its_first_poll()
 {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let polled = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&polled);
    let mut svc = b.layer().layer_service(service_fn(move |_: ()| {
        let seen = Arc::clone(&seen);
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>("ran")
        }
    }));
    let early = svc.ready().await.unwrap().call(());
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), CircuitState::Open);
    let Err(BreakerError::Rejected(r)) = early.await else {
        panic!("a future polled after the circuit opened must be rejected");
    };
    assert_eq!(r.state(), CircuitState::Open);
    assert_eq!(
        polled.load(Ordering::SeqCst),
        0,
        "the inner future never ran"
    );
    assert_eq!(b.snapshot().rejected_calls, 1);

    // The same for the HTTP variant: a 503.
    b.reset();
    let mut http =
        HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(status(200))
        }));
    let early = http.ready().await.unwrap().call(Request::new(()));
    b.force_open();
    assert_eq!(
        early.await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_call_made_while_closed_is_rejected_if_the_circuit_opened_before_its_first_poll() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&ran);
    let early = b.call(async move {
        seen.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(())
    });
    b.try_acquire().unwrap().failure();
    let Err(BreakerError::Rejected(r)) = early.await else {
        panic!("a call polled after the circuit opened must be rejected");
    };
    assert_eq!(r.state(), CircuitState::Open);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_rejected_by_busy_probes_retries_after_the_probes_remaining_time() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::new(
        "upstream",
        BreakerConfig::builder()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(30))
            .probe_timeout(Duration::from_secs(10))
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let mut svc =
        HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(|_: Request<()>| {
            std::future::pending::<Result<Response<String>, Infallible>>()
        }));
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(30));
    let mut probe = Box::pin(svc.ready().await.unwrap().call(Request::new(())));
    assert!(futures::poll!(&mut probe).is_pending());
    clock.advance(Duration::from_millis(3_200));
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(Request::new(()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers()[header::RETRY_AFTER],
        "7",
        "6.8 s of the probe's 10 s left, rounded up"
    );
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.remaining_open(), Some(Duration::from_millis(6_800)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_the_http_layer_during_an_outage_counts_every_request_once() {
    // 2,000 concurrent requests; the upstream answers 200 and 404 until request 600 is
    // served, then 503. The count window of 50 at 50 % opens the circuit during the outage;
    // every request is a success, a failure, an ignored client error or a rejection, once.
    let b = CircuitBreaker::new(
        "burst",
        BreakerConfig::builder()
            .no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(inframind_breaker::SlidingWindow::Count(50))
            .minimum_calls(50)
            .recovery_timeout(Duration::from_secs(3600))
            .build()
            .unwrap(),
    );
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let svc =
        HttpCircuitBreakerLayer::new(b.clone()).layer_service(service_fn(move |_: Request<()>| {
            let counter = Arc::clone(&counter);
            async move {
                // Counted when polled: a request rejected at its first poll is never served.
                let n = counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let code = match n {
                    _ if n >= 600 => 503,
                    _ if n % 10 == 0 => 404,
                    _ => 200,
                };
                Ok::<_, Infallible>(status(code))
            }
        }));
    let tasks: Vec<_> = (0..2_000)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.oneshot(Request::new(())).await.unwrap().status() })
        })
        .collect();
    let mut answered = std::collections::HashMap::new();
    for t in tasks {
        *answered.entry(t.await.unwrap().as_u16()).or_insert(0_u64) += 1;
    }
    assert_eq!(b.state(), CircuitState::Open);
    let s = b.snapshot();
    let upstream = served.load(Ordering::SeqCst) as u64;
    assert_eq!(
        s.successful_calls + s.failed_calls + s.ignored_calls,
        upstream,
        "every upstream answer counted once: {s:?}"
    );
    // Each request was served or rejected (when the service was called, or at the first
    // poll), never both.
    assert_eq!(upstream + s.rejected_calls, 2_000);
    assert_eq!(
        answered.get(&503).copied().unwrap_or(0),
        s.failed_calls + s.rejected_calls
    );
    assert_eq!(answered.get(&404).copied().unwrap_or(0), s.ignored_calls);
    assert_eq!(answered.get(&200).copied().unwrap_or(0), s.successful_calls);
    assert!(
        s.rejected_calls > 0,
        "the open circuit rejected the rest of the burst"
    );
}
