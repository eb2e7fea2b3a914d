//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use inframind_metrics::{LlmCall, Metrics};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `promtool` binary; panics with install advice when it is missing (never skips).
pub fn promtool() -> PathBuf {
    let candidates = std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|d| d.join("promtool")),
        )
        .chain([PathBuf::from("/usr/bin/promtool")]);
    for c in candidates {
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "promtool not found: install it with `apt-get install -y prometheus` (Debian/Ubuntu), or set \
         PROMTOOL to its path; `./scripts/test` installs it"
    );
}

/// Runs promtool with `args`, feeding `stdin`; returns (success, stdout + stderr).
pub fn run_promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "inframind-metrics-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Validates an OpenMetrics exposition with promtool's OpenMetrics parser (`tsdb
/// create-blocks-from openmetrics`), which needs a timestamp on every sample: one is inserted
/// after each value, before any exemplar.
pub fn check_openmetrics(text: &str) -> (bool, String) {
    let mut stamped = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            stamped.push_str(line);
        } else if let Some(i) = line.find(" # {") {
            stamped.push_str(&line[..i]);
            stamped.push_str(" 1700000000");
            stamped.push_str(&line[i..]);
        } else {
            stamped.push_str(line);
            stamped.push_str(" 1700000000");
        }
        stamped.push('\n');
    }
    let dir = Scratch::new("om");
    let input = dir.0.join("metrics.om");
    std::fs::write(&input, stamped).expect("write exposition");
    let out = dir.0.join("blocks");
    run_promtool(
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            input.to_str().expect("utf8"),
            out.to_str().expect("utf8"),
        ],
        None,
    )
}

/// A sample line's series, `name{k="v",...}`, split into the name and its labels sorted by
/// name (values unescaped), and the rest of the line after the series.
/// A series' labels, sorted by name.
pub type Labels = Vec<(String, String)>;

pub fn parse_series(line: &str) -> Option<(String, Labels, &str)> {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..end].to_owned();
    let mut labels = Vec::new();
    let mut rest = &line[end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let close = loop {
            let (i, c) = *chars.peek()?;
            if c == '}' {
                break i;
            }
            if c == ',' {
                chars.next();
                continue;
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        o => value.push(o),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.push((key, value));
        };
        rest = &body[close + 1..];
    }
    labels.sort();
    Some((name, labels, rest))
}

/// The value of the sample whose series is `series` (label order does not matter).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    let (name, labels, _) = parse_series(series)?;
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, ls, rest) = parse_series(l)?;
        if n != name || ls != labels {
            return None;
        }
        rest.trim_start().split(' ').next()?.parse().ok()
    })
}

/// Every sample line of `family` (name prefix followed by `{` or a space).
pub fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .collect()
}

/// Records something in every non-HTTP family.
pub fn exercise_every_family(metrics: &Metrics) {
    metrics
        .db()
        .record_query("assessments", "find", Duration::from_millis(3), None);
    metrics.db().record_query(
        "users",
        "insert",
        Duration::from_millis(1),
        Some("DuplicateKey"),
    );
    metrics.db().connections_active.set(2);
    metrics.db().connections_idle.set(3);
    metrics
        .cache()
        .record_lookup("api", true, Duration::from_micros(80));
    metrics
        .cache()
        .record_lookup("api", false, Duration::from_micros(200));
    metrics
        .cache()
        .entries
        .get_or_create(&inframind_metrics::CacheLabels::new("api"))
        .set(10);
    metrics
        .cache()
        .memory_bytes
        .get_or_create(&inframind_metrics::CacheLabels::new("api"))
        .set(4096);
    metrics.track_llm_call(
        LlmCall::new("openai", "gpt-4")
            .duration(Duration::from_millis(900))
            .tokens(1000, 500),
    );
    metrics.track_llm_call(LlmCall::new("anthropic", "claude-3-haiku").error("RateLimitError"));
    let b = metrics.business();
    b.users_total.set(40);
    b.users_active.set(12);
    b.assessments_total.set(80);
    b.assessments_created
        .get_or_create(&inframind_metrics::StatusLabels::new("pending"))
        .inc();
    b.recommendations_generated
        .get_or_create(&inframind_metrics::RecommendationLabels::new(
            "cost", "high",
        ))
        .inc();
    b.reports_generated
        .get_or_create(&inframind_metrics::ReportLabels::new("executive", "pdf"))
        .inc();
    let a: &inframind_metrics::AgentMetrics = metrics.agent();
    a.record_execution(
        "cloud_engineer",
        "success",
        Duration::from_secs(2),
        Some(0.87),
        None,
    );
    a.record_execution(
        "compliance",
        "error",
        Duration::from_millis(300),
        None,
        Some("Timeout"),
    );
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &[
    "offset", "bool", "and", "or", "unless", "inf", "nan", "atan2",
];

/// The metric names a PromQL expression selects (functions, keywords, label matchers, ranges,
/// strings, numbers and Grafana variables are skipped).
pub fn metric_names(expr: &str) -> Vec<String> {
    let b: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, close: char| {
        let mut quote: Option<char> = None;
        while *i < b.len() {
            let c = b[*i];
            *i += 1;
            match quote {
                Some(_) if c == '\\' => *i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c == close => return,
                None => {}
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' {
            i += 1;
            skip_to(&mut i, '}');
        } else if c == '[' {
            i += 1;
            skip_to(&mut i, ']');
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                i += 1;
            }
            let ident: String = b[start..i].iter().collect();
            let mut j = i;
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            let next = b.get(j).copied();
            if GROUPING.contains(&ident.as_str()) {
                if next == Some('(') {
                    i = j + 1;
                    skip_to(&mut i, ')');
                }
            } else if next == Some('(')
                || AGGREGATIONS.contains(&ident.as_str())
                || KEYWORDS.contains(&ident.as_str())
            {
                // A function call, an aggregation or a keyword.
            } else {
                names.push(ident);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Every `"expr"` (and templating query) string in a Grafana dashboard.
pub fn dashboard_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    // Grafana's `label_values(selector, label)`: the selector is PromQL.
                    ("definition", serde_json::Value::String(s)) => {
                        let inner = s
                            .strip_prefix("label_values(")
                            .and_then(|r| r.split(',').next());
                        out.push(inner.unwrap_or(s).to_owned());
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The Grafana dashboard shipped in docs/operations.
pub fn dashboard() -> serde_json::Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/operations/grafana-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read dashboard"))
        .expect("dashboard is valid JSON")
}

/// The metric names the dashboard panel titled `title` queries.
pub fn panel_metrics(dashboard: &serde_json::Value, title: &str) -> Vec<String> {
    let panel = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?}"));
    let mut queries = Vec::new();
    dashboard_queries(&panel["targets"], &mut queries);
    let names: Vec<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    assert!(!names.is_empty(), "panel {title:?} queries nothing");
    names
}

/// The sum of every sample of the metrics `names` in `text`: what a panel plotting their
/// rate sees move.
pub fn panel_total(text: &str, names: &[String]) -> f64 {
    names
        .iter()
        .flat_map(|n| lines(text, n))
        .filter_map(|l| {
            let (_, _, rest) = parse_series(l)?;
            rest.trim_start().split(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}
