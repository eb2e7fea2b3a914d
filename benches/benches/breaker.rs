//! Peer comparison for inframind-breaker (not written yet; its issue fills it in).

fn main() {}
