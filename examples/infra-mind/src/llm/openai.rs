//! An OpenAI-compatible chat-completions client (`POST {base}/chat/completions`).

use async_trait::async_trait;
use serde_json::json;

use super::{Completion, Endpoint, LlmError, Prompt, Provider};

/// OpenAI, or anything that speaks its chat-completions protocol.
#[derive(Debug, Clone)]
pub struct OpenAi {
    endpoint: Endpoint,
}

impl OpenAi {
    /// A client for `endpoint` (base URL such as `https://api.openai.com/v1`).
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        self.endpoint.model()
    }

    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let body = json!({
            "model": self.endpoint.model(),
            "max_tokens": prompt.max_tokens,
            "temperature": 0.2,
            "response_format": { "type": "json_object" },
            "messages": [
                { "role": "system", "content": prompt.system },
                { "role": "user", "content": prompt.user },
            ],
        });
        let answer = self
            .endpoint
            .post_json("/chat/completions", |r, key| r.bearer_auth(key), &body)
            .await?;
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
