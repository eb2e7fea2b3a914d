//! `Loader` semantics with an in-memory batch function that records every call: batching,
//! de-duplication, chunking under a concurrency limit, per-key errors, the cache, scheduling
//! without a timer, cancellation, and statistics.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use inframind_loader::{BatchFn, LoadError, Loaded, Loader, StatsRegistry};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// An error type that is deliberately not `Clone`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad key {0}")]
struct BadKey(u64);

/// A batch function over `u64` keys that records each call's keys. Keys `>= 1000` are missing,
/// keys divisible by 13 fail on their own, and `gate` (when closed) holds calls in flight.
#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<Vec<u64>>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    gate: Option<Arc<Semaphore>>,
    delay: Option<Duration>,
    fail_batches_with: Option<u64>,
    panic_on: Option<u64>,
}

impl Recorder {
    fn gated() -> (Self, Arc<Semaphore>) {
        let gate = Arc::new(Semaphore::new(0));
        (
            Self {
                gate: Some(Arc::clone(&gate)),
                ..Self::default()
            },
            gate,
        )
    }

    fn calls(&self) -> Vec<Vec<u64>> {
        self.calls.lock().clone()
    }

    fn loader(&self) -> Loader<u64, String, RecFn> {
        Loader::new(self.batch_fn())
    }

    fn batch_fn(&self) -> RecFn {
        RecFn(self.clone())
    }
}

struct RecFn(Recorder);

impl BatchFn<u64, String> for RecFn {
    type Error = BadKey;

    async fn load(&self, keys: &[u64]) -> Result<Loaded<u64, String, BadKey>, BadKey> {
        let this = &self.0;
        this.calls.lock().push(keys.to_vec());
        let now = this.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        this.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(gate) = &this.gate {
            gate.acquire().await.unwrap().forget();
        }
        if let Some(delay) = this.delay {
            tokio::time::sleep(delay).await;
        }
        this.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(bad) = this.panic_on {
            assert!(!keys.contains(&bad), "batch function panics on {bad}");
        }
        if let Some(bad) = this.fail_batches_with {
            if keys.contains(&bad) {
                return Err(BadKey(bad));
            }
        }
        let mut loaded = Loaded::with_capacity(keys.len());
        for &key in keys {
            if key >= 1000 {
                continue;
            } else if key % 13 == 0 {
                loaded.fail(key, BadKey(key));
            } else {
                loaded.insert(key, format!("v{key}"));
            }
        }
        Ok(loaded)
    }
}

#[tokio::test]
async fn concurrent_loads_on_distinct_keys_make_one_batch() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let keys: Vec<u64> = (1..=100).collect();
    let answers = join_all(keys.iter().map(|&k| loader.load(k))).await;
    assert_eq!(recorder.calls().len(), 1, "100 loads, one batch");
    assert_eq!(recorder.calls()[0].len(), 100);
    for (key, answer) in keys.iter().zip(answers) {
        if key % 13 == 0 {
            assert!(answer.is_err());
        } else {
            assert_eq!(answer.unwrap(), Some(format!("v{key}")));
        }
    }
    let stats = loader.stats();
    assert_eq!((stats.total_batches, stats.total_items_loaded), (1, 100));
}

#[tokio::test(flavor = "current_thread")]
async fn loads_from_many_spawned_tasks_make_one_batch() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let tasks: Vec<_> = (1..=100)
        .map(|k| {
            let loader = loader.clone();
            tokio::spawn(async move { loader.load(k).await })
        })
        .collect();
    for (k, task) in (1..=100u64).zip(tasks) {
        let answer = task.await.unwrap();
        assert_eq!(answer.is_ok(), k % 13 != 0);
    }
    assert_eq!(
        recorder.calls().len(),
        1,
        "tasks that yielded share one batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_on_a_multi_thread_runtime_makes_one_batch() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    for _request in 0..20 {
        let loader = loader.clone();
        // As a request handler runs: inside a task on a worker thread.
        tokio::spawn(async move {
            loader.clear_all();
            let answers = join_all((1..=100).map(|k| loader.load(k))).await;
            assert_eq!(answers[0].as_ref().unwrap().as_deref(), Some("v1"));
        })
        .await
        .unwrap();
    }
    assert_eq!(recorder.calls().len(), 20, "one batch per request");
    assert!(recorder.calls().iter().all(|c| c.len() == 100));
}

