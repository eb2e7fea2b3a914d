//! Sliding windows: a count window is exactly the last n calls, and rates are evaluated on
//! every recorded call once the minimum number of calls is reached.

use std::time::Duration;

use inframind_breaker::{
    BreakerConfig, CircuitBreaker, CircuitState, ManualClock, SlidingWindow, TransitionReason,
};

fn rate_breaker(window: SlidingWindow, minimum: u32) -> CircuitBreaker {
    CircuitBreaker::new(
        "window",
        BreakerConfig::builder()
            .no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(window)
            .minimum_calls(minimum)
            .clock(ManualClock::new())
            .build()
            .unwrap(),
    )
}

fn succeed(b: &CircuitBreaker, n: u32) {
    for _ in 0..n {
        b.try_acquire().expect("admitted").success();
    }
}

#[test]
fn a_success_that_reaches_the_minimum_trips_on_the_rate() {
    // resilience4j: 5 failures then 5 successes over a window of 10, minimum 10, 50 %: the
    // tenth call reaches the minimum at exactly 50 % and opens the circuit.
    let b = rate_breaker(SlidingWindow::Count(10), 10);
    for _ in 0..5 {
        b.try_acquire().unwrap().failure();
    }
    succeed(&b, 4);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "9 calls: below the minimum"
    );
    succeed(&b, 1);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn a_success_that_pushes_a_success_out_can_trip() {
    // With a time window, successes that age out raise the rate the next success sees.
    let clock = ManualClock::new();
    let b = CircuitBreaker::new(
        "time",
        BreakerConfig::builder()
            .no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Time(Duration::from_secs(16)))
            .minimum_calls(4)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    succeed(&b, 4);
    clock.advance(Duration::from_secs(1));
    for _ in 0..3 {
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(b.state(), CircuitState::Closed, "3 of 7");
    // The four successes age out; the next success sees 3 failures of 4 calls.
    clock.advance(Duration::from_secs(15));
    succeed(&b, 1);
    assert_eq!(b.state(), CircuitState::Open);
}

/// After `n` successes, the circuit must open at exactly the failure that makes half of the
/// last `n` calls failures.
fn opens_at_exactly_half(n: u32) {
    let b = rate_breaker(SlidingWindow::Count(n), n);
    succeed(&b, n);
    let needed = n.div_ceil(2);
    for k in 1..=needed {
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "Count({n}): opened after {} failures, expected {needed}",
            k - 1
        );
        b.try_acquire().unwrap().failure();
    }
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "Count({n}) after {needed} failures"
    );
}

#[test]
fn a_count_window_is_exactly_the_last_n_calls() {
    for n in [1, 2, 3, 7, 16, 17, 34, 100, 101, 1000, 1001] {
        opens_at_exactly_half(n);
    }
}

#[test]
fn the_snapshot_rate_is_over_exactly_the_last_n_calls() {
    for n in [17_u32, 34, 101] {
        let b = rate_breaker(SlidingWindow::Count(n), n);
        b.try_acquire().unwrap().failure();
        succeed(&b, n - 1);
        let expected = 100.0 / f64::from(n);
        assert_eq!(b.snapshot().failure_rate, Some(expected), "Count({n})");
        succeed(&b, 1);
        assert_eq!(
            b.snapshot().failure_rate,
            Some(0.0),
            "Count({n}): the failure aged out"
        );
    }
}

#[test]
fn every_recorded_call_is_evaluated_not_only_failures() {
    // Slow successes trip the slow-call rate too (they were already evaluated), and a plain
    // success that reaches the minimum does as well.
    let clock = ManualClock::new();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&events);
    let b = CircuitBreaker::new(
        "slow",
        BreakerConfig::builder()
            .no_failure_threshold()
            .slow_call_duration(Duration::from_secs(1))
            .slow_call_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count(4))
            .minimum_calls(4)
            .clock(clock.clone())
            .on_transition(move |e| sink.lock().unwrap().push(e.reason))
            .build()
            .unwrap(),
    );
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_secs(2));
        p.success();
    }
    succeed(&b, 1);
    assert_eq!(b.state(), CircuitState::Closed);
    succeed(&b, 1);
    assert_eq!(b.state(), CircuitState::Open, "2 slow of 4 at the minimum");
    assert_eq!(*events.lock().unwrap(), [TransitionReason::SlowCallRate]);
}
