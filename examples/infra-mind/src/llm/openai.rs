//! An OpenAI-compatible chat-completions client (`POST {base}/chat/completions`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::{Completion, LlmError, Prompt, Provider, read_json, transport_error};

/// OpenAI, or anything that speaks its chat-completions protocol.
#[derive(Debug, Clone)]
pub struct OpenAi {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    model: String,
    timeout: Duration,
}

impl OpenAi {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`).
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
impl Provider for OpenAi {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let body = json!({
            "model": self.model,
            "max_tokens": prompt.max_tokens,
            "temperature": 0.2,
            "response_format": { "type": "json_object" },
            "messages": [
                { "role": "system", "content": prompt.system },
                { "role": "user", "content": prompt.user },
            ],
        });
        let response = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&e, self.timeout))?;
        let answer = read_json(response, self.timeout).await?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".to_owned()))?;
        Ok(Completion {
            text: text.to_owned(),
            prompt_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            completion_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        })
    }
}
