//! LLM families: prices matched on model-name segments, and distinct label names for the token
//! kind and the error name.

mod common;

use common::{check_openmetrics, lines, sample};
use inframind_metrics::{Format, LlmCall, Metrics, ModelPrice, PriceTable};

#[test]
fn prices_match_whole_model_name_segments() {
    let t = PriceTable::defaults();
    let gpt4 = t.price("gpt-4").expect("gpt-4 priced");
    // Different models that share a prefix with gpt-4.
    for model in [
        "gpt-4.1",
        "gpt-4.5-preview",
        "gpt-40",
        "gpt-4-turbo-preview",
        "gpt-4o",
    ] {
        assert_ne!(t.price(model), Some(gpt4), "{model} priced as gpt-4");
    }
    assert_eq!(t.price("gpt-40"), None);
    assert_eq!(
        t.price("gpt-4.5-preview"),
        None,
        "retired, no verified price"
    );
    assert_eq!(t.price("gpt-4.1"), Some(ModelPrice::per_million(2.0, 8.0)));
    assert_eq!(t.price("gpt-4.1-2025-04-14"), t.price("gpt-4.1"));
    assert_eq!(
        t.price("gpt-4.1-mini"),
        Some(ModelPrice::per_million(0.40, 1.60))
    );
    // Snapshots of current models are priced.
    assert_eq!(
        t.price("claude-3-7-sonnet-20250219"),
        Some(ModelPrice::per_million(3.0, 15.0))
    );
    assert_eq!(
        t.price("o1-mini"),
        Some(ModelPrice::per_million(1.10, 4.40))
    );
    assert_eq!(t.price("o1-mini-2024-09-12"), t.price("o1-mini"));
    assert_eq!(
        t.price("claude-opus-4-1-20250805"),
        Some(ModelPrice::per_million(15.0, 75.0))
    );
    assert_eq!(
        t.price("claude-haiku-4-5-20251001"),
        Some(ModelPrice::per_million(1.0, 5.0))
    );
    assert_eq!(
        t.price("claude-3-5-sonnet-latest"),
        t.price("claude-3-5-sonnet")
    );
    // A later version is not its predecessor: no verified price, so none.
    assert_eq!(t.price("claude-opus-4-5-20251101"), None);
    assert_eq!(t.price("claude-sonnet-4-6"), None);
    assert_eq!(PriceTable::DEFAULTS_CHECKED, "2026-12-01");
}

#[test]
fn token_kind_and_error_name_have_distinct_labels() {
    let metrics = Metrics::new();
    metrics.track_llm_call(LlmCall::new("openai", "gpt-4.1").tokens(1000, 200));
    metrics.track_llm_call(LlmCall::new("openai", "gpt-4.1").error("RateLimitError"));
    let text = metrics.encode(Format::OpenMetrics);
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        v(r#"llm_tokens_used_total{provider="openai",model="gpt-4.1",token_type="prompt"}"#),
        1000.0
    );
    assert_eq!(
        v(r#"llm_tokens_used_total{provider="openai",model="gpt-4.1",token_type="completion"}"#),
        200.0
    );
    assert_eq!(
        v(r#"llm_api_errors_total{provider="openai",model="gpt-4.1",error_type="RateLimitError"}"#),
        1.0
    );
    for family in ["llm_tokens_used_total", "llm_api_errors_total"] {
        assert!(
            lines(&text, family).iter().all(|l| !l.contains(",type=")),
            "{text}"
        );
    }
    let cost = v(r#"llm_api_cost_usd_total{provider="openai",model="gpt-4.1"}"#);
    assert!(
        (cost - (1000.0 * 2.0 + 200.0 * 8.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    let (ok, out) = check_openmetrics(&text);
    assert!(ok, "{out}");
}
