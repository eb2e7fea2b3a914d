//! Label sets of the built-in families.

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use std::fmt::Write as _;

/// The label value every label of an overflow series carries.
pub const OVERFLOW_LABEL: &str = "__overflow__";

/// A label set that can name the overflow series of a capped family.
pub trait OverflowLabels:
    Clone + std::hash::Hash + Eq + EncodeLabelSet + Send + Sync + std::fmt::Debug + 'static
{
    /// The label set of the series that takes observations refused by the series cap.
    fn overflow() -> Self;
}

pub(crate) fn encode_pairs(
    encoder: &mut LabelSetEncoder<'_>,
    pairs: &[(&str, &str)],
) -> Result<(), std::fmt::Error> {
    for (key, value) in pairs {
        let mut label = encoder.encode_label();
        let mut key_encoder = label.encode_label_key()?;
        key_encoder.write_str(key)?;
        let mut value_encoder = key_encoder.encode_label_value()?;
        value_encoder.write_str(value)?;
        value_encoder.finish()?;
    }
    Ok(())
}

macro_rules! label_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident => $key:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: String,)+
        }

        impl $name {
            /// Builds the label set from its values.
            #[allow(clippy::too_many_arguments)]
            pub fn new($($field: impl Into<String>),+) -> Self {
                Self { $($field: $field.into()),+ }
            }
        }

        impl EncodeLabelSet for $name {
            fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
                encode_pairs(encoder, &[$(($key, self.$field.as_str())),+])
            }
        }

        impl OverflowLabels for $name {
            fn overflow() -> Self {
                Self { $($field: OVERFLOW_LABEL.to_owned()),+ }
            }
        }
    };
}

label_set!(
    /// `{collection, operation}` of `db_queries_total` and `db_query_duration_seconds`.
    DbQueryLabels { /// Collection (or table) name.
        collection => "collection", /// Operation, such as `find` or `insert`.
        operation => "operation" }
);
label_set!(
    /// `{collection, error_type}` of `db_errors_total`.
    DbErrorLabels { /// Collection name.
        collection => "collection", /// Error type, such as `network` or a server code name.
        error_type => "error_type" }
);
label_set!(
    /// `{cache}` of the cache families.
    CacheLabels { /// Cache name.
        cache => "cache" }
);
label_set!(
    /// `{cache, operation}` of `cache_operation_duration_seconds`.
    CacheOperationLabels { /// Cache name.
        cache => "cache", /// Operation, such as `get` or `set`.
        operation => "operation" }
);
label_set!(
    /// `{provider, model, status}` of `llm_api_calls_total`.
    LlmCallLabels { /// Provider, such as `openai`.
        provider => "provider", /// Model name.
        model => "model", /// Outcome, such as `success` or `error`.
        status => "status" }
);
label_set!(
    /// `{provider, model}` of the LLM duration and cost families.
    LlmModelLabels { /// Provider.
        provider => "provider", /// Model name.
        model => "model" }
);
label_set!(
    /// `{provider, model, token_type}` of `llm_tokens_used_total` (`prompt` or `completion`).
    LlmTokenLabels { /// Provider.
        provider => "provider", /// Model name.
        model => "model", /// `prompt` or `completion`.
        token_type => "token_type" }
);
label_set!(
    /// `{provider, model, error_type}` of `llm_api_errors_total`.
    LlmErrorLabels { /// Provider.
        provider => "provider", /// Model name.
        model => "model", /// The error name, such as `RateLimitError`.
        error_type => "error_type" }
);
label_set!(
    /// `{status}` of `assessments_created_total`.
    StatusLabels { /// Status of the created assessment.
        status => "status" }
);
label_set!(
    /// `{category, priority}` of `recommendations_generated_total`.
    RecommendationLabels { /// Recommendation category.
        category => "category", /// Recommendation priority.
        priority => "priority" }
);
label_set!(
    /// `{type, format}` of `reports_generated_total`.
    ReportLabels { /// Report type.
        report_type => "type", /// Report format.
        format => "format" }
);
label_set!(
    /// `{name, status}` of `agent_executions_total`.
    AgentExecutionLabels { /// Agent name.
        name => "name", /// Outcome.
        status => "status" }
);
label_set!(
    /// `{name}` of the agent duration and confidence histograms.
    AgentLabels { /// Agent name.
        name => "name" }
);
label_set!(
    /// `{name, error_type}` of `agent_errors_total`.
    AgentErrorLabels { /// Agent name.
        name => "name", /// Error type.
        error_type => "error_type" }
);
label_set!(
    /// `{family}` of `inframind_metrics_series_dropped_total`.
    FamilyLabels { /// The capped family's name.
        family => "family" }
);
