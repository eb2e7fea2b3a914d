//! `Format::negotiate` against a small reference model of RFC 9110's content negotiation, on
//! arbitrary `Accept` headers built from the media ranges that matter here.

use http::HeaderValue;
use inframind_metrics::Format;
use proptest::prelude::*;

const RANGES: [&str; 7] = [
    "application/openmetrics-text",
    "text/plain",
    "application/*",
    "text/*",
    "*/*",
    "application/json",
    "text/html",
];

/// The reference: for each format, the q of the most specific matching range (first one on
/// a tie); the higher q wins, OpenMetrics on a tie or when neither is acceptable.
fn model(entries: &[(usize, u16)]) -> Format {
    let weight = |exact: usize, wild: usize| {
        let mut best: Option<(u8, u16)> = None;
        for &(r, q) in entries {
            let specificity = if r == exact {
                2
            } else if r == wild {
                1
            } else if r == 4 {
                0
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            }
        }
        best.map(|(_, q)| q)
    };
    let open = weight(0, 2).unwrap_or(0);
    let text = weight(1, 3).unwrap_or(0);
    if text > open {
        Format::PrometheusText
    } else {
        Format::OpenMetrics
    }
}

fn header(entries: &[(usize, u16)], spaces: bool) -> String {
    let sep = if spaces { ", " } else { "," };
    entries
        .iter()
        .map(|&(r, q)| {
            let q = if q == 1000 {
                String::new()
            } else {
                format!(
                    ";q={}",
                    format!("{:.3}", f64::from(q) / 1000.0).trim_end_matches('0')
                )
            };
            format!("{}{}", RANGES[r], q)
        })
        .collect::<Vec<_>>()
        .join(sep)
}

proptest! {
    #[test]
    fn negotiation_matches_the_reference(
        entries in proptest::collection::vec((0..RANGES.len(), 0u16..=1000), 0..6),
        spaces in any::<bool>(),
    ) {
        let accept = header(&entries, spaces);
        let value = HeaderValue::from_str(&accept).expect("header");
        prop_assert_eq!(Format::negotiate(Some(&value)), model(&entries), "{}", accept);
    }

    #[test]
    fn any_header_is_answered(accept in "[ -~]{0,80}") {
        if let Ok(value) = HeaderValue::from_str(&accept) {
            let _ = Format::negotiate(Some(&value));
        }
    }
}
