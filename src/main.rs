//! The binary: parse flags, set up logging, run, and map the outcome to an exit code.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use corbado_exporter::app::{self, App};
use corbado_exporter::config::{
    Cli, Command, Config, HealthcheckArgs, LogFormat, LogLevel, SimulatorArgs, SECRET_ENV,
};
use corbado_exporter::simulator::{self, Params, Population, Simulator};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck(args)) => healthcheck(args),
        Some(Command::Simulator(args)) => {
            init_logging(args.log_level, LogFormat::Text);
            finish(runtime().and_then(|rt| rt.block_on(run_simulator(args))))
        }
        None => {
            let check_only = cli.exporter.web_config_check;
            let config = match Config::from_cli(cli.exporter, std::env::var(SECRET_ENV).ok()) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if check_only {
                println!("web config OK");
                return ExitCode::SUCCESS;
            }
            init_logging(config.log_level, config.log_format);
            finish(runtime().and_then(|rt| rt.block_on(run_exporter(config))))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_exporter(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        revision = corbado_exporter::REVISION,
        strategy = config.strategy.as_str(),
        demo = matches!(config.source, corbado_exporter::config::Source::Demo),
        "starting corbado-exporter"
    );
    let shutdown = CancellationToken::new();
    let app = App::build(config, &shutdown).await?;
    let signal = shutdown.clone();
    tokio::spawn(async move {
        app::shutdown_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    app.run(shutdown).await
}

async fn run_simulator(args: SimulatorArgs) -> anyhow::Result<()> {
    let secret = std::env::var(SECRET_ENV).unwrap_or_else(|_| simulator::DEMO_SECRET.to_owned());
    let now =
        corbado_exporter::corbado::query::unix_millis(std::time::SystemTime::now()) / 1000 * 1000;
    let population =
        Population::generate(Params::realistic(u64::from(args.sessions), args.seed), now);
    let sim = Simulator::new(population, &args.project_id, &secret);
    let shutdown = CancellationToken::new();
    let address = sim.spawn(&args.listen, shutdown.clone()).await?;
    if !args.frozen {
        tokio::spawn(Arc::clone(&sim).evolve(app::DEMO_TICK, shutdown.clone()));
    }
    tracing::info!(
        %address,
        sessions = args.sessions,
        seed = args.seed,
        project_id = args.project_id,
        api_url = format!("http://{address}/v2"),
        "simulated Corbado API listening"
    );
    app::shutdown_signal().await;
    shutdown.cancel();
    Ok(())
}

/// `healthcheck`: exit 0 when the URL answers 200, 1 otherwise (with the reason on stderr).
fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .timeout(args.timeout)
                .danger_accept_invalid_certs(args.insecure)
                .build()?;
            let status = client.get(&args.url).send().await?.status();
            anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
            Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unhealthy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::from(level))
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = result {
        eprintln!("warning: logging already initialised: {e}");
    }
}
