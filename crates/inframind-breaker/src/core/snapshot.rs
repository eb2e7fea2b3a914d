//! Building a [`BreakerSnapshot`] from the state machine's words and counters.

use std::time::Duration;

use super::Inner;
use super::rates::Rates;
use crate::snapshot::BreakerSnapshot;
use crate::state::{CircuitState, Word};
use crate::sync::Ordering;
use crate::window::Window;

impl Inner {
    pub(crate) fn snapshot(&self) -> BreakerSnapshot {
        let word = Word::unpack(self.state.load(Ordering::Acquire));
        let totals = self.stripes.totals();
        let needs_now =
            word.state == CircuitState::Open || self.window.as_ref().is_some_and(Window::is_time);
        let now_ms = if needs_now { self.now_ms() } else { 0 };
        let remaining_open = (word.state == CircuitState::Open)
            .then(|| Duration::from_millis(word.deadline_ms.saturating_sub(now_ms)));
        let rates = match (&self.window, word.state) {
            (Some(w), CircuitState::Closed | CircuitState::ForcedClosed) => {
                Rates::of(w.counts(word.generation, now_ms), self.min_calls)
            }
            _ => None,
        };
        BreakerSnapshot {
            name: self.name.to_string(),
            state: word.state,
            successful_calls: totals.successes,
            failed_calls: totals.failures,
            rejected_calls: totals.rejected,
            slow_calls: totals.slow,
            ignored_calls: totals.ignored,
            failure_rate: rates.map(|r| r.failure),
            slow_call_rate: rates
                .filter(|_| self.config.slow_call_duration.is_some())
                .map(|r| r.slow),
            remaining_open,
            consecutive_failures: if word.state == CircuitState::Closed {
                self.consecutive.get(word.generation)
            } else {
                0
            },
        }
    }
}
