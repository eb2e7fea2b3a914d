//! Shared helpers for the workspace's cross-crate benchmarks and peer comparisons.
//!
//! Each crate's own hot paths are benchmarked in that crate (`cargo bench -p inframind-cache`);
//! this crate holds the comparisons against peer crates that would otherwise pull heavy
//! dependencies into the library crates' dev-dependencies. See `docs/benchmarks.md` for the
//! method (paired, interleaved rounds) and the figures.
