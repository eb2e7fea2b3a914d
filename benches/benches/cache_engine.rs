//! The in-process engine (issue 9): inframind-cache's `MemoryStore` (a sharded LRU with TTLs
//! when this bench was written; since issue 9, quick_cache's S3-FIFO inside its own shards),
//! against moka (W-TinyLFU admission) and quick_cache (S3-FIFO), on the same byte-weighted
//! traces and the same hits, in one process (method: docs/benchmarks.md).
//!
//! ```sh
//! cargo bench -p inframind-benches --bench cache_engine             # all of it, about a minute
//! cargo bench -p inframind-benches --bench cache_engine -- --quick  # smoke run, seconds
//! CACHE_ENGINE_ONLY=ratio cargo bench -p inframind-benches --bench cache_engine  # or throughput
//! CACHE_ENGINE_ROUNDS=51 cargo bench -p inframind-benches --bench cache_engine   # more rounds
//! ```
//!
//! Every engine sees the same entries: a key of 81 bytes (shaped like the cache's
//! `{namespace}:{digest}` keys), a body of 1-256 KiB drawn once per key (log-uniform, seeded),
//! a one-hour TTL, and a weight of key + body + 64 bytes, which is what `MemoryStore` charges an
//! entry that is not an envelope. The byte capacity is the same for all. Engines:
//!
//! - `MemoryStore` through the public `Store` trait (`try_get`, `put`), with its default 16
//!   shards and, as a reference for the policy without the per-shard entry limit, one shard;
//! - moka `sync::Cache` with a weigher, `max_capacity` in bytes and per-entry expiry (its
//!   default W-TinyLFU policy, and its LRU policy as a second reference: LRU without
//!   `MemoryStore`'s millisecond access clock);
//! - quick_cache `sync::Cache` with a weighter and the same capacity; it has no TTLs, so the
//!   value carries its expiry instant, checked on every get, as an adoption would have to.
//!
//! **Hit ratio.** For Zipf(0.9), Zipf(1.1) and Zipf(0.9) with bursts of one-off keys (a scan:
//! 6 000 distinct new keys after every 20 000 Zipf requests, 23% of the requests), at several
//! capacities: get, and on a miss insert; counted after a warm-up. moka applies admission and
//! eviction in maintenance it defers (by itself after 64 writes or 64 reads, or 300 ms); the
//! loop calls `run_pending_tasks()` after every insert, so moka never holds more than its
//! capacity between two requests, as the synchronous engines do. "Rejected" counts inserts the
//! engine did not hold right after the insert (an entry over a per-shard limit), by
//! `MemoryStore`'s `PutOutcome` and by a peek that is not a use for the others (a get would be
//! a second use, which S3-FIFO promotes); moka's
//! admission rejections happen in that maintenance and are its policy, not counted.
//!
//! **Hit throughput.** A hot set of 1 024 keys that fits (every get hits, checked), read in
//! Zipf(0.9) order by 1 and by 2 threads. Each round runs every engine once, in rotating order,
//! on identical keys, for a batch of about 20 ms; the figures are the medians over rounds of ns
//! per get (2 threads: wall time from the first start to the last end, over the gets of both)
//! and of the per-round ratios. moka also runs without per-entry expiry, to show what the
//! expiry costs its hits (a cache with per-response TTLs needs it), and with foldhash instead
//! of its default SipHash. A `MemoryStore` get through `Store::try_get` also reads the (empty)
//! namespace generations under the store's one generations lock; the cache layer's own hit
//! path reads generation cells without it, so `MemoryStore`'s figures here include a cost its
//! hits in the layer do not pay. A reference subject times that lock alone.

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use inframind_cache::{MemoryStore, PutOutcome, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const MIN_BODY: f64 = 1024.0;
const MAX_BODY: usize = 256 * 1024;
/// What `MemoryStore` charges per entry on top of key and value (its `ENTRY_OVERHEAD`).
const ENTRY_OVERHEAD: u64 = 64;
const TTL: Duration = Duration::from_secs(3600);
const SEED: u64 = 0x5eed_cace_0009;
/// The mean of the log-uniform 1-256 KiB body, in bytes: (b - a) / ln(b / a).
const MEAN_BODY: u64 = 47_090;

/// Every body is a prefix of this: the engines see real lengths without the bench allocating
/// (and zeroing) hundreds of kilobytes per miss.
static BODY: [u8; MAX_BODY] = [b'x'; MAX_BODY];

fn weight(key_len: usize, body_len: usize) -> u64 {
    (key_len + body_len) as u64 + ENTRY_OVERHEAD
}

// ---- traces -----------------------------------------------------------------------------------

/// A bijective 64-bit mixer (splitmix64's finaliser): distinct ids give distinct key digests.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key shaped like the cache's: a namespace, then 64 hex digits.
fn make_key(id: u64) -> String {
    format!(
        "GET:shop.example:{:016x}{:016x}{:016x}{:016x}",
        mix(4 * id),
        mix(4 * id + 1),
        mix(4 * id + 2),
        mix(4 * id + 3)
    )
}

/// Exact Zipf(s) over ranks `0..n` by inverse CDF (rank 0 the most popular).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += (k as f64).powf(-s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut SmallRng) -> u32 {
        let u: f64 = rng.random();
        let rank = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1);
        rank as u32
    }
}

