//! The loader and `preload_relations` against a real MongoDB wire server (SecantusDB from the
//! test harness). Queries are counted by the server (`serverStatus.opcounters.query` on a
//! private server, so parallel tests do not add to it) and checked against the driver's command
//! monitoring and the loader's own statistics.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::TryStreamExt;
use futures_util::future::join_all;
use inframind_loader::{
    LoadError, Loader, Many, MongoError, MongoSource, One, StatsRegistry, preload_relations,
};
use inframind_test_support::MongoServer;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    full_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Assessment {
    #[serde(rename = "_id")]
    id: ObjectId,
    title: String,
    user_id: ObjectId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Recommendation {
    #[serde(rename = "_id")]
    id: ObjectId,
    assessment_id: ObjectId,
    author_id: ObjectId,
    title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    #[serde(rename = "_id")]
    id: ObjectId,
    assessment_id: ObjectId,
    format: String,
}

/// A private server (so its counters are this test's alone), a client whose `find` commands
/// are recorded, and a seeded database.
struct Fixture {
    _server: MongoServer,
    client: Client,
    db: Database,
    finds: Arc<Mutex<Vec<Document>>>,
    users: Vec<User>,
    assessments: Vec<Assessment>,
}

impl Fixture {
    async fn start() -> Self {
        let server = MongoServer::start().expect("a MongoDB wire server for this test");
        let finds = Arc::new(Mutex::new(Vec::new()));
        let mut options = ClientOptions::parse(server.uri()).await.unwrap();
        let recorded = Arc::clone(&finds);
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                if started.command_name == "find" {
                    recorded.lock().push(started.command);
                }
            }
        }));
        let client = Client::with_options(options).unwrap();
        let db = client.database("loader_test");

        // 100 users; 100 assessments owned by 40 of them (shared owners), plus one whose owner
        // does not exist; 0..=3 recommendations and 0..=2 reports per assessment.
        let users: Vec<User> = (0..100)
            .map(|i| User {
                id: ObjectId::new(),
                email: format!("user{i}@example.com"),
                full_name: format!("User {i}"),
            })
            .collect();
        let mut assessments: Vec<Assessment> = (0..100)
            .map(|i| Assessment {
                id: ObjectId::new(),
                title: format!("Assessment {i}"),
                user_id: users[i % 40].id,
            })
            .collect();
        assessments[99].user_id = ObjectId::new();
        let mut recommendations = Vec::new();
        let mut reports = Vec::new();
        for (i, a) in assessments.iter().enumerate() {
            for r in 0..(i % 4) {
                recommendations.push(Recommendation {
                    id: ObjectId::new(),
                    assessment_id: a.id,
                    author_id: users[(i + r) % 100].id,
                    title: format!("Recommendation {i}.{r}"),
                });
            }
            for r in 0..(i % 3) {
                reports.push(Report {
                    id: ObjectId::new(),
                    assessment_id: a.id,
                    format: ["pdf", "html"][r].to_owned(),
                });
            }
        }
        // Interleave the writes so natural order is not `_id` order for recommendations.
        recommendations.reverse();
        db.collection::<User>("users")
            .insert_many(&users)
            .await
            .unwrap();
        db.collection::<Assessment>("assessments")
            .insert_many(&assessments)
            .await
            .unwrap();
        db.collection::<Recommendation>("recommendations")
            .insert_many(&recommendations)
            .await
            .unwrap();
        db.collection::<Report>("reports")
            .insert_many(&reports)
            .await
            .unwrap();
        finds.lock().clear();
        Self {
            _server: server,
            client,
            db,
            finds,
            users,
            assessments,
        }
    }

    /// The server's count of `find` operations so far.
    async fn queries(&self) -> i64 {
        let status = self
            .client
            .database("admin")
            .run_command(doc! { "serverStatus": 1 })
            .await
            .unwrap();
        match status.get_document("opcounters").unwrap().get("query") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Double(n)) => *n as i64,
            other => panic!("opcounters.query: {other:?}"),
        }
    }

    fn source<T: serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> MongoSource<T> {
        MongoSource::new(self.db.collection::<Document>(name))
    }

    /// The `$in` lists of the `find` commands recorded since the last call.
    fn take_in_lists(&self) -> Vec<Vec<Bson>> {
        self.finds
            .lock()
            .drain(..)
            .map(|command| {
                let filter = command.get_document("filter").unwrap();
                let (_, condition) = filter.iter().next().unwrap();
                condition
                    .as_document()
                    .unwrap()
                    .get_array("$in")
                    .unwrap()
                    .clone()
            })
            .collect()
    }
}

