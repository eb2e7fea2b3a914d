//! An Anthropic messages client (`POST {base}/v1/messages`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::{Completion, LlmError, Prompt, Provider, read_json, transport_error};

/// The `anthropic-version` header the client speaks.
const API_VERSION: &str = "2023-06-01";

/// Anthropic's messages API.
#[derive(Debug, Clone)]
pub struct Anthropic {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    model: String,
    timeout: Duration,
}

impl Anthropic {
    /// A client for `base_url` (e.g. `https://api.anthropic.com`).
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
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let body = json!({
            "model": self.model,
            "max_tokens": prompt.max_tokens,
            "system": prompt.system,
            "messages": [ { "role": "user", "content": prompt.user } ],
        });
        let response = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .header("x-api-key", &self.api_key)
            .header("anthropic-version", API_VERSION)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e, self.timeout))?;
        let answer = read_json(response, self.timeout).await?;
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