#[tokio::test]
async fn duplicate_keys_are_asked_once() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let (many, one, again) = tokio::join!(
        loader.load_many([5, 6, 5, 7, 6, 5]),
        loader.load(7),
        loader.load(5)
    );
    assert_eq!(recorder.calls(), vec![vec![5, 6, 7]]);
    let many: Vec<_> = many.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        many,
        ["v5", "v6", "v5", "v7", "v6", "v5"].map(|v| Some(v.to_owned()))
    );
    assert_eq!(one.unwrap().as_deref(), Some("v7"));
    assert_eq!(again.unwrap().as_deref(), Some("v5"));
    let stats = loader.stats();
    assert_eq!((stats.total_loads, stats.cache_hits), (8, 5));
}

#[tokio::test]
async fn a_key_already_in_flight_waits_for_that_batch() {
    let (recorder, gate) = Recorder::gated();
    let loader = recorder.loader();
    let first = tokio::spawn({
        let loader = loader.clone();
        async move { loader.load(1).await }
    });
    // Let the batch start and block in the batch function.
    while recorder.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    let second = tokio::spawn({
        let loader = loader.clone();
        async move { loader.load(1).await }
    });
    tokio::task::yield_now().await;
    gate.add_permits(10);
    assert_eq!(first.await.unwrap().unwrap().as_deref(), Some("v1"));
    assert_eq!(second.await.unwrap().unwrap().as_deref(), Some("v1"));
    assert_eq!(
        recorder.calls(),
        vec![vec![1]],
        "the second load joined the first"
    );
}

#[tokio::test]
async fn max_batch_size_chunks_and_concurrency_limits_them() {
    let recorder = Recorder {
        delay: Some(Duration::from_millis(20)),
        ..Recorder::default()
    };
    let loader = Loader::builder(recorder.batch_fn())
        .max_batch_size(10)
        .concurrency(2)
        .build();
    let answers = loader.load_many(1..=95).await;
    assert_eq!(answers.len(), 95);
    let calls = recorder.calls();
    assert_eq!(calls.len(), 10, "ceil(95 / 10) batches");
    assert!(calls.iter().all(|c| c.len() <= 10));
    let mut all: Vec<u64> = calls.concat();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=95).collect::<Vec<_>>(),
        "every key asked exactly once"
    );
    assert_eq!(
        recorder.max_in_flight.load(Ordering::SeqCst),
        2,
        "chunks ran concurrently, at most two at a time"
    );
    let stats = loader.stats();
    assert_eq!(stats.total_batches, 10);
    assert_eq!(
        stats.batch_sizes.counts[3], 9,
        "nine batches of 6..=10 keys"
    );
    assert_eq!(stats.batch_sizes.counts[2], 1, "one batch of 3..=5 keys");
}

#[tokio::test]
async fn a_failing_key_fails_alone_and_a_failing_batch_fails_only_its_keys() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let answers = loader.load_many([12, 13, 14, 2000]).await;
    assert_eq!(answers[0].as_ref().unwrap().as_deref(), Some("v12"));
    match &answers[1] {
        Err(LoadError::Key(e)) => assert_eq!(**e, BadKey(13)),
        other => panic!("expected the key's own error, got {other:?}"),
    }
    assert_eq!(answers[2].as_ref().unwrap().as_deref(), Some("v14"));
    assert_eq!(
        answers[3].as_ref().unwrap(),
        &None,
        "missing is not an error"
    );
    assert_eq!(
        answers[1].as_ref().unwrap_err().to_string(),
        "loading the key failed: bad key 13"
    );

    // A batch-wide failure: only that batch's keys fail.
    let recorder = Recorder {
        fail_batches_with: Some(7),
        ..Recorder::default()
    };
    let loader = Loader::builder(recorder.batch_fn())
        .max_batch_size(3)
        .build();
    let answers = loader.load_many([1, 2, 3, 5, 6, 7]).await;
    assert!(answers[..3].iter().all(Result::is_ok));
    for answer in &answers[3..] {
        let error = answer.as_ref().unwrap_err();
        assert!(error.is_batch());
        assert_eq!(error.inner(), Some(&BadKey(7)));
        assert_eq!(answer, &Err(LoadError::Batch(Arc::new(BadKey(7)))));
        assert_ne!(answer, &Err(LoadError::Key(Arc::new(BadKey(7)))));
    }
    assert_eq!(loader.stats().errors, 3);
}

