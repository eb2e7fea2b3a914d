//! Concurrency: half-open admission limits under a multi-thread runtime, permits released by
//! dropped and cancelled probes, exact counts and single transitions under contention, and
//! time-based behaviour under tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use inframind_breaker::{
    BreakerConfig, BreakerError, CircuitBreaker, CircuitState, Clock, ManualClock, SlidingWindow,
    StateTransition,
};

fn open_then_half_open(max_probes: u32) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::new(
        "probe",
        BreakerConfig::builder()
            .failure_threshold(1)
            .half_open_max_calls(max_probes)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(60));
    (b, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_never_admits_more_than_its_permits() {
    for round in 0..20 {
        let (b, _clock) = open_then_half_open(5);
        let ran = Arc::new(AtomicUsize::new(0));
        let decided = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let b = b.clone();
                let ran = Arc::clone(&ran);
                let decided = Arc::clone(&decided);
                let mut gate = gate.clone();
                tokio::spawn(async move {
                    let mut call = std::pin::pin!(b.call(async {
                        ran.fetch_add(1, Ordering::SeqCst);
                        // Hold the probe until every task has tried its luck.
                        gate.wait_for(|open| *open).await.map(|_| ())
                    }));
                    // Admission is decided at the first poll.
                    if let std::task::Poll::Ready(done) = futures::poll!(&mut call) {
                        decided.fetch_add(1, Ordering::SeqCst);
                        return done;
                    }
                    decided.fetch_add(1, Ordering::SeqCst);
                    call.await
                })
            })
            .collect();
        while decided.load(Ordering::SeqCst) < 1000 {
            tokio::task::yield_now().await;
        }
        assert!(
            b.try_acquire().is_err(),
            "round {round}: all permits are taken"
        );
        release.send(true).unwrap();
        let mut rejected = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => {}
                Err(BreakerError::Rejected(r)) => {
                    assert_eq!(r.state(), CircuitState::HalfOpen);
                    rejected += 1;
                }
                Err(BreakerError::Inner(e)) => panic!("{e}"),
            }
        }
        assert_eq!(ran.load(Ordering::SeqCst), 5, "round {round}");
        assert_eq!(rejected, 995, "round {round}");
        assert_eq!(b.state(), CircuitState::Closed);
    }
}

#[test]
fn half_open_admission_limit_holds_against_racing_threads() {
    // Plain threads released together by a barrier, many rounds.
    for _ in 0..50 {
        let (b, _clock) = open_then_half_open(3);
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let b = b.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..50)
                        .filter_map(|_| b.try_acquire_owned().ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let permits: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(permits.len(), 3);
        drop(permits);
        // All three handed back: three more can be taken.
        let again: Vec<_> = (0..4).filter_map(|_| b.try_acquire().ok()).collect();
        assert_eq!(again.len(), 3);
    }
}

