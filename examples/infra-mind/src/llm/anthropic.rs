//! An Anthropic messages client (`POST {base}/v1/messages`).

use async_trait::async_trait;
use serde_json::json;

use super::{Completion, Endpoint, LlmError, Prompt, Provider};

/// The `anthropic-version` header the client speaks.
const API_VERSION: &str = "2023-06-01";

/// Anthropic's messages API.
#[derive(Debug, Clone)]
pub struct Anthropic {
    endpoint: Endpoint,
}

impl Anthropic {
    /// A client for `endpoint` (base URL such as `https://api.anthropic.com`).
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        self.endpoint.model()
    }

    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let body = json!({
            "model": self.endpoint.model(),
            "max_tokens": prompt.max_tokens,
            "system": prompt.system,
            "messages": [ { "role": "user", "content": prompt.user } ],
        });
        let authenticate = |request: reqwest::RequestBuilder, key: &str| {
            request
                .header("x-api-key", key)
                .header("anthropic-version", API_VERSION)
        };
        let answer = self
            .endpoint
            .post_json("/v1/messages", authenticate, &body)
            .await?;
        let text: String = answer["content"]
            .as_array()
            .ok_or_else(|| LlmError::Malformed("no content array".to_owned()))?
            .iter()
            .filter(|block| block["type"] == "text")
            .filter_map(|block| block["text"].as_str())
            .collect();
        if text.is_empty() {
            return Err(LlmError::Malformed("no text block in content".to_owned()));
        }
        Ok(Completion {
            text,
            prompt_tokens: answer["usage"]["input_tokens"].as_u64().unwrap_or(0),
            completion_tokens: answer["usage"]["output_tokens"].as_u64().unwrap_or(0),
        })
    }
}
