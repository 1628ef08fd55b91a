//! The `citus-migrate` command line: argument definitions and the glue that turns them into calls of
//! `citus-migrate-core`. Nothing here knows about databases beyond what core offers.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod analyze;
pub mod args;
pub mod cluster;
pub mod completions;
pub mod copy;
pub mod demo;
pub mod export;
pub mod generate;
pub mod import;
pub mod migrate;
pub mod online;
pub mod progress;
pub mod render;
pub mod verify;
pub mod workload;

#[derive(Debug, Parser)]
#[command(
    name = "citus-migrate",
    version,
    about = "Move a PostgreSQL database into a Citus cluster: analyze, advise, generate, copy, verify"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report the source's tables, sizes, keys, foreign keys and statistics, and advise how to distribute them.
    Analyze(analyze::AnalyzeArgs),
    /// Prove the target holds exactly the source's data: row counts and checksums per table, the Citus
    /// layout against the plan, and the sequences.
    Verify(verify::VerifyArgs),
    /// Write a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(completions::CompletionsArgs),
    /// Advise a distribution plan and write it with the SQL that applies it: plan.json,
    /// 01-pre-data.sql, 02-distribute.sql, 03-post-data.sql and rollback.sql.
    Generate(generate::GenerateArgs),
    /// Copy table data into the target: parallel, chunked, from one snapshot, resumable.
    Copy(copy::CopyArgs),
    /// Write one source table to a CSV file (with a header line).
    Export(export::ExportArgs),
    /// Load a CSV file (with a header line) into one target table, all or nothing.
    Import(import::ImportArgs),
    /// The whole migration in one resumable command: plan, schema, distribution, copy, indexes and
    /// constraints, sequences, ANALYZE, verification.
    Migrate(migrate::MigrateArgs),
    /// End an online migration (`migrate --online`): apply the source's last changes, set the sequences,
    /// verify, and drop the replication slot and publication.
    Cutover(online::CutoverArgs),
    /// Drop an online migration's replication slot and publication, at any stage.
    Abort(online::AbortArgs),
    /// Show an online migration's catch-up: lag, changes/s, retained WAL.
    Status(online::StatusArgs),
    /// A first run on throwaway local servers: a sample multi-tenant database migrated into Citus.
    Demo(demo::DemoArgs),
    /// The Citus cluster after the migration: status, rebalance, add-node, drain, remove-node, check.
    Cluster(cluster::ClusterArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze(a) => analyze::run(a).await,
        Command::Verify(a) => verify::run(a).await,
        Command::Completions(a) => completions::run(a),
        Command::Generate(a) => generate::run(a).await,
        Command::Copy(a) => copy::run(a).await,
        Command::Export(a) => export::run(a).await,
        Command::Import(a) => import::run(a).await,
        Command::Migrate(a) => migrate::run(a).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Cluster(a) => cluster::run(a).await,
        Command::Cutover(a) => online::cutover(a).await,
        Command::Abort(a) => online::abort(a).await,
        Command::Status(a) => online::status(a),
    }
}

/// A core error (or a failed migration) in the command line's words, options named.
fn describe(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = e.downcast_ref::<citus_migrate_core::Error>() {
        return Some(render::error(e));
    }
    e.downcast_ref::<citus_migrate_core::migrate::MigrateFailure>()
        .map(render::migrate_failure)
}

/// Prints an error with its chain of causes and maps it to the exit code: 2 for bad arguments or
/// input, 1 for failures while running.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let usage = err.chain().any(|c| {
        c.downcast_ref::<citus_migrate_core::Error>()
            .is_some_and(|e| e.is_usage())
    });
    // Core errors already carry their causes in their message: stop at the first one.
    let top = describe(err.chain().next().expect("an error is its own first cause"));
    let mut msg = format!("error: {}", top.clone().unwrap_or_else(|| err.to_string()));
    if top.is_none() {
        for cause in err.chain().skip(1) {
            let core = describe(cause);
            let text = core.clone().unwrap_or_else(|| cause.to_string());
            if !msg.contains(&text) {
                msg.push_str(&format!("\n  caused by: {text}"));
            }
            if core.is_some() {
                break;
            }
        }
    }
    eprintln!("{msg}");
    ExitCode::from(if usage { 2 } else { 1 })
}
