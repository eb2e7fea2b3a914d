//! The recommendation agent: asks the provider chain for recommendations on an assessment,
//! parses and validates the JSON answer (a malformed one is a failed call, so the chain falls
//! back), and stores what it got.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::domain::{Assessment, NewRecommendation, Priority, Recommendation};
use crate::llm::Prompt;
use crate::llm::chain::{ChainError, ProviderChain};
use crate::repo::{RepoError, Repository};

/// The agent's name in metrics.
pub const AGENT: &str = "recommendation_agent";

/// At most this many recommendations are kept from one answer.
pub const MAX_RECOMMENDATIONS: usize = 10;

/// One recommendation as the model writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suggested {
    /// Short title.
    pub title: String,
    /// Area.
    pub category: String,
    /// Urgency.
    pub priority: Priority,
    /// Why.
    #[serde(default)]
    pub description: Option<String>,
    /// Confidence in `[0, 1]`.
    pub confidence: f64,
}

#[derive(Debug, Deserialize)]
struct Answer {
    recommendations: Vec<Suggested>,
}

/// Parses and validates an answer. Tolerates a Markdown code fence around the JSON, nothing
/// else.
///
/// # Errors
/// A message saying what is wrong; the chain counts it as the provider's failure.
pub fn parse_answer(text: &str) -> Result<Vec<Suggested>, String> {
    let trimmed = text.trim();
    let json = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed);
    let answer: Answer =
        serde_json::from_str(json).map_err(|e| format!("not the expected JSON: {e}"))?;
    if answer.recommendations.is_empty() || answer.recommendations.len() > MAX_RECOMMENDATIONS {
        return Err(format!(
            "expected 1 to {MAX_RECOMMENDATIONS} recommendations, got {}",
            answer.recommendations.len()
        ));
    }
    for (i, r) in answer.recommendations.iter().enumerate() {
        if r.title.trim().is_empty() || r.title.len() > 200 {
            return Err(format!(
                "recommendations[{i}].title must be 1 to 200 characters"
            ));
        }
        if r.category.trim().is_empty() || r.category.len() > 50 {
            return Err(format!(
                "recommendations[{i}].category must be 1 to 50 characters"
            ));
        }
        if !(0.0..=1.0).contains(&r.confidence) || r.confidence.is_nan() {
            return Err(format!(
                "recommendations[{i}].confidence must be within [0, 1]"
            ));
        }
    }
    Ok(answer.recommendations)
}

/// The prompt for one assessment.
pub fn prompt_for(assessment: &Assessment) -> Prompt {
    Prompt {
        system: "You are a cloud infrastructure advisor. Answer with JSON only: \
                 {\"recommendations\": [{\"title\": string, \"category\": string, \
                 \"priority\": \"low\"|\"medium\"|\"high\"|\"critical\", \"description\": string, \
                 \"confidence\": number between 0 and 1}]} with 1 to 10 items."
            .to_owned(),
        user: format!(
            "Assessment {:?} (status {}, cloud {}): {}",
            assessment.title,
            assessment.status.as_str(),
            assessment.cloud_provider.as_deref().unwrap_or("unknown"),
            assessment
                .description
                .as_deref()
                .unwrap_or("no description"),
        ),
        max_tokens: 1024,
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// No provider answered.
    #[error(transparent)]
    Llm(#[from] ChainError),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}

impl AgentError {
    /// A short label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Llm(ChainError::AllOpen { .. }) => "circuit_open",
            Self::Llm(_) => "llm_failed",
            Self::Store(_) => "store",
        }
    }
}

/// What one run produced.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The provider that answered.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// The stored recommendations.
    pub recommendations: Vec<Recommendation>,
    /// How long the run took.
    pub duration: Duration,
}

/// Runs the agent on `assessment` and stores the recommendations.
///
/// # Errors
/// [`AgentError`].
pub async fn generate(
    chain: &ProviderChain,
    repo: &dyn Repository,
    assessment: &Assessment,
) -> Result<Generated, AgentError> {
    let started = Instant::now();
    let answered = chain.run(&prompt_for(assessment), parse_answer).await?;
    let new = answered
        .value
        .into_iter()
        .map(|s| NewRecommendation {
            assessment_id: assessment.id.clone(),
            title: s.title.trim().to_owned(),
            category: s.category.trim().to_lowercase(),
            priority: s.priority,
            description: s.description,
            confidence: Some(s.confidence),
            source: answered.provider.clone(),
        })
        .collect();
    let recommendations = repo.create_recommendations(new).await?;
    Ok(Generated {
        provider: answered.provider,
        model: answered.model,
        recommendations,
        duration: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_validated_not_trusted() {
        let good = r#"{"recommendations":[{"title":"t","category":"cost","priority":"high","confidence":0.5}]}"#;
        assert_eq!(parse_answer(good).unwrap().len(), 1);
        assert_eq!(
            parse_answer(&format!("```json\n{good}\n```"))
                .unwrap()
                .len(),
            1
        );
        for bad in [
            "",
            "sure! here you go",
            r#"{"recommendations":[]}"#,
            r#"{"recommendations":[{"title":"t","category":"cost","priority":"urgent","confidence":0.5}]}"#,
            r#"{"recommendations":[{"title":"t","category":"cost","priority":"high","confidence":1.5}]}"#,
            r#"{"recommendations":[{"title":" ","category":"cost","priority":"high","confidence":0.5}]}"#,
            r#"{"recs":[]}"#,
        ] {
            assert!(parse_answer(bad).is_err(), "{bad}");
        }
    }
}