#[tokio::test]
async fn hundred_concurrent_loads_on_distinct_keys_make_one_query() {
    let fx = Fixture::start().await;
    let users = fx.source::<User>("users");
    let loader = Loader::builder(users.by_id()).name("User_id").build();
    let before = fx.queries().await;
    let loaded = join_all(fx.users.iter().map(|u| loader.load(u.id))).await;
    assert_eq!(fx.queries().await - before, 1, "one query on the server");
    let in_lists = fx.take_in_lists();
    assert_eq!(in_lists.len(), 1);
    assert_eq!(in_lists[0].len(), 100);
    for (user, loaded) in fx.users.iter().zip(loaded) {
        assert_eq!(loaded.unwrap().as_ref(), Some(user));
    }
    assert_eq!(loader.stats().total_queries, 1);
}

#[tokio::test]
async fn duplicate_keys_are_asked_once_and_missing_keys_are_none() {
    let fx = Fixture::start().await;
    let loader = Loader::new(fx.source::<User>("users").by_id());
    let absent = ObjectId::new();
    let ids = [
        fx.users[0].id,
        fx.users[1].id,
        fx.users[0].id,
        absent,
        fx.users[1].id,
    ];
    let before = fx.queries().await;
    let (many, again) = tokio::join!(loader.load_many(ids), loader.load(fx.users[0].id));
    assert_eq!(fx.queries().await - before, 1);
    let in_lists = fx.take_in_lists();
    assert_eq!(in_lists[0].len(), 3, "three distinct keys in the $in list");
    assert_eq!(many[0].as_ref().unwrap().as_ref(), Some(&fx.users[0]));
    assert_eq!(many[3].as_ref().unwrap(), &None);
    assert_eq!(many[4].as_ref().unwrap().as_ref(), Some(&fx.users[1]));
    assert_eq!(again.unwrap().as_ref(), Some(&fx.users[0]));
    // Cached since, found and missing alike.
    loader.load(absent).await.unwrap();
    loader.load(fx.users[1].id).await.unwrap();
    assert_eq!(fx.queries().await - before, 1);
}

#[tokio::test]
async fn chunking_makes_ceil_n_over_size_queries() {
    let fx = Fixture::start().await;
    let ids: Vec<ObjectId> = fx.users.iter().map(|u| u.id).collect();

    // The loader's own max_batch_size: ceil(100 / 30) = 4 batches, one query each.
    let registry = StatsRegistry::new();
    let loader = Loader::builder(fx.source::<User>("users").by_id())
        .name("User_id")
        .stats(&registry)
        .max_batch_size(30)
        .build();
    let before = fx.queries().await;
    let loaded = loader.load_many(ids.clone()).await;
    assert!(loaded.iter().all(|l| l.as_ref().unwrap().is_some()));
    assert_eq!(fx.queries().await - before, 4);
    let mut sizes: Vec<usize> = fx.take_in_lists().iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 30, 30, 30]);
    let stats = registry.get("User_id").unwrap();
    assert_eq!((stats.total_batches, stats.total_queries), (4, 4));

    // The source's `$in` count limit inside one batch: ceil(100 / 25) = 4 queries.
    let loader = Loader::new(fx.source::<User>("users").max_keys_per_query(25).by_id());
    let before = fx.queries().await;
    loader.load_many(ids.clone()).await;
    assert_eq!(fx.queries().await - before, 4);
    let stats = loader.stats();
    assert_eq!((stats.total_batches, stats.total_queries), (1, 4));
    assert!(fx.take_in_lists().iter().all(|l| l.len() == 25));

    // The source's byte limit: each ObjectId element is 15 or 16 bytes, so 300 bytes hold 19.
    let loader = Loader::new(
        fx.source::<User>("users")
            .max_key_bytes_per_query(300)
            .by_id(),
    );
    let before = fx.queries().await;
    let loaded = loader.load_many(ids).await;
    assert!(loaded.iter().all(|l| l.as_ref().unwrap().is_some()));
    let seen = fx.queries().await - before;
    assert_eq!(seen, 6, "ceil(100 / 19) queries");
    assert_eq!(loader.stats().total_queries, 6);
    for list in fx.take_in_lists() {
        let encoded = mongodb::bson::serialize_to_vec(&doc! { "$in": list }).unwrap();
        assert!(encoded.len() <= 300 + 16, "{} bytes", encoded.len());
    }
}

