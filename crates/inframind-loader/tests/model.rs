//! The loader's cache against a plain reference model, over random sequences of `load`,
//! `load_many`, `clear`, `clear_all`, `prime` and awaits, in one task: every load answers what
//! the model says, and the batch function never gets a key twice in one batch.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use inframind_loader::{Loaded, Loader};
use parking_lot::Mutex;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Load(u8),
    LoadMany(Vec<u8>),
    Clear(u8),
    ClearAll,
    Prime(u8, u16),
    /// Await every load made so far.
    Settle,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..8;
    prop_oneof![
        4 => key.clone().prop_map(Op::Load),
        2 => proptest::collection::vec(key.clone(), 0..5).prop_map(Op::LoadMany),
        2 => key.clone().prop_map(Op::Clear),
        1 => Just(Op::ClearAll),
        2 => (key, any::<u16>()).prop_map(|(k, v)| Op::Prime(k, v)),
        2 => Just(Op::Settle),
    ]
}

/// What the cache holds for a key in the model.
#[derive(Clone, Copy, Debug)]
enum Cached {
    /// Primed with a value.
    Primed(u64),
    /// Loaded (or being loaded) from the backend.
    Backend,
}

fn backend(key: u8) -> u64 {
    u64::from(key) * 2
}

/// What a load of `key` answers in the model (loading it from the backend if not cached).
fn expect(model: &mut HashMap<u8, Cached>, key: u8) -> Option<u64> {
    match model.get(&key) {
        Some(Cached::Primed(v)) => Some(*v),
        Some(Cached::Backend) => Some(backend(key)),
        None => {
            model.insert(key, Cached::Backend);
            Some(backend(key))
        }
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let calls: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let recorded = Arc::clone(&calls);
    let loader = Loader::new(move |keys: Vec<u8>| {
        recorded.lock().push(keys.clone());
        async move {
            Ok::<_, std::convert::Infallible>(
                keys.into_iter()
                    .map(|k| (k, backend(k)))
                    .collect::<Loaded<_, _, _>>(),
            )
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut model: HashMap<u8, Cached> = HashMap::new();
        let mut pending = Vec::new();
        let mut expected = Vec::new();
        for op in ops {
            match op {
                Op::Load(k) => {
                    expected.push(expect(&mut model, *k));
                    pending.push(futures_util::future::Either::Left(loader.load(*k)));
                }
                Op::LoadMany(keys) => {
                    let many = loader.load_many(keys.clone());
                    for k in keys {
                        expected.push(expect(&mut model, *k));
                    }
                    pending.push(futures_util::future::Either::Right(many));
                }
                Op::Clear(k) => {
                    model.remove(k);
                    loader.clear(k);
                }
                Op::ClearAll => {
                    model.clear();
                    loader.clear_all();
                }
                Op::Prime(k, v) => {
                    model.insert(*k, Cached::Primed(u64::from(*v)));
                    loader.prime(*k, u64::from(*v));
                }
                Op::Settle => {
                    settle(&mut pending, &mut expected).await?;
                }
            }
        }
        settle(&mut pending, &mut expected).await?;
        for batch in calls.lock().iter() {
            let mut keys = batch.clone();
            keys.sort_unstable();
            keys.dedup();
            prop_assert_eq!(
                keys.len(),
                batch.len(),
                "a key twice in one batch: {:?}",
                batch
            );
        }
        Ok(())
    })
}

type Pending = futures_util::future::Either<
    inframind_loader::Load<u64, std::convert::Infallible>,
    inframind_loader::LoadMany<u64, std::convert::Infallible>,
>;

async fn settle(
    pending: &mut Vec<Pending>,
    expected: &mut Vec<Option<u64>>,
) -> Result<(), TestCaseError> {
    let answers: Vec<Option<u64>> = join_all(pending.drain(..).map(|p| async move {
        match p {
            futures_util::future::Either::Left(load) => vec![load.await.unwrap()],
            futures_util::future::Either::Right(many) => {
                many.await.into_iter().map(Result::unwrap).collect()
            }
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    prop_assert_eq!(&answers, &*expected);
    expected.clear();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn loads_answer_what_the_model_says_and_batches_never_repeat_a_key(
        ops in proptest::collection::vec(op(), 0..40)
    ) {
        run(&ops)?;
    }
}
