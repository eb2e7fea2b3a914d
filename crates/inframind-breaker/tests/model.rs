//! Model-based tests: the real breaker against the plain reference model in `reference/mod.rs`,
//! over random sequences of admissions, outcomes, call durations, `ManualClock` steps and
//! operator overrides, one configuration family per test.
//!
//! Each family runs `PROPTEST_CASES` sequences (default 1,000 so that a debug `cargo test`
//! stays within seconds); the figures in the crate's CHANGELOG come from
//! `PROPTEST_CASES=10000 cargo test -p inframind-breaker --all-features --test model`.
#![cfg(not(loom))]

mod reference;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use inframind_breaker::{CircuitBreaker, CircuitState, ManualClock, Outcome as Real, OwnedPermit};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use reference::{Config, Event, Expected, Model, Outcome, Window};

/// At most this many permits held at once (calls in flight).
const MAX_HELD: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    /// Acquire, let `ms` pass, report the outcome.
    Call(Outcome, u64),
    /// Acquire and hold the permit (a call in flight).
    Acquire,
    /// Report the outcome of the held permit at this index (modulo the number held).
    Finish(usize, Outcome),
    /// Move the clock.
    Advance(u64),
    /// An operator override (`Closed` is `reset`).
    Set(CircuitState),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        4 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignore),
        1 => Just(Outcome::Drop),
    ]
}

/// Clock steps around the configuration's time scale (a few to a few hundred ms).
fn step() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => Just(0_u64),
        3 => 1_u64..=5,
        2 => 5_u64..=40,
        1 => 40_u64..=300,
    ]
}

fn op_sequence(operators: bool) -> impl Strategy<Value = Vec<Op>> {
    let manual = if operators { 1 } else { 0 };
    let op = prop_oneof![
        8 => (outcome(), prop_oneof![3 => Just(0_u64), 1 => 0_u64..=12]).prop_map(|(o, d)| Op::Call(o, d)),
        2 => Just(Op::Acquire),
        3 => (0_usize..MAX_HELD, outcome()).prop_map(|(i, o)| Op::Finish(i, o)),
        3 => step().prop_map(Op::Advance),
        manual => prop_oneof![
            Just(CircuitState::ForcedOpen),
            Just(CircuitState::ForcedClosed),
            Just(CircuitState::Disabled),
            Just(CircuitState::Closed),
        ]
        .prop_map(Op::Set),
    ];
    proptest::collection::vec(op, 1..48)
}

fn probes() -> impl Strategy<Value = (u32, f64, u64)> {
    (
        1_u32..=4,
        prop_oneof![Just(100.0), Just(50.0), Just(66.0), Just(25.0)],
        prop_oneof![1_u64..=20, 20_u64..=200],
    )
}

fn recovery() -> impl Strategy<Value = u64> {
    prop_oneof![1_u64..=10, 10_u64..=100]
}

/// Consecutive failures only (the default trip condition), with half-open probing.
fn consecutive_family() -> impl Strategy<Value = Config> {
    (1_u32..=5, recovery(), probes()).prop_map(|(threshold, recovery_ms, (p, rate, probe_ms))| {
        Config {
            failure_threshold: Some(threshold),
            recovery_ms,
            half_open_max_calls: p,
            half_open_success_rate: rate,
            probe_timeout_ms: probe_ms,
            ..Config::default()
        }
    })
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(100.0),
        Just(50.0),
        Just(25.0),
        Just(75.0),
        Just(33.3),
        Just(60.0)
    ]
}

