//! The HTTP load harness. One command runs every scenario of docs/benchmarks.md's "Load
//! harness" section (services, servers, seed, load, results):
//!
//! ```sh
//! benches/load/run           # full set, release builds; writes docs/load-*.{json,md,svg}
//! benches/load/run --ci      # a few seconds per scenario, debug builds, results in target/
//! ```
//!
//! The subcommands are also usable alone: `bench` loads one URL (127.0.0.1 only) and prints
//! the summary as JSON; `ceiling` and `layered` are the helper servers a run starts.

// A command-line tool: its results go to stdout.
#![allow(clippy::print_stdout)]

mod breaker;
mod loadgen;
mod report;
mod scenarios;
mod servers;
mod services;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "inframind-load", about = "HTTP load harness (127.0.0.1 only)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Loads one URL and prints the summary as JSON.
    Bench {
        /// `http://127.0.0.1:PORT/path`; `{n}` in it becomes the request number.
        url: String,
        /// Connections (each with one request in flight).
        #[arg(short, long, default_value_t = 8)]
        concurrency: usize,
        /// Stop after this many requests.
        #[arg(short = 'n', long)]
        requests: Option<u64>,
        /// Stop after this many seconds.
        #[arg(short, long)]
        duration: Option<f64>,
        /// Open loop at this many requests per second (latency from the intended send time).
        #[arg(short, long)]
        rate: Option<f64>,
        /// `name: value`, repeatable.
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// Also report this process's CPU time per request (user + system, from
        /// `/proc/PID/stat`): the server's cost, less sensitive to a shared machine than req/s.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Serves `/bare/{name}` from memory and `/redis/{name}` with one Redis GET.
    Ceiling {
        #[arg(long)]
        bind: std::net::SocketAddr,
        /// `name=file`, repeatable.
        #[arg(long = "body")]
        bodies: Vec<String>,
        #[arg(long)]
        redis_url: Option<String>,
    },
    /// Serves the infra-mind router cut at each `depth=127.0.0.1:PORT` (depths: handlers,
    /// cache, metrics, limits, errors, full), configured like the server (flags, environment).
    Layered {
        #[arg(long = "listen")]
        listen: Vec<String>,
        #[command(flatten)]
        config: Box<infra_mind::config::Config>,
    },
    /// Writes the Markdown summary and the plots again from a results file.
    Report {
        /// A `load-results.json` written by `all`.
        results: PathBuf,
        /// Where to write (default: the results file's folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Runs every scenario and writes the results.
    All {
        /// A few seconds per scenario (checks that everything runs, not speed).
        #[arg(long)]
        ci: bool,
        /// The infra-mind binary (default: next to this one).
        #[arg(long)]
        server: Option<PathBuf>,
        /// The virtualenv python with benches/peer/requirements.txt installed.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Where results go (default: docs/, or target/load-ci with --ci).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Keep every process's output in this folder (off by default: the servers log each
        /// request).
        #[arg(long)]
        logs: Option<PathBuf>,
        /// Seconds per case (default 2, or 0.25 with --ci).
        #[arg(long)]
        case_secs: Option<f64>,
        /// Interleaved rounds (default 3, or 1 with --ci).
        #[arg(long)]
        rounds: Option<usize>,
    },
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("inframind-load: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("inframind-load: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Cmd) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Cmd::Bench {
            url,
            concurrency,
            requests,
            duration,
            rate,
            headers,
            server_pid,
        } => {
            let target = loadgen::Target::parse(&url)?;
            let mut plan = loadgen::Plan::closed(concurrency, Duration::ZERO);
            plan.duration = duration.map(Duration::from_secs_f64);
            plan.requests = requests;
            plan.rate = rate;
            for header in &headers {
                let (name, value) = header
                    .split_once(':')
                    .ok_or_else(|| format!("bad header {header:?}: expected `name: value`"))?;
                plan.headers.push((
                    http::HeaderName::from_bytes(name.trim().as_bytes())?,
                    http::HeaderValue::from_str(value.trim())?,
                ));
            }
            let cpu_before = server_pid.map(services::cpu_ticks).transpose()?;
            let summary = loadgen::run_on_own_thread(target, plan).await?;
            let mut printed = serde_json::to_value(&summary)?;
            if let (Some(pid), Some(before)) = (server_pid, cpu_before) {
                let ticks = services::cpu_ticks(pid)?.saturating_sub(before);
                printed["server_cpu_us_per_request"] = serde_json::json!(
                    services::ticks_to_us(ticks) / summary.requests.max(1) as f64
                );
            }
            println!("{}", serde_json::to_string_pretty(&printed)?);
        }
        Cmd::Ceiling {
            bind,
            bodies,
            redis_url,
        } => servers::serve_ceiling(bind, &bodies, redis_url.as_deref()).await?,
        Cmd::Report { results, out } => {
            let parsed: scenarios::Results =
                serde_json::from_str(&std::fs::read_to_string(&results)?)?;
            let out = out.unwrap_or_else(|| {
                results
                    .parent()
                    .map_or_else(|| PathBuf::from("."), PathBuf::from)
            });
            let command = if parsed.settings["mode"] == "ci" {
                "benches/load/run --ci"
            } else {
                "benches/load/run"
            };
            report::write(&parsed, &out, command)?;
        }
        Cmd::Layered { listen, config } => servers::serve_layered(*config, &listen).await?,
        Cmd::All {
            ci,
            server,
            python,
            out,
            logs,
            case_secs,
            rounds,
        } => {
            let root = workspace_root();
            let mut settings = if ci {
                scenarios::Settings::ci()
            } else {
                scenarios::Settings::full()
            };
            if let Some(secs) = case_secs {
                settings.case_secs = secs;
            }
            if let Some(rounds) = rounds {
                settings.rounds = rounds.max(1);
            }
            let harness = std::env::current_exe()?;
            let server = server.unwrap_or_else(|| harness.with_file_name("infra-mind"));
            let bins = stack::Binaries {
                server,
                harness,
                python: python.unwrap_or_else(|| root.join(".venv/bin/python")),
                peer_dir: root.join("benches/peer"),
            };
            let out = out.unwrap_or_else(|| {
                if ci {
                    bins.harness
                        .parent()
                        .map_or_else(|| root.join("target"), |p| p.join("load-ci"))
                } else {
                    root.join("docs")
                }
            });
            let scratch =
                std::env::temp_dir().join(format!("inframind-load-{}", std::process::id()));
            let command = if ci {
                "benches/load/run --ci"
            } else {
                "benches/load/run"
            };
            // On Ctrl-C or SIGTERM the run is dropped, and with it every process it started.
            let results = tokio::select! {
                results = scenarios::run_all(settings, bins, services::Logs(logs), scratch.clone()) => results,
                () = infra_mind::startup::shutdown_signal() => Err(services::HarnessError::Internal("interrupted".to_owned())),
            };
            let _ = std::fs::remove_dir_all(&scratch);
            let results = results?;
            report::write(&results, &out, command)?;
            eprintln!("==> results in {}", out.display());
        }
    }
    Ok(())
}
