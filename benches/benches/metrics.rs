//! Peer comparison for inframind-metrics (not written yet; its issue fills it in).

fn main() {}
