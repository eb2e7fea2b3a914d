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
pub fn parse_series(line: &str) -> Option<(String, Vec<(String, String)>, &str)> {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..end].to_owned();
    let mut labels = Vec::new();
    let mut rest = &line[end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut close = None;
        loop {
            let (_, c) = *chars.peek()?;
            if c == '}' {
                close = chars.next().map(|(i, _)| i);
                break;
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
        }
        rest = &body[close? + 1..];
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
