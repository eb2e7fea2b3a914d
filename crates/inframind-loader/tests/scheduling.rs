//! When a batch goes out, on current-thread and multi-thread runtimes alike: loads awaited
//! together in one task make exactly one batch, round after round; loads from tasks spawned in
//! the same tick are counted, and what they split into is printed (the design promises no
//! more than "as well as it can" for those).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use inframind_loader::{Loaded, Loader, Many, MemorySource, One, preload_relations};
use parking_lot::Mutex;

const ROUNDS: usize = 200;

type Calls = Arc<Mutex<Vec<Vec<u64>>>>;

/// A loader whose batch function records every batch's keys and answers `k -> k * 2`.
fn recording_loader(
    calls: &Calls,
) -> Loader<
    u64,
    u64,
    impl inframind_loader::BatchFn<u64, u64, Error = std::convert::Infallible> + use<>,
> {
    let calls = Arc::clone(calls);
    Loader::new(move |keys: Vec<u64>| {
        calls.lock().push(keys.clone());
        async move {
            Ok::<_, std::convert::Infallible>(
                keys.into_iter()
                    .map(|k| (k, k * 2))
                    .collect::<Loaded<_, _, _>>(),
            )
        }
    })
}

/// Runs `round` `ROUNDS` times with a fresh loader each time, in turn in the test's own task
/// (on the runtime's `block_on` thread, beside the workers) and inside a spawned task (as a
/// request handler runs, on a worker), and returns the batches of every round that did not
/// make exactly one.
async fn split_rounds<F, Fut>(round: F) -> Vec<(usize, Vec<usize>)>
where
    F: Fn(Calls) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut split = Vec::new();
    for r in 0..ROUNDS {
        let calls = Calls::default();
        if r % 2 == 0 {
            round(Arc::clone(&calls)).await;
        } else {
            tokio::spawn(round(Arc::clone(&calls))).await.unwrap();
        }
        let sizes: Vec<usize> = calls.lock().iter().map(Vec::len).collect();
        if sizes.len() != 1 {
            split.push((r, sizes));
        }
    }
    split
}

async fn join_all_of_100(calls: Calls) {
    let loader = recording_loader(&calls);
    let answers = join_all((0..100).map(|k| loader.load(k))).await;
    for (k, answer) in (0..100).zip(answers) {
        assert_eq!(answer.unwrap(), Some(k * 2));
    }
}

async fn join_of_4(calls: Calls) {
    let loader = recording_loader(&calls);
    let (a, b, c, d) = tokio::join!(
        loader.load(1),
        loader.load(2),
        loader.load(3),
        loader.load(4)
    );
    assert_eq!(
        [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()],
        [Some(2), Some(4), Some(6), Some(8)]
    );
}

/// Keys queued while the task is being polled, not before: each async block queues its key
/// on its first poll.
async fn join_of_4_async_blocks(calls: Calls) {
    let loader = recording_loader(&calls);
    let one = |k: u64| {
        let loader = &loader;
        async move { loader.load(k).await.unwrap() }
    };
    let answers = tokio::join!(one(1), one(2), one(3), one(4));
    assert_eq!(answers, (Some(2), Some(4), Some(6), Some(8)));
}

async fn futures_unordered_of_100(calls: Calls) {
    let loader = recording_loader(&calls);
    let mut loads: FuturesUnordered<_> = (0..100u64)
        .map(|k| {
            let load = loader.load(k);
            async move { (k, load.await) }
        })
        .collect();
    let mut answered = 0;
    while let Some((k, answer)) = loads.next().await {
        assert_eq!(answer.unwrap(), Some(k * 2));
        answered += 1;
    }
    assert_eq!(answered, 100);
}

async fn load_many_and_loads(calls: Calls) {
    let loader = recording_loader(&calls);
    let (many, one) = tokio::join!(loader.load_many(0..50), loader.load(77));
    assert_eq!(many.len(), 50);
    assert_eq!(one.unwrap(), Some(154));
}

fn assert_one_batch_per_round(what: &str, split: &[(usize, Vec<usize>)]) {
    assert!(
        split.is_empty(),
        "{what}: {} of {ROUNDS} rounds made more than one batch, e.g. {:?}",
        split.len(),
        &split[..split.len().min(5)]
    );
}

