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

    /// A price in dollars per million prompt and completion tokens (how providers list them).
    pub fn per_million(prompt_per_million: f64, completion_per_million: f64) -> Self {
        Self::per_1k(prompt_per_million / 1000.0, completion_per_million / 1000.0)
    }

    /// The cost of a call with these token counts.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        (prompt_tokens as f64 * self.prompt_per_1k
            + completion_tokens as f64 * self.completion_per_1k)
            / 1000.0
    }
}

/// Model prices, looked up by model-name segments: a model is priced as a known name when it
/// is that name, or that name followed by a snapshot suffix (a date such as `-2024-08-06` or
/// `-20250219`, a four-digit snapshot such as `-0613`, or `-latest`). So `gpt-4o-2024-08-06`
/// is priced as `gpt-4o`, but `gpt-4.1`, `gpt-40` and `gpt-4-turbo-preview` are not priced as
/// `gpt-4`, and `claude-sonnet-4-5` is not priced as `claude-sonnet-4`.
///
/// ```
/// use inframind_metrics::{ModelPrice, PriceTable};
/// let table = PriceTable::empty().with("my-model", ModelPrice::per_1k(0.001, 0.002));
/// assert_eq!(table.cost("my-model-20250101", 1000, 500), Some(0.002));
/// assert_eq!(table.cost("my-model-v2", 1000, 500), None);
/// assert_eq!(table.cost("other", 1000, 500), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    prices: HashMap<String, ModelPrice>,
}

/// `(model, dollars per million prompt tokens, per million completion tokens)` of
/// [`PriceTable::defaults`].
const DEFAULT_PRICES: &[(&str, f64, f64)] = &[
    // OpenAI
    ("gpt-5", 1.25, 10.0),
    ("gpt-5-mini", 0.25, 2.0),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4o", 2.50, 10.0),
    ("gpt-4o-mini", 0.15, 0.60),
    ("o1", 15.0, 60.0),
    ("o1-mini", 1.10, 4.40),
    ("o3", 2.0, 8.0),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("gpt-4-turbo", 10.0, 30.0),
    ("gpt-4", 30.0, 60.0),
    ("gpt-3.5-turbo", 0.50, 1.50),
    // Anthropic
    ("claude-opus-4-1", 15.0, 75.0),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4-5", 3.0, 15.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.80, 4.0),
    ("claude-3-opus", 15.0, 75.0),
    ("claude-3-sonnet", 3.0, 15.0),
    ("claude-3-haiku", 0.25, 1.25),
];

/// Whether `rest` (what follows a known model name and a `-`) names a snapshot of it: a date
/// (`2024-08-06`, `20250219`), a four-digit snapshot (`0613`), or `latest`.
fn is_snapshot(rest: &str) -> bool {
    if rest == "latest" {
        return true;
    }
    let mut segments = rest.split('-');
    let first = segments.next().unwrap_or("");
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    first.len() >= 4 && digits(first) && segments.all(digits)
}

impl PriceTable {
    /// The day [`PriceTable::defaults`] were last checked against the providers' price lists.
    pub const DEFAULTS_CHECKED: &'static str = "2026-12-01";

    /// A table with no prices.
    pub fn empty() -> Self {
        Self::default()
    }

    /// List prices (standard tier, no batch or cache discounts, prompts within the base
    /// context tier) of OpenAI and Anthropic models, checked on
    /// [`DEFAULTS_CHECKED`](Self::DEFAULTS_CHECKED):
    ///
    /// | model | $ / 1M prompt tokens | $ / 1M completion tokens |
    /// |---|---|---|
    /// | `gpt-5` / `-mini` / `-nano` | 1.25 / 0.25 / 0.05 | 10 / 2 / 0.40 |
    /// | `gpt-4.1` / `-mini` / `-nano` | 2 / 0.40 / 0.10 | 8 / 1.60 / 0.40 |
    /// | `gpt-4o` / `gpt-4o-mini` | 2.50 / 0.15 | 10 / 0.60 |
    /// | `o1` / `o1-mini` | 15 / 1.10 | 60 / 4.40 |
    /// | `o3` / `o3-mini` / `o4-mini` | 2 / 1.10 / 1.10 | 8 / 4.40 / 4.40 |
    /// | `gpt-4-turbo` / `gpt-4` / `gpt-3.5-turbo` (legacy) | 10 / 30 / 0.50 | 30 / 60 / 1.50 |
    /// | `claude-opus-4-1`, `claude-opus-4`, `claude-3-opus` | 15 | 75 |
    /// | `claude-sonnet-4-5`, `claude-sonnet-4`, `claude-3-7-sonnet`, `claude-3-5-sonnet`, `claude-3-sonnet` | 3 | 15 |
    /// | `claude-haiku-4-5` / `claude-3-5-haiku` / `claude-3-haiku` | 1 / 0.80 / 0.25 | 5 / 4 / 1.25 |
    ///
    /// Sources: Anthropic's pricing page (docs.anthropic.com, "Model pricing"); for OpenAI,
    /// copies of openai.com's API pricing page quoted by several 2026 price guides (the page
    /// itself could not be fetched when checking), which agree on the figures above.
    ///
    /// Not priced, because no price could be verified: Claude Opus 4.5 and later, Sonnet 4.6
    /// and later, the `gpt-5.x` point releases, `gpt-5-pro`, `o3-pro`, `gpt-4.5-preview`
    /// (retired), and any other model. Their calls count with no cost unless the call carries
    /// its own ([`LlmCall::cost`]) or you add the price with [`PriceTable::with`]. Check the
    /// table against your contract before relying on `llm_api_cost_usd_total`.
    pub fn defaults() -> Self {
        DEFAULT_PRICES
            .iter()
            .fold(Self::empty(), |t, (model, prompt, completion)| {
                t.with(*model, ModelPrice::per_million(*prompt, *completion))
            })
    }

    /// Sets the price of `model` (and of its snapshots, such as `model-2025-01-31`).
    #[must_use]
    pub fn with(mut self, model: impl Into<String>, price: ModelPrice) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The price of `model`: its own, else that of the known name it is a snapshot of.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        // Try every `-` boundary, longest known name first.
        let mut cut = model.len();
        while let Some(i) = model[..cut].rfind('-') {
            if let Some(p) = self.prices.get(&model[..i]) {
                if is_snapshot(&model[i + 1..]) {
                    return Some(*p);
                }
            }
            cut = i;
        }
        None
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
    fn snapshots_take_their_models_price() {
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