/// Failure rate (and sometimes slow-call rate and consecutive failures) over a count window
/// of 1 to 40 calls, sizes that do and do not divide into buckets.
fn count_family() -> impl Strategy<Value = Config> {
    (
        1_u32..=40,
        1_u32..=45,
        rate(),
        proptest::option::of((rate(), 1_u64..=8)),
        proptest::option::of(1_u32..=6),
        recovery(),
        probes(),
    )
        .prop_map(
            |(n, min, failure_rate, slow, threshold, recovery_ms, (p, r, probe_ms))| Config {
                failure_threshold: threshold,
                failure_rate: Some(failure_rate),
                slow_rate: slow.map(|s| s.0),
                slow_ms: slow.map(|s| s.1),
                window: Window::Count(n),
                minimum_calls: min,
                recovery_ms,
                half_open_max_calls: p,
                half_open_success_rate: r,
                probe_timeout_ms: probe_ms,
                ..Config::default()
            },
        )
}

/// Failure rate and slow-call rate over a time window of 1 ms to 0.4 s (below and above 16
/// slices), the clock moving through it.
fn time_family() -> impl Strategy<Value = Config> {
    (
        prop_oneof![1_u64..=16, 16_u64..=400],
        1_u32..=10,
        proptest::option::of(rate()),
        proptest::option::of((rate(), 1_u64..=8)),
        recovery(),
        probes(),
    )
        .prop_filter("a rate condition", |c| c.2.is_some() || c.3.is_some())
        .prop_map(
            |(ms, min, failure_rate, slow, recovery_ms, (p, r, probe_ms))| Config {
                failure_threshold: None,
                failure_rate,
                slow_rate: slow.map(|s| s.0),
                slow_ms: slow.map(|s| s.1),
                window: Window::TimeMs(ms),
                minimum_calls: min,
                recovery_ms,
                half_open_max_calls: p,
                half_open_success_rate: r,
                probe_timeout_ms: probe_ms,
                backoff: None,
            },
        )
}

/// Exponential backoff over consecutive trips, with a cap, and slow calls without a slow
/// rate (counted only).
fn backoff_family() -> impl Strategy<Value = Config> {
    (
        1_u32..=2,
        1_u64..=20,
        prop_oneof![Just(1.0), Just(1.5), Just(2.0), Just(3.0)],
        1_u64..=400,
        proptest::option::of(1_u64..=6),
        probes(),
    )
        .prop_map(
            |(threshold, recovery_ms, mult, max, slow_ms, (p, r, probe_ms))| Config {
                failure_threshold: Some(threshold),
                recovery_ms,
                backoff: Some((mult, max)),
                slow_ms,
                half_open_max_calls: p,
                half_open_success_rate: r,
                probe_timeout_ms: probe_ms,
                ..Config::default()
            },
        )
}

