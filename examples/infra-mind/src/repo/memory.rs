//! The in-process store of embedded mode: the same behaviour as MongoDB (ObjectId ids,
//! newest-first lists, unique emails, millisecond timestamps) without a server.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use bson::oid::ObjectId;
use parking_lot::RwLock;

use super::{RepoError, Repository, complete_counts, parse_id, parse_ids, size_of};
use crate::domain::{
    self, Assessment, AssessmentStatus, AssessmentUpdate, DashboardCounts, Include, NewAssessment,
    NewRecommendation, NewReport, NewUser, Recommendation, Related, Report, Timestamp, User,
};

#[derive(Debug, Default)]
struct Collections {
    users: BTreeMap<ObjectId, (User, String)>,
    assessments: BTreeMap<ObjectId, Assessment>,
    recommendations: BTreeMap<ObjectId, Recommendation>,
    reports: BTreeMap<ObjectId, (Report, Vec<u8>)>,
}

/// The embedded store. Every call takes the lock once and never across an `.await`.
#[derive(Debug, Default)]
pub struct MemoryRepository {
    data: RwLock<Collections>,
}

impl MemoryRepository {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding the demo data of [`super::demo`].
    pub async fn with_demo_data() -> Self {
        let repo = Self::new();
        // The demo data is valid by construction; a failure here would be a bug in demo.rs.
        if let Err(error) = super::demo::load(&repo, &super::demo::DemoSize::default()).await {
            tracing::warn!(%error, "demo data could not be loaded");
        }
        repo
    }
}

/// Newest first: `created_at` descending, then id descending (MongoDB's sort in `mongo.rs`).
fn newest_first<T>(items: &mut [T], key: impl Fn(&T) -> (Timestamp, &str)) {
    items.sort_by(|a, b| key(b).cmp(&key(a)));
}

