//! The offline provider: deterministic answers computed from the prompt, so the server works
//! (and demos) without network access or keys.

use async_trait::async_trait;

use super::{Completion, LlmError, Prompt, Provider};

/// Answers with recommendations chosen by a hash of the prompt: the same prompt always gets
/// the same answer.
#[derive(Debug, Clone, Default)]
pub struct Offline;

const CATALOGUE: [(&str, &str, &str, &str); 8] = [
    (
        "Right-size over-provisioned instances",
        "cost",
        "high",
        "Utilisation is below 20% on most of the fleet; move to smaller instance types.",
    ),
    (
        "Turn on encryption at rest everywhere",
        "security",
        "critical",
        "Some volumes and buckets are unencrypted; enforce it with a policy.",
    ),
    (
        "Spread the service across three zones",
        "reliability",
        "high",
        "A single-zone outage would take the service down.",
    ),
    (
        "Autoscale on queue depth, not CPU",
        "performance",
        "medium",
        "Latency follows the backlog; CPU reacts too late.",
    ),
    (
        "Archive logs older than 30 days",
        "cost",
        "low",
        "Cold logs sit on hot storage.",
    ),
    (
        "Rotate access keys automatically",
        "security",
        "high",
        "Long-lived keys are the most common breach path.",
    ),
    (
        "Add a read replica for reporting",
        "performance",
        "medium",
        "Reporting queries compete with transactional load.",
    ),
    (
        "Define SLOs and alert on burn rate",
        "reliability",
        "medium",
        "Alerts fire on symptoms nobody acts on.",
    ),
];

#[async_trait]
impl Provider for Offline {
    fn name(&self) -> &str {
        "offline"
    }

    fn model(&self) -> &str {
        "deterministic-v1"
    }

    async fn complete(&self, prompt: &Prompt) -> Result<Completion, LlmError> {
        let seed = blake3::hash(prompt.user.as_bytes());
        let bytes = seed.as_bytes();
        let count = 2 + usize::from(bytes[0] % 3);
        let start = usize::from(bytes[1]) % CATALOGUE.len();
        let recommendations: Vec<_> = (0..count)
            .map(|i| {
                let (title, category, priority, description) =
                    CATALOGUE[(start + i) % CATALOGUE.len()];
                serde_json::json!({
                    "title": title,
                    "category": category,
                    "priority": priority,
                    "description": description,
                    "confidence": 0.6 + f64::from(bytes[2 + i] % 40) / 100.0,
                })
            })
            .collect();
        let text = serde_json::json!({ "recommendations": recommendations }).to_string();
        Ok(Completion {
            prompt_tokens: words(&prompt.system) + words(&prompt.user),
            completion_tokens: words(&text),
            text,
        })
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
