//! The binary: parse flags, set up logging, run, and map the outcome to an exit code.
//! Everything it runs lives in the library (`app.rs`, `commands.rs`), where the tests reach it
//! too.

use std::process::ExitCode;

use clap::Parser as _;
use corbado_exporter::config::{
    CheckArgs, CheckOutput, Cli, Command, Config, LogFormat, LogLevel, SECRET_ENV,
};
use corbado_exporter::web_config::WebConfigFile;
use corbado_exporter::{app, check, commands, logs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck(args)) => {
            match runtime().and_then(|rt| rt.block_on(commands::healthcheck(args))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::UserLabel(args)) => match commands::user_label(&args) {
            Ok(label) => {
                println!("{label}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Some(Command::Check(args)) => check(*args),
        Some(Command::Simulator(args)) => {
            init_logging(args.log_level, LogFormat::Text);
            finish(runtime().and_then(|rt| rt.block_on(commands::run_simulator(args))))
        }
        None if cli.exporter.web_config_check => check_web_config(cli.exporter.web_config_file),
        None => {
            let config = match Config::from_cli(cli.exporter, std::env::var(SECRET_ENV).ok()) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(config.log_level, config.log_format);
            finish(runtime().and_then(|rt| rt.block_on(app::run_until_signal(config))))
        }
    }
}

/// `--web.config.check`: the web config file alone, with no project configured (clap makes
/// `--web.config.file` required beside it). Exit 0 when valid, 2 with the reason.
fn check_web_config(path: Option<std::path::PathBuf>) -> ExitCode {
    let Some(path) = path else {
        eprintln!("error: --web.config.check needs --web.config.file");
        return ExitCode::from(2);
    };
    match WebConfigFile::load(path) {
        Ok(_) => {
            println!("web config OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: invalid value for '--web.config.file': {e}");
            ExitCode::from(2)
        }
    }
}

/// `check`: exit 0 when every project can be polled, 1 when one cannot, 2 on a configuration
/// error.
fn check(args: CheckArgs) -> ExitCode {
    let config = match Config::from_cli(args.exporter, std::env::var(SECRET_ENV).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Warnings (a fall-back to scanning, say) go to stderr; the report to stdout.
    init_logging(LogLevel::Warn, config.log_format);
    let checks = match runtime().and_then(|rt| rt.block_on(check::run(config))) {
        Ok(checks) => checks,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match args.output {
        CheckOutput::Table => print!("{}", check::report::table(&checks)),
        CheckOutput::Json => println!("{}", check::report::json(&checks)),
    }
    if check::report::all_pollable(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Reports a fatal error once, through the log (which goes to stderr), with its causes.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at `level`, and at `info` and above into the ring `/logs` shows.
fn init_logging(level: LogLevel, format: LogFormat) {
    let stderr_level = tracing::Level::from(level);
    let writer = logs::Tee {
        stderr_level,
        ring: logs::ring(),
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(stderr_level.max(tracing::Level::INFO))
        .with_writer(writer)
        .with_target(false);
    let result = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = result {
        eprintln!("warning: logging already initialised: {e}");
    }
}
