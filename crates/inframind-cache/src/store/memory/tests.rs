use super::*;

fn run<T>(future: StoreFuture<'_, T>) -> T {
    // Every MemoryStore future is ready at once.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = future;
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => result.unwrap(),
        std::task::Poll::Pending => panic!("MemoryStore future was pending"),
    }
}

/// A store whose clock the test moves.
fn manual(max_bytes: u64, shards: usize) -> (MemoryStore, Arc<AtomicU64>) {
    let mut store = MemoryStore::builder()
        .max_bytes(max_bytes)
        .shards(shards)
        .build();
    let clock = Arc::new(AtomicU64::new(1_000));
    Arc::get_mut(&mut store.inner).unwrap().clock = Clock::Manual(Arc::clone(&clock));
    (store, clock)
}

/// S3-FIFO, not LRU: an entry that was read again survives one-off entries many times the
/// store's size, all stored after its last read (LRU would evict it after `max_bytes` of
/// them). Once the main queue is full, one-offs pass through the probation queue, which is
/// 3% of a shard: so this needs a shard of many entries.
#[test]
fn bounded_by_bytes_keeping_an_entry_that_was_read_again() {
    let store = MemoryStore::builder().max_bytes(200_000).shards(1).build();
    let value = Bytes::from(vec![b'x'; 900]);
    run(store.put("hot", value.clone(), Duration::from_secs(60)));
    assert!(store.read("hot").is_some());
    assert!(store.read("hot").is_some());
    for i in 0..1000 {
        run(store.put(&format!("k{i}"), value.clone(), Duration::from_secs(60)));
        assert!(store.bytes() <= 200_000, "{} bytes", store.bytes());
    }
    assert!(
        store.read("hot").is_some(),
        "an entry read again was evicted"
    );
    assert!(
        store.read("k999").is_some(),
        "the entry just stored is gone"
    );
    let (bytes, entries) = held(&store);
    assert_eq!((store.bytes(), store.entries()), (bytes, Some(entries)));
    assert!(entries >= 150, "only {entries} entries held");
}

use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put { key: u8, len: usize, ttl_ms: u64 },
    Get { key: u8 },
    Delete { key: u8 },
    DeleteMatching { digit: u8 },
    Advance { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..24, 0usize..2500, 1u64..60).prop_map(|(key, len, ttl_ms)| Op::Put { key, len, ttl_ms }),
        3 => (0u8..24).prop_map(|key| Op::Get { key }),
        1 => (0u8..24).prop_map(|key| Op::Delete { key }),
        1 => (0u8..10).prop_map(|digit| Op::DeleteMatching { digit }),
        2 => (0u64..5).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// (bytes, entries) the engine really holds, summed entry by entry.
fn held(store: &MemoryStore) -> (u64, u64) {
    held_entries(store)
        .iter()
        .fold((0, 0), |(bytes, entries), (_, slot)| {
            (bytes + slot.size, entries + 1)
        })
}

/// Every entry the shards hold.
fn held_entries(store: &MemoryStore) -> Vec<(Box<[u8]>, Arc<Slot>)> {
    store
        .inner
        .shards
        .iter()
        .flat_map(|shard| {
            let shard = shard.read();
            shard
                .iter()
                .map(|(key, slot)| (key.clone(), Arc::clone(slot)))
                .collect::<Vec<_>>()
        })
        .collect()
}