#[tokio::test]
async fn cache_prime_clear_and_clear_all() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    assert_eq!(loader.load(1).await.unwrap().as_deref(), Some("v1"));
    assert_eq!(loader.load(2000).await.unwrap(), None);
    // Found and missing keys are cached.
    assert_eq!(loader.load(1).await.unwrap().as_deref(), Some("v1"));
    assert_eq!(loader.load(2000).await.unwrap(), None);
    assert_eq!(recorder.calls().len(), 2);

    loader.prime(3, "primed".to_owned());
    loader.prime(1, "fresh".to_owned());
    assert_eq!(loader.load(3).await.unwrap().as_deref(), Some("primed"));
    assert_eq!(loader.load(1).await.unwrap().as_deref(), Some("fresh"));
    assert_eq!(recorder.calls().len(), 2, "primed keys are not asked for");

    loader.clear(&1);
    assert_eq!(loader.load(1).await.unwrap().as_deref(), Some("v1"));
    assert_eq!(recorder.calls().len(), 3);

    loader.clear_all();
    loader.load_many([1, 3]).await;
    assert_eq!(recorder.calls().last().unwrap(), &vec![1, 3]);

    // Errors are not cached.
    assert!(loader.load(13).await.is_err());
    assert!(loader.load(13).await.is_err());
    assert_eq!(recorder.calls().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_cleared_before_its_batch_goes_out_is_asked_once_and_answers_everyone() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    // `load(k); clear(&k); load(k)` in one tick.
    let first = loader.load(1);
    loader.clear(&1);
    let second = loader.load(1);
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap().as_deref(), Some("v1"));
    assert_eq!(second.unwrap().as_deref(), Some("v1"));
    assert_eq!(recorder.calls(), vec![vec![1]], "distinct keys");

    // `clear_all()` between two `load_many` calls.
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let a = loader.load_many([1, 2, 3]);
    loader.clear_all();
    let b = loader.load_many([1, 2, 3]);
    let (a, b) = tokio::join!(a, b);
    for answers in [a, b] {
        let values: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, ["v1", "v2", "v3"].map(|v| Some(v.to_owned())));
    }
    assert_eq!(recorder.calls(), vec![vec![1, 2, 3]]);

    // Primed over, then cleared, then loaded, all before the batch goes out.
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let queued = loader.load_many([1, 2]);
    loader.prime(1, "primed".to_owned());
    loader.clear(&1);
    loader.prime_many([(2, "primed".to_owned())]);
    loader.clear_all();
    let again = loader.load_many([1, 2]);
    let (queued, again) = tokio::join!(queued, again);
    assert_eq!(queued[0].as_ref().unwrap().as_deref(), Some("v1"));
    assert_eq!(again[1].as_ref().unwrap().as_deref(), Some("v2"));
    assert_eq!(recorder.calls(), vec![vec![1, 2]]);
    // The answer was read after the clears, so it stays cached.
    loader.load(1).await.unwrap();
    assert_eq!(recorder.calls().len(), 1);
}

#[tokio::test]
async fn a_batch_in_flight_does_not_cache_over_a_clear() {
    let (recorder, gate) = Recorder::gated();
    let loader = recorder.loader();
    let stale = tokio::spawn({
        let loader = loader.clone();
        async move { loader.load(1).await }
    });
    while recorder.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    // A write happens while the read is in flight.
    loader.clear(&1);
    gate.add_permits(10);
    assert_eq!(stale.await.unwrap().unwrap().as_deref(), Some("v1"));
    loader.load(1).await.unwrap();
    assert_eq!(recorder.calls().len(), 2, "the cleared key was asked again");
}

