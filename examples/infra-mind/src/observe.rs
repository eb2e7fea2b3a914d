//! What the server records beyond the HTTP layer: LLM calls, agent runs, creations, and the
//! business gauges refreshed from the store on a timer.

use std::sync::Arc;
use std::time::Duration;

use inframind_metrics::{
    AgentErrorLabels, AgentExecutionLabels, AgentLabels, LlmCall, Metrics, RecommendationLabels,
    ReportLabels, StatusLabels,
};

use crate::domain::{Assessment, Recommendation, Report};
use crate::llm::chain::{CallObserver, CallRecord};
use crate::repo::Repository;

/// Who counts as active: a write in the last 7 days (the spec's `users_active`).
const ACTIVE_WINDOW: time::Duration = time::Duration::days(7);

/// How often `users_total` and `assessments_total` are read from the store.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(15);

/// The chain observer: every attempt becomes one `track_llm_call`.
pub fn llm_calls(metrics: &Metrics) -> CallObserver {
    let metrics = metrics.clone();
    Arc::new(move |record: &CallRecord<'_>| {
        let mut call = LlmCall::new(record.provider, record.model)
            .status(record.status)
            .duration(record.duration)
            // The cost comes from the metrics crate's price table, by model.
            .tokens(record.prompt_tokens, record.completion_tokens);
        if let Some(error) = record.error {
            call = call.error(error);
        }
        metrics.track_llm_call(call);
    })
}

/// One agent run: executions, duration, errors and each recommendation's confidence.
pub fn agent_run(
    metrics: &Metrics,
    agent: &str,
    duration: Duration,
    outcome: Result<&[Recommendation], &str>,
) {
    let families = metrics.agent();
    let status = if outcome.is_ok() { "success" } else { "error" };
    families
        .executions
        .get_or_create(&AgentExecutionLabels::new(agent, status))
        .inc();
    let name = AgentLabels::new(agent);
    families
        .duration
        .get_or_create(&name)
        .observe(duration.as_secs_f64());
    match outcome {
        Ok(recommendations) => {
            for r in recommendations {
                if let Some(confidence) = r.confidence {
                    families.confidence.get_or_create(&name).observe(confidence);
                }
            }
        }
        Err(error_type) => {
            families
                .errors
                .get_or_create(&AgentErrorLabels::new(agent, error_type))
                .inc();
        }
    }
}

/// `assessments_created_total{status}`.
pub fn assessment_created(metrics: &Metrics, assessment: &Assessment) {
    metrics
        .business()
        .assessments_created
        .get_or_create(&StatusLabels::new(assessment.status.as_str()))
        .inc();
}

/// `recommendations_generated_total{category,priority}`.
pub fn recommendations_created(metrics: &Metrics, recommendations: &[Recommendation]) {
    for r in recommendations {
        metrics
            .business()
            .recommendations_generated
            .get_or_create(&RecommendationLabels::new(
                r.category.as_str(),
                r.priority.as_str(),
            ))
            .inc();
    }
}

/// `reports_generated_total{type,format}`.
pub fn report_created(metrics: &Metrics, report: &Report) {
    metrics
        .business()
        .reports_generated
        .get_or_create(&ReportLabels::new(
            report.report_type.as_str(),
            report.format.as_str(),
        ))
        .inc();
}

/// Reads the totals once now and then every [`GAUGE_REFRESH`]; a store that is down leaves
/// the last values in place.
pub fn spawn_business_gauges(repo: Arc<dyn Repository>, metrics: Metrics) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GAUGE_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            refresh_gauges(repo.as_ref(), &metrics).await;
        }
    });
}

/// One refresh of `users_total`, `users_active` (the last 7 days) and `assessments_total`.
pub async fn refresh_gauges(repo: &dyn Repository, metrics: &Metrics) {
    let week_ago = crate::domain::now() - ACTIVE_WINDOW;
    match repo.active_users(week_ago).await {
        Ok(active) => {
            metrics
                .business()
                .users_active
                .set(i64::try_from(active).unwrap_or(i64::MAX));
        }
        Err(error) => tracing::debug!(%error, "users_active not refreshed"),
    }
    match repo.counts().await {
        Ok(counts) => {
            let business = metrics.business();
            business
                .users_total
                .set(i64::try_from(counts.users).unwrap_or(i64::MAX));
            let assessments: u64 = counts.assessments_by_status.values().sum();
            business
                .assessments_total
                .set(i64::try_from(assessments).unwrap_or(i64::MAX));
        }
        Err(error) => tracing::debug!(%error, "business gauges not refreshed"),
    }
}
