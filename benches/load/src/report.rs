//! What a run writes: the raw results as JSON, a Markdown summary of medians and ratios, and
//! two SVG plots (latency percentiles by target, throughput by concurrency).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::scenarios::{Case, Results};
use crate::services::HarnessError;

/// The machine: cores, CPU model, load average (the other engineers' builds show there).
pub(crate) fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    serde_json::json!({
        "cores": cores,
        "cpu": cpu,
        "load_average_at_start": load_average(),
    })
}

/// `machine` with the load average at the end added.
pub(crate) fn machine_with_start(start: &serde_json::Value) -> serde_json::Value {
    let mut machine = start.clone();
    machine["load_average_at_end"] = serde_json::Value::String(load_average());
    machine
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    }
}

/// Medians over rounds of one (scenario, target, concurrency).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) target: String,
    pub(crate) concurrency: usize,
    pub(crate) rps: f64,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    /// The largest over rounds.
    pub(crate) max: f64,
    pub(crate) errors: u64,
    /// Per-round rps as a multiple of the reference, median.
    pub(crate) vs_reference: Option<f64>,
    pub(crate) rps_rounds: Vec<f64>,
}

/// The rows of `scenario`, in first-seen order, ratios against `reference` (same round and
/// concurrency).
pub(crate) fn rows(cases: &[Case], scenario: &str, reference: Option<&str>) -> Vec<Row> {
    let of: Vec<&Case> = cases.iter().filter(|c| c.scenario == scenario).collect();
    let mut order: Vec<(String, usize)> = Vec::new();
    for case in &of {
        let key = (case.target.clone(), case.concurrency);
        if !order.contains(&key) {
            order.push(key);
        }
    }
    order.sort_by_key(|(_, c)| *c);
    let reference_rps: BTreeMap<(usize, usize), f64> = of
        .iter()
        .filter(|c| Some(c.target.as_str()) == reference)
        .map(|c| ((c.concurrency, c.round), c.summary.rps))
        .collect();
    order
        .into_iter()
        .map(|(target, concurrency)| {
            let mine: Vec<&&Case> = of
                .iter()
                .filter(|c| c.target == target && c.concurrency == concurrency)
                .collect();
            let take = |f: fn(&Case) -> f64| median(mine.iter().map(|c| f(c)).collect());
            let ratios: Vec<f64> = mine
                .iter()
                .filter_map(|c| {
                    reference_rps
                        .get(&(c.concurrency, c.round))
                        .map(|r| c.summary.rps / r)
                })
                .collect();
            Row {
                target,
                concurrency,
                rps: take(|c| c.summary.rps),
                p50: take(|c| c.summary.p50_ms),
                p95: take(|c| c.summary.p95_ms),
                p99: take(|c| c.summary.p99_ms),
                max: mine.iter().map(|c| c.summary.max_ms).fold(0.0, f64::max),
                errors: mine
                    .iter()
                    .map(|c| c.summary.errors + c.summary.non_2xx)
                    .sum(),
                vs_reference: (reference.is_some() && !ratios.is_empty()).then(|| median(ratios)),
                rps_rounds: mine.iter().map(|c| c.summary.rps).collect(),
            }
        })
        .collect()
}

