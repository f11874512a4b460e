//! `joint-broker`: parses the command line (with the configuration file), then either runs
//! the broker until SIGTERM or Ctrl-C or does one maintenance job.

use anyhow::Context;
use joint_broker::cli::{self, Command, ImportLegacyArgs, Invocation, ParseError};
use joint_broker::server::Broker;
use joint_broker::settings::Settings;
use joint_broker::{config, legacy, maintenance, telemetry};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Exit code of a configuration the broker cannot use (clap's own for usage errors).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let invocation = match cli::parse(std::env::args_os()) {
        Ok(invocation) => invocation,
        Err(ParseError::Clap(err)) => err.exit(),
        Err(ParseError::Config(err)) => {
            eprintln!("joint-broker: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(anyhow::Error::new(err).context("starting the async runtime")),
    };
    let settings = &invocation.cli.settings;
    let report = match &invocation.cli.command {
        None => runtime.block_on(serve(settings.clone())).map(|()| String::new()),
        Some(Command::Migrate) => runtime.block_on(maintenance::migrate(settings)),
        Some(Command::Status) => runtime.block_on(maintenance::status(settings)),
        Some(Command::CheckConfig) => check_config(&invocation),
        Some(Command::ImportLegacy(args)) => runtime.block_on(import_legacy(settings, args)),
        Some(Command::UserCreate(args)) => read_password().and_then(|password| {
            let name = args.name.as_deref().unwrap_or(&args.login);
            runtime.block_on(maintenance::user_create(settings, &args.login, name, password))
        }),
    };
    match report {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(err),
    }
}

/// Prints the error with its causes (never a secret: see `config::redact`) and exits 1.
fn fail(err: anyhow::Error) -> ExitCode {
    eprintln!("joint-broker: {err:#}");
    ExitCode::FAILURE
}

/// The effective settings, once every one of them checks out.
fn check_config(invocation: &Invocation) -> anyhow::Result<String> {
    maintenance::check_config(&invocation.cli.settings).context("invalid configuration")?;
    let settings = config::effective(&cli::command(), &invocation.matches, &invocation.from_file);
    Ok(format!("{settings}# the configuration is valid\n"))
}

/// The first line of standard input, without its line end: `user-create`'s password.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input (give it as its first line)");
    Ok(password)
}

/// The old chat's data into Joint's database; the report is the output.
async fn import_legacy(settings: &Settings, args: &ImportLegacyArgs) -> anyhow::Result<String> {
    let options = legacy::ImportOptions {
        from: args.from.clone(),
        renames: legacy::Renames {
            logins: args.maps.iter().cloned().collect(),
            groups: args.group_maps.iter().cloned().collect(),
        },
        dry_run: args.dry_run,
    };
    let report = legacy::import(settings, &options).await.context("importing the old chat")?;
    Ok(report.to_string())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    raise_open_file_limit(settings.max_connections);
    let broker = Broker::build(settings).await.context("starting the broker")?;
    tracing::info!(listen = %broker.local_addr()?, "joint-broker is listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    broker.run(shutdown).await;
    Ok(())
}

/// Each connection costs a descriptor; Debian's soft limit of 1,024 is far below the
/// default connection cap, so raise the soft limit up to the hard one.
fn raise_open_file_limit(connections: usize) {
    let wanted = connections as u64 + 256;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => {
            tracing::warn!(limit, wanted, "open-file limit is below the connection cap");
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "could not raise the open-file limit"),
    }
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!(%err, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received; shutting down"),
    }
    shutdown.cancel();
}
