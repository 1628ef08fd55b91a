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
    /// The application's queries: `pg_stat_statements` (read from the source) or a file (SQL with
    /// `-- calls: N` weights, or a CSV export of pg_stat_statements). Their joins and filters weigh in
    /// the advice, and the report predicts how Citus routes each one under the advised plan.
    #[arg(long, value_name = "WORKLOAD")]
    pub workload: Option<String>,
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
    let workload = match &args.workload {
        Some(w) => Some(crate::workload::load(w, &source, &catalog).await?),
        None => None,
    };
    let advice = advice::advise(
        &catalog,
        &AdviceOptions {
            shard_count: args.shard_count,
            workload: workload.as_ref().map(|w| w.weights()).unwrap_or_default(),
            ..Default::default()
        },
    );
    let plan = Plan::from_advice(&advice);
    let client = citus_migrate_core::connect::connect(&source).await?;
    let blockers = checks::check_source(&client, &catalog, &plan).await?;
    let routed = workload.as_ref().map(|w| w.route(&plan, &catalog));
    let mut report = AnalyzeReport::new(&catalog).with_advice(&advice, &blockers);
    if let Some(r) = &routed {
        report = report.with_workload(r);
    }
    let text = match args.format {
        ReportFormat::Text => {
            let mut text = crate::render::analyze_text(&report);
            if let Some(r) = &routed {
                text.push_str(&crate::render::workload_text(r));
            }
            text
        }
        ReportFormat::Json => report.to_json()?,
        ReportFormat::Csv => crate::render::analyze_csv(&report)?,
    };
    write_output(args.output.as_deref(), &text)
}