type Full = (Assessment, (Option<User>, Vec<Recommendation>, Vec<Report>));

/// The N+1 way: one query per assessment and relation.
async fn n_plus_one(db: &Database) -> Vec<Full> {
    let assessments: Vec<Assessment> = find_sorted(db, "assessments", doc! {}).await;
    let mut out = Vec::new();
    for a in assessments {
        let user = db
            .collection::<User>("users")
            .find_one(doc! { "_id": a.user_id })
            .await
            .unwrap();
        let recs = find_sorted(db, "recommendations", doc! { "assessment_id": a.id }).await;
        let reports = find_sorted(db, "reports", doc! { "assessment_id": a.id }).await;
        out.push((a, (user, recs, reports)));
    }
    out
}

/// The documents of `collection` matching `filter`, in `_id` order.
async fn find_sorted<T>(db: &Database, collection: &str, filter: Document) -> Vec<T>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    db.collection::<T>(collection)
        .find(filter)
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn preload_makes_one_query_per_relation_and_matches_n_plus_one() {
    let fx = Fixture::start().await;
    let users = fx.source::<User>("users");
    let recs = fx.source::<Recommendation>("recommendations");
    let reports = fx.source::<Report>("reports");

    let before = fx.queries().await;
    let expected = n_plus_one(&fx.db).await;
    assert_eq!(fx.queries().await - before, 301, "the N+1 way: 1 + 3 x 100");

    let before = fx.queries().await;
    let assessments: Vec<Assessment> = fx
        .db
        .collection("assessments")
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let rows = preload_relations(
        assessments,
        (
            One::new(&users, "_id", |a: &Assessment| a.user_id),
            Many::new(&recs, "assessment_id", |a: &Assessment| a.id),
            Many::new(&reports, "assessment_id", |a: &Assessment| a.id),
        ),
    )
    .await
    .unwrap();
    assert_eq!(fx.queries().await - before, 4, "1 + 3 queries");
    assert_eq!(rows, expected, "the same data as the N+1 way");

    // The shape holds: shared owners, a missing owner, empty lists.
    assert_eq!(rows[0].1.0.as_ref(), Some(&fx.users[0]));
    assert_eq!(rows[40].1.0.as_ref(), Some(&fx.users[0]));
    assert_eq!(rows[99].1.0, None, "a missing related document is None");
    assert!(rows[0].1.1.is_empty() && rows[0].1.2.is_empty());
    assert_eq!(rows[3].1.1.len(), 3);
    assert!(
        rows[3].1.1.windows(2).all(|w| w[0].id < w[1].id),
        "_id order"
    );
    assert_eq!(rows[0].0, fx.assessments[0]);
}

