//! `infra-mind seed`: fills MongoDB with demo data through bulk inserts, with a progress bar.

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::repo::{RepoError, demo};

/// Flags of the `seed` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Users to create.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Assessments to create, spread over the users.
    #[arg(long, default_value_t = 1000)]
    pub assessments: usize,
    /// Recommendations per assessment.
    #[arg(long, default_value_t = 3)]
    pub recommendations: usize,
    /// Reports per assessment.
    #[arg(long, default_value_t = 1)]
    pub reports: usize,
    /// Documents per bulk insert.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Delete existing data first, so running twice gives the same counts.
    #[arg(long)]
    pub reset: bool,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// There is nothing to seed without MongoDB.
    #[error("seed writes to MongoDB: set MONGODB_URI (or --mongodb-uri)")]
    NoMongo,
    /// `--users 0` with assessments to own.
    #[error("--assessments needs at least one user (--users)")]
    NoUsers,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}

/// Runs the subcommand.
///
/// # Errors
/// [`SeedError`].
pub async fn run(config: &Config, args: &SeedArgs) -> Result<(), SeedError> {
    if config.mongodb_uri.is_none() {
        return Err(SeedError::NoMongo);
    }
    if args.users == 0 && args.assessments > 0 {
        return Err(SeedError::NoUsers);
    }
    let repo = crate::startup::open_store(config, &inframind_metrics::Metrics::new()).await?;
    if args.reset {
        repo.reset().await?;
    }
    let batch = args.batch_size.max(1);
    let total = args.users + args.assessments * (1 + args.recommendations + args.reports);
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:14} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("users");
    let mut user_ids = Vec::with_capacity(args.users);
    for start in (0..args.users).step_by(batch) {
        let end = (start + batch).min(args.users);
        let users = repo
            .create_users((start..end).map(demo::user).collect())
            .await?;
        user_ids.extend(users.into_iter().map(|u| u.id));
        bar.inc((end - start) as u64);
    }
    bar.set_message("assessments");
    for start in (0..args.assessments).step_by(batch) {
        let end = (start + batch).min(args.assessments);
        let assessments = repo
            .create_assessments(
                (start..end)
                    .map(|i| (user_ids[i % user_ids.len()].clone(), demo::assessment(i)))
                    .collect(),
            )
            .await?;
        bar.inc((end - start) as u64);
        let recommendations = assessments
            .iter()
            .flat_map(|a| (0..args.recommendations).map(|i| demo::recommendation(&a.id, i)))
            .collect::<Vec<_>>();
        let count = recommendations.len();
        repo.create_recommendations(recommendations).await?;
        bar.inc(count as u64);
        let reports = assessments
            .iter()
            .flat_map(|a| (0..args.reports).map(|_| demo::report(&a.id, &a.user_id)))
            .collect::<Vec<_>>();
        let count = reports.len();
        repo.create_reports(reports).await?;
        bar.inc(count as u64);
    }
    bar.finish_with_message("done");
    let counts = repo.counts().await?;
    tracing::info!(
        users = counts.users,
        assessments = counts.assessments_by_status.values().sum::<u64>(),
        recommendations = counts.recommendations_by_priority.values().sum::<u64>(),
        reports = counts.reports_by_format.values().sum::<u64>(),
        "seeded"
    );
    Ok(())
}
