#![doc = include_str!("../README.md")]
#![allow(
    clippy::print_stdout,
    reason = "a command-line program prints its results"
)]

mod config;
mod demo;
mod password;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Yufu (预付): prepaid electricity, water and gas meters, and every device's whole life.
#[derive(Debug, Parser)]
#[command(name = "yufu", version, about, long_about = None)]
struct Cli {
    /// A yufu.toml file. Environment variables (YUFU_*) override its values.
    #[arg(long, global = true, env = "YUFU_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: migrate the database, then serve HTTP until SIGTERM or Ctrl-C.
    Serve,
    /// Run the platform with a Guangzhou demo organisation seeded; prints the console URL and the admin login.
    Demo,
    /// Apply pending database migrations and exit (serve and demo also do this at start-up).
    Migrate,
    /// Print the version and exit.
    Version,
}

/// Exit code for bad configuration (the operator's input is wrong).
const EXIT_CONFIG: u8 = 2;
/// Exit code for any other failure to start or run.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("yufu {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match config::Config::load(cli.config.as_deref(), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    run::init_tracing(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => run::serve(config, run::Mode::Serve).await,
            Command::Demo => run::serve(config, run::Mode::Demo).await,
            Command::Migrate => run::migrate(config).await,
            Command::Version => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain joined, so "cannot open database …: cause".
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
