//! The API's data: serde types only, no I/O and nothing from the rest of the crate.

mod assessment;
mod dashboard;
mod recommendation;
mod report;
mod user;

pub use assessment::{Assessment, AssessmentStatus, AssessmentUpdate, NewAssessment};
pub use dashboard::{DashboardCounts, Include, RecentAssessment, Related};
pub use recommendation::{NewRecommendation, Priority, Recommendation};
pub use report::{NewReport, Report, ReportFormat, ReportType};
pub use user::{NewUser, User};

/// A point in time, serialised as RFC 3339 and kept to millisecond precision (what MongoDB's
/// `Date` holds), so both stores hand back the same value they were given.
pub type Timestamp = time::OffsetDateTime;

/// The current time truncated to whole milliseconds.
pub fn now() -> Timestamp {
    let now = time::OffsetDateTime::now_utc();
    let millis = now.nanosecond() / 1_000_000;
    now.replace_nanosecond(millis * 1_000_000).unwrap_or(now)
}

/// A timestamp from milliseconds since the Unix epoch (MongoDB's representation).
pub fn from_millis(millis: i64) -> Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Milliseconds since the Unix epoch.
pub fn to_millis(at: Timestamp) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