/// One-off keys mixed into a Zipf stream.
#[derive(Clone, Copy)]
struct Scan {
    /// Zipf requests between two bursts.
    every: usize,
    /// Distinct new keys per burst, each requested once.
    burst: usize,
}

struct Trace {
    name: String,
    /// Keys and body sizes by id; ids below `universe` are Zipf ranks, the rest one-off.
    keys: Vec<String>,
    sizes: Vec<u32>,
    universe: u32,
    requests: Vec<u32>,
    warmup: usize,
}

/// Body sizes, log-uniform in 1-256 KiB, one per id, from their own seeded stream: key `i`
/// has the same size in every trace.
fn body_sizes(count: usize) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(SEED ^ 0x5153);
    let (lo, hi) = (MIN_BODY.ln(), (MAX_BODY as f64).ln());
    (0..count)
        .map(|_| {
            let size = rng.random_range(lo..hi).exp() as usize;
            size.clamp(MIN_BODY as usize, MAX_BODY) as u32
        })
        .collect()
}

fn zipf_trace(
    s: f64,
    universe: usize,
    warmup: usize,
    measured: usize,
    scan: Option<Scan>,
) -> Trace {
    let zipf = Zipf::new(universe, s);
    let mut rng = SmallRng::seed_from_u64(SEED ^ s.to_bits());
    let total = warmup + measured;
    let mut requests = Vec::with_capacity(total);
    let mut next_one_off = universe as u32;
    let mut since_burst = 0;
    while requests.len() < total {
        if let Some(scan) = scan {
            if since_burst == scan.every {
                for _ in 0..scan.burst {
                    requests.push(next_one_off);
                    next_one_off += 1;
                }
                since_burst = 0;
                continue;
            }
        }
        requests.push(zipf.sample(&mut rng));
        since_burst += 1;
    }
    requests.truncate(total);
    let ids = next_one_off as usize;
    let name = match scan {
        None => format!("Zipf({s})"),
        Some(scan) => format!(
            "Zipf({s}) + scan ({} one-off keys after every {})",
            scan.burst, scan.every
        ),
    };
    Trace {
        name,
        keys: (0..ids as u64).map(make_key).collect(),
        sizes: body_sizes(ids),
        universe: universe as u32,
        requests,
        warmup,
    }
}

// ---- engines ----------------------------------------------------------------------------------

/// What an engine reports holding.
struct Usage {
    entries: u64,
    bytes: u64,
}

/// The little each engine needs to do here.
trait Engine: Send + Sync {
    fn name(&self) -> String;
    /// Whether `key` is held and live (a hit).
    fn get(&self, key: &str) -> bool;
    /// Inserts; whether the engine kept the entry, when it says (`None`: ask `contains`).
    fn insert(&self, key: &str, body: Bytes, ttl: Duration) -> Option<bool>;
    /// Whether `key` is held, without counting as a use where the engine allows.
    fn contains(&self, key: &str) -> bool;
    /// Deferred admission and eviction work, for engines that defer it.
    fn maintain(&self) {}
    fn usage(&self) -> Usage;
}

struct Memory {
    store: MemoryStore,
    shards: usize,
}

