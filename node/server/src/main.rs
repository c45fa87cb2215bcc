//! `cc-node`: the call-center node's command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A call-center node: answers the units' service numbers, runs their call
/// flows, queues callers for agents, records voicemail.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file of settings (defaults: `cc-node defaults`).
    #[arg(long, short, env = "CC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node (the default).
    Run,
    /// Check a folder of unit documents and their prompts, then exit.
    Check {
        /// The folder (default: the configured `paths.units`).
        folder: Option<PathBuf>,
    },
    /// List the agents of a folder of unit documents, one per line:
    /// `unit<TAB>agent<TAB>uri<TAB>endpoint` (what provisioning of the
    /// registrar's subscribers starts from).
    Agents {
        /// The folder (default: the configured `paths.units`).
        folder: Option<PathBuf>,
    },
    /// Print the default settings file.
    Defaults,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Defaults) = cli.command {
        print!("{}", include_str!("config.default.toml"));
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match cc_node::settings::Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cc-node: bad settings: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log.level)),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(Command::Check { folder }) = cli.command {
        let folder = folder.unwrap_or(settings.paths.units.clone());
        return match cc_node::units::Directory::load(&folder) {
            Ok(directory) => {
                for unit in directory.units() {
                    println!(
                        "{}: ok ({} steps, numbers {})",
                        unit.id(),
                        unit.unit.flow.len(),
                        unit.unit.document.service_numbers.join(", ")
                    );
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Agents { folder }) = cli.command {
        let folder = folder.unwrap_or(settings.paths.units.clone());
        return match cc_node::units::Directory::load(&folder) {
            Ok(directory) => {
                for unit in directory.units() {
                    for agent in &unit.unit.document.agents {
                        println!(
                            "{}\t{}\t{}\t{}",
                            unit.id(),
                            agent.id,
                            agent.uri,
                            serde_json::to_value(&agent.endpoint)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default()
                        );
                    }
                }
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cc-node: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cc_node::run(settings, shutdown_signal()));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cc-node: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
