//! The circuit state and the packed state word.

use std::fmt;

/// The state of a circuit breaker.
///
/// The first three are the classic automatic states; the last three are set by operators
/// ([`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open),
/// [`force_closed`](crate::CircuitBreaker::force_closed),
/// [`disable`](crate::CircuitBreaker::disable)) and left again only by an operator
/// ([`reset`](crate::CircuitBreaker::reset) or another forced state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls flow; outcomes are counted and may trip the circuit.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A limited number of probe calls test whether the dependency recovered.
    HalfOpen,
    /// Every call is rejected until an operator changes the state.
    ForcedOpen,
    /// Every call is admitted and counted (failure rate included), but the circuit never trips.
    ForcedClosed,
    /// Every call is admitted; only the call totals are counted (metrics only).
    Disabled,
}

impl CircuitState {
    /// The state's stable snake-case name: `"closed"`, `"open"`, `"half_open"`,
    /// `"forced_open"`, `"forced_closed"` or `"disabled"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::ForcedClosed => "forced_closed",
            Self::Disabled => "disabled",
        }
    }

    /// Whether calls are rejected in this state without exception (`Open`, `ForcedOpen`).
    #[must_use]
    pub const fn is_open(&self) -> bool {
        matches!(self, Self::Open | Self::ForcedOpen)
    }

    pub(crate) const fn code(self) -> u64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
            Self::ForcedOpen => 3,
            Self::ForcedClosed => 4,
            Self::Disabled => 5,
        }
    }

    pub(crate) const fn from_code(code: u64) -> Self {
        match code {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            4 => Self::ForcedClosed,
            _ => Self::Disabled,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// The state word: | deadline ms (40 bits) | generation (21 bits) | state (3 bits) |.
//
// Every transition bumps the generation, so one compare-and-swap both changes the state and
// invalidates everything tagged with the previous generation (outcomes of calls admitted
// earlier, half-open permits, window buckets, the consecutive-failure counter). The deadline is
// milliseconds since the breaker's origin: when `Open` may turn `HalfOpen`, and when the probes
// of a `HalfOpen` generation count as lost.
pub(crate) const STATE_BITS: u32 = 3;
pub(crate) const GEN_BITS: u32 = 21;
pub(crate) const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
pub(crate) const DEADLINE_MAX: u64 = (1 << (64 - STATE_BITS - GEN_BITS)) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) state: CircuitState,
    pub(crate) generation: u64,
    pub(crate) deadline_ms: u64,
}

impl Word {
    #[inline]
    pub(crate) const fn unpack(raw: u64) -> Self {
        Self {
            state: CircuitState::from_code(raw & STATE_MASK),
            generation: (raw >> STATE_BITS) & GEN_MASK,
            deadline_ms: raw >> (STATE_BITS + GEN_BITS),
        }
    }

    #[inline]
    pub(crate) const fn state_of(raw: u64) -> CircuitState {
        CircuitState::from_code(raw & STATE_MASK)
    }

    #[inline]
    pub(crate) const fn generation_of(raw: u64) -> u64 {
        (raw >> STATE_BITS) & GEN_MASK
    }

    #[inline]
    pub(crate) const fn pack(self) -> u64 {
        let deadline = if self.deadline_ms > DEADLINE_MAX {
            DEADLINE_MAX
        } else {
            self.deadline_ms
        };
        self.state.code()
            | ((self.generation & GEN_MASK) << STATE_BITS)
            | (deadline << (STATE_BITS + GEN_BITS))
    }

    /// The word that follows this one: a new state in the next generation.
    pub(crate) const fn next(self, state: CircuitState, deadline_ms: u64) -> Self {
        Self {
            state,
            generation: (self.generation + 1) & GEN_MASK,
            deadline_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for state in [
            CircuitState::Closed,
            CircuitState::Open,
            CircuitState::HalfOpen,
            CircuitState::ForcedOpen,
            CircuitState::ForcedClosed,
            CircuitState::Disabled,
        ] {
            let w = Word {
                state,
                generation: GEN_MASK,
                deadline_ms: 123_456_789_012,
            };
            assert_eq!(Word::unpack(w.pack()), w);
            assert_eq!(CircuitState::from_code(state.code()), state);
        }
        let w = Word {
            state: CircuitState::Open,
            generation: GEN_MASK,
            deadline_ms: 0,
        };
        assert_eq!(w.next(CircuitState::HalfOpen, 5).generation, 0);
    }

    #[test]
    fn names() {
        assert_eq!(CircuitState::HalfOpen.as_str(), "half_open");
        assert_eq!(CircuitState::ForcedClosed.to_string(), "forced_closed");
    }
}
