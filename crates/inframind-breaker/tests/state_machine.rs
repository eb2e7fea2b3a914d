//! Every transition and every trip condition, driven through the public API under an
//! injected clock (no real sleeps).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use inframind_breaker::{
    Backoff, BreakerConfig, BreakerConfigBuilder, BreakerRegistry, CircuitBreaker, CircuitState,
    ManualClock, Outcome, SlidingWindow, StateTransition, TransitionReason,
};

type Events = Arc<Mutex<Vec<(CircuitState, CircuitState, TransitionReason)>>>;

fn breaker(
    clock: &ManualClock,
    f: impl FnOnce(BreakerConfigBuilder) -> BreakerConfigBuilder,
) -> (CircuitBreaker, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let config = f(BreakerConfig::builder().clock(clock.clone()).on_transition(
        move |e: &StateTransition| {
            sink.lock().unwrap().push((e.from, e.to, e.reason));
        },
    ))
    .build()
    .unwrap();
    (CircuitBreaker::new("test", config), events)
}

fn fail(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        b.try_acquire().expect("admitted").failure();
    }
}

fn succeed(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        b.try_acquire().expect("admitted").success();
    }
}

fn last(events: &Events) -> (CircuitState, CircuitState, TransitionReason) {
    *events.lock().unwrap().last().expect("an event")
}

use CircuitState::{Closed, HalfOpen, Open};

#[test]
fn consecutive_failures_open_and_a_success_resets_the_run() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| c.failure_threshold(3));
    fail(&b, 2);
    succeed(&b, 1);
    fail(&b, 2);
    assert_eq!(b.state(), Closed);
    assert_eq!(b.snapshot().consecutive_failures, 2);
    fail(&b, 1);
    assert_eq!(b.state(), Open);
    assert_eq!(
        last(&events),
        (Closed, Open, TransitionReason::ConsecutiveFailures)
    );
    assert_eq!(events.lock().unwrap().len(), 1);
}

#[test]
fn open_rejects_with_remaining_time_then_half_open_then_closed() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.failure_threshold(1)
            .recovery_timeout(Duration::from_secs(30))
    });
    fail(&b, 1);
    clock.advance(Duration::from_secs(10));
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), Open);
    assert_eq!(rejected.remaining_open(), Some(Duration::from_secs(20)));
    assert_eq!(rejected.retry_after_secs(), Some(20));
    let snap = b.snapshot();
    assert_eq!(snap.rejected_calls, 1);
    assert_eq!(snap.remaining_open, Some(Duration::from_secs(20)));

    clock.advance(Duration::from_secs(20));
    let probe = b
        .try_acquire()
        .expect("probe admitted once the open time passed");
    assert_eq!(probe.admitted_state(), HalfOpen);
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(
        last(&events),
        (Open, HalfOpen, TransitionReason::OpenTimeoutElapsed)
    );
    // The single probe permit is taken.
    let busy = b.try_acquire().unwrap_err();
    assert_eq!(busy.state(), HalfOpen);
    // The probe's remaining time: at the latest, the probe timeout (60 s) frees its permit.
    assert_eq!(busy.remaining_open(), Some(Duration::from_secs(60)));
    probe.success();
    assert_eq!(b.state(), Closed);
    assert_eq!(
        last(&events),
        (HalfOpen, Closed, TransitionReason::ProbesSucceeded)
    );
}

#[test]
fn failed_probe_reopens_with_exponential_backoff() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.failure_threshold(1)
            .recovery_timeout(Duration::from_secs(10))
            .backoff(Backoff::exponential(2.0, Duration::from_secs(35)))
    });
    fail(&b, 1);
    assert_eq!(b.snapshot().remaining_open, Some(Duration::from_secs(10)));
    for expected in [20, 35, 35] {
        clock.advance(Duration::from_secs(36));
        fail(&b, 1); // the probe
        assert_eq!(
            last(&events),
            (HalfOpen, Open, TransitionReason::ProbesFailed)
        );
        assert_eq!(
            b.snapshot().remaining_open,
            Some(Duration::from_secs(expected))
        );
    }
    // A successful half-open phase resets the streak.
    clock.advance(Duration::from_secs(36));
    succeed(&b, 1);
    assert_eq!(b.state(), Closed);
    fail(&b, 1);
    assert_eq!(b.snapshot().remaining_open, Some(Duration::from_secs(10)));
}