macro_rules! one_batch_tests {
    ($flavor:literal, $($attr:tt)*) => {
        #[tokio::test($($attr)*)]
        async fn join_all_of_100_loads_is_one_batch_every_round() {
            assert_one_batch_per_round(concat!($flavor, " join_all"), &split_rounds(join_all_of_100).await);
        }

        #[tokio::test($($attr)*)]
        async fn join_of_4_loads_is_one_batch_every_round() {
            assert_one_batch_per_round(concat!($flavor, " join!"), &split_rounds(join_of_4).await);
        }

        #[tokio::test($($attr)*)]
        async fn join_of_4_async_blocks_is_one_batch_every_round() {
            assert_one_batch_per_round(
                concat!($flavor, " join! of async blocks"),
                &split_rounds(join_of_4_async_blocks).await,
            );
        }

        #[tokio::test($($attr)*)]
        async fn futures_unordered_of_100_loads_is_one_batch_every_round() {
            assert_one_batch_per_round(
                concat!($flavor, " FuturesUnordered"),
                &split_rounds(futures_unordered_of_100).await,
            );
        }

        #[tokio::test($($attr)*)]
        async fn load_many_with_a_load_is_one_batch_every_round() {
            assert_one_batch_per_round(
                concat!($flavor, " load_many + load"),
                &split_rounds(load_many_and_loads).await,
            );
        }

        #[tokio::test($($attr)*)]
        async fn preload_is_one_query_per_relation_every_round() {
            #[derive(Clone, Debug)]
            struct User { id: u64 }
            #[derive(Clone, Debug)]
            struct Rec { assessment_id: u64 }
            let users = MemorySource::new("users").field("_id", |u: &User| u.id);
            users.extend((0..40).map(|id| User { id }));
            let recs = MemorySource::new("recs").field("assessment_id", |r: &Rec| r.assessment_id);
            recs.extend((0..300).map(|i| Rec { assessment_id: i % 100 }));
            for round in 0..ROUNDS as u64 {
                let (users, recs) = (users.clone(), recs.clone());
                tokio::spawn(async move {
                    let by_id = Loader::new(users.by_id());
                    let by_id = &by_id;
                    let parents: Vec<u64> = (0..100).collect();
                    let rows = preload_relations(
                        parents,
                        (
                            One::new(&users, "_id", |p: &u64| p % 40).prime(&by_id, |u| u.id),
                            Many::new(&recs, "assessment_id", |p: &u64| *p),
                        ),
                    )
                    .await
                    .unwrap();
                    assert_eq!(rows.len(), 100);
                    // Every user was primed: loading them all asks for nothing.
                    let again = join_all((0..40).map(|k| by_id.load(k))).await;
                    assert!(again.iter().all(Result::is_ok));
                    // One query per relation; the primed loads asked for nothing.
                    assert_eq!(users.queries() + recs.queries(), 2 * (round + 1));
                })
                .await
                .unwrap();
            }
        }
    };
}

mod current_thread {
    use super::*;
    one_batch_tests!("current_thread", flavor = "current_thread");
}

mod multi_thread {
    use super::*;
    one_batch_tests!("multi_thread", flavor = "multi_thread", worker_threads = 2);
}

/// Loads from 100 tasks spawned in one tick: on a current-thread runtime they run before the
/// batch goes out, so they make one batch.
#[tokio::test(flavor = "current_thread")]
async fn spawned_tasks_on_a_current_thread_runtime_make_one_batch() {
    for _ in 0..ROUNDS {
        let calls = Calls::default();
        let loader = recording_loader(&calls);
        let tasks: Vec<_> = (0..100u64)
            .map(|k| {
                let loader = loader.clone();
                tokio::spawn(async move { loader.load(k).await.unwrap() })
            })
            .collect();
        for (k, task) in (0..100u64).zip(tasks) {
            assert_eq!(task.await.unwrap(), Some(k * 2));
        }
        assert_eq!(calls.lock().len(), 1);
    }
}

