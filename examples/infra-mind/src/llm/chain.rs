//! The provider chain: each provider behind its own named breaker from one
//! [`BreakerRegistry`], tried in order; a provider whose breaker is open is skipped, so calls
//! fall back to the next one. A malformed answer counts as a failed call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use inframind_breaker::{BreakerConfig, BreakerError, BreakerRegistry, CircuitBreaker, Clock};

use super::anthropic::Anthropic;
use super::offline::Offline;
use super::openai::OpenAi;
use super::{Endpoint, LlmError, Prompt, Provider, http_client};
use crate::config::Config;

/// One finished or refused call, for metrics and logs.
#[derive(Debug, Clone)]
pub struct CallRecord<'a> {
    /// Provider name.
    pub provider: &'a str,
    /// Model asked.
    pub model: &'a str,
    /// `success`, `error` or `rejected`.
    pub status: &'static str,
    /// Wall time of the call (zero when rejected).
    pub duration: Duration,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// The error kind when it failed.
    pub error: Option<&'static str>,
}

/// Called once per attempt.
pub type CallObserver = Arc<dyn Fn(&CallRecord<'_>) + Send + Sync>;

/// What the chain answered with.
#[derive(Debug, Clone)]
pub struct Answered<T> {
    /// The parsed, validated answer.
    pub value: T,
    /// Which provider gave it.
    pub provider: String,
    /// Its model.
    pub model: String,
}

/// Why no provider answered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// Every breaker is open; retry after the soonest reopens.
    #[error("every LLM provider's circuit is open")]
    AllOpen {
        /// Seconds until the first breaker admits a probe.
        retry_after_secs: u64,
    },
    /// Every provider that was tried failed (the last error is kept).
    #[error("every LLM provider failed; last error: {last}")]
    AllFailed {
        /// The last provider's error.
        last: LlmError,
    },
}

#[derive(Debug)]
struct Link {
    provider: Arc<dyn Provider>,
    /// `None` when the chain runs without breakers (`LLM_BREAKERS=false`, for comparison).
    breaker: Option<CircuitBreaker>,
}

/// Providers in fallback order, each with its breaker.
#[derive(Clone)]
pub struct ProviderChain {
    links: Arc<Vec<Link>>,
    registry: BreakerRegistry,
    observer: Option<CallObserver>,
}

impl std::fmt::Debug for ProviderChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderChain")
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

/// The breaker settings of each provider: openai 5 failures / 60 s, anthropic 3 / 30 s.
fn breaker_config(name: &str, clock: Option<&Arc<dyn Clock>>) -> BreakerConfig {
    let (failures, open_for) = match name {
        "anthropic" => (3, 30),
        _ => (5, 60),
    };
    let mut builder = BreakerConfig::builder()
        .failure_threshold(failures)
        .recovery_timeout(Duration::from_secs(open_for));
    if let Some(clock) = clock {
        builder = builder.clock(Arc::clone(clock));
    }
    // Both numbers are positive constants, which the builder accepts.
    builder.build().unwrap_or_default()
}

