//! Runs the Infra Mind API server on embedded defaults:
//!
//! ```sh
//! cargo run -p infra-mind
//! curl http://127.0.0.1:8000/health
//! ```
//!
//! `BIND_ADDR` changes the listening address (default `127.0.0.1:8000`).

use std::net::SocketAddr;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".to_owned());
    let addr: SocketAddr = bind
        .parse()
        .map_err(|e| format!("BIND_ADDR={bind:?} is not a socket address: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "infra-mind listening");
    axum::serve(listener, infra_mind::app())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("infra-mind stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM so in-flight requests finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