/// Loads from 100 tasks spawned in one tick on a multi-thread runtime: every task gets its
/// value and no key is asked twice; how many batches they made is printed (run with
/// `--nocapture`), as the design cannot promise one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_on_a_multi_thread_runtime_get_their_values() {
    let mut batches_per_round = Vec::new();
    for _ in 0..ROUNDS {
        let calls = Calls::default();
        let loader = recording_loader(&calls);
        // Spawned from a worker, as a handler would.
        let loader2 = loader.clone();
        tokio::spawn(async move {
            let tasks: Vec<_> = (0..100u64)
                .map(|k| {
                    let loader = loader2.clone();
                    tokio::spawn(async move { loader.load(k).await.unwrap() })
                })
                .collect();
            for (k, task) in (0..100u64).zip(tasks) {
                assert_eq!(task.await.unwrap(), Some(k * 2));
            }
        })
        .await
        .unwrap();
        let calls = calls.lock();
        let mut keys: Vec<u64> = calls.concat();
        keys.sort_unstable();
        assert_eq!(keys, (0..100).collect::<Vec<_>>(), "every key asked once");
        batches_per_round.push(calls.len());
        drop(loader);
    }
    report_split("in-memory, 100 spawned tasks", &batches_per_round);
}

/// Prints how often rounds split and into how many batches.
#[allow(clippy::print_stdout)] // the measured split rate is the test's report
pub(crate) fn report_split(what: &str, batches_per_round: &[usize]) {
    let rounds = batches_per_round.len();
    let split = batches_per_round.iter().filter(|&&b| b > 1).count();
    let max = batches_per_round.iter().copied().max().unwrap_or(0);
    let mean = batches_per_round.iter().sum::<usize>() as f64 / rounds.max(1) as f64;
    println!(
        "{what}: {split} of {rounds} rounds split; batches per round: mean {mean:.2}, max {max}"
    );
}

/// A lone load waits for nothing but its own task yielding once: on a paused clock, no time
/// passes, on either runtime.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_lone_load_waits_for_no_timer() {
    let calls = Calls::default();
    let loader = recording_loader(&calls);
    let start = tokio::time::Instant::now();
    for k in 0..100 {
        assert_eq!(loader.load(k).await.unwrap(), Some(k * 2));
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        calls.lock().len(),
        100,
        "sequential loads are one batch each"
    );
}

/// The future that was to dispatch a round is dropped before it does (a `select!` took another
/// branch): another waiter of the round dispatches it, in one batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_dropped_before_dispatch_hands_the_round_on() {
    for _ in 0..ROUNDS {
        let calls = Calls::default();
        let loader = recording_loader(&calls);
        let mut first = loader.load(1);
        // Poll the first load once (it takes on the round), then drop it.
        let polled = futures_util::poll!(&mut first);
        assert!(polled.is_pending());
        let waiter = loader.load(2);
        drop(first);
        assert_eq!(waiter.await.unwrap(), Some(4));
        assert_eq!(*calls.lock(), vec![vec![1, 2]]);
    }
}

/// Leaders dropped at random, from tasks on both workers, while other tasks wait on their
/// rounds: every load still gets its value, and nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_dropped_across_tasks_never_strand_a_round() {
    for round in 0..ROUNDS as u64 {
        let calls = Calls::default();
        let loader = recording_loader(&calls);
        let tasks: Vec<_> = (0..20u64)
            .map(|k| {
                let loader = loader.clone();
                tokio::spawn(async move {
                    let key = k % 7;
                    if (k + round) % 3 == 0 {
                        // Poll once (it may take on the round), then give up on it.
                        let mut first = loader.load(key);
                        let _ = futures_util::poll!(&mut first);
                        tokio::task::yield_now().await;
                        drop(first);
                    }
                    loader.load(key).await.unwrap()
                })
            })
            .collect();
        let answers = tokio::time::timeout(Duration::from_secs(10), join_all(tasks))
            .await
            .expect("every round is dispatched");
        for (k, answer) in (0..20u64).zip(answers) {
            assert_eq!(answer.unwrap(), Some((k % 7) * 2));
        }
        for batch in calls.lock().iter() {
            let mut keys = batch.clone();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), batch.len(), "{batch:?}");
        }
    }
}

#[test]
fn load_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<inframind_loader::Load<u64, std::io::Error>>();
    send_sync::<inframind_loader::LoadMany<u64, std::io::Error>>();
}
