//! The MongoDB backend, on the official driver. Ids are ObjectIds (hex on the API), timestamps
//! BSON dates; indexes are created at start-up.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use inframind_loader::{Many, MongoSource, One, PreloadError, preload_relations};
use mongodb::action::Find;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::de::DeserializeOwned;

mod documents;

use self::documents::{
    AssessmentDoc, RecommendationDoc, ReportDoc, UserDoc, assessment_doc, date, report_doc,
    user_doc,
};
use super::{RepoError, Repository, complete_counts, parse_id, parse_ids};
use crate::domain::{
    self, Assessment, AssessmentUpdate, DashboardCounts, Include, NewAssessment, NewRecommendation,
    NewReport, NewUser, Recommendation, Related, Report, Timestamp, User,
};

const BACKEND: &str = "mongodb";
const DUPLICATE_KEY: i32 = 11000;

/// How the server reaches MongoDB.
#[derive(Debug, Clone)]
pub struct MongoSettings {
    /// Connection string.
    pub uri: String,
    /// Database name.
    pub database: String,
    /// How long a call waits for a reachable server before it fails as unavailable.
    pub timeout: Duration,
    /// Where the driver's command and pool events are recorded (the DB families).
    pub metrics: Option<inframind_metrics::Metrics>,
}

/// The MongoDB store.
#[derive(Debug, Clone)]
pub struct MongoRepository {
    db: Database,
    users: Collection<UserDoc>,
    assessments: Collection<AssessmentDoc>,
    recommendations: Collection<RecommendationDoc>,
    reports: Collection<ReportDoc>,
    /// `inframind-loader` sources for `preload_relations` (one `$in` query per relation).
    user_source: MongoSource<UserDoc>,
    recommendation_source: MongoSource<RecommendationDoc>,
    report_source: MongoSource<ReportDoc>,
}

/// Maps the driver's errors: duplicate keys are conflicts, unreachable servers unavailable.
fn map_err(error: mongodb::error::Error) -> RepoError {
    let duplicate = match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().any(|e| e.code == DUPLICATE_KEY)),
        _ => false,
    };
    if duplicate {
        return RepoError::Conflict("a user with this email already exists".to_owned());
    }
    match error.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => RepoError::Unavailable {
            backend: BACKEND,
            message: error.to_string(),
        },
        _ => RepoError::Internal(error.to_string()),
    }
}

/// A preload error, mapped like the driver's own when one is inside.
fn preload_error(error: PreloadError) -> RepoError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(inner) = source {
        if let Some(driver) = inner.downcast_ref::<mongodb::error::Error>() {
            return map_err(driver.clone());
        }
        source = inner.source();
    }
    RepoError::Internal(error.to_string())
}

async fn collect<T, U>(cursor: mongodb::Cursor<T>) -> Result<Vec<U>, RepoError>
where
    T: DeserializeOwned + Send + Sync + Unpin,
    U: From<T>,
{
    let docs: Vec<T> = cursor.try_collect().await.map_err(map_err)?;
    Ok(docs.into_iter().map(U::from).collect())
}

fn newest_first() -> Document {
    doc! { "created_at": -1, "_id": -1 }
}