impl Memory {
    fn new(max_bytes: u64, shards: Option<usize>) -> Self {
        let builder = MemoryStore::builder().max_bytes(max_bytes);
        match shards {
            Some(shards) => Self {
                store: builder.shards(shards).build(),
                shards,
            },
            None => Self {
                store: builder.build(),
                shards: 16,
            },
        }
    }
}

impl Engine for Memory {
    fn name(&self) -> String {
        format!(
            "MemoryStore ({} shard{})",
            self.shards,
            if self.shards == 1 { "" } else { "s" }
        )
    }

    fn get(&self, key: &str) -> bool {
        let lookup = match self.store.try_get(key, &[]) {
            Some(lookup) => lookup,
            None => futures::executor::block_on(self.store.get(key, &[])),
        };
        lookup.is_ok_and(|lookup| lookup.value.is_some())
    }

    fn insert(&self, key: &str, body: Bytes, ttl: Duration) -> Option<bool> {
        // The store says whether it kept the entry (`PutOutcome`). Asking with a get instead
        // would count as a read, which S3-FIFO takes as a second use and promotes the entry.
        let outcome = futures::executor::block_on(self.store.put(key, body, ttl));
        Some(matches!(outcome, Ok(PutOutcome::Stored)))
    }

    fn contains(&self, key: &str) -> bool {
        self.get(key)
    }

    fn usage(&self) -> Usage {
        Usage {
            entries: self.store.entries().unwrap_or(0),
            bytes: self.store.memory_bytes().unwrap_or(0),
        }
    }
}

/// moka's value: the body and its TTL, which [`PerEntryTtl`] hands to moka.
#[derive(Clone)]
struct TtlBody {
    body: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<String, TtlBody> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &TtlBody, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &TtlBody,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

type MokaBuilder = moka::sync::CacheBuilder<String, TtlBody, moka::sync::Cache<String, TtlBody>>;

struct Moka<S = RandomState> {
    cache: moka::sync::Cache<String, TtlBody, S>,
    name: &'static str,
}

/// Weighed by bytes; per-entry expiry unless `expiry` is false (the TTL is then ignored: to
/// show what the expiry costs a hit).
fn moka_builder(max_bytes: u64, lru: bool, expiry: bool) -> MokaBuilder {
    let policy = if lru {
        moka::policy::EvictionPolicy::lru()
    } else {
        moka::policy::EvictionPolicy::tiny_lfu()
    };
    let builder = moka::sync::Cache::builder()
        .max_capacity(max_bytes)
        .weigher(|key: &String, value: &TtlBody| {
            u32::try_from(weight(key.len(), value.body.len())).unwrap_or(u32::MAX)
        })
        .eviction_policy(policy);
    if expiry {
        builder.expire_after(PerEntryTtl)
    } else {
        builder
    }
}

impl Moka {
    fn new(max_bytes: u64, lru: bool) -> Self {
        Self {
            cache: moka_builder(max_bytes, lru, true).build(),
            name: if lru {
                "moka (LRU policy)"
            } else {
                "moka (TinyLFU)"
            },
        }
    }

    fn without_expiry(max_bytes: u64) -> Self {
        Self {
            cache: moka_builder(max_bytes, false, false).build(),
            name: "moka (TinyLFU, no expiry)",
        }
    }
}

impl Moka<foldhash::fast::RandomState> {
    /// moka's default hasher is SipHash; this shows how much of a get that is.
    fn with_foldhash(max_bytes: u64) -> Self {
        Self {
            cache: moka_builder(max_bytes, false, true)
                .build_with_hasher(foldhash::fast::RandomState::default()),
            name: "moka (TinyLFU, foldhash)",
        }
    }
}

impl<S: BuildHasher + Clone + Send + Sync + 'static> Engine for Moka<S> {
    fn name(&self) -> String {
        self.name.to_owned()
    }

    fn get(&self, key: &str) -> bool {
        self.cache.get(key).is_some()
    }

    fn insert(&self, key: &str, body: Bytes, ttl: Duration) -> Option<bool> {
        self.cache.insert(key.to_owned(), TtlBody { body, ttl });
        None
    }

    fn contains(&self, key: &str) -> bool {
        self.cache.contains_key(key)
    }

    fn maintain(&self) {
        self.cache.run_pending_tasks();
    }

    fn usage(&self) -> Usage {
        self.cache.run_pending_tasks();
        Usage {
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
        }
    }
}

