//! `citus-migrate migrate`: the whole migration in one resumable command.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use citus_migrate_core::migrate::{self, MigrateOptions, MigrateSummary, Step, TestCrash};

use crate::args::{
    print_warnings, write_output, FilterArgs, SourceArgs, SummaryFormat, TargetArgs,
};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Work directory: the plan, the generated SQL, the state of every step, logs and the backup. Must
    /// be empty or missing, unless --resume.
    #[arg(long, value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Use this plan (the plan.json written by `citus-migrate generate`, possibly edited) instead of advising one.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Continue the migration recorded in --work-dir after its last finished step (and, inside the copy,
    /// after its last committed chunk).
    #[arg(long)]
    pub resume: bool,
    /// First write a pg_dump -Fc of the source to DIR/backup/source.dump (readable by its owner only).
    /// Applies to this run: a --resume takes a backup only when given --backup too.
    #[arg(long)]
    pub backup: bool,
    /// Parallel connections per side for copy, post-data and verify.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Approximate size of a copy chunk of source table: 64MB, 1GiB, 500kB, or bytes [default: as for
    /// `copy`].
    #[arg(long, value_name = "SIZE", value_parser = crate::copy::parse_size)]
    pub chunk_size: Option<u64>,
    /// When --source is a streaming hot standby: its primary. The run first waits until the standby has
    /// replayed everything the primary has written, and reads the sequences' values there; nothing else
    /// is read from the primary.
    #[arg(
        long,
        env = "CITUS_MIGRATE_SOURCE_PRIMARY",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source_primary: Option<String>,
    /// How long to wait for the standby to catch up with --source-primary.
    #[arg(long, default_value_t = 300, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub standby_wait: u64,
    /// Rehearse on a plain PostgreSQL target: show the distribution statements instead of running them.
    #[arg(long)]
    pub skip_distribution: bool,
    /// Keep the source writable: take a replication slot before the copy, and after the last step keep
    /// applying the source's changes (live lag on stderr) until `citus-migrate cutover` (or `abort`) is
    /// run on the same --work-dir. See docs/online.md.
    #[arg(long)]
    pub online: bool,
    /// Output format of the closing summary (progress goes to stderr).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Write the closing summary to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The test-only hooks that abort the process in or after a step, to test --resume (documented in
/// docs/resume.md; not meant for users).
fn test_crash() -> anyhow::Result<Option<TestCrash>> {
    for (var, during) in [
        ("CITUS_MIGRATE_TEST_CRASH_IN_STEP", true),
        ("CITUS_MIGRATE_TEST_CRASH_AFTER_STEP", false),
    ] {
        if let Ok(name) = std::env::var(var) {
            let step =
                Step::parse(&name).with_context(|| format!("{var}={name:?} is not a step name"))?;
            return Ok(Some(TestCrash { step, during }));
        }
    }
    Ok(None)
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    let target = args.target.conninfo()?;
    print_warnings(&source);
    print_warnings(&target);
    // Bad patterns are usage errors before anything starts.
    let selection = args.filters.selection()?;
    let opts = MigrateOptions {
        work_dir: args.work_dir.clone(),
        plan_file: args.plan.clone(),
        selection,
        resume: args.resume,
        backup: args.backup,
        jobs: args.jobs as usize,
        chunk_bytes: args.chunk_size,
        distribute: !args.skip_distribution,
        source_primary: args
            .source_primary
            .as_deref()
            .map(|p| citus_migrate_core::ConnInfo::parse(citus_migrate_core::Side::Source, p))
            .transpose()?,
        standby_wait: std::time::Duration::from_secs(args.standby_wait),
        online: args.online,
        follow: citus_migrate_core::online::FollowOptions {
            test_crash_after_commits: crate::online::crash_after_commits(),
        },
        test_crash: test_crash()?,
        test_pause: crate::args::test_pause(),
    };
    let progress = crate::progress::CliProgress::new();
    let summary = migrate::migrate(&source, &target, &opts, &progress).await;
    progress.finish();
    let summary = summary?;
    report(&summary, args.format, args.output.as_deref())
}

/// Prints the closing summary and turns a failed verification into exit code 1.
pub fn report(
    summary: &MigrateSummary,
    format: SummaryFormat,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let text = match format {
        SummaryFormat::Text => {
            let mut text = crate::render::migrate_text(summary);
            if let Some(o) = &summary.online {
                text.push_str(&format!(
                    "online: following stopped for the cutover; {}\n",
                    crate::render::online_line(&o.status)
                ));
            }
            text
        }
        SummaryFormat::Json => summary.to_json()?,
    };
    write_output(output, &text)?;
    // An online run's verification is the cutover's.
    if summary.equal || summary.online.is_some() {
        Ok(())
    } else {
        let n = summary
            .verify
            .as_ref()
            .map(|v| v.differences.len())
            .unwrap_or(0);
        anyhow::bail!(
            "migrate: verification found {n} difference(s) between the source and the target; after fixing them, run the same command with --resume to verify again"
        )
    }
}