/// Checks the real breaker against the model over `ops`.
fn check(cfg: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let config = cfg
        .builder(&clock)
        .on_transition(move |e| {
            sink.lock().unwrap().push(Event {
                from: e.from,
                to: e.to,
                reason: e.reason,
                open_for: e.open_for,
            });
        })
        .build()
        .map_err(|e| TestCaseError::fail(format!("config rejected: {e}")))?;
    let real = CircuitBreaker::new("model", config);
    let mut model = Model::new(cfg.clone());
    let mut held: Vec<(OwnedPermit, reference::Ticket)> = Vec::new();

    let acquire =
        |model: &mut Model| -> Result<Option<(OwnedPermit, reference::Ticket)>, TestCaseError> {
            let got = real.try_acquire_owned();
            let want = model.acquire();
            match (got, want) {
                (Ok(permit), Ok(ticket)) => {
                    prop_assert_eq!(permit.admitted_state(), ticket.mode);
                    Ok(Some((permit, ticket)))
                }
                (Err(r), Err((state, remaining))) => {
                    prop_assert_eq!((r.state(), r.remaining_open()), (state, remaining));
                    Ok(None)
                }
                (got, want) => Err(TestCaseError::fail(format!(
                    "admission differs: breaker {:?}, model {want:?}",
                    got.map(|p| p.admitted_state())
                ))),
            }
        };
    let finish = |permit: OwnedPermit, ticket, outcome, model: &mut Model| {
        match outcome {
            Outcome::Success => permit.success(),
            Outcome::Failure => permit.failure(),
            Outcome::Ignore => permit.record(Real::Ignore),
            Outcome::Drop => drop(permit),
        }
        model.finish(ticket, outcome);
    };

    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Call(outcome, ms) => {
                if let Some((permit, ticket)) = acquire(&mut model)? {
                    clock.advance(Duration::from_millis(*ms));
                    model.advance(*ms);
                    finish(permit, ticket, *outcome, &mut model);
                }
            }
            Op::Acquire => {
                if held.len() == MAX_HELD {
                    let (permit, ticket) = held.remove(0);
                    finish(permit, ticket, Outcome::Success, &mut model);
                }
                if let Some(h) = acquire(&mut model)? {
                    held.push(h);
                }
            }
            Op::Finish(i, outcome) => {
                if !held.is_empty() {
                    let (permit, ticket) = held.remove(i % held.len());
                    finish(permit, ticket, *outcome, &mut model);
                }
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(*ms));
                model.advance(*ms);
            }
            Op::Set(to) => {
                match to {
                    CircuitState::ForcedOpen => real.force_open(),
                    CircuitState::ForcedClosed => real.force_closed(),
                    CircuitState::Disabled => real.disable(),
                    _ => real.reset(),
                }
                model.set_state(*to);
            }
        }
        prop_assert_eq!(
            real.state(),
            model.state,
            "state after step {} ({:?})",
            step,
            op
        );
        prop_assert_eq!(
            Expected::of(&real.snapshot()),
            model.expected(),
            "snapshot after step {} ({:?})",
            step,
            op
        );
        prop_assert_eq!(
            &*seen.lock().unwrap(),
            &model.events,
            "transitions after step {} ({:?})",
            step,
            op
        );
    }
    for (permit, ticket) in held.drain(..) {
        finish(permit, ticket, Outcome::Drop, &mut model);
    }
    prop_assert_eq!(
        Expected::of(&real.snapshot()),
        model.expected(),
        "after the drops"
    );
    Ok(())
}

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    ProptestConfig {
        cases,
        max_shrink_iters: 10_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn consecutive_failures_and_probes_agree_with_the_model(cfg in consecutive_family(), ops in op_sequence(true)) {
        check(&cfg, &ops)?;
    }

    #[test]
    fn count_windows_agree_with_the_model(cfg in count_family(), ops in op_sequence(false)) {
        check(&cfg, &ops)?;
    }

    #[test]
    fn time_windows_agree_with_the_model(cfg in time_family(), ops in op_sequence(false)) {
        check(&cfg, &ops)?;
    }

    #[test]
    fn backoff_agrees_with_the_model(cfg in backoff_family(), ops in op_sequence(false)) {
        check(&cfg, &ops)?;
    }

    #[test]
    fn everything_with_operator_overrides_agrees_with_the_model(
        cfg in prop_oneof![count_family(), time_family(), backoff_family()],
        ops in op_sequence(true),
    ) {
        check(&cfg, &ops)?;
    }
}

/// The model itself, on the examples: the breaker must agree with these too.
#[test]
fn the_model_trips_on_a_success_that_reaches_the_minimum() {
    let cfg = Config {
        failure_threshold: None,
        failure_rate: Some(50.0),
        window: Window::Count(10),
        minimum_calls: 10,
        ..Config::default()
    };
    let ops: Vec<Op> = (0..5)
        .map(|_| Op::Call(Outcome::Failure, 0))
        .chain((0..5).map(|_| Op::Call(Outcome::Success, 0)))
        .collect();
    check(&cfg, &ops).unwrap();
    let mut m = Model::new(cfg);
    for op in &ops {
        if let Op::Call(o, _) = op {
            let t = m.acquire().unwrap();
            m.finish(t, *o);
        }
    }
    assert_eq!(m.state, CircuitState::Open);
}