fn table(out: &mut String, rows: &[Row], reference: Option<&str>) {
    let ratio_head = reference.map_or(String::new(), |r| format!(" x {r} |"));
    let _ = writeln!(
        out,
        "| target | c | req/s (median) | req/s per round | p50 ms | p95 ms | p99 ms | max ms | errors |{ratio_head}"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---|---:|---:|---:|---:|---:|{}",
        if reference.is_some() { "---:|" } else { "" }
    );
    for row in rows {
        let rounds = row
            .rps_rounds
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ");
        let ratio = match (reference, row.vs_reference) {
            (Some(_), Some(v)) => format!(" {v:.2} |"),
            (Some(_), None) => " |".to_owned(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {rounds} | {:.3} | {:.3} | {:.3} | {:.3} | {} |{ratio}",
            row.target, row.concurrency, row.rps, row.p50, row.p95, row.p99, row.max, row.errors
        );
    }
    out.push('\n');
}

/// Answers by `X-Cache` value, as `HIT 498, MISS 2`.
fn x_cache(summary: &crate::loadgen::Summary) -> String {
    summary
        .x_cache
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Scenario 6 per size: each target's req/s against its ceiling's, and p99s, so growth with
/// the body alone shows as flat ratios.
fn scaling_summary(out: &mut String, cases: &[Case]) {
    let rows = rows(cases, "scaling", None);
    let find = |name: String| rows.iter().find(|r| r.target == name);
    let mut sizes: Vec<usize> = rows
        .iter()
        .filter_map(|r| r.target.strip_prefix("ceiling: memory, "))
        .filter_map(|size| size.parse().ok())
        .collect();
    sizes.sort_unstable();
    if sizes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## 6b. Scaling per size: req/s against the ceilings (medians)\n\n\
         | assessments | in-process hit x memory ceiling | Redis hit x Redis GET ceiling | peer x Redis GET ceiling | p99 ms: ceiling / in-process / Redis / peer |\n\
         |---:|---:|---:|---:|---|"
    );
    for size in sizes {
        let get = |target: &str| find(format!("{target}, {size}"));
        let ratio = |target: &str, reference: &str| match (get(target), get(reference)) {
            (Some(t), Some(r)) => format!("{:.2}", t.rps / r.rps),
            _ => "-".to_owned(),
        };
        let p99s = [
            "ceiling: memory",
            "ours: in-process hit",
            "ours: Redis hit",
            "peer: Redis hit",
        ]
        .iter()
        .map(|t| get(t).map_or("-".to_owned(), |r| format!("{:.2}", r.p99)))
        .collect::<Vec<_>>()
        .join(" / ");
        let _ = writeln!(
            out,
            "| {size} | {} | {} | {} | {p99s} |",
            ratio("ours: in-process hit", "ceiling: memory"),
            ratio("ours: Redis hit", "ceiling: Redis GET"),
            ratio("peer: Redis hit", "ceiling: Redis GET"),
        );
    }
    out.push('\n');
}

/// The Markdown summary.
pub(crate) fn markdown(results: &Results, command: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Load harness results ({} mode)\n",
        results.settings["mode"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        out,
        "Generated by `{command}`; raw figures in `load-results.json`. Medians over {} interleaved rounds of {} s per case; ratios are per-round ratios to the reference in the same round, median.\n",
        results.settings["rounds"], results.settings["case_secs"]
    );
    let _ = writeln!(
        out,
        "Machine: {} cores, {}; load average {} at start, {} at end. MongoDB wire server: `{}`.\n",
        results.machine["cores"],
        results.machine["cpu"].as_str().unwrap_or("?"),
        results.machine["load_average_at_start"]
            .as_str()
            .unwrap_or("?"),
        results.machine["load_average_at_end"]
            .as_str()
            .unwrap_or("?"),
        results.mongodb_server
    );
    let bodies = results
        .bodies
        .iter()
        .map(|(n, b)| format!("{n} {b} B"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(out, "Bodies (identity): {bodies}.\n");
    for note in &results.notes {
        let _ = writeln!(out, "**Note:** {note}\n");
    }
    let sections = [
        (
            "list",
            "1. The list (`GET /api/assessments`, 100 of the seeded assessments)",
            Some("ceiling: bytes from memory"),
        ),
        (
            "list",
            "1b. The same, against the Redis ceiling",
            Some("ceiling: one Redis GET"),
        ),
        (
            "layers",
            "Layer by layer: the cached list through the stack cut at each depth (in-process store)",
            Some("ceiling: bytes from memory"),
        ),
        ("scaling", "6. Scaling: the cached list as it grows", None),
        (
            "relations",
            "2. Relations: N+1 against batched (each request a miss)",
            None,
        ),
    ];
    for (scenario, title, reference) in sections {
        let rows = rows(&results.cases, scenario, reference);
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {title}\n");
        table(&mut out, &rows, reference);
    }
    scaling_summary(&mut out, &results.cases);
    if !results.queries.is_empty() {
        let _ = writeln!(
            out,
            "## 2b. Queries per request, counted by the database server (`serverStatus.opcounters.query`)\n"
        );
        let _ = writeln!(
            out,
            "| endpoint | target | queries per request |\n|---|---|---:|"
        );
        for q in &results.queries {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} |",
                q.endpoint, q.target, q.queries_per_request
            );
        }
        out.push('\n');
    }
    if !results.stampede.is_empty() {
        let _ = writeln!(out, "## 3. Stampede: concurrent requests on one cold key\n");
        let _ = writeln!(
            out,
            "| target | requests | database queries (= handler calls) | X-Cache | p50 ms | p99 ms | max ms | errors |\n|---|---:|---:|---|---:|---:|---:|---:|"
        );
        for s in &results.stampede {
            let x_cache = x_cache(&s.summary);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {x_cache} | {:.1} | {:.1} | {:.1} | {} |",
                s.target,
                s.requests,
                s.database_queries,
                s.summary.p50_ms,
                s.summary.p99_ms,
                s.summary.max_ms,
                s.summary.errors + s.summary.non_2xx
            );
        }
        out.push('\n');
    }
    if !results.breaker.is_empty() {
        let _ = writeln!(
            out,
            "## 4. One LLM provider timing out (1 s), with and without breakers (generate, c=8)\n"
        );
        let _ = writeln!(
            out,
            "| target | requests | req/s | p50 ms | p99 ms | max ms | error rate | calls to the failing provider |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for b in &results.breaker {
            let s = &b.summary;
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.4} | {} |",
                b.target,
                s.requests,
                s.rps,
                s.p50_ms,
                s.p99_ms,
                s.max_ms,
                s.error_rate(),
                b.failing_provider_calls
            );
        }
        out.push('\n');
    }
    if !results.outage.is_empty() {
        let _ = writeln!(
            out,
            "## 5. Redis outage under a fixed-rate load (open loop; latency from the intended send time)\n"
        );
        let _ = writeln!(
            out,
            "| target | rate | phase | requests | error rate | p50 ms | p99 ms | max ms | X-Cache |\n|---|---:|---|---:|---:|---:|---:|---:|---|"
        );
        for o in &results.outage {
            for (phase, s) in ["Redis up", "Redis down", "Redis back (empty)"]
                .iter()
                .zip(&o.summary.phases)
            {
                let x_cache = x_cache(s);
                let _ = writeln!(
                    out,
                    "| {} | {:.0}/s | {phase} | {} | {:.4} | {:.2} | {:.2} | {:.2} | {x_cache} |",
                    o.target,
                    o.rate,
                    s.requests,
                    s.error_rate(),
                    s.p50_ms,
                    s.p99_ms,
                    s.max_ms
                );
            }
        }
        out.push('\n');
    }
    out
}