#[test]
fn jitter_spreads_the_open_duration() {
    let clock = ManualClock::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let (b, _) = breaker(&clock, |c| {
            c.failure_threshold(1)
                .recovery_timeout(Duration::from_secs(100))
                .jitter(0.5)
        });
        fail(&b, 1);
        let open = b.snapshot().remaining_open.unwrap();
        assert!(
            open >= Duration::from_secs(50) && open <= Duration::from_secs(150),
            "{open:?}"
        );
        seen.insert(open);
    }
    assert!(seen.len() > 1, "jitter produced a single value");
}

#[test]
fn half_open_closes_on_success_rate_and_reopens_when_unreachable() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.failure_threshold(1)
            .half_open_max_calls(4)
            .half_open_success_rate(50.0)
    });
    // Closes after 2 of 4 probes succeed, even with a failure in between.
    fail(&b, 1);
    clock.advance(Duration::from_secs(60));
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err(), "a fifth probe must wait");
    let mut probes = probes.into_iter();
    probes.next().unwrap().success();
    probes.next().unwrap().failure();
    assert_eq!(b.state(), HalfOpen);
    probes.next().unwrap().success();
    assert_eq!(b.state(), Closed);
    assert_eq!(
        last(&events),
        (HalfOpen, Closed, TransitionReason::ProbesSucceeded)
    );
    // The remaining probe belongs to the finished phase: its failure is ignored.
    probes.next().unwrap().failure();
    assert_eq!(b.state(), Closed);

    // Reopens once 3 of 4 failed (50 % is out of reach), without waiting for the 4th.
    fail(&b, 1);
    clock.advance(Duration::from_secs(60));
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    let mut probes = probes.into_iter();
    probes.next().unwrap().failure();
    probes.next().unwrap().failure();
    assert_eq!(b.state(), HalfOpen);
    probes.next().unwrap().failure();
    assert_eq!(b.state(), Open);
    assert_eq!(
        last(&events),
        (HalfOpen, Open, TransitionReason::ProbesFailed)
    );
}

#[test]
fn dropped_and_ignored_probes_give_their_permit_back() {
    let clock = ManualClock::new();
    let (b, _) = breaker(&clock, |c| c.failure_threshold(1));
    fail(&b, 1);
    clock.advance(Duration::from_secs(60));
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(probe);
    let probe = b.try_acquire().expect("the dropped probe's permit is back");
    probe.record(Outcome::Ignore);
    assert_eq!(b.state(), HalfOpen);
    b.try_acquire()
        .expect("the ignored probe's permit is back")
        .success();
    assert_eq!(b.state(), Closed);
}

#[test]
fn probes_that_never_finish_are_written_off_after_the_probe_timeout() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.failure_threshold(1).probe_timeout(Duration::from_secs(5))
    });
    fail(&b, 1);
    clock.advance(Duration::from_secs(60));
    let stuck = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(4));
    assert!(b.try_acquire().is_err());
    clock.advance(Duration::from_secs(1));
    let fresh = b
        .try_acquire()
        .expect("a new half-open phase after the probe timeout");
    assert_eq!(
        last(&events),
        (HalfOpen, HalfOpen, TransitionReason::ProbeTimeout)
    );
    // The stuck probe's late failure belongs to the old phase and is ignored.
    stuck.failure();
    assert_eq!(b.state(), HalfOpen);
    fresh.success();
    assert_eq!(b.state(), Closed);
}

#[test]
fn results_of_calls_admitted_under_an_earlier_state_are_ignored() {
    let clock = ManualClock::new();
    let (b, _) = breaker(&clock, |c| c.failure_threshold(2));
    let old = b.try_acquire().unwrap();
    let old2 = b.try_acquire().unwrap();
    fail(&b, 2);
    assert_eq!(b.state(), Open);
    clock.advance(Duration::from_secs(60));
    let probe = b.try_acquire().unwrap();
    // Late failures from the closed phase must not reopen the half-open circuit.
    old.failure();
    assert_eq!(b.state(), HalfOpen);
    probe.success();
    assert_eq!(b.state(), Closed);
    // Nor count towards the new closed phase's consecutive failures.
    old2.failure();
    fail(&b, 1);
    assert_eq!(b.state(), Closed);
    assert_eq!(b.snapshot().consecutive_failures, 1);
    // The totals still count every finished call.
    assert_eq!(b.snapshot().failed_calls, 5);
}

