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
    /// Print the numbering plan in force (Spain's by default), as YAML:
    /// a start for `numbering.plan_file`.
    NumberingPlan,
    /// The ICT operators' governance commands, as `--user` (needs
    /// store.url; the password from CC_PASSWORD or standard input).
    Ops {
        #[arg(long)]
        user: String,
        #[command(subcommand)]
        action: OpsAction,
    },
    /// Accounts of the governance API (needs store.url).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum OpsAction {
    /// Sign a unit up from its YAML, or propose it as the unit's next
    /// version (a change: it applies at once unless it carries cost).
    Apply {
        file: PathBuf,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Requests waiting for approvals (of one unit, or of all).
    Pending { unit: Option<String> },
    /// Approve a request.
    Approve {
        unit: String,
        id: i64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Reject a request, with the reason.
    Reject {
        unit: String,
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// The audit trail of a unit.
    Audit { unit: String },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user with one role; the password is read from CC_PASSWORD or
    /// the first line of standard input (12 characters at least).
    Add {
        username: String,
        /// ict_directorate, unit_manager, supervisor, agent or noc_viewer.
        #[arg(long)]
        role: String,
        /// The unit, for unit_manager, supervisor and agent.
        #[arg(long)]
        unit: Option<String>,
    },
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
    if let Some(Command::NumberingPlan) = cli.command {
        return match settings.numbering.plan() {
            Ok(plan) => {
                print!("{}", serde_norway::to_string(&plan).unwrap_or_default());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cc-node: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
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
                            serde_json::to_value(agent.endpoint)
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
    if let Some(Command::Ops { user, action }) = cli.command {
        return match ops_command(&settings, &user, action) {
            Ok(message) => {
                println!("{message}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cc-node: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::User { action }) = cli.command {
        return match user_command(&settings, action) {
            Ok(message) => {
                println!("{message}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cc-node: {e}");
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

/// The password of a command: CC_PASSWORD, or the first line of stdin.
fn password() -> Result<String, String> {
    match std::env::var("CC_PASSWORD") {
        Ok(p) => Ok(p),
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            Ok(line.trim_end_matches(['\r', '\n']).to_string())
        }
    }
}

/// `cc-node ops …`: the API in process, as `user`.
fn ops_command(
    settings: &cc_node::settings::Settings,
    user: &str,
    action: OpsAction,
) -> Result<String, String> {
    use cc_api::ops::OpsCommand;
    if settings.store.url.is_empty() {
        return Err("store.url is not set (CC__STORE__URL)".into());
    }
    let command = match action {
        OpsAction::Apply { file, reason } => OpsCommand::Apply {
            yaml: std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?,
            reason,
        },
        OpsAction::Pending { unit } => OpsCommand::Pending { unit },
        OpsAction::Approve { unit, id, reason } => OpsCommand::Approve { unit, id, reason },
        OpsAction::Reject { unit, id, reason } => OpsCommand::Reject { unit, id, reason },
        OpsAction::Audit { unit } => OpsCommand::Audit { unit },
    };
    let password = password()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = cc_store::Store::new(&settings.store.url, 2).map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        let plan = settings.numbering.plan()?;
        let (router, _) = cc_api::router(cc_api::AppState::new(store, plan));
        cc_api::ops::run(router, user, &password, command).await
    })
}

/// `cc-node user …`: the first ICT account of a new platform, and any
/// account when the API is not at hand.
fn user_command(
    settings: &cc_node::settings::Settings,
    action: UserAction,
) -> Result<String, String> {
    let UserAction::Add {
        username,
        role,
        unit,
    } = action;
    if settings.store.url.is_empty() {
        return Err("store.url is not set (CC__STORE__URL)".into());
    }
    let unit_role = matches!(role.as_str(), "unit_manager" | "supervisor" | "agent");
    if !unit_role && !matches!(role.as_str(), "ict_directorate" | "noc_viewer") {
        return Err(format!("no role {role:?}"));
    }
    if unit_role != unit.is_some() {
        return Err(format!(
            "role {role} {} --unit",
            if unit_role { "needs" } else { "takes no" }
        ));
    }
    let password = match std::env::var("CC_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.chars().count() < 12 {
        return Err("a password has 12 characters at least".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = cc_store::Store::new(&settings.store.url, 1).map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        let client = store.client().await.map_err(|e| e.to_string())?;
        let hash = cc_api::auth::hash_password(&password);
        let id = cc_store::users::create(&**client, &username, &username, &hash)
            .await
            .map_err(|e| format!("creating {username:?}: {e}"))?;
        cc_store::users::grant(&**client, id, &role, unit.as_deref())
            .await
            .map_err(|e| format!("granting {role}: {e}"))?;
        Ok(format!("user {username} ({role}) added"))
    })
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