#[tokio::test]
async fn a_document_that_does_not_decode_fails_only_its_key() {
    let fx = Fixture::start().await;
    let broken = ObjectId::new();
    fx.db
        .collection::<Document>("users")
        .insert_one(doc! { "_id": broken, "email": 42, "full_name": "Broken" })
        .await
        .unwrap();
    let loader = Loader::new(fx.source::<User>("users").by_id());
    let before = fx.queries().await;
    let answers = loader
        .load_many([fx.users[0].id, broken, fx.users[1].id])
        .await;
    assert_eq!(fx.queries().await - before, 1);
    assert_eq!(answers[0].as_ref().unwrap().as_ref(), Some(&fx.users[0]));
    assert_eq!(answers[2].as_ref().unwrap().as_ref(), Some(&fx.users[1]));
    let error = answers[1].as_ref().unwrap_err();
    assert!(!error.is_batch());
    match error {
        LoadError::Key(e) => match &**e {
            MongoError::Decode { collection, id, .. } => {
                assert_eq!(collection, "users");
                assert!(id.contains(&broken.to_hex()), "{id}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        },
        other => panic!("expected the key's own error, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("users") && message.contains(&broken.to_hex()),
        "{message}"
    );

    // A preload reaching the broken document fails as a whole, and says where.
    let parent = Assessment {
        id: ObjectId::new(),
        title: "t".into(),
        user_id: broken,
    };
    let users = fx.source::<User>("users");
    let error = preload_relations(
        vec![parent],
        (One::new(&users, "_id", |a: &Assessment| a.user_id),),
    )
    .await
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("users") && message.contains(&broken.to_hex()),
        "{message}"
    );
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct UserEmail {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    full_name: Option<String>,
}

#[tokio::test]
async fn load_by_another_field_with_a_projection() {
    let fx = Fixture::start().await;
    let source = fx
        .source::<UserEmail>("users")
        .projection(doc! { "email": 1 });
    let by_email = Loader::builder(source.by("email"))
        .name("User_email")
        .build();
    let before = fx.queries().await;
    let (a, b, none) = tokio::join!(
        by_email.load("user3@example.com".to_owned()),
        by_email.load("user7@example.com".to_owned()),
        by_email.load("nobody@example.com".to_owned()),
    );
    assert_eq!(fx.queries().await - before, 1);
    let a = a.unwrap().unwrap();
    assert_eq!(
        (a.id, a.email.as_str()),
        (fx.users[3].id, "user3@example.com")
    );
    assert_eq!(a.full_name, None, "projected away");
    assert_eq!(b.unwrap().unwrap().id, fx.users[7].id);
    assert_eq!(none.unwrap(), None);

    // The matched field is added to an inclusion projection that leaves it out.
    let by_name = Loader::new(
        fx.source::<UserEmail>("users")
            .projection(doc! { "full_name": 1 })
            .by("email"),
    );
    let found = by_name.load("user3@example.com".to_owned()).await;
    // `email` came back (so the key matched), decoded into the required `email` field.
    let found = found.unwrap().unwrap();
    assert_eq!(found.full_name.as_deref(), Some("User 3"));
}

#[tokio::test]
async fn nested_relations_and_priming_a_loader() {
    let fx = Fixture::start().await;
    let users = fx.source::<User>("users");
    let recs = fx.source::<Recommendation>("recommendations");
    let user_loader = Loader::builder(users.by_id()).name("User_id").build();

    let assessments = fx.assessments[..20].to_vec();
    let before = fx.queries().await;
    let rows = preload_relations(
        assessments,
        (
            One::new(&users, "_id", |a: &Assessment| a.user_id)
                .prime(&user_loader, |u: &User| u.id),
            Many::new(&recs, "assessment_id", |a: &Assessment| a.id).with((One::new(
                &users,
                "_id",
                |r: &Recommendation| r.author_id,
            ),)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        fx.queries().await - before,
        3,
        "users, recommendations, and the recommendations' authors"
    );
    let (assessment, (owner, recommendations)) = &rows[7];
    assert_eq!(owner.as_ref().unwrap().id, assessment.user_id);
    assert_eq!(recommendations.len(), 3);
    for (rec, (author,)) in recommendations {
        assert_eq!(rec.assessment_id, assessment.id);
        assert_eq!(author.as_ref().unwrap().id, rec.author_id);
    }

    // The owners were primed: loading them asks nothing more.
    let before = fx.queries().await;
    let owners = user_loader
        .load_many(fx.assessments[..20].iter().map(|a| a.user_id))
        .await;
    assert!(owners.iter().all(|o| o.as_ref().unwrap().is_some()));
    assert_eq!(fx.queries().await - before, 0);
}

#[tokio::test]
async fn stats_equal_the_queries_the_server_saw() {
    let fx = Fixture::start().await;
    let registry = StatsRegistry::new();
    let source = fx.source::<User>("users").max_keys_per_query(40);
    let before = fx.queries().await;
    // Five requests, each with its own loader under the same name.
    for request in 0..5 {
        let loader = Loader::builder(source.by_id())
            .name("User_id")
            .stats(&registry)
            .max_batch_size(50)
            .build();
        let ids: Vec<ObjectId> = fx.users[..request * 20 + 10].iter().map(|u| u.id).collect();
        join_all(ids.iter().map(|id| loader.load(*id))).await;
        loader.load(ids[0]).await.unwrap();
    }
    let seen = fx.queries().await - before;
    let stats = registry.get("User_id").unwrap();
    assert_eq!(stats.total_queries as i64, seen, "{stats:?}");
    // Keys per request 10, 30, 50, 70 and 90; batches of at most 50 keys, `$in` lists of at
    // most 40: 10 -> 1 query; 30 -> 1; 50 -> 40+10 = 2; 70 -> 50 (2) + 20 (1) = 3; 90 -> 50 (2)
    // + 40 (1) = 3.
    assert_eq!(seen, 10);
    assert_eq!(stats.total_items_loaded, 250);
    assert_eq!(stats.total_batches, 7);
    assert_eq!(stats.cache_hits, 5);
    let distinct: HashSet<_> = fx
        .take_in_lists()
        .into_iter()
        .flatten()
        .map(|b| b.to_string())
        .collect();
    assert_eq!(distinct.len(), 90);
}

#[tokio::test]
async fn dropped_loads_mid_batch_leave_others_answered() {
    let fx = Fixture::start().await;
    let loader = Loader::new(fx.source::<User>("users").by_id());
    let before = fx.queries().await;
    let tasks: Vec<_> = fx
        .users
        .iter()
        .map(|u| {
            let loader = loader.clone();
            let id = u.id;
            tokio::spawn(async move { loader.load(id).await })
        })
        .collect();
    tokio::task::yield_now().await;
    for task in tasks.iter().step_by(2) {
        task.abort();
    }
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(answer) => assert_eq!(answer.unwrap().unwrap(), fx.users[i]),
            Err(e) => assert!(e.is_cancelled() && i % 2 == 0),
        }
    }
    assert!(fx.queries().await - before >= 1);
    // Usable afterwards, with the cancelled keys cached by their finished batch.
    let again = loader.load_many(fx.users.iter().map(|u| u.id)).await;
    assert!(again.iter().all(|a| a.as_ref().unwrap().is_some()));
}

#[tokio::test]
async fn a_large_key_set_is_chunked_inside_one_relation() {
    let fx = Fixture::start().await;
    let users = fx.source::<User>("users").max_keys_per_query(15);
    let recs = fx
        .source::<Recommendation>("recommendations")
        .max_key_bytes_per_query(500);
    let before = fx.queries().await;
    let rows = preload_relations(
        fx.assessments.clone(),
        (
            One::new(&users, "_id", |a: &Assessment| a.user_id),
            Many::new(&recs, "assessment_id", |a: &Assessment| a.id),
        ),
    )
    .await
    .unwrap();
    // 41 distinct owners in lists of 15: 3 queries. 100 assessment ids at 15 or 16 bytes each
    // in 500-byte lists (31 keys): 4 queries.
    assert_eq!(fx.queries().await - before, 7);
    let expected = n_plus_one(&fx.db).await;
    for ((a, (user, recs)), (e, (e_user, e_recs, _))) in rows.iter().zip(&expected) {
        assert_eq!((a, user, recs), (e, e_user, e_recs));
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Event {
    #[serde(rename = "_id")]
    id: ObjectId,
    n: i64,
    at: mongodb::bson::DateTime,
}

#[tokio::test]
async fn keys_match_across_integer_widths_and_other_bson_types() {
    let fx = Fixture::start().await;
    let events = fx.db.collection::<Document>("events");
    let at = |i: i64| mongodb::bson::DateTime::from_millis(1_700_000_000_000 + i);
    events
        .insert_many((0..10_i32).map(|i| doc! { "n": i, "at": at(i64::from(i)) }))
        .await
        .unwrap();
    // Stored as Int32, asked for as i64: MongoDB matches them, and so do the results.
    let by_n = Loader::new(fx.source::<Event>("events").by("n"));
    let found = by_n.load_many([3_i64, 7, 42]).await;
    assert_eq!(found[0].as_ref().unwrap().as_ref().map(|e| e.n), Some(3));
    assert_eq!(found[1].as_ref().unwrap().as_ref().map(|e| e.n), Some(7));
    assert_eq!(found[2].as_ref().unwrap(), &None);
    // Dates are matched by decoding the field's value.
    let by_at = Loader::new(fx.source::<Event>("events").by("at"));
    let found = by_at.load_many([at(5), at(9), at(100)]).await;
    assert_eq!(found[0].as_ref().unwrap().as_ref().map(|e| e.n), Some(5));
    assert_eq!(
        found[1].as_ref().unwrap().as_ref().map(|e| e.at),
        Some(at(9))
    );
    assert_eq!(found[2].as_ref().unwrap(), &None);
}

/// A key that encodes either as an object id or as `{"$bad": 1}`, which the server refuses
/// inside `$in` ("cannot nest $ under $in"): the `find` of the piece holding it fails.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
enum ProbeKey {
    Id(ObjectId),
    Refused(Refused),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Refused {
    #[serde(rename = "$bad")]
    bad: i32,
}

#[tokio::test]
async fn a_failed_piece_fails_only_its_own_keys_and_every_query_is_counted() {
    let fx = Fixture::start().await;
    let registry = StatsRegistry::new();
    let source = fx.source::<User>("users").max_keys_per_query(10);
    let loader = Loader::builder(source.by_id())
        .name("User_id")
        .stats(&registry)
        .build();
    // 30 keys in three pieces of ten; the middle piece holds the refused key.
    let mut keys: Vec<ProbeKey> = fx.users[..29].iter().map(|u| ProbeKey::Id(u.id)).collect();
    keys.insert(15, ProbeKey::Refused(Refused { bad: 1 }));
    let before = fx.queries().await;
    let answers = loader.load_many(keys.clone()).await;
    let sent = fx.take_in_lists().len();
    assert_eq!(sent, 3, "three finds sent");
    let seen = fx.queries().await - before;
    for (i, answer) in answers.iter().enumerate() {
        if (10..20).contains(&i) {
            let error = answer.as_ref().expect_err("a key of the failed piece");
            assert!(!error.is_batch(), "{error}");
            match error.inner() {
                Some(MongoError::Query {
                    collection, field, ..
                }) => {
                    assert_eq!((collection.as_str(), field.as_str()), ("users", "_id"));
                }
                other => panic!("expected the piece's query error, got {other:?}"),
            }
            let message = error.to_string();
            assert!(message.contains("cannot nest $ under $in"), "{message}");
            assert!(
                !message.contains("RawDocumentBuf") && !message.contains("server response"),
                "no raw server reply in the message: {message}"
            );
        } else {
            let ProbeKey::Id(id) = &keys[i] else {
                unreachable!()
            };
            let user = answer.as_ref().expect("a key of a piece that succeeded");
            assert_eq!(user.as_ref().map(|u| u.id), Some(*id));
        }
    }
    let stats = registry.get("User_id").unwrap();
    assert_eq!(stats.total_queries, 3, "{stats:?}");
    assert!(seen <= 3, "the server counted {seen}");
    assert_eq!(stats.errors, 10);

    // One piece only, refused: the batch fails as a whole, counted once.
    let loader = Loader::new(fx.source::<User>("users").by_id());
    let answer = loader.load(ProbeKey::Refused(Refused { bad: 2 })).await;
    assert!(answer.unwrap_err().is_batch());
    assert_eq!(loader.stats().total_queries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_awaited_together_make_one_find_every_round_on_a_multi_thread_runtime() {
    let fx = Fixture::start().await;
    let source = fx.source::<User>("users");
    let ids: Vec<ObjectId> = fx.users.iter().map(|u| u.id).collect();
    for round in 0..200 {
        let loader = Loader::new(source.by_id());
        let run = {
            let ids = ids.clone();
            async move {
                let answers = join_all(ids.iter().map(|id| loader.load(*id))).await;
                assert!(answers.iter().all(|a| matches!(a, Ok(Some(_)))));
            }
        };
        if round % 2 == 0 {
            run.await;
        } else {
            tokio::spawn(run).await.unwrap();
        }
        let finds = fx.take_in_lists();
        assert_eq!(
            finds.iter().map(Vec::len).collect::<Vec<_>>(),
            [100],
            "round {round}"
        );
    }
}

/// 100 tasks spawned in one tick, each loading one user: every task gets its user and no key is
/// asked twice. How many finds they made is printed (`--nocapture`): on a multi-thread runtime
/// the design does not promise one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_from_spawned_tasks_are_answered_and_the_split_is_reported() {
    let fx = Fixture::start().await;
    let source = fx.source::<User>("users");
    let ids: Vec<ObjectId> = fx.users.iter().map(|u| u.id).collect();
    let mut finds_per_round = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..200 {
        let loader = Loader::new(source.by_id());
        let ids = ids.clone();
        tokio::spawn(async move {
            let tasks: Vec<_> = ids
                .iter()
                .map(|&id| {
                    let loader = loader.clone();
                    tokio::spawn(async move { loader.load(id).await })
                })
                .collect();
            for (id, task) in ids.iter().zip(tasks) {
                assert_eq!(task.await.unwrap().unwrap().map(|u| u.id), Some(*id));
            }
        })
        .await
        .unwrap();
        let finds = fx.take_in_lists();
        let keys: HashSet<String> = finds.iter().flatten().map(|b| b.to_string()).collect();
        assert_eq!(keys.len(), 100);
        assert_eq!(
            finds.iter().map(Vec::len).sum::<usize>(),
            100,
            "no key twice"
        );
        finds_per_round.push(finds.len());
        if finds.len() > 1 && sizes.len() < 5 {
            sizes.push(finds.iter().map(Vec::len).collect::<Vec<_>>());
        }
    }
    report(&finds_per_round, &sizes);
}

#[allow(clippy::print_stdout)] // the measured split rate is this test's report
fn report(finds_per_round: &[usize], sizes: &[Vec<usize>]) {
    let split = finds_per_round.iter().filter(|&&n| n > 1).count();
    let mean = finds_per_round.iter().sum::<usize>() as f64 / finds_per_round.len() as f64;
    let max = finds_per_round.iter().max().unwrap_or(&0);
    println!(
        "MongoDB, 100 spawned tasks: {split} of {} rounds split; finds per round: mean {mean:.2}, \
         max {max}; $in sizes of split rounds, e.g. {sizes:?}",
        finds_per_round.len()
    );
}
