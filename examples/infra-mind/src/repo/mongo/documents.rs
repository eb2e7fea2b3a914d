//! The documents as stored in MongoDB, and their conversions to and from the domain types.

use bson::oid::ObjectId;
use bson::{Binary, DateTime, spec::BinarySubtype};
use serde::{Deserialize, Serialize};

use crate::domain::{
    self, Assessment, AssessmentStatus, NewAssessment, NewReport, NewUser, Priority,
    Recommendation, Report, ReportFormat, ReportType, User,
};
use crate::repo::{RepoError, parse_id, size_of};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UserDoc {
    #[serde(rename = "_id")]
    pub(super) id: ObjectId,
    pub(super) email: String,
    pub(super) full_name: String,
    pub(super) token_hash: String,
    pub(super) created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AssessmentDoc {
    #[serde(rename = "_id")]
    pub(super) id: ObjectId,
    pub(super) user_id: ObjectId,
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) cloud_provider: Option<String>,
    pub(super) status: AssessmentStatus,
    pub(super) created_at: DateTime,
    pub(super) updated_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RecommendationDoc {
    #[serde(rename = "_id")]
    pub(super) id: ObjectId,
    pub(super) assessment_id: ObjectId,
    pub(super) title: String,
    pub(super) category: String,
    pub(super) priority: Priority,
    pub(super) description: Option<String>,
    pub(super) confidence: Option<f64>,
    pub(super) source: String,
    pub(super) created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ReportDoc {
    #[serde(rename = "_id")]
    pub(super) id: ObjectId,
    pub(super) assessment_id: ObjectId,
    pub(super) user_id: ObjectId,
    #[serde(rename = "type")]
    pub(super) report_type: ReportType,
    pub(super) format: ReportFormat,
    pub(super) size_bytes: i64,
    pub(super) created_at: DateTime,
    /// Absent when read with the metadata projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) content: Option<Binary>,
}

pub(super) fn date(at: domain::Timestamp) -> DateTime {
    DateTime::from_millis(domain::to_millis(at))
}

pub(super) fn time_of(at: DateTime) -> domain::Timestamp {
    domain::from_millis(at.timestamp_millis())
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        Self {
            id: d.id.to_hex(),
            email: d.email,
            full_name: d.full_name,
            created_at: time_of(d.created_at),
        }
    }
}

impl From<AssessmentDoc> for Assessment {
    fn from(d: AssessmentDoc) -> Self {
        Self {
            id: d.id.to_hex(),
            user_id: d.user_id.to_hex(),
            title: d.title,
            description: d.description,
            cloud_provider: d.cloud_provider,
            status: d.status,
            created_at: time_of(d.created_at),
            updated_at: time_of(d.updated_at),
        }
    }
}

impl From<RecommendationDoc> for Recommendation {
    fn from(d: RecommendationDoc) -> Self {
        Self {
            id: d.id.to_hex(),
            assessment_id: d.assessment_id.to_hex(),
            title: d.title,
            category: d.category,
            priority: d.priority,
            description: d.description,
            confidence: d.confidence,
            source: d.source,
            created_at: time_of(d.created_at),
        }
    }
}

impl ReportDoc {
    pub(super) fn split(self) -> (Report, Vec<u8>) {
        let report = Report {
            id: self.id.to_hex(),
            assessment_id: self.assessment_id.to_hex(),
            user_id: self.user_id.to_hex(),
            report_type: self.report_type,
            format: self.format,
            size_bytes: u64::try_from(self.size_bytes).unwrap_or(0),
            created_at: time_of(self.created_at),
        };
        (report, self.content.map(|b| b.bytes).unwrap_or_default())
    }
}

pub(super) fn assessment_doc(user_id: ObjectId, new: NewAssessment) -> AssessmentDoc {
    let now = date(domain::now());
    AssessmentDoc {
        id: ObjectId::new(),
        user_id,
        title: new.title,
        description: new.description,
        cloud_provider: new.cloud_provider,
        status: new.status.unwrap_or(AssessmentStatus::Draft),
        created_at: now,
        updated_at: now,
    }
}

pub(super) fn report_doc(new: NewReport) -> Result<ReportDoc, RepoError> {
    Ok(ReportDoc {
        id: ObjectId::new(),
        assessment_id: parse_id(&new.assessment_id)?,
        user_id: parse_id(&new.user_id)?,
        report_type: new.report_type,
        format: new.format,
        size_bytes: i64::try_from(size_of(&new.content)).unwrap_or(i64::MAX),
        created_at: date(domain::now()),
        content: Some(Binary {
            subtype: BinarySubtype::Generic,
            bytes: new.content,
        }),
    })
}

pub(super) fn user_doc(new: NewUser) -> UserDoc {
    UserDoc {
        id: ObjectId::new(),
        email: new.email,
        full_name: new.full_name,
        token_hash: new.token_hash,
        created_at: date(domain::now()),
    }
}
