//! Logging: `tracing` as pretty text or JSON lines, with the request id on every line logged
//! while a request is served (the `request` span opened by `routes::middleware`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// The header carrying the request id, taken from the client or generated.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber. `RUST_LOG` overrides the default `info` filter. Calling it
/// twice is harmless (the second call does nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        // Colours for a terminal only: in a file or a log collector they are noise, and
        // writing them costs as much as the rest of the access log line.
        .with_ansi(std::io::stdout().is_terminal());
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
    // Already installed (a test harness, or a second call): keep the first.
    drop(result);
}
