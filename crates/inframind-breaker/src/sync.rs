//! The atomics of the state machine: `std`'s, or `loom`'s when built with `--cfg loom` so that
//! `tests/loom.rs` can explore every interleaving of the state word and counters.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