/// Runs `find` newest first, up to `limit` documents, and converts them.
async fn newest<T, U>(find: Find<'_, T>, limit: Option<u64>) -> Result<Vec<U>, RepoError>
where
    T: DeserializeOwned + Send + Sync + Unpin,
    U: From<T>,
{
    let mut find = find.sort(newest_first());
    if let Some(limit) = limit {
        find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    collect(find.await.map_err(map_err)?).await
}

/// `{ field: { $in: ids } }`, or `None` when `ids` is empty (no query to send). Every id is
/// checked first: a bad one is [`RepoError::InvalidId`].
fn any_of(field: &str, ids: &[String]) -> Result<Option<Document>, RepoError> {
    let ids = parse_ids(ids)?;
    if ids.is_empty() {
        return Ok(None);
    }
    let ids = Bson::Array(ids.into_iter().map(Bson::ObjectId).collect());
    Ok(Some(doc! { field: { "$in": ids } }))
}

/// Report metadata only: the document's bytes stay on the server.
fn without_content() -> Document {
    doc! { "content": 0 }
}

/// The document with `_id` `id` (checked first), converted.
async fn by_id<T, U>(collection: &Collection<T>, id: &str) -> Result<Option<U>, RepoError>
where
    T: DeserializeOwned + Send + Sync + Unpin,
    U: From<T>,
{
    let id = parse_id(id)?;
    let found = collection
        .find_one(doc! { "_id": id })
        .await
        .map_err(map_err)?;
    Ok(found.map(U::from))
}

impl MongoRepository {
    /// Connects (lazily: the driver dials on first use) and creates the indexes.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the server cannot be reached within the timeout, or
    /// [`RepoError::Internal`] for a bad connection string.
    pub async fn connect(settings: &MongoSettings) -> Result<Self, RepoError> {
        let mut options = ClientOptions::parse(&settings.uri).await.map_err(map_err)?;
        options.app_name = Some("infra-mind".to_owned());
        options.server_selection_timeout = Some(settings.timeout);
        options.connect_timeout = Some(settings.timeout);
        if let Some(metrics) = &settings.metrics {
            inframind_metrics::mongodb::DbEventHandler::new(metrics).install(&mut options);
        }
        let client = Client::with_options(options).map_err(map_err)?;
        let repo = Self::from_database(client.database(&settings.database));
        repo.ensure_indexes().await?;
        Ok(repo)
    }

    fn from_database(db: Database) -> Self {
        let users: Collection<UserDoc> = db.collection("users");
        let recommendations: Collection<RecommendationDoc> = db.collection("recommendations");
        let reports: Collection<ReportDoc> = db.collection("reports");
        Self {
            user_source: MongoSource::new(users),
            recommendation_source: MongoSource::new(recommendations).sort(newest_first()),
            report_source: MongoSource::new(reports)
                .projection(without_content())
                .sort(newest_first()),
            users: db.collection("users"),
            assessments: db.collection("assessments"),
            recommendations: db.collection("recommendations"),
            reports: db.collection("reports"),
            db,
        }
    }

    /// Creates the indexes the queries use: unique email, token hash, owners, created_at.
    ///
    /// # Errors
    /// The driver's error, mapped.
    pub async fn ensure_indexes(&self) -> Result<(), RepoError> {
        let index = |keys: Document| IndexModel::builder().keys(keys).build();
        let unique = IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(IndexOptions::builder().unique(true).build())
            .build();
        self.users
            .create_indexes([
                unique,
                index(doc! { "token_hash": 1 }),
                index(doc! { "created_at": -1 }),
            ])
            .await
            .map_err(map_err)?;
        // Each child collection: its owner key, and the newest-first sort.
        for (collection, owner) in [
            ("assessments", "user_id"),
            ("recommendations", "assessment_id"),
            ("reports", "assessment_id"),
        ] {
            self.db
                .collection::<Document>(collection)
                .create_indexes([index(doc! { owner: 1 }), index(doc! { "created_at": -1 })])
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn group_count(
        &self,
        collection: &str,
        field: &str,
    ) -> Result<Vec<(String, u64)>, RepoError> {
        let pipeline = [doc! { "$group": { "_id": format!("${field}"), "n": { "$sum": 1 } } }];
        let docs: Vec<Document> = self
            .db
            .collection::<Document>(collection)
            .aggregate(pipeline)
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs
            .into_iter()
            .filter_map(|d| {
                let key = d.get_str("_id").ok()?.to_owned();
                Some((key, count_of(d.get("n"))))
            })
            .collect())
    }
}

fn count_of(value: Option<&Bson>) -> u64 {
    match value {
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Double(n)) if *n >= 0.0 => *n as u64,
        _ => 0,
    }
}

#[async_trait]
impl Repository for MongoRepository {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_user(&self, user: NewUser) -> Result<User, RepoError> {
        let doc = user_doc(user);
        self.users.insert_one(&doc).await.map_err(map_err)?;
        Ok(doc.into())
    }

    async fn create_users(&self, users: Vec<NewUser>) -> Result<Vec<User>, RepoError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<UserDoc> = users.into_iter().map(user_doc).collect();
        self.users.insert_many(&docs).await.map_err(map_err)?;
        Ok(docs.into_iter().map(User::from).collect())
    }

    async fn list_users(&self) -> Result<Vec<User>, RepoError> {
        newest(self.users.find(doc! {}), None).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, RepoError> {
        by_id(&self.users, id).await
    }

    async fn users_by_ids(&self, ids: &[String]) -> Result<Vec<User>, RepoError> {
        match any_of("_id", ids)? {
            Some(filter) => collect(self.users.find(filter).await.map_err(map_err)?).await,
            None => Ok(Vec::new()),
        }
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, RepoError> {
        let found = self
            .users
            .find_one(doc! { "token_hash": token_hash })
            .await
            .map_err(map_err)?;
        Ok(found.map(User::from))
    }

    async fn create_assessment(
        &self,
        user_id: &str,
        assessment: NewAssessment,
    ) -> Result<Assessment, RepoError> {
        let doc = assessment_doc(parse_id(user_id)?, assessment);
        self.assessments.insert_one(&doc).await.map_err(map_err)?;
        Ok(doc.into())
    }

    async fn create_assessments(
        &self,
        assessments: Vec<(String, NewAssessment)>,
    ) -> Result<Vec<Assessment>, RepoError> {
        if assessments.is_empty() {
            return Ok(Vec::new());
        }
        let docs = assessments
            .into_iter()
            .map(|(user_id, new)| Ok(assessment_doc(parse_id(&user_id)?, new)))
            .collect::<Result<Vec<_>, RepoError>>()?;
        self.assessments.insert_many(&docs).await.map_err(map_err)?;
        Ok(docs.into_iter().map(Assessment::from).collect())
    }

    async fn list_assessments(&self, limit: Option<u64>) -> Result<Vec<Assessment>, RepoError> {
        newest(self.assessments.find(doc! {}), limit).await
    }

    async fn get_assessment(&self, id: &str) -> Result<Option<Assessment>, RepoError> {
        by_id(&self.assessments, id).await
    }

    async fn assessments_by_ids(&self, ids: &[String]) -> Result<Vec<Assessment>, RepoError> {
        match any_of("_id", ids)? {
            Some(filter) => newest(self.assessments.find(filter), None).await,
            None => Ok(Vec::new()),
        }
    }

    async fn assessments_by_user(
        &self,
        user_id: &str,
        limit: Option<u64>,
    ) -> Result<Vec<Assessment>, RepoError> {
        let user_id = parse_id(user_id)?;
        newest(self.assessments.find(doc! { "user_id": user_id }), limit).await
    }

    async fn update_assessment(
        &self,
        id: &str,
        update: AssessmentUpdate,
    ) -> Result<Option<Assessment>, RepoError> {
        let id = parse_id(id)?;
        let mut set = doc! { "updated_at": date(domain::now()) };
        if let Some(title) = update.title {
            set.insert("title", title);
        }
        if let Some(description) = update.description {
            set.insert("description", description);
        }
        if let Some(cloud) = update.cloud_provider {
            set.insert("cloud_provider", cloud);
        }
        if let Some(status) = update.status {
            set.insert("status", status.as_str());
        }
        let updated = self
            .assessments
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(map_err)?;
        Ok(updated.map(Assessment::from))
    }

    async fn delete_assessment(&self, id: &str) -> Result<bool, RepoError> {
        let id = parse_id(id)?;
        let deleted = self
            .assessments
            .delete_one(doc! { "_id": id })
            .await
            .map_err(map_err)?;
        if deleted.deleted_count == 0 {
            return Ok(false);
        }
        self.recommendations
            .delete_many(doc! { "assessment_id": id })
            .await
            .map_err(map_err)?;
        self.reports
            .delete_many(doc! { "assessment_id": id })
            .await
            .map_err(map_err)?;
        Ok(true)
    }

    async fn create_recommendations(
        &self,
        recommendations: Vec<NewRecommendation>,
    ) -> Result<Vec<Recommendation>, RepoError> {
        if recommendations.is_empty() {
            return Ok(Vec::new());
        }
        let docs = recommendations
            .into_iter()
            .map(|new| {
                Ok(RecommendationDoc {
                    id: ObjectId::new(),
                    assessment_id: parse_id(&new.assessment_id)?,
                    title: new.title,
                    category: new.category,
                    priority: new.priority,
                    description: new.description,
                    confidence: new.confidence,
                    source: new.source,
                    created_at: date(domain::now()),
                })
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        self.recommendations
            .insert_many(&docs)
            .await
            .map_err(map_err)?;
        Ok(docs.into_iter().map(Recommendation::from).collect())
    }

    async fn list_recommendations(
        &self,
        limit: Option<u64>,
    ) -> Result<Vec<Recommendation>, RepoError> {
        newest(self.recommendations.find(doc! {}), limit).await
    }

    async fn recommendations_by_assessments(
        &self,
        assessment_ids: &[String],
    ) -> Result<Vec<Recommendation>, RepoError> {
        match any_of("assessment_id", assessment_ids)? {
            Some(filter) => newest(self.recommendations.find(filter), None).await,
            None => Ok(Vec::new()),
        }
    }

    async fn recommendation_counts(
        &self,
        assessment_ids: &[String],
    ) -> Result<HashMap<String, u64>, RepoError> {
        let Some(filter) = any_of("assessment_id", assessment_ids)? else {
            return Ok(HashMap::new());
        };
        let pipeline = [
            doc! { "$match": filter },
            doc! { "$group": { "_id": "$assessment_id", "n": { "$sum": 1 } } },
        ];
        let docs: Vec<Document> = self
            .recommendations
            .clone_with_type::<Document>()
            .aggregate(pipeline)
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        Ok(docs
            .into_iter()
            .filter_map(|d| Some((d.get_object_id("_id").ok()?.to_hex(), count_of(d.get("n")))))
            .collect())
    }

    async fn create_report(&self, report: NewReport) -> Result<Report, RepoError> {
        let doc = report_doc(report)?;
        self.reports.insert_one(&doc).await.map_err(map_err)?;
        Ok(doc.split().0)
    }

    async fn create_reports(&self, reports: Vec<NewReport>) -> Result<Vec<Report>, RepoError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let docs = reports
            .into_iter()
            .map(report_doc)
            .collect::<Result<Vec<_>, _>>()?;
        self.reports.insert_many(&docs).await.map_err(map_err)?;
        Ok(docs.into_iter().map(|d| d.split().0).collect())
    }

    async fn get_report(&self, id: &str) -> Result<Option<Report>, RepoError> {
        let id = parse_id(id)?;
        let found = self
            .reports
            .find_one(doc! { "_id": id })
            .projection(without_content())
            .await
            .map_err(map_err)?;
        Ok(found.map(|d| d.split().0))
    }

    async fn report_document(&self, id: &str) -> Result<Option<(Report, Vec<u8>)>, RepoError> {
        let found: Option<ReportDoc> = by_id(&self.reports, id).await?;
        Ok(found.map(ReportDoc::split))
    }

    async fn reports_by_assessments(
        &self,
        assessment_ids: &[String],
    ) -> Result<Vec<Report>, RepoError> {
        let Some(filter) = any_of("assessment_id", assessment_ids)? else {
            return Ok(Vec::new());
        };
        let find = self.reports.find(filter).projection(without_content());
        let docs: Vec<ReportDoc> = newest(find, None).await?;
        Ok(docs.into_iter().map(|d| d.split().0).collect())
    }

    async fn with_relations(
        &self,
        assessments: Vec<Assessment>,
        include: Include,
    ) -> Result<Vec<Related>, RepoError> {
        if assessments.is_empty() {
            return Ok(Vec::new());
        }
        // Ids come from this store, so they parse; a nil id would match nothing.
        let oid =
            |id: &str| ObjectId::parse_str(id).unwrap_or_else(|_| ObjectId::from_bytes([0; 12]));
        let rows = preload_relations(
            assessments,
            (
                include
                    .user
                    .then(|| One::new(&self.user_source, "_id", |a: &Assessment| oid(&a.user_id))),
                include.recommendations.then(|| {
                    Many::new(
                        &self.recommendation_source,
                        "assessment_id",
                        |a: &Assessment| oid(&a.id),
                    )
                }),
                include.reports.then(|| {
                    Many::new(&self.report_source, "assessment_id", |a: &Assessment| {
                        oid(&a.id)
                    })
                }),
            ),
        )
        .await
        .map_err(preload_error)?;
        Ok(rows
            .into_iter()
            .map(|(assessment, (user, recommendations, reports))| Related {
                assessment,
                user: user.map(User::from),
                recommendations: recommendations
                    .into_iter()
                    .map(Recommendation::from)
                    .collect(),
                reports: reports.into_iter().map(|d| d.split().0).collect(),
            })
            .collect())
    }

    async fn active_users(&self, since: Timestamp) -> Result<u64, RepoError> {
        let since = date(since);
        let (changed, reported) = tokio::try_join!(
            self.assessments
                .distinct("user_id", doc! { "updated_at": { "$gte": since } }),
            self.reports
                .distinct("user_id", doc! { "created_at": { "$gte": since } }),
        )
        .map_err(map_err)?;
        let users: std::collections::HashSet<ObjectId> = changed
            .into_iter()
            .chain(reported)
            .filter_map(|id| id.as_object_id())
            .collect();
        Ok(users.len() as u64)
    }

    async fn counts(&self) -> Result<DashboardCounts, RepoError> {
        let users = self.users.count_documents(doc! {}).await.map_err(map_err)?;
        let mut counts = DashboardCounts {
            users,
            assessments_by_status: self
                .group_count("assessments", "status")
                .await?
                .into_iter()
                .collect(),
            recommendations_by_priority: self
                .group_count("recommendations", "priority")
                .await?
                .into_iter()
                .collect(),
            reports_by_format: self
                .group_count("reports", "format")
                .await?
                .into_iter()
                .collect(),
        };
        complete_counts(&mut counts);
        Ok(counts)
    }

    async fn reset(&self) -> Result<(), RepoError> {
        for collection in ["users", "assessments", "recommendations", "reports"] {
            self.db
                .collection::<Document>(collection)
                .delete_many(doc! {})
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }
}
