//! The embedded store against MongoDB, as a reference model: random sequences of operations
//! give the same observable results on both (ids compared by creation order, timestamps by
//! their order), so the embedded mode cannot drift from the real backend.

use std::collections::HashMap;
use std::sync::Arc;

use infra_mind::config::{Config, RelationLoading};
use infra_mind::domain::{
    AssessmentStatus, AssessmentUpdate, Include, NewAssessment, NewRecommendation, NewUser,
    Priority,
};
use infra_mind::repo::memory::MemoryRepository;
use infra_mind::repo::{Repository, relations};
use proptest::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone)]
enum Op {
    CreateUser(u8),
    CreateAssessment {
        user: u8,
        status: u8,
    },
    Update {
        assessment: u8,
        title: Option<u8>,
        status: Option<u8>,
    },
    Delete(u8),
    Recommend {
        assessment: u8,
        priority: u8,
    },
    ListAssessments(u8),
    ListRecommendations,
    ListUsers,
    Counts,
    ActiveUsers,
    Full(u8),
    /// A page with the relations picked by the three low bits (user, recommendations, reports).
    ListWithRelations {
        limit: u8,
        include: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8).prop_map(Op::CreateUser),
        (0..4u8, 0..3u8).prop_map(|(user, status)| Op::CreateAssessment { user, status }),
        (
            0..6u8,
            proptest::option::of(0..3u8),
            proptest::option::of(0..3u8)
        )
            .prop_map(|(assessment, title, status)| Op::Update {
                assessment,
                title,
                status
            }),
        (0..6u8).prop_map(Op::Delete),
        (0..6u8, 0..4u8).prop_map(|(assessment, priority)| Op::Recommend {
            assessment,
            priority
        }),
        (1..5u8).prop_map(Op::ListAssessments),
        Just(Op::ListRecommendations),
        Just(Op::ListUsers),
        Just(Op::Counts),
        Just(Op::ActiveUsers),
        (0..6u8).prop_map(Op::Full),
        (1..5u8, 0..8u8).prop_map(|(limit, include)| Op::ListWithRelations { limit, include }),
    ]
}

/// One store under test, with the ids it handed out in creation order.
struct Run {
    repo: Arc<dyn Repository>,
    users: Vec<String>,
    assessments: Vec<String>,
}

impl Run {
    fn id(list: &[String], index: u8) -> Option<String> {
        if list.is_empty() {
            None
        } else {
            Some(list[usize::from(index) % list.len()].clone())
        }
    }

