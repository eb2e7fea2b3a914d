//! `preload_relations` over the in-memory source: typed outputs, order, optional keys, nesting,
//! query counts, priming, and errors.

use inframind_loader::preload::PreloadError;
use inframind_loader::preload::preload_into;
use inframind_loader::{Loader, Many, MemoryError, MemorySource, One, preload_relations};

#[derive(Clone, Debug, PartialEq)]
struct User {
    id: u32,
    name: String,
}

#[derive(Clone, Debug, PartialEq)]
struct Assessment {
    id: u32,
    user_id: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
struct Recommendation {
    id: u32,
    assessment_id: u32,
    author_id: u32,
}

fn users() -> MemorySource<User> {
    let users = MemorySource::new("users").field("_id", |u: &User| u.id);
    users.extend((1..=5).map(|id| User {
        id,
        name: format!("user {id}"),
    }));
    users
}

fn recommendations() -> MemorySource<Recommendation> {
    let recs = MemorySource::new("recommendations")
        .field("assessment_id", |r: &Recommendation| r.assessment_id)
        .field("_id", |r: &Recommendation| r.id);
    // Inserted out of id order: insertion order is the documented order.
    recs.extend(
        [(30, 1, 2), (10, 1, 3), (20, 2, 4), (40, 1, 9), (50, 3, 1)].map(
            |(id, assessment_id, author_id)| Recommendation {
                id,
                assessment_id,
                author_id,
            },
        ),
    );
    recs
}

#[tokio::test]
async fn outputs_are_typed_ordered_and_one_query_per_relation() {
    let users = users();
    let recs = recommendations();
    let parents = vec![
        Assessment {
            id: 1,
            user_id: Some(2),
        },
        Assessment {
            id: 2,
            user_id: Some(2),
        },
        Assessment {
            id: 3,
            user_id: None,
        },
        Assessment {
            id: 4,
            user_id: Some(77),
        },
    ];
    let rows = preload_relations(
        parents.clone(),
        (
            One::optional(&users, "_id", |a: &Assessment| a.user_id),
            Many::new(&recs, "assessment_id", |a: &Assessment| a.id),
        ),
    )
    .await
    .unwrap();

    assert_eq!(users.queries(), 1);
    assert_eq!(recs.queries(), 1);
    let parents_back: Vec<Assessment> = rows.iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(parents_back, parents, "parents keep their order");

    let (_, (user, recs_of_1)) = &rows[0];
    assert_eq!(user.as_ref().map(|u| u.id), Some(2));
    assert_eq!(
        recs_of_1.iter().map(|r| r.id).collect::<Vec<_>>(),
        [30, 10, 40],
        "insertion order"
    );
    assert_eq!(
        rows[1].1.0, rows[0].1.0,
        "a shared key gives each parent its copy"
    );
    assert_eq!(rows[2].1.0, None, "no key: None");
    assert_eq!(rows[3].1.0, None, "no such user: None");
    assert!(rows[3].1.1.is_empty(), "no documents: an empty Vec");
}

#[tokio::test]
async fn nested_relations_cost_one_query_per_level() {
    let users = users();
    let recs = recommendations();
    let parents: Vec<Assessment> = (1..=3)
        .map(|id| Assessment {
            id,
            user_id: Some(id),
        })
        .collect();
    let rows = preload_relations(
        parents,
        (
            Many::new(&recs, "assessment_id", |a: &Assessment| a.id).with((One::new(
                &users,
                "_id",
                |r: &Recommendation| r.author_id,
            ),)),
        ),
    )
    .await
    .unwrap();
    assert_eq!((recs.queries(), users.queries()), (1, 1));
    let (_, (recs_of_1,)) = &rows[0];
    let authors: Vec<Option<u32>> = recs_of_1
        .iter()
        .map(|(_, (author,))| author.as_ref().map(|u| u.id))
        .collect();
    assert_eq!(authors, [Some(2), Some(3), None], "author 9 does not exist");
}

#[tokio::test]
async fn no_parents_or_no_keys_make_no_query() {
    let users = users();
    let rows = preload_relations(
        Vec::<Assessment>::new(),
        (One::optional(&users, "_id", |a: &Assessment| a.user_id),),
    )
    .await
    .unwrap();
    assert!(rows.is_empty());
    let rows = preload_relations(
        vec![Assessment {
            id: 1,
            user_id: None,
        }],
        (One::optional(&users, "_id", |a: &Assessment| a.user_id),),
    )
    .await
    .unwrap();
    assert_eq!(rows[0].1.0, None);
    assert_eq!(users.queries(), 0);
}

#[tokio::test]
async fn preloaded_documents_prime_a_loader() {
    let users = users();
    let loader = Loader::builder(users.by_id()).name("User_id").build();
    let parents: Vec<Assessment> = (1..=3)
        .map(|id| Assessment {
            id,
            user_id: Some(id),
        })
        .collect();
    preload_relations(
        parents,
        (
            One::optional(&users, "_id", |a: &Assessment| a.user_id)
                .prime(&loader, |u: &User| u.id),
        ),
    )
    .await
    .unwrap();
    assert_eq!(users.queries(), 1);
    let loaded = loader.load_many([1, 2, 3]).await;
    assert!(loaded.iter().all(|u| u.as_ref().unwrap().is_some()));
    assert_eq!(users.queries(), 1, "answered from the primed cache");
    assert_eq!(loader.load(4).await.unwrap().unwrap().name, "user 4");
    assert_eq!(users.queries(), 2);
}

#[tokio::test]
async fn a_relation_on_an_unknown_field_is_a_typed_error() {
    let users = users();
    let error: PreloadError = preload_relations(
        vec![Assessment {
            id: 1,
            user_id: Some(1),
        }],
        (One::optional(&users, "email", |a: &Assessment| a.user_id),),
    )
    .await
    .unwrap_err();
    assert_eq!(error.field(), "email");
    assert_eq!(
        error.source_error().downcast_ref::<MemoryError>(),
        Some(&MemoryError::UnknownField {
            collection: "users".into(),
            field: "email".into()
        })
    );
    // A key of the wrong type for the field is an error too, not a panic.
    let wrong = Loader::new(users.by_id());
    assert!(wrong.load("1".to_owned()).await.is_err());
}

#[tokio::test]
async fn a_single_relation_needs_no_tuple() {
    let users = users();
    let parents: Vec<Assessment> = (1..=3)
        .map(|id| Assessment {
            id,
            user_id: Some(id),
        })
        .collect();
    let rows = preload_relations(
        parents,
        One::optional(&users, "_id", |a: &Assessment| a.user_id),
    )
    .await
    .unwrap();
    let user: &Option<User> = &rows[1].1;
    assert_eq!(user.as_ref().unwrap().name, "user 2");
    let recs = recommendations();
    let rows = preload_relations(
        vec![Assessment {
            id: 1,
            user_id: None,
        }],
        Many::new(&recs, "assessment_id", |a: &Assessment| a.id),
    )
    .await
    .unwrap();
    let ids: Vec<u32> = rows[0].1.iter().map(|r| r.id).collect();
    assert_eq!(ids, [30, 10, 40]);
}

/// A parent with fields for its relations, as the spec reads them: `assessment.user.name`.
#[derive(Clone, Debug, Default)]
struct FullAssessment {
    id: u32,
    user_id: u32,
    user: Option<User>,
    recommendations: Vec<Recommendation>,
}

#[tokio::test]
async fn preload_into_writes_relations_into_named_fields() {
    let users = users();
    let recs = recommendations();
    let mut assessments: Vec<FullAssessment> = (1..=3)
        .map(|id| FullAssessment {
            id,
            user_id: id + 1,
            ..FullAssessment::default()
        })
        .collect();
    preload_into(
        &mut assessments,
        (
            One::new(&users, "_id", |a: &FullAssessment| a.user_id).set(|a, user| a.user = user),
            Many::new(&recs, "assessment_id", |a: &FullAssessment| a.id)
                .set(|a, recs| a.recommendations = recs),
        ),
    )
    .await
    .unwrap();
    assert_eq!(assessments[0].user.as_ref().unwrap().name, "user 2");
    assert_eq!(assessments[0].recommendations.len(), 3);
    assert_eq!(assessments[2].recommendations[0].id, 50);
    assert_eq!(users.queries() + recs.queries(), 2);

    // One relation on its own.
    preload_into(
        &mut assessments,
        One::new(&users, "_id", |a: &FullAssessment| a.id).set(|a, user| a.user = user),
    )
    .await
    .unwrap();
    assert_eq!(assessments[2].user.as_ref().unwrap().name, "user 3");
}

#[tokio::test]
async fn priming_by_key_records_ids_with_no_document() {
    let users = users();
    let loader = Loader::builder(users.by_id()).name("User_id").build();
    // Users 1..=5 exist; 8 and 9 do not.
    let parents: Vec<Assessment> = [1, 2, 8, 9, 2]
        .into_iter()
        .map(|id| Assessment {
            id,
            user_id: Some(id),
        })
        .collect();
    let rows = preload_relations(
        parents,
        One::optional(&users, "_id", |a: &Assessment| a.user_id).prime_keys(&loader),
    )
    .await
    .unwrap();
    assert!(rows[2].1.is_none());
    assert_eq!(users.queries(), 1);
    let loaded = loader.load_many([1, 2, 8, 9]).await;
    let names: Vec<Option<String>> = loaded
        .into_iter()
        .map(|u| u.unwrap().map(|u| u.name))
        .collect();
    assert_eq!(
        names,
        [
            Some("user 1".to_owned()),
            Some("user 2".to_owned()),
            None,
            None
        ]
    );
    assert_eq!(
        users.queries(),
        1,
        "found and missing ids answered from the primed cache"
    );
    assert_eq!(loader.stats().cache_hits, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relations_left_out_at_run_time_send_no_query() {
    #[derive(Clone, Debug, Default)]
    struct Row {
        id: u32,
        user_id: Option<u32>,
        user: Option<User>,
        recommendations: Vec<Recommendation>,
    }
    let users = users();
    let recs = recommendations();
    for (with_user, with_recs) in [(true, false), (false, true), (false, false), (true, true)] {
        let (users_before, recs_before) = (users.queries(), recs.queries());
        let mut rows: Vec<Row> = (1..=3)
            .map(|id| Row {
                id,
                user_id: Some(id),
                ..Row::default()
            })
            .collect();
        preload_into(
            &mut rows,
            (
                with_user.then(|| {
                    One::optional(&users, "_id", |r: &Row| r.user_id).set(|r, u| r.user = u)
                }),
                with_recs.then(|| {
                    Many::new(&recs, "assessment_id", |r: &Row| r.id)
                        .set(|r, recs| r.recommendations = recs)
                }),
            ),
        )
        .await
        .unwrap();
        assert_eq!(users.queries() - users_before, u64::from(with_user));
        assert_eq!(recs.queries() - recs_before, u64::from(with_recs));
        assert_eq!(rows[1].user.is_some(), with_user);
        assert_eq!(rows[0].recommendations.len(), if with_recs { 3 } else { 0 });
    }
}