proptest! {
    /// Against a reference model of the documented guarantees (not of an eviction order,
    /// which is quick_cache's): the store returns only what was last put and is not expired,
    /// keeps what it just stored, refuses exactly the entries over its largest entry, holds
    /// nothing that was deleted or replaced, counts exactly the bytes and entries it holds,
    /// and never holds more than its bound.
    #[test]
    fn accounting_matches_a_reference_model(
        max_bytes in 6_000u64..40_000,
        shards in prop_oneof![Just(1usize), Just(2), Just(4)],
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let (store, clock) = manual(max_bytes, shards);
        let largest = store.inner.largest_entry;
        // The builder's check holds: the largest body the store reports fits.
        prop_assert_eq!(store.max_entry_body(), Some(largest.saturating_sub(ENTRY_ALLOWANCE)));
        // key -> (value, expires_at)
        let mut model: HashMap<String, (Bytes, u64)> = HashMap::new();
        for (i, op) in ops.into_iter().enumerate() {
            let now = clock.load(Ordering::Relaxed);
            match op {
                Op::Put { key, len, ttl_ms } => {
                    let key = format!("k{key}");
                    let value = Bytes::from(vec![i as u8; len]);
                    let size = key.len() as u64 + len as u64 + ENTRY_OVERHEAD;
                    let outcome = run(store.put(&key, value.clone(), Duration::from_millis(ttl_ms)));
                    model.remove(&key);
                    if size > largest {
                        prop_assert_eq!(outcome, PutOutcome::TooLarge);
                        prop_assert!(store.read(&key).is_none());
                    } else {
                        prop_assert_eq!(outcome, PutOutcome::Stored);
                        prop_assert_eq!(store.read(&key), Some(value.clone()));
                        model.insert(key.clone(), (value, now + ttl_ms));
                    }
                }
                Op::Get { key } => {
                    let key = format!("k{key}");
                    let got = store.read(&key);
                    match model.get(&key) {
                        Some((want, expires_at)) if *expires_at > now => {
                            // Live in the model: the store has it, or evicted it.
                            if let Some(value) = got {
                                prop_assert_eq!(&value, want);
                            }
                        }
                        _ => prop_assert!(got.is_none(), "served {} expired or never put", key),
                    }
                }
                Op::Delete { key } => {
                    let key = format!("k{key}");
                    run(store.delete(&key));
                    model.remove(&key);
                    prop_assert!(store.read(&key).is_none());
                }
                Op::DeleteMatching { digit } => {
                    let pattern = format!("k*{digit}");
                    let before = held(&store).1;
                    let deleted = run(store.delete_matching(&pattern));
                    model.retain(|key, _| !key.ends_with(char::from(b'0' + digit)));
                    prop_assert_eq!(held(&store).1, before - deleted);
                }
                Op::Advance { ms } => {
                    clock.fetch_add(ms, Ordering::Relaxed);
                }
            }
            let (bytes, entries) = held(&store);
            prop_assert_eq!(store.bytes(), bytes);
            prop_assert_eq!(store.entries(), Some(entries));
            prop_assert!(bytes <= max_bytes, "{} bytes held, bound {}", bytes, max_bytes);
            // Everything held is the model's latest value for its key (expired or not).
            for (key, slot) in held_entries(&store) {
                let key = String::from_utf8(key.to_vec()).unwrap();
                let (want, expires_at) = model.get(&key).expect("held but deleted, replaced or refused");
                prop_assert_eq!(&slot.value, want);
                prop_assert_eq!(slot.expires_at, *expires_at);
            }
        }
    }
}

#[test]
fn an_entry_of_exactly_the_largest_size_is_stored() {
    let (store, _) = manual(64 * 1024, 4);
    let largest = store.inner.largest_entry;
    let key = "k";
    let len = (largest - ENTRY_OVERHEAD - key.len() as u64) as usize;
    let value = Bytes::from(vec![b'x'; len]);
    let stored = run(store.put(key, value.clone(), Duration::from_secs(60)));
    assert_eq!(stored, PutOutcome::Stored);
    assert_eq!(store.read(key), Some(value));
    let over = Bytes::from(vec![b'x'; len + 1]);
    let refused = run(store.put(key, over, Duration::from_secs(60)));
    assert_eq!(refused, PutOutcome::TooLarge);
    assert!(
        store.read(key).is_none(),
        "the older entry outlived a refused put"
    );
    assert_eq!(store.bytes(), 0);
}

#[test]
fn expired_entries_are_not_returned() {
    let store = MemoryStore::new();
    run(store.put("a", Bytes::from_static(b"1"), Duration::from_millis(1)));
    std::thread::sleep(Duration::from_millis(5));
    assert!(store.read("a").is_none());
    assert_eq!(
        store.entries(),
        Some(0),
        "a read of an expired entry removes it"
    );
}

/// Expired entries nobody reads are not held (and counted) forever: a sweep after every
/// `max_bytes` of writes removes them, and `remove_expired` does at once.
#[test]
fn expired_entries_leave_without_being_read() {
    let (store, clock) = manual(1024 * 1024, 16);
    for i in 0..10 {
        run(store.put(
            &format!("old{i}"),
            Bytes::from(vec![b'o'; 1000]),
            Duration::from_millis(5),
        ));
    }
    clock.fetch_add(10, Ordering::Relaxed);
    // Rewriting one key: the store never fills, so eviction never runs.
    let value = Bytes::from(vec![b'n'; 10 * 1024]);
    for _ in 0..50 {
        run(store.put("new", value.clone(), Duration::from_secs(60)));
    }
    assert_eq!(
        store.entries(),
        Some(11),
        "swept before max_bytes was written"
    );
    for _ in 0..60 {
        run(store.put("new", value.clone(), Duration::from_secs(60)));
    }
    assert_eq!(store.entries(), Some(1), "expired entries were not swept");
    assert_eq!(store.bytes(), held(&store).0);

    run(store.put("brief", Bytes::from_static(b"b"), Duration::from_millis(5)));
    clock.fetch_add(10, Ordering::Relaxed);
    assert_eq!(store.remove_expired(), 1);
    assert_eq!(store.entries(), Some(1));
}

#[test]
fn glob_delete_and_generations() {
    let store = MemoryStore::new();
    for key in ["a:1", "a:2", "ab:1", "b:1"] {
        run(store.put(key, Bytes::from_static(b"v"), Duration::from_secs(60)));
    }
    assert_eq!(run(store.delete_matching("a:*")), 2);
    assert_eq!(store.entries(), Some(2));
    let ns: Vec<Arc<str>> = vec![Arc::from("a"), Arc::from("a:b")];
    assert_eq!(run(store.generations(&ns)), vec![0, 0]);
    run(store.bump_namespace("a:b"));
    let after = run(store.generations(&ns));
    assert_eq!(after[0], 0);
    assert_ne!(after[1], 0);
}
