//! `track_llm_call` and the per-model price table.

use std::collections::HashMap;
use std::time::Duration;

/// Price of one model, in US dollars per 1,000 tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    /// Dollars per 1,000 prompt (input) tokens.
    pub prompt_per_1k: f64,
    /// Dollars per 1,000 completion (output) tokens.
    pub completion_per_1k: f64,
}

impl ModelPrice {
    /// A price in dollars per 1,000 prompt and completion tokens.
    pub const fn per_1k(prompt_per_1k: f64, completion_per_1k: f64) -> Self {
        Self {
            prompt_per_1k,
            completion_per_1k,
        }
    }

    /// The cost of a call with these token counts.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.prompt_per_1k
            + completion_tokens as f64 * self.completion_per_1k)
            / 1000.0
    }
}

/// Model prices, looked up by exact name, then by the longest known prefix
/// (`gpt-4o-2024-08-06` is priced as `gpt-4o`).
///
/// ```
/// use inframind_metrics::{ModelPrice, PriceTable};
/// let table = PriceTable::empty().with("my-model", ModelPrice::per_1k(0.001, 0.002));
/// assert_eq!(table.cost("my-model-v2", 1000, 500), Some(0.002));
/// assert_eq!(table.cost("other", 1000, 500), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    prices: HashMap<String, ModelPrice>,
}

impl PriceTable {
    /// A table with no prices.
    pub fn empty() -> Self {
        Self::default()
    }

    /// List prices of common models at the time of writing (US dollars per 1k tokens). Check
    /// them against your provider's price list and override with [`PriceTable::with`].
    pub fn defaults() -> Self {
        [
            ("gpt-4", ModelPrice::per_1k(0.03, 0.06)),
            ("gpt-4-turbo", ModelPrice::per_1k(0.01, 0.03)),
            ("gpt-4o", ModelPrice::per_1k(0.0025, 0.01)),
            ("gpt-4o-mini", ModelPrice::per_1k(0.000_15, 0.0006)),
            ("gpt-3.5-turbo", ModelPrice::per_1k(0.0005, 0.0015)),
            ("claude-3-opus", ModelPrice::per_1k(0.015, 0.075)),
            ("claude-3-5-sonnet", ModelPrice::per_1k(0.003, 0.015)),
            ("claude-3-sonnet", ModelPrice::per_1k(0.003, 0.015)),
            ("claude-3-5-haiku", ModelPrice::per_1k(0.0008, 0.004)),
            ("claude-3-haiku", ModelPrice::per_1k(0.000_25, 0.001_25)),
        ]
        .into_iter()
        .fold(Self::empty(), |t, (m, p)| t.with(m, p))
    }

    /// Sets the price of `model` (and of the models it is the longest prefix of).
    #[must_use]
    pub fn with(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The price of `model`: exact match, else the longest known prefix.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(k, _)| model.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    }

    /// The cost of a call, if the model is priced.
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        self.price(model)
            .map(|p| p.cost(prompt_tokens, completion_tokens))
    }
}

/// One LLM call to record with [`Metrics::track_llm_call`](crate::Metrics::track_llm_call).
///
/// ```
/// use inframind_metrics::{LlmCall, Metrics};
/// use std::time::Duration;
///
/// let metrics = Metrics::new();
/// // Cost from the price table: 1000 prompt tokens at $0.03/1k + 500 completion at $0.06/1k.
/// let cost = metrics.track_llm_call(
///     LlmCall::new("openai", "gpt-4").duration(Duration::from_millis(820)).tokens(1000, 500),
/// );
/// assert_eq!(cost, Some(0.06));
/// metrics.track_llm_call(
///     LlmCall::new("openai", "gpt-4").status("error").error("RateLimitError"),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct LlmCall<'a> {
    pub(crate) provider: &'a str,
    pub(crate) model: &'a str,
    pub(crate) status: &'a str,
    pub(crate) duration: Option<Duration>,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) cost: Option<f64>,
    pub(crate) error: Option<&'a str>,
}

impl<'a> LlmCall<'a> {
    /// A successful call to `model` of `provider`, with no tokens yet.
    pub fn new(provider: &'a str, model: &'a str) -> Self {
        Self {
            provider,
            model,
            status: "success",
            duration: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: None,
            error: None,
        }
    }

    /// The `status` label (`success` by default).
    #[must_use]
    pub fn status(mut self, status: &'a str) -> Self {
        self.status = status;
        self
    }

    /// How long the call took.
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Prompt and completion token counts.
    #[must_use]
    pub fn tokens(mut self, prompt: u64, completion: u64) -> Self {
        self.prompt_tokens = prompt;
        self.completion_tokens = completion;
        self
    }

    /// The cost in US dollars, when the provider reported it; otherwise the price table
    /// computes it.
    #[must_use]
    pub fn cost(mut self, usd: f64) -> Self {
        self.cost = Some(usd);
        self
    }

    /// The error type of a failed call (for example the exception or error variant name).
    /// Sets `status` to `error` unless a status was given.
    #[must_use]
    pub fn error(mut self, error: &'a str) -> Self {
        self.error = Some(error);
        if self.status == "success" {
            self.status = "error";
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Metrics};

    #[test]
    fn longest_prefix_wins() {
        let t = PriceTable::defaults();
        assert_eq!(t.price("gpt-4o-mini-2024-07-18"), t.price("gpt-4o-mini"));
        assert_eq!(t.price("gpt-4o-2024-08-06"), t.price("gpt-4o"));
        assert_eq!(t.price("gpt-4-0613"), t.price("gpt-4"));
        assert_eq!(t.price("llama-3"), None);
    }

    #[test]
    fn given_cost_wins_and_bad_costs_are_ignored() {
        let m = Metrics::new();
        assert_eq!(
            m.track_llm_call(LlmCall::new("openai", "gpt-4").tokens(1000, 0).cost(1.5)),
            Some(1.5)
        );
        // A NaN or negative cost falls back to the table.
        assert_eq!(
            m.track_llm_call(
                LlmCall::new("openai", "gpt-4")
                    .tokens(1000, 0)
                    .cost(f64::NAN)
            ),
            Some(0.03)
        );
        assert_eq!(
            m.track_llm_call(LlmCall::new("local", "llama-3").tokens(10, 10)),
            None
        );
        let text = m.encode(Format::OpenMetrics);
        assert!(
            text.contains(r#"llm_api_cost_usd_total{provider="openai",model="gpt-4"} 1.53"#),
            "{text}"
        );
        assert!(text.contains(
            r#"llm_api_calls_total{provider="local",model="llama-3",status="success"} 1"#
        ));
        assert!(!text.contains(r#"llm_api_cost_usd_total{provider="local""#));
    }
}
