//! `citus-migrate cutover`, `abort` and `status`: the end of an online migration (`migrate --online`)
//! and a look at it from another shell.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use citus_migrate_core::online::{self, CutoverOptions};

use crate::args::{print_warnings, write_output, SourceArgs, SummaryFormat, TargetArgs};

#[derive(Debug, Args)]
pub struct CutoverArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The work directory of the `migrate --online` (or `copy --online`) run.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Make the source database read-only for the cutover (ALTER DATABASE … SET
    /// default_transaction_read_only = on, ending the sessions connected to it) and restore it after.
    /// Without it, stop the application's writes first.
    #[arg(long)]
    pub block_writes: bool,
    /// Parallel connections per side for the verification.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Seconds to wait for the running `migrate --online` to stop following.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub wait: u64,
    /// Output format of the closing report (progress goes to stderr).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct AbortArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The work directory of the `migrate --online` (or `copy --online`) run.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Seconds to wait for the running `migrate --online` to stop following.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The work directory of the `migrate --online` (or `copy --online`) run.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// Test hook (not for users, docs/online.md): abort the process after the n-th target commit of the
/// catch-up or the drain, before the slot advances.
pub fn crash_after_commits() -> Option<u64> {
    std::env::var("CITUS_MIGRATE_TEST_ONLINE_CRASH_AFTER_COMMITS")
        .ok()
        .and_then(|n| n.parse().ok())
}

pub async fn cutover(args: CutoverArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    let target = args.target.conninfo()?;
    print_warnings(&source);
    print_warnings(&target);
    let opts = CutoverOptions {
        block_writes: args.block_writes,
        jobs: args.jobs as usize,
        wait: Duration::from_secs(args.wait),
        test_crash_after_commits: crash_after_commits(),
    };
    let progress = crate::progress::CliProgress::new();
    let result = online::cutover(&source, &target, &args.work_dir, &opts, &progress).await;
    progress.finish();
    let summary = result?;
    let text = match args.format {
        SummaryFormat::Text => crate::render::cutover_text(&summary),
        SummaryFormat::Json => serde_json::to_string_pretty(&summary)?,
    };
    write_output(None, &text)?;
    if summary.equal {
        Ok(())
    } else {
        anyhow::bail!(
            "cutover: verification found {} difference(s); the replication slot is kept",
            summary.verify.differences.len()
        )
    }
}

pub async fn abort(args: AbortArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    print_warnings(&source);
    let progress = crate::progress::CliProgress::new();
    let result = online::abort(
        &source,
        &args.work_dir,
        Duration::from_secs(args.wait),
        &progress,
    )
    .await;
    progress.finish();
    write_output(None, &crate::render::abort_text(&result?))
}

pub fn status(args: StatusArgs) -> anyhow::Result<()> {
    let report = online::status(&args.work_dir)?;
    let text = match args.format {
        SummaryFormat::Text => crate::render::status_text(&report),
        SummaryFormat::Json => serde_json::to_string_pretty(&report)?,
    };
    write_output(None, &text)
}
