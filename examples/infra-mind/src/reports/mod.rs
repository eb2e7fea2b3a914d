//! Report rendering: one [`Document`] built from an assessment and its recommendations, written
//! out as JSON, Markdown, HTML or PDF.

mod html;
mod markdown;
mod pdf;

use serde::Serialize;

use crate::domain::{Assessment, Priority, Recommendation, ReportFormat, ReportType, User};

/// What a report is made from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The assessment.
    pub assessment: &'a Assessment,
    /// Its owner, when known.
    pub user: Option<&'a User>,
    /// Its recommendations, newest first.
    pub recommendations: &'a [Recommendation],
}

/// A format-neutral report: a title, a subtitle and sections of lines.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Title line.
    pub title: String,
    /// Type, owner and date.
    pub subtitle: String,
    /// The body.
    pub sections: Vec<Section>,
}

/// A heading and its lines.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Paragraph lines or list items.
    pub lines: Vec<String>,
}

fn by_priority(recs: &[Recommendation]) -> Vec<&Recommendation> {
    let mut sorted: Vec<&Recommendation> = recs.iter().collect();
    sorted.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| a.title.cmp(&b.title))
    });
    sorted
}

fn item(r: &Recommendation) -> String {
    format!("[{}] {} ({})", r.priority.as_str(), r.title, r.category)
}

/// Builds the document for `report_type`.
pub fn document(report_type: ReportType, input: ReportInput<'_>) -> Document {
    let a = input.assessment;
    let owner = input.user.map_or("unknown owner", |u| u.full_name.as_str());
    let created = a
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let sorted = by_priority(input.recommendations);
    let count = |p: Priority| {
        input
            .recommendations
            .iter()
            .filter(|r| r.priority == p)
            .count()
    };
    let overview = Section {
        heading: "Overview".to_owned(),
        lines: vec![
            format!("Status: {}", a.status.as_str()),
            format!(
                "Cloud: {}",
                a.cloud_provider.as_deref().unwrap_or("unknown")
            ),
            format!("Owner: {owner}"),
            format!("Created: {created}"),
            format!(
                "Recommendations: {} ({} critical, {} high, {} medium, {} low)",
                input.recommendations.len(),
                count(Priority::Critical),
                count(Priority::High),
                count(Priority::Medium),
                count(Priority::Low)
            ),
        ],
    };
    let sections = match report_type {
        ReportType::Summary => vec![
            overview,
            Section {
                heading: "Top recommendations".to_owned(),
                lines: sorted.iter().take(3).map(|r| item(r)).collect(),
            },
        ],
        ReportType::Detailed => {
            let mut sections = vec![overview];
            if let Some(description) = &a.description {
                sections.push(Section {
                    heading: "Description".to_owned(),
                    lines: vec![description.clone()],
                });
            }
            sections.push(Section {
                heading: "Recommendations".to_owned(),
                lines: sorted
                    .iter()
                    .map(|r| match &r.description {
                        Some(d) => format!("{}: {d}", item(r)),
                        None => item(r),
                    })
                    .collect(),
            });
            sections
        }
        ReportType::Executive => vec![
            overview,
            Section {
                heading: "Next steps".to_owned(),
                lines: sorted
                    .iter()
                    .filter(|r| r.priority >= Priority::High)
                    .map(|r| item(r))
                    .collect(),
            },
        ],
    };
    Document {
        title: a.title.clone(),
        subtitle: format!("{} report for {owner}", report_type.as_str()),
        sections,
    }
}

/// Renders the report in `format`.
pub fn render(report_type: ReportType, format: ReportFormat, input: ReportInput<'_>) -> Vec<u8> {
    let doc = document(report_type, input);
    match format {
        ReportFormat::Json => serde_json::to_vec_pretty(&serde_json::json!({
            "type": report_type,
            "assessment": input.assessment,
            "recommendations": input.recommendations,
            "document": doc,
        }))
        .unwrap_or_default(),
        ReportFormat::Markdown => markdown::render(&doc).into_bytes(),
        ReportFormat::Html => html::render(&doc).into_bytes(),
        ReportFormat::Pdf => pdf::render(&doc),
    }
}