impl ProviderChain {
    /// The chain the configuration asks for: OpenAI when `OPENAI_API_KEY` is set, then
    /// Anthropic when `ANTHROPIC_API_KEY` is set; the offline provider when neither is.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn from_config(config: &Config, clock: Option<Arc<dyn Clock>>) -> Result<Self, LlmError> {
        let timeout = Duration::from_secs(config.llm_timeout_secs.max(1));
        let client = http_client(timeout)?;
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        if let Some(key) = &config.openai_api_key {
            providers.push(Arc::new(OpenAi::new(Endpoint::new(
                client.clone(),
                &config.openai_base_url,
                key,
                &config.openai_model,
                timeout,
            ))));
        }
        if let Some(key) = &config.anthropic_api_key {
            providers.push(Arc::new(Anthropic::new(Endpoint::new(
                client,
                &config.anthropic_base_url,
                key,
                &config.anthropic_model,
                timeout,
            ))));
        }
        if providers.is_empty() {
            providers.push(Arc::new(Offline));
        }
        let chain = Self::new(BreakerRegistry::new(), providers, clock.as_ref());
        Ok(if config.llm_breakers {
            chain
        } else {
            chain.without_breakers()
        })
    }

    /// A chain over `providers`, registering one breaker per provider in `registry`.
    pub fn new(
        registry: BreakerRegistry,
        providers: Vec<Arc<dyn Provider>>,
        clock: Option<&Arc<dyn Clock>>,
    ) -> Self {
        let links = providers
            .into_iter()
            .map(|provider| Link {
                breaker: Some(
                    registry
                        .create_breaker(provider.name(), breaker_config(provider.name(), clock)),
                ),
                provider,
            })
            .collect();
        Self {
            links: Arc::new(links),
            registry,
            observer: None,
        }
    }

    /// The same providers without breakers: every call tries each provider in turn, however
    /// often it failed before. For measuring what the breakers save (`LLM_BREAKERS=false`);
    /// the registry is left empty.
    #[must_use]
    pub fn without_breakers(self) -> Self {
        let links = self
            .links
            .iter()
            .map(|link| Link {
                provider: Arc::clone(&link.provider),
                breaker: None,
            })
            .collect();
        Self {
            links: Arc::new(links),
            registry: BreakerRegistry::new(),
            observer: self.observer,
        }
    }

    /// Calls `observer` for every attempt (metrics).
    #[must_use]
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The registry holding the breakers (for `/admin/breakers` and metrics).
    pub fn registry(&self) -> &BreakerRegistry {
        &self.registry
    }

    /// The providers' names, in fallback order.
    pub fn names(&self) -> Vec<String> {
        self.links
            .iter()
            .map(|l| l.provider.name().to_owned())
            .collect()
    }

    fn observe(&self, record: &CallRecord<'_>) {
        if let Some(observer) = &self.observer {
            observer(record);
        }
    }

    /// Asks each provider in turn until one answers with text that `parse` accepts.
    ///
    /// # Errors
    /// [`ChainError::AllOpen`] when every breaker refused, else [`ChainError::AllFailed`].
    pub async fn run<T>(
        &self,
        prompt: &Prompt,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Answered<T>, ChainError> {
        let mut last_error = None;
        let mut soonest_retry: Option<u64> = None;
        for link in self.links.iter() {
            let provider = link.provider.as_ref();
            let started = Instant::now();
            let mut tokens = (0, 0);
            let attempt = async {
                let completion = provider.complete(prompt).await?;
                tokens = (completion.prompt_tokens, completion.completion_tokens);
                parse(&completion.text).map_err(LlmError::Malformed)
            };
            let outcome = match &link.breaker {
                Some(breaker) => breaker.call(attempt).await,
                None => attempt.await.map_err(BreakerError::Inner),
            };
            let mut record = CallRecord {
                provider: provider.name(),
                model: provider.model(),
                status: "success",
                duration: started.elapsed(),
                prompt_tokens: tokens.0,
                completion_tokens: tokens.1,
                error: None,
            };
            match outcome {
                Ok(value) => {
                    self.observe(&record);
                    return Ok(Answered {
                        value,
                        provider: provider.name().to_owned(),
                        model: provider.model().to_owned(),
                    });
                }
                Err(BreakerError::Rejected(rejected)) => {
                    record.status = "rejected";
                    record.duration = Duration::ZERO;
                    record.error = Some("circuit_open");
                    self.observe(&record);
                    let secs = rejected.retry_after_secs().unwrap_or(1).max(1);
                    soonest_retry = Some(soonest_retry.map_or(secs, |s| s.min(secs)));
                    tracing::debug!(provider = provider.name(), "circuit open; falling back");
                }
                Err(BreakerError::Inner(error)) => {
                    record.status = "error";
                    record.error = Some(error.kind());
                    self.observe(&record);
                    tracing::warn!(provider = provider.name(), %error, "LLM call failed; falling back");
                    last_error = Some(error);
                }
            }
        }
        match (last_error, soonest_retry) {
            (Some(last), _) => Err(ChainError::AllFailed { last }),
            (None, Some(retry_after_secs)) => Err(ChainError::AllOpen { retry_after_secs }),
            (None, None) => Err(ChainError::AllFailed {
                last: LlmError::Transport("no provider is configured".to_owned()),
            }),
        }
    }
}