#[test]
fn failure_rate_waits_for_minimum_calls_below_the_window_size() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.no_failure_threshold()
            .failure_rate_threshold(65.0)
            .sliding_window(SlidingWindow::Count(100))
            .minimum_calls(4)
    });
    fail(&b, 1);
    succeed(&b, 1);
    fail(&b, 1);
    assert_eq!(b.state(), Closed, "3 calls are below the minimum of 4");
    assert_eq!(b.snapshot().failure_rate, None);
    succeed(&b, 1);
    assert_eq!(b.state(), Closed, "2 of 4 is below 65 %");
    assert_eq!(b.snapshot().failure_rate, Some(50.0));
    fail(&b, 1);
    assert_eq!(b.state(), Closed, "3 of 5");
    fail(&b, 1);
    assert_eq!(
        b.state(),
        Open,
        "4 of 6 failed, far from a full window of 100"
    );
    assert_eq!(last(&events), (Closed, Open, TransitionReason::FailureRate));
}

#[test]
fn count_window_slides_old_failures_out() {
    let clock = ManualClock::new();
    let (b, _) = breaker(&clock, |c| {
        c.no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count(10))
            .minimum_calls(10)
    });
    fail(&b, 4);
    succeed(&b, 6);
    assert_eq!(b.snapshot().failure_rate, Some(40.0));
    succeed(&b, 10);
    assert_eq!(
        b.snapshot().failure_rate,
        Some(0.0),
        "the 4 failures aged out"
    );
    fail(&b, 4);
    assert_eq!(b.state(), Closed, "4 of the last 10");
    fail(&b, 1);
    // Cumulatively 9 of 25 (36 %); over the last 10 calls, 5 (50 %).
    assert_eq!(b.state(), Open);
}

#[test]
fn time_window_slides_old_failures_out() {
    let clock = ManualClock::new();
    let (b, _) = breaker(&clock, |c| {
        c.no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Time(Duration::from_secs(10)))
            .minimum_calls(4)
    });
    fail(&b, 3);
    clock.advance(Duration::from_secs(11));
    succeed(&b, 3);
    fail(&b, 1);
    // Cumulatively 4 of 7 would trip; the window holds 1 of 4.
    assert_eq!(b.state(), Closed);
    assert_eq!(b.snapshot().failure_rate, Some(25.0));
    fail(&b, 1);
    assert_eq!(b.state(), Closed, "2 of 5");
    fail(&b, 1);
    assert_eq!(b.state(), Open, "3 of 6");
}

#[test]
fn slow_call_rate_trips_and_counts_slow_calls() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.no_failure_threshold()
            .slow_call_duration(Duration::from_secs(1))
            .slow_call_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count(10))
            .minimum_calls(4)
    });
    succeed(&b, 2);
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(1500));
        p.success();
    }
    assert_eq!(b.state(), Open);
    assert_eq!(
        last(&events),
        (Closed, Open, TransitionReason::SlowCallRate)
    );
    let snap = b.snapshot();
    assert_eq!((snap.slow_calls, snap.successful_calls), (2, 4));
}

#[test]
fn combined_conditions_trip_on_whichever_comes_first() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.failure_threshold(3)
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count(20))
            .minimum_calls(20)
    });
    fail(&b, 3);
    assert_eq!(
        last(&events),
        (Closed, Open, TransitionReason::ConsecutiveFailures)
    );
}

