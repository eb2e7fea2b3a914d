//! `cache-proxy`: a caching reverse proxy in front of one origin.
//!
//! ```text
//! cargo run -p cache-proxy -- --origin http://127.0.0.1:8000 --listen 127.0.0.1:8080
//! cargo run -p cache-proxy -- --origin http://127.0.0.1:8000 --store redis://127.0.0.1:6379/0
//! ```
//!
//! See the README for every flag.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = cache_proxy::Cli::parse();
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, listen = %cli.listen, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The store's kind only: a Redis URL may carry a password.
    let store = if cli.store == "memory" {
        "memory"
    } else {
        "redis"
    };
    tracing::info!(listen = %cli.listen, origin = %cli.origin, store, "cache-proxy listening");
    tokio::select! {
        result = cache_proxy::serve(listener, cli) => {
            if let Err(error) = result {
                tracing::error!(%error, "cache-proxy stopped");
                return std::process::ExitCode::FAILURE;
            }
        }
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    std::process::ExitCode::SUCCESS
}
