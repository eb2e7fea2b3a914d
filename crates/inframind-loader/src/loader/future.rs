//! The futures `load` and `load_many` return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::core::{Answer, Batch, Ticket};
use super::error::LoadError;

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
    },
}

impl<V, E> fmt::Debug for Load<V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(Some(_)) => "ready",
            State::Ready(None) => "done",
            State::Waiting { .. } => "waiting",
        };
        f.debug_struct("Load").field("state", &state).finish()
    }
}

// Nothing in these futures is pinned structurally: answers are moved out, never pinned.
impl<V, E> Unpin for Load<V, E> {}
impl<V, E> Unpin for LoadMany<V, E> {}

impl<V: Clone, E> Load<V, E> {
    pub(crate) fn ready(answer: Answer<V, E>) -> Self {
        Self {
            state: State::Ready(Some(answer)),
        }
    }

    pub(crate) fn waiting(ticket: Ticket<V, E>) -> Self {
        // A batch that already finished answers without a poll round trip.
        if let Some(answer) = ticket.batch.try_answer(ticket.idx) {
            return Self::ready(answer);
        }
        Self {
            state: State::Waiting {
                batch: ticket.batch,
                idx: ticket.idx,
                slot: None,
            },
        }
    }
}

impl<V: Clone, E> Future for Load<V, E> {
    type Output = Result<Option<V>, LoadError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(answer) => match answer.take() {
                Some(answer) => Poll::Ready(answer),
                None => panic!("`Load` polled after completion"),
            },
            State::Waiting { batch, idx, slot } => {
                let answer = std::task::ready!(batch.poll_answer(*idx, slot, cx));
                this.state = State::Ready(None);
                Poll::Ready(answer)
            }
        }
    }
}

impl<V, E> Drop for Load<V, E> {
    fn drop(&mut self) {
        if let State::Waiting {
            batch,
            slot: Some(slot),
            ..
        } = &self.state
        {
            batch.forget(*slot);
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