#[test]
fn operator_overrides() {
    let clock = ManualClock::new();
    let (b, events) = breaker(&clock, |c| {
        c.failure_threshold(1)
            .failure_rate_threshold(50.0)
            .minimum_calls(1)
    });
    b.force_open();
    let r = b.try_acquire().unwrap_err();
    assert_eq!(
        (r.state(), r.remaining_open()),
        (CircuitState::ForcedOpen, None)
    );
    clock.advance(Duration::from_secs(3600));
    assert!(b.try_acquire().is_err(), "forced open stays open");
    assert_eq!(
        last(&events),
        (Closed, CircuitState::ForcedOpen, TransitionReason::Manual)
    );

    b.force_closed();
    fail(&b, 10);
    assert_eq!(
        b.state(),
        CircuitState::ForcedClosed,
        "forced closed never trips"
    );
    assert_eq!(
        b.snapshot().failure_rate,
        Some(100.0),
        "but keeps measuring"
    );

    b.disable();
    fail(&b, 10);
    assert_eq!(b.state(), CircuitState::Disabled);
    let snap = b.snapshot();
    assert_eq!(snap.failed_calls, 20, "disabled still counts totals");
    assert_eq!(snap.failure_rate, None);

    b.reset();
    assert_eq!(b.state(), Closed);
    assert_eq!(
        last(&events),
        (CircuitState::Disabled, Closed, TransitionReason::Manual)
    );
    fail(&b, 1);
    assert_eq!(b.state(), Open, "automatic again after reset");
}

#[test]
fn registry_creates_gets_snapshots_and_publishes_events() {
    let registry = BreakerRegistry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    registry.subscribe(move |e| sink.lock().unwrap().push((e.name.to_string(), e.to)));
    let config = |n, secs| {
        BreakerConfig::builder()
            .failure_threshold(n)
            .recovery_timeout(Duration::from_secs(secs))
            .build()
            .unwrap()
    };
    let openai = registry.create_breaker("openai", config(5, 60));
    let anthropic = registry.create_breaker("anthropic", config(3, 30));
    // Creating an existing name returns the existing breaker.
    let again = registry.create_breaker("openai", config(1, 1));
    assert_eq!(again.config().failure_threshold(), Some(5));
    assert!(registry.get("missing").is_none());

    fail(&anthropic, 3);
    let _ = openai.try_acquire().unwrap();
    fail(&registry.get("openai").unwrap(), 1);

    let snaps = registry.snapshot();
    let names: Vec<_> = snaps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["anthropic", "openai"]);
    assert_eq!(snaps[0].state, Open);
    assert_eq!(snaps[0].state.as_str(), "open");
    assert_eq!(snaps[0].failed_calls, 3);
    assert!(snaps[0].remaining_open.unwrap() <= Duration::from_secs(30));
    assert_eq!(snaps[1].state, Closed);
    assert_eq!(snaps[1].failed_calls, 1);
    assert_eq!(snaps[1].consecutive_failures, 1);
    assert_eq!(*seen.lock().unwrap(), [("anthropic".to_string(), Open)]);

    assert!(registry.remove("anthropic").is_some());
    assert_eq!(registry.names(), ["openai"]);
}

#[test]
fn handles_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<CircuitBreaker>();
    send_sync::<BreakerRegistry>();
    send_sync::<inframind_breaker::OwnedPermit>();
    send_sync::<inframind_breaker::Rejected>();
    let b = CircuitBreaker::new("x", BreakerConfig::default());
    let fut = b.call(async { Ok::<_, ()>(()) });
    send(&fut);
    send(&b.try_acquire().unwrap());
}

#[test]
fn registry_clones_share_their_breakers() {
    let a = BreakerRegistry::new();
    let b = a.clone();
    let x = a.create_breaker("x", BreakerConfig::default());
    x.force_open();
    assert_eq!(b.get("x").unwrap().state(), CircuitState::ForcedOpen);
    assert_eq!(b.snapshot().len(), 1);
}

#[test]
fn breakers_sharing_one_clock_object_all_follow_it() {
    let manual = ManualClock::new();
    let shared: Arc<dyn inframind_breaker::Clock> = Arc::new(manual.clone());
    let breakers: Vec<CircuitBreaker> = (0..2)
        .map(|i| {
            let config = BreakerConfig::builder()
                .failure_threshold(1)
                .recovery_timeout(Duration::from_secs(30))
                .clock(Arc::clone(&shared))
                .build()
                .unwrap();
            CircuitBreaker::new(format!("shared-{i}"), config)
        })
        .collect();
    for b in &breakers {
        fail(b, 1);
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.try_acquire().is_err(), "open before the timeout");
    }
    manual.advance(Duration::from_secs(30));
    for b in &breakers {
        b.try_acquire()
            .expect("a probe after the shared clock moved")
            .success();
        assert_eq!(b.state(), CircuitState::Closed);
    }
}
