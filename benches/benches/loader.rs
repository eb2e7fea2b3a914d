//! Peer comparison for inframind-loader (not written yet; its issue fills it in).

fn main() {}
