//! Exhaustive interleavings of the state word, the consecutive-failure counter and the
//! half-open permits under `loom`:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test -p inframind-breaker --release --test loom
//! ```
#![cfg(loom)]

use std::time::Duration;

use inframind_breaker::{BreakerConfig, CircuitBreaker, CircuitState, ManualClock};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

fn model(f: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn counted(clock: &ManualClock, threshold: u32, probes: u32) -> (CircuitBreaker, Arc<AtomicUsize>) {
    let transitions = Arc::new(AtomicUsize::new(0));
    let sink = Arc::clone(&transitions);
    let b = CircuitBreaker::new(
        "loom",
        BreakerConfig::builder()
            .failure_threshold(threshold)
            .half_open_max_calls(probes)
            .clock(clock.clone())
            .on_transition(move |_| {
                sink.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap(),
    );
    (b, transitions)
}

#[test]
fn concurrent_failures_trip_exactly_once_and_lose_no_count() {
    model(|| {
        let clock = ManualClock::new();
        let (b, transitions) = counted(&clock, 2, 1);
        let p1 = b.try_acquire_owned().unwrap();
        let p2 = b.try_acquire_owned().unwrap();
        let t = loom::thread::spawn(move || p1.failure());
        p2.failure();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(transitions.load(Ordering::SeqCst), 1);
        assert_eq!(b.snapshot().failed_calls, 2);
    });
}

#[test]
fn racing_callers_get_one_probe_and_one_half_open_transition() {
    model(|| {
        let clock = ManualClock::new();
        let (b, transitions) = counted(&clock, 1, 1);
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(60));
        let b2 = b.clone();
        let t = loom::thread::spawn(move || b2.try_acquire_owned().ok());
        let mine = b.try_acquire_owned().ok();
        let theirs = t.join().unwrap();
        assert_eq!(
            usize::from(mine.is_some()) + usize::from(theirs.is_some()),
            1
        );
        // Closed -> Open, Open -> HalfOpen.
        assert_eq!(transitions.load(Ordering::SeqCst), 2);
        assert_eq!(b.state(), CircuitState::HalfOpen);
    });
}

#[test]
fn probe_success_and_a_late_closed_failure_race_without_double_transitions() {
    model(|| {
        let clock = ManualClock::new();
        let (b, transitions) = counted(&clock, 1, 2);
        let late = b.try_acquire_owned().unwrap();
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(60));
        let probe1 = b.try_acquire_owned().unwrap();
        let probe2 = b.try_acquire_owned().unwrap();
        let t = loom::thread::spawn(move || {
            probe1.success();
            late.failure(); // admitted while closed, generations ago: ignored
        });
        probe2.success();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Closed);
        // Closed -> Open -> HalfOpen -> Closed, each once.
        assert_eq!(transitions.load(Ordering::SeqCst), 3);
    });
}
