//! Runs the Infra Mind API server. With nothing configured it starts on embedded defaults
//! (in-process store with demo data, in-process cache, offline LLM provider):
//!
//! ```sh
//! cargo run -p infra-mind
//! curl http://127.0.0.1:8000/health
//! ```
//!
//! `cargo run -p infra-mind -- --help` lists every flag and its environment variable;
//! `cargo run -p infra-mind -- seed --users 100 --assessments 1000` fills MongoDB.

use clap::{Parser, Subcommand};
use infra_mind::config::Config;
use infra_mind::seed::SeedArgs;
use infra_mind::startup::Server;

/// The Infra Mind API server.
#[derive(Debug, Parser)]
#[command(name = "infra-mind", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Fill MongoDB with demo data.
    Seed(SeedArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    infra_mind::telemetry::init(cli.config.log_format);
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command.unwrap_or(Command::Serve)
    {
        Command::Serve => match Server::build(cli.config).await {
            Ok(server) => server.run().await.map_err(Into::into),
            Err(error) => Err(error.into()),
        },
        Command::Seed(args) => infra_mind::seed::run(&cli.config, &args)
            .await
            .map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The error's message, not its Debug form: this is what an operator reads.
            eprintln!("infra-mind: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