/// quick_cache's value: it has no TTLs, so the entry carries its expiry.
#[derive(Clone)]
struct Expiring {
    body: Bytes,
    expires_at: Instant,
}

#[derive(Clone)]
struct ByteWeighter;

impl quick_cache::Weighter<String, Expiring> for ByteWeighter {
    fn weight(&self, key: &String, value: &Expiring) -> u64 {
        weight(key.len(), value.body.len())
    }
}

struct Quick {
    cache: quick_cache::sync::Cache<String, Expiring, ByteWeighter>,
}

impl Quick {
    fn new(max_bytes: u64) -> Self {
        // quick_cache sizes its shards from the expected entry count: capacity / mean weight.
        let estimated = (max_bytes / (MEAN_BODY + 81 + ENTRY_OVERHEAD)).max(1) as usize;
        Self {
            cache: quick_cache::sync::Cache::with_weighter(estimated, max_bytes, ByteWeighter),
        }
    }
}

impl Engine for Quick {
    fn name(&self) -> String {
        format!("quick_cache ({} shards)", self.cache.num_shards())
    }

    fn get(&self, key: &str) -> bool {
        self.cache
            .get(key)
            .is_some_and(|entry| entry.expires_at > Instant::now())
    }

    fn insert(&self, key: &str, body: Bytes, ttl: Duration) -> Option<bool> {
        let expires_at = Instant::now() + ttl;
        self.cache
            .insert(key.to_owned(), Expiring { body, expires_at });
        None
    }

    fn contains(&self, key: &str) -> bool {
        self.cache.peek(key).is_some()
    }

    fn usage(&self) -> Usage {
        Usage {
            entries: self.cache.len() as u64,
            bytes: self.cache.weight(),
        }
    }
}

/// Not an engine: the read lock `MemoryStore::try_get` takes for the namespace generations
/// (one lock for the whole store), alone. Subtracted from `MemoryStore`'s time, it leaves
/// what its entry lookup costs; the cache layer's hit path does not take this lock.
struct GenerationsLock(parking_lot::RwLock<HashMap<Arc<str>, u64>>);

impl Engine for GenerationsLock {
    fn name(&self) -> String {
        "reference: MemoryStore's generations read lock alone".to_owned()
    }

    fn get(&self, _: &str) -> bool {
        black_box(self.0.read().len());
        true
    }

    fn insert(&self, _: &str, _: Bytes, _: Duration) -> Option<bool> {
        None
    }

    fn contains(&self, _: &str) -> bool {
        true
    }

    fn usage(&self) -> Usage {
        Usage {
            entries: 0,
            bytes: 0,
        }
    }
}

/// The engines of the hit-ratio simulation, at `max_bytes` each.
fn ratio_engines(max_bytes: u64) -> Vec<Box<dyn Engine>> {
    vec![
        Box::new(Memory::new(max_bytes, None)),
        Box::new(Memory::new(max_bytes, Some(1))),
        Box::new(Moka::new(max_bytes, false)),
        Box::new(Moka::new(max_bytes, true)),
        Box::new(Quick::new(max_bytes)),
    ]
}

// ---- hit ratio --------------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    requests: u64,
    hits: u64,
    bytes: u64,
    hit_bytes: u64,
}

impl Counts {
    fn add(&mut self, hit: bool, size: u64) {
        self.requests += 1;
        self.bytes += size;
        if hit {
            self.hits += 1;
            self.hit_bytes += size;
        }
    }

    fn ratio(&self) -> f64 {
        self.hits as f64 / self.requests.max(1) as f64
    }

    fn byte_ratio(&self) -> f64 {
        self.hit_bytes as f64 / self.bytes.max(1) as f64
    }
}

struct Simulated {
    all: Counts,
    /// The requests for Zipf keys only (all of them when the trace has no scan).
    zipf: Counts,
    inserts: u64,
    rejected: u64,
    usage: Usage,
    elapsed: Duration,
}

