//! The futures `load` and `load_many` return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::core::Ticket;
use super::dispatch::{Dispatch, Driver, Step, hand_off};
use super::error::LoadError;
use super::outcome::{Answer, Batch};

/// The future [`Loader::load`](crate::Loader::load) returns.
///
/// It resolves to `Ok(Some(value))`, `Ok(None)` when the key is missing, or the key's
/// [`LoadError`]. Dropping it is safe at any point: the key's batch still runs and its other
/// waiters are still answered.
#[must_use = "futures do nothing unless polled"]
pub struct Load<V, E> {
    state: State<V, E>,
}

enum State<V, E> {
    Ready(Option<Answer<V, E>>),
    Waiting {
        batch: Arc<Batch<V, E>>,
        idx: usize,
        slot: Option<usize>,
        loader: Arc<dyn Dispatch<V, E>>,
        role: Role,
    },
}

/// What a waiting `Load` does for its round (see the `dispatch` module).
enum Role {
    /// Waits for its batch.
    Waiter,
    /// Leads its round: has yielded `yields` times, and saw key generation `seen` last.
    Leader { seen: u64, yields: u32 },
    /// Drives the dispatched round.
    Driver(Driver),
}

impl<V, E> fmt::Debug for Load<V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(Some(_)) => "ready",
            State::Ready(None) => "done",
            State::Waiting {
                role: Role::Waiter, ..
            } => "waiting",
            State::Waiting {
                role: Role::Leader { .. },
                ..
            } => "leading",
            State::Waiting {
                role: Role::Driver(_),
                ..
            } => "driving",
        };
        f.debug_struct("Load").field("state", &state).finish()
    }
}

// Nothing in these futures is pinned structurally: answers are moved out, never pinned, and
// the round a leader drives is boxed.
impl<V, E> Unpin for Load<V, E> {}
impl<V, E> Unpin for LoadMany<V, E> {}

impl<V: Clone, E> Load<V, E> {
    pub(crate) fn ready(answer: Answer<V, E>) -> Self {
        Self {
            state: State::Ready(Some(answer)),
        }
    }

    pub(crate) fn waiting(ticket: Ticket<V, E>, loader: Arc<dyn Dispatch<V, E>>) -> Self {
        // A batch that already finished answers without a poll round trip.
        if let Some(answer) = ticket.batch.try_answer(ticket.idx) {
            return Self::ready(answer);
        }
        Self {
            state: State::Waiting {
                batch: ticket.batch,
                idx: ticket.idx,
                slot: None,
                loader,
                role: Role::Waiter,
            },
        }
    }
}

impl<V: Clone, E> Future for Load<V, E> {
    type Output = Result<Option<V>, LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let State::Waiting {
            batch,
            idx,
            slot,
            loader,
            role,
        } = &mut this.state
        else {
            let State::Ready(answer) = &mut this.state else {
                unreachable!()
            };
            return match answer.take() {
                Some(answer) => Poll::Ready(answer),
                None => panic!("`Load` polled after completion"),
            };
        };
        let answer = loop {
            match role {
                Role::Waiter => {
                    // Registered before trying to lead, so that a leader abdicating after the
                    // attempt below saw it still leading wakes this waiter.
                    if let Poll::Ready(answer) = batch.poll_answer(*idx, slot, cx) {
                        break answer;
                    }
                    if !batch.is_dispatched() {
                        if let Some(seen) = loader.claim(batch) {
                            // Let the task poll its other futures and go round the scheduler
                            // once before the round goes out.
                            *role = Role::Leader { seen, yields: 0 };
                            cx.waker().wake_by_ref();
                        }
                    }
                    return Poll::Pending;
                }
                Role::Leader { seen, yields } => match Arc::clone(loader).advance(*seen, *yields) {
                    Step::Yield(generation) => {
                        *seen = generation;
                        *yields += 1;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    Step::Drive(driver) => *role = Role::Driver(driver),
                },
                Role::Driver(driver) => {
                    let finished = driver.get_mut().as_mut().poll(cx).is_ready();
                    if let Some(answer) = batch.try_answer(*idx) {
                        if let Role::Driver(rest) = std::mem::replace(role, Role::Waiter) {
                            if !finished {
                                // This key is answered; the round's other batches still run.
                                hand_off(rest);
                            }
                        }
                        break answer;
                    }
                    if finished {
                        // The round answered every batch it held, this one included; wait as
                        // a plain waiter should that ever not hold.
                        *role = Role::Waiter;
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        };
        this.state = State::Ready(None);
        Poll::Ready(answer)
    }
}

impl<V, E> Drop for Load<V, E> {
    fn drop(&mut self) {
        let State::Waiting {
            batch,
            slot,
            loader,
            role,
            ..
        } = &mut self.state
        else {
            return;
        };
        if let Some(slot) = slot {
            batch.forget(*slot);
        }
        match std::mem::replace(role, Role::Waiter) {
            Role::Waiter => {}
            Role::Leader { .. } => loader.abdicate(),
            Role::Driver(driver) => hand_off(driver),
        }
    }
}

/// The future [`Loader::load_many`](crate::Loader::load_many) returns: one answer per key, in
/// the order the keys were given.
#[must_use = "futures do nothing unless polled"]
pub struct LoadMany<V, E> {
    loads: Vec<Load<V, E>>,
    answers: Vec<Option<Answer<V, E>>>,
    remaining: usize,
}

impl<V, E> fmt::Debug for LoadMany<V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadMany")
            .field("keys", &self.loads.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<V, E> LoadMany<V, E> {
    pub(crate) fn new(loads: Vec<Load<V, E>>) -> Self {
        let n = loads.len();
        Self {
            loads,
            answers: (0..n).map(|_| None).collect(),
            remaining: n,
        }
    }
}

impl<V: Clone, E> Future for LoadMany<V, E> {
    type Output = Vec<Result<Option<V>, LoadError<E>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        for (load, answer) in this.loads.iter_mut().zip(this.answers.iter_mut()) {
            if answer.is_some() {
                continue;
            }
            if let Poll::Ready(a) = Pin::new(load).poll(cx) {
                *answer = Some(a);
                this.remaining -= 1;
            }
        }
        if this.remaining > 0 {
            return Poll::Pending;
        }
        this.loads.clear();
        Poll::Ready(
            std::mem::take(&mut this.answers)
                .into_iter()
                .map(|a| a.unwrap_or(Err(LoadError::Aborted)))
                .collect(),
        )
    }
}
