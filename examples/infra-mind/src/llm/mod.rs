//! LLM providers behind one trait: an OpenAI-compatible chat-completions client, an
//! Anthropic messages client (both over reqwest with rustls), and an offline deterministic
//! provider. [`chain::ProviderChain`] puts each behind its own named circuit breaker and falls
//! back across them.

pub mod anthropic;
pub mod chain;
pub mod offline;
pub mod openai;

use std::time::Duration;

use async_trait::async_trait;

/// What is asked of a provider.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Instructions (the system prompt).
    pub system: String,
    /// The question, with the data.
    pub user: String,
    /// Upper bound on the answer's length.
    pub max_tokens: u32,
}

/// A provider's answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The text of the answer.
    pub text: String,
    /// Tokens in the prompt, as the provider counted them.
    pub prompt_tokens: u64,
    /// Tokens in the answer.
    pub completion_tokens: u64,
}

/// Why a call failed. Every variant counts as a failure for the provider's breaker.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The request could not be sent or the connection broke.
    #[error("transport error: {0}")]
    Transport(String),
    /// No answer within the configured timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer is not what the protocol or the agent expects.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl LlmError {
    /// A short label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Transport(_) => "transport",
            Self::Timeout(_) => "timeout",
            Self::Status { .. } => "status",
            Self::Malformed(_) => "malformed",
        }
    }
}

/// One LLM backend.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug + 'static {
    /// The provider's name, also its breaker's name (`openai`, `anthropic`, `offline`).
    fn name(&self) -> &str;
    /// The model asked.
    fn model(&self) -> &str;
    /// Sends the prompt and returns the answer.
    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError>;
}

/// Where an HTTP provider sends its calls: the shared client, base URL, key, model and the
/// per-call timeout (for error messages; the client enforces it).
#[derive(Debug, Clone)]
pub struct Endpoint {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    model: String,
    timeout: Duration,
}

impl Endpoint {
    /// An endpoint at `base_url` (a trailing `/` is dropped).
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        api_key: &str,
        model: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            model: model.to_owned(),
            timeout,
        }
    }

    /// The model the provider asks for.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// `POST {base}{path}` with `body` as JSON, authenticated by `authenticate` with the key;
    /// the answer's JSON. A non-2xx is [`LlmError::Status`], a body that is not JSON
    /// [`LlmError::Malformed`].
    pub(crate) async fn post_json(
        &self,
        path: &str,
        authenticate: impl FnOnce(reqwest::RequestBuilder, &str) -> reqwest::RequestBuilder,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, LlmError> {
        let request = self.client.post(format!("{}{path}", self.base_url));
        let response = authenticate(request, &self.api_key)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(LlmError::Status {
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| LlmError::Malformed(e.to_string()))
    }

    /// Maps a reqwest error: timeouts apart, everything is transport.
    fn transport_error(&self, error: &reqwest::Error) -> LlmError {
        if error.is_timeout() {
            LlmError::Timeout(self.timeout)
        } else {
            LlmError::Transport(error.to_string())
        }
    }
}

/// A client with the per-call timeout, shared by the HTTP providers.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| LlmError::Transport(e.to_string()))
}