/// Get; on a miss, insert. Counts from the end of the warm-up.
fn simulate(engine: &dyn Engine, trace: &Trace) -> Simulated {
    let start = Instant::now();
    let (mut all, mut zipf) = (Counts::default(), Counts::default());
    let (mut inserts, mut rejected) = (0, 0);
    for (i, &id) in trace.requests.iter().enumerate() {
        let key = &trace.keys[id as usize];
        let size = trace.sizes[id as usize] as usize;
        let hit = engine.get(key);
        if i >= trace.warmup {
            all.add(hit, size as u64);
            if id < trace.universe {
                zipf.add(hit, size as u64);
            }
        }
        if !hit {
            let stored = engine.insert(key, Bytes::from_static(&BODY[..size]), TTL);
            inserts += 1;
            if !stored.unwrap_or_else(|| engine.contains(key)) {
                rejected += 1;
            }
            engine.maintain();
        }
    }
    Simulated {
        all,
        zipf,
        inserts,
        rejected,
        usage: engine.usage(),
        elapsed: start.elapsed(),
    }
}

fn fmt_bytes(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.0} KiB", bytes as f64 / KIB as f64)
    }
}

fn hit_ratios(quick: bool) {
    let (universe, warmup, measured) = if quick {
        (5_000, 20_000, 60_000)
    } else {
        (20_000, 200_000, 800_000)
    };
    let capacities: &[u64] = if quick {
        &[4 * MIB, 64 * MIB]
    } else {
        &[4 * MIB, 16 * MIB, 64 * MIB, 256 * MIB]
    };
    let scan = Scan {
        every: 20_000,
        burst: 6_000,
    };
    let traces = [
        zipf_trace(0.9, universe, warmup, measured, None),
        zipf_trace(1.1, universe, warmup, measured, None),
        zipf_trace(0.9, universe, warmup, measured, Some(scan)),
    ];
    let universe_bytes: u64 = traces[0].sizes[..universe]
        .iter()
        .zip(&traces[0].keys)
        .map(|(&size, key)| weight(key.len(), size as usize))
        .sum();
    println!(
        "\n## Hit ratio: {universe} Zipf keys ({} in all), {warmup} warm-up + {measured} counted requests",
        fmt_bytes(universe_bytes)
    );
    for trace in &traces {
        println!("\n### {}\n", trace.name);
        println!(
            "| capacity | engine | hit ratio | byte hit ratio | hit ratio, Zipf keys | inserts | rejected | entries / bytes held at the end | time |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for &capacity in capacities {
            for engine in ratio_engines(capacity) {
                let sim = simulate(engine.as_ref(), trace);
                println!(
                    "| {} | {} | {:.3} | {:.3} | {:.3} | {} | {} | {} / {} | {:.1} s |",
                    fmt_bytes(capacity),
                    engine.name(),
                    sim.all.ratio(),
                    sim.all.byte_ratio(),
                    sim.zipf.ratio(),
                    sim.inserts,
                    sim.rejected,
                    sim.usage.entries,
                    fmt_bytes(sim.usage.bytes),
                    sim.elapsed.as_secs_f64()
                );
            }
        }
    }
}

// ---- hit throughput ---------------------------------------------------------------------------

const HOT_KEYS: usize = 1024;
const SEQUENCE: usize = 1 << 16;

/// The hot set, stored in every engine, and each thread's order of reads.
struct Hot {
    keys: Vec<String>,
    orders: [Vec<u32>; 2],
}

fn hot_set() -> (Hot, Vec<Box<dyn Engine>>) {
    let keys: Vec<String> = (0..HOT_KEYS as u64).map(make_key).collect();
    let sizes = body_sizes(HOT_KEYS);
    let total: u64 = keys
        .iter()
        .zip(&sizes)
        .map(|(key, &size)| weight(key.len(), size as usize))
        .sum();
    // Room to spare, so no engine evicts (MemoryStore's 16 shards each get a quarter).
    let capacity = 4 * total;
    let engines: Vec<Box<dyn Engine>> = vec![
        Box::new(Memory::new(capacity, None)),
        Box::new(Moka::new(capacity, false)),
        Box::new(Quick::new(capacity)),
        Box::new(Moka::without_expiry(capacity)),
        Box::new(Moka::with_foldhash(capacity)),
        Box::new(GenerationsLock(parking_lot::RwLock::default())),
    ];
    for engine in &engines {
        for (key, &size) in keys.iter().zip(&sizes) {
            // Each body its own allocation, so a hit clones a refcount as in a server.
            engine.insert(key, Bytes::from(vec![b'x'; size as usize]), TTL);
        }
        engine.maintain();
        let held = keys.iter().filter(|key| engine.get(key)).count();
        assert_eq!(
            held,
            HOT_KEYS,
            "{} does not hold the hot set",
            engine.name()
        );
    }
    let zipf = Zipf::new(HOT_KEYS, 0.9);
    let orders = [1u64, 2].map(|thread| {
        let mut rng = SmallRng::seed_from_u64(SEED ^ thread);
        (0..SEQUENCE).map(|_| zipf.sample(&mut rng)).collect()
    });
    println!(
        "\n## Hit throughput: {HOT_KEYS} hot keys ({} of entries, capacity {}), Zipf(0.9) reads",
        fmt_bytes(total),
        fmt_bytes(capacity)
    );
    (Hot { keys, orders }, engines)
}

