use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Which report to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportType {
    /// One page: counts and the top recommendations.
    Summary,
    /// Every recommendation with its description.
    Detailed,
    /// For decision makers: priorities and next steps.
    Executive,
}

impl ReportType {
    /// Every type.
    pub const ALL: [Self; 3] = [Self::Summary, Self::Detailed, Self::Executive];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Summary => "summary",
            Self::Detailed => "detailed",
            Self::Executive => "executive",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The document format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// `application/json`.
    Json,
    /// `text/markdown`.
    Markdown,
    /// `text/html`.
    Html,
    /// `application/pdf`.
    Pdf,
}

impl ReportFormat {
    /// Every format.
    pub const ALL: [Self; 4] = [Self::Json, Self::Markdown, Self::Html, Self::Pdf];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "markdown",
            Self::Html => "html",
            Self::Pdf => "pdf",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The `Content-Type` of the document.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Html => "text/html; charset=utf-8",
            Self::Pdf => "application/pdf",
        }
    }

    /// The file extension for downloads.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "md",
            Self::Html => "html",
            Self::Pdf => "pdf",
        }
    }
}

/// A generated report's metadata (the document itself is fetched separately).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// ObjectId hex.
    pub id: String,
    /// The assessment it describes.
    pub assessment_id: String,
    /// Who asked for it.
    pub user_id: String,
    /// Which report.
    #[serde(rename = "type")]
    pub report_type: ReportType,
    /// Document format.
    pub format: ReportFormat,
    /// Document size in bytes.
    pub size_bytes: u64,
    /// When it was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// What the store needs to keep a report.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The assessment it describes.
    pub assessment_id: String,
    /// Who asked for it.
    pub user_id: String,
    /// Which report.
    pub report_type: ReportType,
    /// Document format.
    pub format: ReportFormat,
    /// The rendered document.
    pub content: Vec<u8>,
}