fn take<T>(mut items: Vec<T>, limit: Option<u64>) -> Vec<T> {
    if let Some(limit) = limit {
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    items
}

fn insert_user(data: &mut Collections, user: NewUser) -> Result<User, RepoError> {
    if data.users.values().any(|(u, _)| u.email == user.email) {
        return Err(RepoError::Conflict(format!(
            "a user with email {:?} already exists",
            user.email
        )));
    }
    let id = ObjectId::new();
    let created = User {
        id: id.to_hex(),
        email: user.email,
        full_name: user.full_name,
        created_at: domain::now(),
    };
    data.users.insert(id, (created.clone(), user.token_hash));
    Ok(created)
}

fn build_assessment(user_id: &str, new: NewAssessment) -> (ObjectId, Assessment) {
    let id = ObjectId::new();
    let now = domain::now();
    let assessment = Assessment {
        id: id.to_hex(),
        user_id: user_id.to_owned(),
        title: new.title,
        description: new.description,
        cloud_provider: new.cloud_provider,
        status: new.status.unwrap_or(AssessmentStatus::Draft),
        created_at: now,
        updated_at: now,
    };
    (id, assessment)
}

fn build_report(new: NewReport) -> (ObjectId, Report, Vec<u8>) {
    let id = ObjectId::new();
    let report = Report {
        id: id.to_hex(),
        assessment_id: new.assessment_id,
        user_id: new.user_id,
        report_type: new.report_type,
        format: new.format,
        size_bytes: size_of(&new.content),
        created_at: domain::now(),
    };
    (id, report, new.content)
}

#[async_trait]
impl Repository for MemoryRepository {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }

    async fn create_user(&self, user: NewUser) -> Result<User, RepoError> {
        insert_user(&mut self.data.write(), user)
    }

    async fn create_users(&self, users: Vec<NewUser>) -> Result<Vec<User>, RepoError> {
        let mut data = self.data.write();
        let mut seen = HashSet::new();
        for user in &users {
            if !seen.insert(user.email.clone())
                || data.users.values().any(|(u, _)| u.email == user.email)
            {
                return Err(RepoError::Conflict(format!(
                    "a user with email {:?} already exists",
                    user.email
                )));
            }
        }
        users
            .into_iter()
            .map(|u| insert_user(&mut data, u))
            .collect()
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        let mut users: Vec<User> = self
            .data
            .read()
            .users
            .values()
            .map(|(u, _)| u.clone())
            .collect();
        newest_first(&mut users, |u| (u.created_at, &u.id));
        Ok(users)
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        let id = parse_id(id)?;
        Ok(self.data.read().users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn users_by_ids(&self, ids: &[String]) -> Result<Vec<User>, RepoError> {
        let ids = parse_ids(ids)?;
        let data = self.data.read();
        let found: HashSet<ObjectId> = ids.into_iter().collect();
        Ok(data
            .users
            .iter()
            .filter(|(id, _)| found.contains(id))
            .map(|(_, (u, _))| u.clone())
            .collect())
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, RepoError> {
        Ok(self
            .data
            .read()
            .users
            .values()
            .find(|(_, hash)| hash == token_hash)
            .map(|(u, _)| u.clone()))
    }

    async fn create_assessment(
        &self,
        user_id: &str,
        assessment: NewAssessment,
    ) -> Result<Assessment, RepoError> {
        parse_id(user_id)?;
        let (id, assessment) = build_assessment(user_id, assessment);
        self.data.write().assessments.insert(id, assessment.clone());
        Ok(assessment)
    }

    async fn create_assessments(
        &self,
        assessments: Vec<(String, NewAssessment)>,
    ) -> Result<Vec<Assessment>, RepoError> {
        for (user_id, _) in &assessments {
            parse_id(user_id)?;
        }
        let mut data = self.data.write();
        Ok(assessments
            .into_iter()
            .map(|(user_id, new)| {
                let (id, assessment) = build_assessment(&user_id, new);
                data.assessments.insert(id, assessment.clone());
                assessment
            })
            .collect())
    }

    async fn list_assessments(&self, limit: Option<u64>) -> Result<Vec<Assessment>, RepoError> {
        let mut all: Vec<Assessment> = self.data.read().assessments.values().cloned().collect();
        newest_first(&mut all, |a| (a.created_at, &a.id));
        Ok(take(all, limit))
    }

    async fn get_assessment(&self, id: &str) -> Result<Option<Assessment>, RepoError> {
        let id = parse_id(id)?;
        Ok(self.data.read().assessments.get(&id).cloned())
    }

    async fn assessments_by_ids(&self, ids: &[String]) -> Result<Vec<Assessment>, RepoError> {
        let ids = parse_ids(ids)?;
        let data = self.data.read();
        let mut found: Vec<Assessment> = ids
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .filter_map(|id| data.assessments.get(id).cloned())
            .collect();
        newest_first(&mut found, |a| (a.created_at, &a.id));
        Ok(found)
    }

    async fn assessments_by_user(
        &self,
        user_id: &str,
        limit: Option<u64>,
    ) -> Result<Vec<Assessment>, RepoError> {
        parse_id(user_id)?;
        let mut mine: Vec<Assessment> = self
            .data
            .read()
            .assessments
            .values()
            .filter(|a| a.user_id == user_id)
            .cloned()
            .collect();
        newest_first(&mut mine, |a| (a.created_at, &a.id));
        Ok(take(mine, limit))
    }

    async fn update_assessment(
        &self,
        id: &str,
        update: AssessmentUpdate,
    ) -> Result<Option<Assessment>, RepoError> {
        let id = parse_id(id)?;
        let mut data = self.data.write();
        let Some(assessment) = data.assessments.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(title) = update.title {
            assessment.title = title;
        }
        if let Some(description) = update.description {
            assessment.description = Some(description);
        }
        if let Some(cloud) = update.cloud_provider {
            assessment.cloud_provider = Some(cloud);
        }
        if let Some(status) = update.status {
            assessment.status = status;
        }
        assessment.updated_at = domain::now();
        Ok(Some(assessment.clone()))
    }

    async fn delete_assessment(&self, id: &str) -> Result<bool, RepoError> {
        let oid = parse_id(id)?;
        let mut data = self.data.write();
        if data.assessments.remove(&oid).is_none() {
            return Ok(false);
        }
        data.recommendations.retain(|_, r| r.assessment_id != id);
        data.reports.retain(|_, (r, _)| r.assessment_id != id);
        Ok(true)
    }

    async fn create_recommendations(
        &self,
        recommendations: Vec<NewRecommendation>,
    ) -> Result<Vec<Recommendation>, RepoError> {
        for r in &recommendations {
            parse_id(&r.assessment_id)?;
        }
        let mut data = self.data.write();
        Ok(recommendations
            .into_iter()
            .map(|new| {
                let id = ObjectId::new();
                let recommendation = Recommendation {
                    id: id.to_hex(),
                    assessment_id: new.assessment_id,
                    title: new.title,
                    category: new.category,
                    priority: new.priority,
                    description: new.description,
                    confidence: new.confidence,
                    source: new.source,
                    created_at: domain::now(),
                };
                data.recommendations.insert(id, recommendation.clone());
                recommendation
            })
            .collect())
    }

    async fn list_recommendations(
        &self,
        limit: Option<u64>,
    ) -> Result<Vec<Recommendation>, RepoError> {
        let mut all: Vec<Recommendation> =
            self.data.read().recommendations.values().cloned().collect();
        newest_first(&mut all, |r| (r.created_at, &r.id));
        Ok(take(all, limit))
    }

    async fn recommendations_by_assessments(
        &self,
        assessment_ids: &[String],
    ) -> Result<Vec<Recommendation>, RepoError> {
        parse_ids(assessment_ids)?;
        let wanted: HashSet<&str> = assessment_ids.iter().map(String::as_str).collect();
        let mut found: Vec<Recommendation> = self
            .data
            .read()
            .recommendations
            .values()
            .filter(|r| wanted.contains(r.assessment_id.as_str()))
            .cloned()
            .collect();
        newest_first(&mut found, |r| (r.created_at, &r.id));
        Ok(found)
    }

    async fn recommendation_counts(
        &self,
        assessment_ids: &[String],
    ) -> Result<HashMap<String, u64>, RepoError> {
        parse_ids(assessment_ids)?;
        let wanted: HashSet<&str> = assessment_ids.iter().map(String::as_str).collect();
        let mut counts = HashMap::new();
        for r in self.data.read().recommendations.values() {
            if wanted.contains(r.assessment_id.as_str()) {
                *counts.entry(r.assessment_id.clone()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    async fn create_report(&self, report: NewReport) -> Result<Report, RepoError> {
        parse_id(&report.assessment_id)?;
        let (id, report, content) = build_report(report);
        self.data
            .write()
            .reports
            .insert(id, (report.clone(), content));
        Ok(report)
    }

    async fn create_reports(&self, reports: Vec<NewReport>) -> Result<Vec<Report>, RepoError> {
        for r in &reports {
            parse_id(&r.assessment_id)?;
        }
        let mut data = self.data.write();
        Ok(reports
            .into_iter()
            .map(|new| {
                let (id, report, content) = build_report(new);
                data.reports.insert(id, (report.clone(), content));
                report
            })
            .collect())
    }

    async fn get_report(&self, id: &str) -> Result<Option<Report>, RepoError> {
        let id = parse_id(id)?;
        Ok(self.data.read().reports.get(&id).map(|(r, _)| r.clone()))
    }

    async fn report_document(&self, id: &str) -> Result<Option<(Report, Vec<u8>)>, RepoError> {
        let id = parse_id(id)?;
        Ok(self.data.read().reports.get(&id).cloned())
    }

    async fn reports_by_assessments(
        &self,
        assessment_ids: &[String],
    ) -> Result<Vec<Report>, RepoError> {
        parse_ids(assessment_ids)?;
        let wanted: HashSet<&str> = assessment_ids.iter().map(String::as_str).collect();
        let mut found: Vec<Report> = self
            .data
            .read()
            .reports
            .values()
            .filter(|(r, _)| wanted.contains(r.assessment_id.as_str()))
            .map(|(r, _)| r.clone())
            .collect();
        newest_first(&mut found, |r| (r.created_at, &r.id));
        Ok(found)
    }

    async fn with_relations(
        &self,
        assessments: Vec<Assessment>,
        include: Include,
    ) -> Result<Vec<Related>, RepoError> {
        let data = self.data.read();
        let mut related = Vec::with_capacity(assessments.len());
        for assessment in assessments {
            let user = parse_id(&assessment.user_id)
                .ok()
                .filter(|_| include.user)
                .and_then(|id| data.users.get(&id))
                .map(|(u, _)| u.clone());
            let mut recommendations: Vec<Recommendation> = data
                .recommendations
                .values()
                .filter(|r| include.recommendations && r.assessment_id == assessment.id)
                .cloned()
                .collect();
            newest_first(&mut recommendations, |r| (r.created_at, &r.id));
            let mut reports: Vec<Report> = data
                .reports
                .values()
                .filter(|(r, _)| include.reports && r.assessment_id == assessment.id)
                .map(|(r, _)| r.clone())
                .collect();
            newest_first(&mut reports, |r| (r.created_at, &r.id));
            related.push(Related {
                assessment,
                user,
                recommendations,
                reports,
            });
        }
        Ok(related)
    }

    async fn active_users(&self, since: Timestamp) -> Result<u64, RepoError> {
        let data = self.data.read();
        let changed = data
            .assessments
            .values()
            .filter(|a| a.updated_at >= since)
            .map(|a| a.user_id.as_str());
        let reported = data
            .reports
            .values()
            .filter(|(r, _)| r.created_at >= since)
            .map(|(r, _)| r.user_id.as_str());
        Ok(changed.chain(reported).collect::<HashSet<_>>().len() as u64)
    }

    async fn counts(&self) -> Result<DashboardCounts, RepoError> {
        let data = self.data.read();
        let mut counts = DashboardCounts {
            users: data.users.len() as u64,
            ..DashboardCounts::default()
        };
        for a in data.assessments.values() {
            *counts
                .assessments_by_status
                .entry(a.status.as_str().to_owned())
                .or_insert(0) += 1;
        }
        for r in data.recommendations.values() {
            *counts
                .recommendations_by_priority
                .entry(r.priority.as_str().to_owned())
                .or_insert(0) += 1;
        }
        for (r, _) in data.reports.values() {
            *counts
                .reports_by_format
                .entry(r.format.as_str().to_owned())
                .or_insert(0) += 1;
        }
        drop(data);
        complete_counts(&mut counts);
        Ok(counts)
    }

    async fn reset(&self) -> Result<(), RepoError> {
        *self.data.write() = Collections::default();
        Ok(())
    }
}