#[tokio::test]
async fn without_the_cache_only_keys_in_flight_are_shared() {
    let recorder = Recorder::default();
    let loader = Loader::builder(recorder.batch_fn()).cache(false).build();
    let (a, b) = tokio::join!(loader.load(1), loader.load(1));
    assert_eq!(a.unwrap(), b.unwrap());
    loader.load(1).await.unwrap();
    assert_eq!(recorder.calls(), vec![vec![1], vec![1]]);
}

#[tokio::test]
async fn the_cache_limit_bounds_finished_entries() {
    let recorder = Recorder::default();
    let loader = Loader::builder(recorder.batch_fn()).cache_limit(2).build();
    for k in 1..=5 {
        loader.load(k).await.unwrap();
    }
    loader.load(1).await.unwrap();
    assert_eq!(
        recorder.calls().len(),
        6,
        "key 1 was evicted and asked again"
    );

    // Keys in flight are kept past the limit, so duplicates still share one answer.
    let answers = loader.load_many([20, 21, 22, 20, 21, 22]).await;
    assert_eq!(recorder.calls().last().unwrap(), &vec![20, 21, 22]);
    assert_eq!(answers[3].as_ref().unwrap().as_deref(), Some("v20"));
    assert_eq!(answers[5].as_ref().unwrap().as_deref(), Some("v22"));
}

#[tokio::test(start_paused = true)]
async fn a_single_load_waits_for_no_timer() {
    let recorder = Recorder::default();
    let loader = recorder.loader();
    let start = tokio::time::Instant::now();
    assert_eq!(loader.load(1).await.unwrap().as_deref(), Some("v1"));
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the paused clock did not move: no sleep was awaited"
    );

    // The optional window is a real timer: the same load now takes the window.
    let windowed = Loader::builder(recorder.batch_fn())
        .window(Duration::from_millis(1))
        .build();
    let start = tokio::time::Instant::now();
    windowed.load(1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(1));

    // A full batch does not wait for the window.
    let windowed = Loader::builder(recorder.batch_fn())
        .window(Duration::from_secs(10))
        .max_batch_size(4)
        .build();
    let start = tokio::time::Instant::now();
    windowed.load_many([1, 2, 3, 4]).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn dropping_waiters_mid_batch_leaves_the_loader_usable() {
    let (recorder, gate) = Recorder::gated();
    let loader = recorder.loader();
    let spawn_load = |k| {
        let loader = loader.clone();
        tokio::spawn(async move { loader.load(k).await })
    };
    let dropped_a = spawn_load(1);
    let dropped_b = spawn_load(1);
    let kept = spawn_load(2);
    while recorder.calls().is_empty() {
        tokio::task::yield_now().await;
    }
    // Every waiter of key 1 goes away while its batch is in flight.
    dropped_a.abort();
    dropped_b.abort();
    assert!(dropped_a.await.unwrap_err().is_cancelled());
    assert!(dropped_b.await.unwrap_err().is_cancelled());
    gate.add_permits(100);
    assert_eq!(kept.await.unwrap().unwrap().as_deref(), Some("v2"));
    // The batch finished, so key 1 is cached; new keys still batch.
    assert_eq!(loader.load(1).await.unwrap().as_deref(), Some("v1"));
    assert_eq!(loader.load(3).await.unwrap().as_deref(), Some("v3"));
    assert_eq!(recorder.calls(), vec![vec![1, 2], vec![3]]);

    // Futures dropped before their batch is even dispatched.
    let before = recorder.calls().len();
    drop(loader.load(40));
    drop(loader.load_many([41, 42]));
    assert_eq!(loader.load(43).await.unwrap().as_deref(), Some("v43"));
    assert_eq!(recorder.calls()[before], vec![40, 41, 42, 43]);
}

