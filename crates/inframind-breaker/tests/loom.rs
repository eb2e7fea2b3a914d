//! Exhaustive interleavings of the state word, the consecutive-failure counter and the
//! half-open permits under `loom`, each checked against the reference model
//! (`reference/mod.rs`): whatever the interleaving, the breaker must end where the model ends
//! for one of the sequential orders of the same operations.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=/work/target-loom \
//!     cargo test -p inframind-breaker --release --test loom
//! ```
#![cfg(loom)]

mod reference;

use std::time::Duration;

use inframind_breaker::{CircuitBreaker, CircuitState, ManualClock};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use reference::{Config, Expected, Model, Outcome, Window};

fn model(f: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn config(threshold: u32, probes: u32) -> Config {
    Config {
        failure_threshold: Some(threshold),
        half_open_max_calls: probes,
        ..Config::default()
    }
}

fn counted(clock: &ManualClock, threshold: u32, probes: u32) -> (CircuitBreaker, Arc<AtomicUsize>) {
    let transitions = Arc::new(AtomicUsize::new(0));
    let sink = Arc::clone(&transitions);
    let b = CircuitBreaker::new(
        "loom",
        config(threshold, probes)
            .builder(clock)
            .on_transition(move |_| {
                sink.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap(),
    );
    (b, transitions)
}

/// The breaker ended where the model ends for one of the sequential orders in `orders`.
fn agrees_with_some_order(b: &CircuitBreaker, transitions: usize, orders: &[Model]) {
    let got = Expected::of(&b.snapshot());
    assert!(
        orders
            .iter()
            .any(|m| m.expected() == got && m.events.len() == transitions),
        "no sequential order explains {got:?} with {transitions} transitions"
    );
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
        // Both orders of the two failures are the same sequence.
        let mut m = Model::new(config(2, 1));
        let (t1, t2) = (m.acquire().unwrap(), m.acquire().unwrap());
        m.finish(t1, Outcome::Failure);
        m.finish(t2, Outcome::Failure);
        agrees_with_some_order(&b, transitions.load(Ordering::SeqCst), &[m]);
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
        // Whichever caller came first, the model admits one probe and rejects the other.
        let mut m = Model::new(config(1, 1));
        let t = m.acquire().unwrap();
        m.finish(t, Outcome::Failure);
        m.advance(60_000);
        let first = m.acquire();
        let second = m.acquire();
        assert!(first.is_ok() && second.is_err());
        agrees_with_some_order(&b, transitions.load(Ordering::SeqCst), &[m]);
        drop((mine, theirs));
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
        // The thread's two results keep their order; the main thread's probe goes before,
        // between or after them.
        let orders: Vec<Model> = (0..3)
            .map(|at| {
                let mut m = Model::new(config(1, 2));
                let late = m.acquire().unwrap();
                let t = m.acquire().unwrap();
                m.finish(t, Outcome::Failure);
                m.advance(60_000);
                let probe1 = m.acquire().unwrap();
                let probe2 = m.acquire().unwrap();
                let mut thread = vec![(probe1, Outcome::Success), (late, Outcome::Failure)];
                thread.insert(at, (probe2, Outcome::Success));
                for (ticket, outcome) in thread {
                    m.finish(ticket, outcome);
                }
                m
            })
            .collect();
        agrees_with_some_order(&b, transitions.load(Ordering::SeqCst), &orders);
    });
}

#[test]
fn concurrent_outcomes_in_a_count_window_agree_with_the_model() {
    model(|| {
        let clock = ManualClock::new();
        let cfg = Config {
            failure_threshold: None,
            failure_rate: Some(60.0),
            window: Window::Count(3),
            minimum_calls: 3,
            ..Config::default()
        };
        let transitions = Arc::new(AtomicUsize::new(0));
        let sink = Arc::clone(&transitions);
        let b = CircuitBreaker::new(
            "loom",
            cfg.builder(&clock)
                .on_transition(move |_| {
                    sink.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap(),
        );
        b.try_acquire().unwrap().failure();
        let p1 = b.try_acquire_owned().unwrap();
        let p2 = b.try_acquire_owned().unwrap();
        let t = loom::thread::spawn(move || p1.failure());
        p2.success();
        t.join().unwrap();
        // Either order makes 2 failures of 3: the third call opens the circuit, success or not.
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(transitions.load(Ordering::SeqCst), 1);
        let orders: Vec<Model> = [
            [Outcome::Failure, Outcome::Success],
            [Outcome::Success, Outcome::Failure],
        ]
        .iter()
        .map(|order| {
            let mut m = Model::new(cfg.clone());
            let t = m.acquire().unwrap();
            m.finish(t, Outcome::Failure);
            let tickets = [m.acquire().unwrap(), m.acquire().unwrap()];
            for (ticket, outcome) in tickets.into_iter().zip(order) {
                m.finish(ticket, *outcome);
            }
            m
        })
        .collect();
        agrees_with_some_order(&b, transitions.load(Ordering::SeqCst), &orders);
    });
}

#[test]
fn concurrent_failures_pushing_calls_out_of_a_full_count_window_agree_with_the_model() {
    model(|| {
        let clock = ManualClock::new();
        let cfg = Config {
            failure_threshold: None,
            failure_rate: Some(100.0),
            window: Window::Count(2),
            minimum_calls: 2,
            ..Config::default()
        };
        let transitions = Arc::new(AtomicUsize::new(0));
        let sink = Arc::clone(&transitions);
        let b = CircuitBreaker::new(
            "loom",
            cfg.builder(&clock)
                .on_transition(move |_| {
                    sink.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap(),
        );
        // A full window [F, S]; two failures push both out, whatever their order.
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().success();
        let p1 = b.try_acquire_owned().unwrap();
        let p2 = b.try_acquire_owned().unwrap();
        let t = loom::thread::spawn(move || p1.failure());
        p2.failure();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Open);
        let mut m = Model::new(cfg.clone());
        for outcome in [Outcome::Failure, Outcome::Success] {
            let t = m.acquire().unwrap();
            m.finish(t, outcome);
        }
        let tickets = [m.acquire().unwrap(), m.acquire().unwrap()];
        for t in tickets {
            m.finish(t, Outcome::Failure);
        }
        agrees_with_some_order(&b, transitions.load(Ordering::SeqCst), &[m]);
    });
}