fn plot_error(e: impl std::fmt::Debug) -> HarnessError {
    HarnessError::Plot(format!("{e:?}"))
}

/// Latency percentiles (p50, p99) by target at the highest concurrency of `scenario`, log scale.
pub(crate) fn latency_plot(
    results: &Results,
    scenario: &str,
    path: &Path,
    title: &str,
) -> Result<(), HarnessError> {
    let all = rows(&results.cases, scenario, None);
    let top = all.iter().map(|r| r.concurrency).max().unwrap_or(0);
    let rows: Vec<&Row> = all.iter().filter(|r| r.concurrency == top).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let high = rows.iter().map(|r| r.p99.max(r.p50)).fold(0.01, f64::max) * 2.0;
    let low = rows
        .iter()
        .map(|r| r.p50)
        .fold(f64::INFINITY, f64::min)
        .max(0.001)
        / 2.0;
    let height = 260 + 26 * rows.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let n = rows.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title} (c={top}): p50 and p99 latency, ms (log)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(260)
        .build_cartesian_2d((low..high).log_scale(), 0f64..n as f64)
        .map_err(plot_error)?;
    let names: Vec<String> = rows.iter().map(|r| r.target.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            let i = y.floor() as usize;
            if (y - y.floor() - 0.5).abs() < 0.01 && i < names.len() {
                names[n - 1 - i].clone()
            } else {
                String::new()
            }
        })
        .x_desc("ms")
        .draw()
        .map_err(plot_error)?;
    for (i, row) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        chart
            .draw_series([Rectangle::new(
                [(low, y + 0.5), (row.p99, y + 0.85)],
                RGBColor(230, 120, 40).filled(),
            )])
            .map_err(plot_error)?;
        chart
            .draw_series([Rectangle::new(
                [(low, y + 0.15), (row.p50, y + 0.5)],
                RGBColor(40, 110, 200).filled(),
            )])
            .map_err(plot_error)?;
    }
    // Legend entries: an empty bar of each colour, labelled.
    for (label, colour) in [
        ("p50", RGBColor(40, 110, 200)),
        ("p99", RGBColor(230, 120, 40)),
    ] {
        chart
            .draw_series([Rectangle::new([(low, 0.0), (low, 0.0)], colour.filled())])
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Requests per second by concurrency for every target of `scenario`, log-log.
pub(crate) fn throughput_plot(
    results: &Results,
    scenario: &str,
    path: &Path,
    title: &str,
) -> Result<(), HarnessError> {
    let rows = rows(&results.cases, scenario, None);
    if rows.is_empty() {
        return Ok(());
    }
    let mut by_target: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in &rows {
        let point = (row.concurrency as f64, row.rps.max(0.1));
        match by_target.iter_mut().find(|(t, _)| *t == row.target) {
            Some((_, points)) => points.push(point),
            None => by_target.push((row.target.clone(), vec![point])),
        }
    }
    let max_c = rows.iter().map(|r| r.concurrency).max().unwrap_or(64) as f64;
    let high = rows.iter().map(|r| r.rps).fold(1.0, f64::max) * 2.0;
    let low = rows
        .iter()
        .map(|r| r.rps)
        .fold(f64::INFINITY, f64::min)
        .max(0.1)
        / 2.0;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: requests per second by concurrency (log-log)"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0.8f64..max_c * 1.3).log_scale(), (low..high).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("concurrent connections")
        .y_desc("req/s")
        .draw()
        .map_err(plot_error)?;
    for (i, (target, points)) in by_target.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(target.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::MiddleRight)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Writes `load-results.json`, `load-results.md` and the plots into `dir`.
pub(crate) fn write(results: &Results, dir: &Path, command: &str) -> Result<(), HarnessError> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("load-results.json"),
        serde_json::to_string_pretty(results)?,
    )?;
    std::fs::write(dir.join("load-results.md"), markdown(results, command))?;
    latency_plot(
        results,
        "list",
        &dir.join("load-latency-list.svg"),
        "GET /api/assessments",
    )?;
    latency_plot(
        results,
        "relations",
        &dir.join("load-latency-relations.svg"),
        "Relations, N+1 vs batched",
    )?;
    throughput_plot(
        results,
        "list",
        &dir.join("load-throughput-list.svg"),
        "GET /api/assessments",
    )?;
    Ok(())
}