/// `n` gets on the calling thread, from `start` in `order`; when they began and ended.
fn read_batch(
    engine: &dyn Engine,
    hot: &Hot,
    order: &[u32],
    start: usize,
    n: usize,
) -> (Instant, Instant) {
    let began = Instant::now();
    let mut hits = 0usize;
    for i in 0..n {
        let id = order[(start + i) % SEQUENCE];
        hits += usize::from(engine.get(&hot.keys[id as usize]));
    }
    let ended = Instant::now();
    assert_eq!(black_box(hits), n, "{} missed a hot key", engine.name());
    (began, ended)
}

/// `n` gets on each of `threads` threads; the wall time from the first thread's start to the
/// last one's end (so threads that the scheduler runs one after another count as such).
fn batch(engine: &dyn Engine, hot: &Hot, threads: usize, start: usize, n: usize) -> Duration {
    if threads == 1 {
        let (began, ended) = read_batch(engine, hot, &hot.orders[0], start, n);
        return ended - began;
    }
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let workers: Vec<_> = hot.orders[..threads]
            .iter()
            .map(|order| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    read_batch(engine, hot, order, start, n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("reader panicked"))
            .collect()
    });
    let first = spans.iter().map(|span| span.0).min();
    let last = spans.iter().map(|span| span.1).max();
    match (first, last) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn throughput(rounds: usize) {
    let (hot, engines) = hot_set();
    // Batches of about 20 ms for the first engine, single-threaded.
    let probe = 100_000;
    let per_get = batch(engines[0].as_ref(), &hot, 1, 0, probe).as_secs_f64() / probe as f64;
    let n = ((0.020 / per_get) as usize).clamp(10_000, 5_000_000);
    println!("{rounds} rounds, {n} gets per thread per engine per round, rotating order\n");
    println!(
        "| threads | engine | ns per get (median) | ratio to MemoryStore (median of per-round ratios) | ratio to moka |"
    );
    println!("|---|---|---|---|---|");
    for threads in [1, 2] {
        let mut ns = vec![Vec::with_capacity(rounds); engines.len()];
        for round in 0..rounds {
            let start = round * 7919 % SEQUENCE;
            let mut times = vec![0.0; engines.len()];
            for k in 0..engines.len() {
                let e = (round + k) % engines.len();
                let took = batch(engines[e].as_ref(), &hot, threads, start, n);
                times[e] = took.as_secs_f64() * 1e9 / (threads * n) as f64;
            }
            for (e, t) in times.into_iter().enumerate() {
                ns[e].push(t);
            }
        }
        for (e, engine) in engines.iter().enumerate() {
            let to =
                |base: usize| median(ns[e].iter().zip(&ns[base]).map(|(a, b)| a / b).collect());
            println!(
                "| {threads} | {} | {:.1} | {:.3} | {:.3} |",
                engine.name(),
                median(ns[e].clone()),
                to(0),
                to(1)
            );
        }
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick")
        || std::env::var_os("CACHE_ENGINE_QUICK").is_some();
    let rounds: usize = std::env::var("CACHE_ENGINE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 5 } else { 31 });
    let only = std::env::var("CACHE_ENGINE_ONLY").unwrap_or_default();
    println!(
        "# In-process engine: inframind-cache MemoryStore, moka 0.12 (sync), quick_cache 0.7{}",
        if quick { " (quick run)" } else { "" }
    );
    let started = Instant::now();
    if only.is_empty() || only == "ratio" {
        hit_ratios(quick);
    }
    if only.is_empty() || only == "throughput" {
        throughput(rounds);
    }
    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
}
