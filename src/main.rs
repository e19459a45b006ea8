//! The `industry-events` binary: parse the command line, then hand over to the library.

use clap::Parser;
use clap::error::ErrorKind;
use industry_events::config::{Cli, Command};
use industry_events::{commands, db, import, telemetry};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            // One line that names the flag and its variable, not clap's usage block.
            let message = e.to_string();
            eprintln!(
                "{}",
                message.lines().next().unwrap_or("invalid configuration")
            );
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&cli.log);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = db::open(&cli.db).await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            return commands::serve(database, cli.serve).await;
        }
        Command::Migrate => commands::migrate(&database.pool).await?,
        Command::Seed { demo: true } => commands::seed_demo(&database.pool).await?,
        Command::Seed { demo: false } => anyhow::bail!("say what to seed: `seed --demo`"),
        Command::Tokens(command) => commands::tokens(&database.pool, command).await?,
        Command::Export(command) => commands::export(&database.pool, command).await?,
        Command::Import(command) => {
            import::command::run(&database.pool, command, cli.serve.max_body_bytes).await?;
        }
    }
    if let Some(cluster) = database.private.as_ref().filter(|c| c.started_here()) {
        database.pool.close().await;
        cluster.stop(db::local::StopMode::Fast).await?;
    }
    Ok(())
}
