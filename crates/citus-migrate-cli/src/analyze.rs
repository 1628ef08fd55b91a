//! `citus-migrate analyze`: the source's facts as text, JSON or CSV.

use std::path::PathBuf;

use clap::Args;

use citus_migrate_core::advice::{self, AdviceOptions};
use citus_migrate_core::catalog::{self, ReadOptions};
use citus_migrate_core::plan::{checks, Plan};
use citus_migrate_core::report::AnalyzeReport;

use crate::args::{print_warnings, write_output, FilterArgs, ReportFormat, SourceArgs};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Count rows with count(*) instead of using the planner's estimates.
    #[arg(long)]
    pub exact_counts: bool,
    /// Connections used for --exact-counts.
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Shards per co-location group for the advice (suggested from the data when not given).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub shard_count: Option<u32>,
}

pub async fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    print_warnings(&source);
    let opts = ReadOptions {
        filters: args.filters.selection()?,
        exact_counts: args.exact_counts,
        jobs: args.jobs as usize,
    };
    let catalog = catalog::analyze(&source, &opts).await?;
    let advice = advice::advise(
        &catalog,
        &AdviceOptions {
            shard_count: args.shard_count,
            ..Default::default()
        },
    );
    let client = citus_migrate_core::connect::connect(&source).await?;
    let blockers = checks::check_source(&client, &catalog, &Plan::from_advice(&advice)).await?;
    let report = AnalyzeReport::new(&catalog).with_advice(&advice, &blockers);
    let text = match args.format {
        ReportFormat::Text => crate::render::analyze_text(&report),
        ReportFormat::Json => report.to_json()?,
        ReportFormat::Csv => crate::render::analyze_csv(&report)?,
    };
    write_output(args.output.as_deref(), &text)
}