#[tokio::test]
async fn a_panicking_batch_fails_its_keys_and_nothing_else() {
    let recorder = Recorder {
        panic_on: Some(6),
        ..Recorder::default()
    };
    let loader = Loader::builder(recorder.batch_fn())
        .max_batch_size(2)
        .build();
    let answers = loader.load_many([4, 5, 6, 7]).await;
    assert!(answers[0].is_ok() && answers[1].is_ok());
    assert_eq!(answers[2], Err(LoadError::Panicked));
    assert_eq!(answers[3], Err(LoadError::Panicked));
    assert!(
        !answers[2].as_ref().unwrap_err().is_batch(),
        "a panic is not the batch's error"
    );
    assert_eq!(loader.load(8).await.unwrap().as_deref(), Some("v8"));
}

#[test]
fn a_batch_whose_runtime_shuts_down_answers_its_waiters() {
    let (recorder, _gate) = Recorder::gated();
    let loader = recorder.loader();
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A task on the first runtime leads the batch, which blocks there forever; a second load
    // of the key waits for the same batch.
    #[allow(clippy::async_yields_async)] // the load is awaited on the second runtime
    let joined = first.block_on(async {
        let leader = loader.load(1);
        tokio::spawn(leader);
        while recorder.calls().is_empty() {
            tokio::task::yield_now().await;
        }
        loader.load(1)
    });
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let aborted = joined.await.unwrap_err();
        assert_eq!(aborted, LoadError::Aborted);
        assert!(
            !aborted.is_batch(),
            "an aborted batch is not the batch function's error"
        );
    });

    // A load made outside any runtime runs in whatever task awaits it.
    let loader = Loader::new(Recorder::default().batch_fn());
    let orphan = loader.load(2);
    second.block_on(async {
        assert_eq!(orphan.await.unwrap().as_deref(), Some("v2"));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_shows_current_loads_and_cache_hits_of_live_loaders() {
    let registry = StatsRegistry::new();
    let recorder = Recorder::default();
    let build = || {
        Loader::builder(recorder.batch_fn())
            .name("User_id")
            .stats(&registry)
            .build()
    };
    let loader = build();
    let other = build();
    // Missing keys (>= 1000), which stay cached.
    loader.load_many(1000..1100).await;
    loader.load_many(1000..1100).await; // all cache hits: no batch
    let queued = other.load_many(2000..2010); // not yet dispatched
    let stats = registry.get("User_id").unwrap();
    assert_eq!((stats.total_loads, stats.cache_hits), (210, 100));
    assert_eq!(
        (loader.stats().total_loads, loader.stats().cache_hits),
        (200, 100)
    );
    queued.await;
    drop(loader);
    let stats = registry.get("User_id").unwrap();
    assert_eq!(
        (stats.total_loads, stats.cache_hits),
        (210, 100),
        "dropping counts nothing twice"
    );
    drop(other);
    let stats = registry.get("User_id").unwrap();
    assert_eq!((stats.total_loads, stats.cache_hits), (210, 100));
    assert_eq!(stats.total_batches, 2);
}

#[tokio::test]
async fn a_registry_adds_up_loaders_that_share_a_name() {
    let registry = StatsRegistry::new();
    let recorder = Recorder::default();
    for _request in 0..10 {
        let loader = Loader::builder(recorder.batch_fn())
            .name("User_id")
            .stats(&registry)
            .build();
        loader.load_many(1..=15).await;
        loader.load(1).await.unwrap();
    }
    let other = Loader::builder(recorder.batch_fn())
        .name("Report_id")
        .stats(&registry)
        .build();
    other.load(1).await.unwrap();
    drop(other);

    let snapshot = registry.snapshot();
    assert_eq!(
        snapshot.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["Report_id", "User_id"]
    );
    let users = registry.get("User_id").unwrap();
    assert_eq!(users.total_batches, 10);
    assert_eq!(users.total_items_loaded, 150);
    assert_eq!(users.total_queries, 10);
    assert_eq!(users.queries_saved, 140);
    assert!((users.efficiency_ratio - 15.0).abs() < f64::EPSILON);
    assert_eq!(
        users.total_loads, 160,
        "loads of every loader, live or dropped"
    );
    assert_eq!(users.cache_hits, 10);
    assert_eq!(users.errors, 10, "key 13 fails in each request");
    assert_eq!(
        users.batch_sizes.counts[4], 10,
        "ten batches of 11..=20 keys"
    );
    assert_eq!(recorder.calls().len(), 11);
}