#[tokio::test]
async fn dropped_and_cancelled_probe_futures_release_their_permits() {
    let (b, _clock) = open_then_half_open(1);

    // Created but never polled: it holds no permit (admission is at the first poll).
    let never_polled = b.call(async { Ok::<_, ()>(()) });
    let probe = b.try_acquire().expect("an unpolled call holds no permit");
    drop(probe);
    drop(never_polled);

    // Polled once (pending), then dropped.
    let mut pending = Box::pin(b.call(std::future::pending::<Result<(), ()>>()));
    assert!(futures::poll!(&mut pending).is_pending());
    assert!(b.try_acquire().is_err(), "the polled call holds the permit");
    drop(pending);

    // Polled, pending forever, cancelled by a timeout.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(1),
        b.call(std::future::pending::<Result<(), ()>>()),
    )
    .await;
    assert!(cancelled.is_err(), "the probe timed out");

    // Aborted task.
    let b2 = b.clone();
    let task = tokio::spawn(async move { b2.call(std::future::pending::<Result<(), ()>>()).await });
    tokio::task::yield_now().await;
    task.abort();
    let _ = task.await;

    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.call(async { Ok::<_, ()>(()) }).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn no_lost_counts_under_contention() {
    for window in [
        None,
        Some(SlidingWindow::Count(1000)),
        Some(SlidingWindow::Time(Duration::from_secs(60))),
    ] {
        let mut builder = BreakerConfig::builder().no_failure_threshold();
        if let Some(w) = window {
            builder = builder
                .sliding_window(w)
                .failure_rate_threshold(100.0)
                .minimum_calls(1_000_000);
        }
        let b = CircuitBreaker::new("stress", builder.build().unwrap());
        let threads = 8;
        let per_thread = 20_000;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let b = b.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..per_thread {
                        let p = b.try_acquire().unwrap();
                        if (i + t) % 4 == 0 {
                            p.failure();
                        } else {
                            p.success();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let s = b.snapshot();
        let total = (threads * per_thread) as u64;
        assert_eq!(s.successful_calls + s.failed_calls, total, "{window:?}");
        assert_eq!(s.failed_calls, total / 4, "{window:?}");
    }
}

#[test]
fn time_window_counts_exactly_under_contention() {
    let b = CircuitBreaker::new(
        "window",
        BreakerConfig::builder()
            .no_failure_threshold()
            .failure_rate_threshold(30.0)
            .sliding_window(SlidingWindow::Time(Duration::from_secs(3600)))
            .minimum_calls(1000)
            .build()
            .unwrap(),
    );
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let b = b.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..10_000 {
                    let p = b.try_acquire().unwrap();
                    if (i + t) % 5 == 0 {
                        p.failure();
                    } else {
                        p.success();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(b.snapshot().failure_rate, Some(20.0));
}

#[test]
fn exactly_one_transition_per_trip_and_per_close() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let clock = ManualClock::new();
    let b = CircuitBreaker::new(
        "race",
        BreakerConfig::builder()
            .failure_threshold(1)
            .half_open_max_calls(8)
            .half_open_success_rate(50.0)
            .clock(clock.clone())
            .on_transition(move |e: &StateTransition| sink.lock().unwrap().push((e.from, e.to)))
            .build()
            .unwrap(),
    );
    let threads = 8;
    for round in 0..100 {
        // Everyone fails at once: one trip.
        let permits: Vec<_> = (0..threads)
            .map(|_| b.try_acquire_owned().unwrap())
            .collect();
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = permits
            .into_iter()
            .map(|p| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    p.failure();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), CircuitState::Open);
        // Eight probes succeed at once: one close.
        clock.advance(Duration::from_secs(61));
        let probes: Vec<_> = (0..threads)
            .map(|_| b.try_acquire_owned().unwrap())
            .collect();
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = probes
            .into_iter()
            .map(|p| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    p.success();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), CircuitState::Closed, "round {round}");
    }
    use CircuitState::{Closed, HalfOpen, Open};
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 300);
    for chunk in events.chunks(3) {
        assert_eq!(
            chunk,
            [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
        );
    }
}

/// A clock on tokio's (pausable) time.
#[derive(Debug)]
struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[tokio::test(start_paused = true)]
async fn recovery_under_tokios_paused_clock() {
    let b = CircuitBreaker::new(
        "anthropic",
        BreakerConfig::builder()
            .failure_threshold(3)
            .recovery_timeout(Duration::from_secs(30))
            .clock(TokioClock)
            .build()
            .unwrap(),
    );
    for _ in 0..3 {
        let r = b.call(async { Err::<(), _>("upstream 500") }).await;
        assert!(matches!(r, Err(BreakerError::Inner(_))));
    }
    let Err(BreakerError::Rejected(r)) = b.call(async { Ok::<_, ()>(()) }).await else {
        panic!("open circuits reject");
    };
    assert_eq!(r.remaining_open(), Some(Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(b.call(async { Ok::<_, ()>(()) }).await.is_err());
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.call(async { Ok::<_, ()>(()) }).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}