    /// The result of `op`, as JSON with every id replaced by its creation index and every
    /// timestamp dropped (they are compared through the order of the lists).
    async fn apply(&mut self, op: &Op, names: &mut HashMap<String, String>) -> Value {
        let result: Result<Value, String> = match op {
            Op::CreateUser(n) => self
                .repo
                .create_user(NewUser {
                    email: format!("user{n}@example.com"),
                    full_name: format!("User {n}"),
                    token_hash: format!("hash{n}"),
                })
                .await
                .map(|u| {
                    self.users.push(u.id.clone());
                    serde_json::to_value(u).unwrap()
                })
                .map_err(|e| format!("{e:?}").split('(').next().unwrap().to_owned()),
            Op::CreateAssessment { user, status } => match Self::id(&self.users, *user) {
                None => Ok(Value::Null),
                Some(user_id) => {
                    let new = NewAssessment {
                        title: format!("a{}", self.assessments.len()),
                        description: None,
                        cloud_provider: None,
                        status: Some(AssessmentStatus::ALL[usize::from(*status)]),
                    };
                    let created = self.repo.create_assessment(&user_id, new).await.unwrap();
                    self.assessments.push(created.id.clone());
                    Ok(serde_json::to_value(created).unwrap())
                }
            },
            Op::Update {
                assessment,
                title,
                status,
            } => match Self::id(&self.assessments, *assessment) {
                None => Ok(Value::Null),
                Some(id) => {
                    let update = AssessmentUpdate {
                        title: title.map(|t| format!("t{t}")),
                        status: status.map(|s| AssessmentStatus::ALL[usize::from(s)]),
                        ..AssessmentUpdate::default()
                    };
                    Ok(serde_json::to_value(
                        self.repo.update_assessment(&id, update).await.unwrap(),
                    )
                    .unwrap())
                }
            },
            Op::Delete(assessment) => match Self::id(&self.assessments, *assessment) {
                None => Ok(Value::Null),
                Some(id) => Ok(Value::Bool(self.repo.delete_assessment(&id).await.unwrap())),
            },
            Op::Recommend {
                assessment,
                priority,
            } => match Self::id(&self.assessments, *assessment) {
                None => Ok(Value::Null),
                Some(id) => {
                    let new = NewRecommendation {
                        assessment_id: id,
                        title: "r".to_owned(),
                        category: "cost".to_owned(),
                        priority: Priority::ALL[usize::from(*priority)],
                        description: None,
                        confidence: Some(0.5),
                        source: "test".to_owned(),
                    };
                    Ok(serde_json::to_value(
                        self.repo.create_recommendations(vec![new]).await.unwrap(),
                    )
                    .unwrap())
                }
            },
            Op::ListAssessments(limit) => Ok(serde_json::to_value(
                self.repo
                    .list_assessments(Some(u64::from(*limit)))
                    .await
                    .unwrap(),
            )
            .unwrap()),
            Op::ListRecommendations => Ok(serde_json::to_value(
                self.repo.list_recommendations(None).await.unwrap(),
            )
            .unwrap()),
            Op::ListUsers => {
                Ok(serde_json::to_value(self.repo.list_users().await.unwrap()).unwrap())
            }
            Op::Counts => Ok(serde_json::to_value(self.repo.counts().await.unwrap()).unwrap()),
            Op::ActiveUsers => {
                let hour_ago = infra_mind::domain::now() - time::Duration::hours(1);
                Ok(Value::from(self.repo.active_users(hour_ago).await.unwrap()))
            }
            Op::Full(assessment) => match Self::id(&self.assessments, *assessment) {
                None => Ok(Value::Null),
                Some(id) => match self.repo.get_assessment(&id).await.unwrap() {
                    None => Ok(Value::Null),
                    Some(a) => Ok(serde_json::to_value(
                        self.repo
                            .with_relations(vec![a], Include::ALL)
                            .await
                            .unwrap(),
                    )
                    .unwrap()),
                },
            },
            Op::ListWithRelations { limit, include } => {
                let include = Include {
                    user: include & 1 != 0,
                    recommendations: include & 2 != 0,
                    reports: include & 4 != 0,
                };
                let page = self
                    .repo
                    .list_assessments(Some(u64::from(*limit)))
                    .await
                    .unwrap();
                let mut answers = Vec::new();
                for mode in [RelationLoading::Batched, RelationLoading::NPlusOne] {
                    let related = relations::load(self.repo.as_ref(), mode, page.clone(), include)
                        .await
                        .unwrap();
                    answers.push(serde_json::to_value(related).unwrap());
                }
                // One query per row gives exactly what one query per relation gives.
                assert_eq!(answers[0], answers[1], "n-plus-one differs from batched");
                Ok(answers.swap_remove(0))
            }
        };
        let mut value = match result {
            Ok(v) => v,
            Err(kind) => Value::String(kind),
        };
        normalise(&mut value, names);
        value
    }
}

/// Ids become `#n` by first appearance; timestamps are dropped.
fn normalise(value: &mut Value, names: &mut HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            map.remove("created_at");
            map.remove("updated_at");
            for v in map.values_mut() {
                normalise(v, names);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalise(v, names)),
        Value::String(s) if s.len() == 24 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
            let next = format!("#{}", names.len());
            *s = names.entry(s.clone()).or_insert(next).clone();
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_embedded_store_behaves_like_mongodb(ops in proptest::collection::vec(op(), 1..24)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let mongo = inframind_test_support::mongodb();
            let mut config = Config::embedded();
            config.mongodb_uri = Some(mongo.uri().to_owned());
            config.mongodb_db = mongo.database().to_owned();
            let mongo_repo = infra_mind::startup::open_store(&config, &inframind_metrics::Metrics::new()).await.unwrap();
            mongo_repo.reset().await.unwrap();
            let mut real = Run { repo: mongo_repo, users: Vec::new(), assessments: Vec::new() };
            let mut model = Run { repo: Arc::new(MemoryRepository::new()), users: Vec::new(), assessments: Vec::new() };
            let (mut real_names, mut model_names) = (HashMap::new(), HashMap::new());
            for op in &ops {
                let expected = model.apply(op, &mut model_names).await;
                let actual = real.apply(op, &mut real_names).await;
                prop_assert_eq!(&actual, &expected, "after {:?}", op);
            }
            Ok(())
        })?;
    }
}
