//! The `relais` binary: parse the command line, read the configuration once, run.

use std::process::ExitCode;

use relais::app::App;
use relais::cli::{self, Cli, Command};
use relais::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for every client (feeds, SMTP, PostgreSQL), whatever else is linked.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse_french();
    let default_level = if matches!(cli.command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("relais={default_level},warn"))
    });
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // `RELAIS_LOG_FORMAT=json`: one JSON object per line, for a log collector. Read here,
    // before the configuration, so that reading it can already be logged.
    match std::env::var("RELAIS_LOG_FORMAT").as_deref() {
        Ok("json") => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        Ok("text") | Err(_) => logs.init(),
        Ok(other) => {
            logs.init();
            tracing::warn!("RELAIS_LOG_FORMAT={other} is neither text nor json: text logs");
        }
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`relais items | head`) is not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line: the error and its causes.
            eprintln!("relais: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("RELAIS_"))
        .collect();
    let config = Config::load(cli.config.as_deref(), &env)?;
    // Held until the daemon ends (dropped after `cli::run`).
    let _single = match cli.command {
        Command::Serve => relais::app::single_daemon_lock(&config)?,
        _ => None,
    };
    let app = App::open(config).await?;
    let store = app.store.clone();
    let result = cli::run(cli, app).await;
    // Closing the pools says goodbye to PostgreSQL (without it the server logs "connection
    // reset by peer" after every command) and lets SQLite checkpoint its WAL. A connection
    // still held by a task that outlived the command would make it wait: bounded.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), store.close()).await;
    result
}
