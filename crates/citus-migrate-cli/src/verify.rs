//! `citus-migrate verify`: row counts and content checksums on both sides, the Citus layout against the
//! plan, and the sequences. Exit 0 only when everything matches.

use std::path::PathBuf;

use clap::Args;

use citus_migrate_core::plan::{changes, Plan};
use citus_migrate_core::verify::{self, VerifyOptions};

use crate::args::{
    print_warnings, write_output, FilterArgs, SourceArgs, SummaryFormat, TargetArgs,
};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Also check that the target's Citus layout is the one this plan asks for (distributed on the
    /// planned column, co-located by group, reference tables).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Tables compared at the same time (each on one connection per side).
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Check the routing of the application's queries instead of the data: EXPLAIN each one on the
    /// target (never executed; $n from the source's data) and set Citus's plan next to the routing
    /// predicted for the layout the target holds. `pg_stat_statements` (the source's) or a file.
    #[arg(long, value_name = "WORKLOAD", conflicts_with = "plan")]
    pub workload: Option<String>,
    /// With --workload: exit 1 when a measured routing differs from the prediction.
    #[arg(long, requires = "workload")]
    pub strict: bool,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    let target = args.target.conninfo()?;
    print_warnings(&source);
    print_warnings(&target);
    if let Some(w) = &args.workload {
        return routing(&args, w, &source, &target).await;
    }
    let filters = args.filters.selection()?;
    let plan = args.plan.as_deref().map(Plan::load).transpose()?;
    // The columns the plan adds are computed on the source.
    let computed_columns = match &plan {
        Some(p) => changes::computed_columns_on_source(&source, p, &filters).await?,
        None => Default::default(),
    };
    let opts = VerifyOptions {
        filters,
        expected_layout: plan.as_ref().map(verify::expected_layout),
        jobs: args.jobs as usize,
        check_sequences: true,
        ranges: Default::default(),
        copy_ranges: true,
        computed_columns,
    };
    let report = verify::verify(
        &source,
        &target,
        &opts,
        &citus_migrate_core::progress::NoProgress,
    )
    .await?;
    let text = match args.format {
        SummaryFormat::Text => crate::render::verify_text(&report),
        SummaryFormat::Json => report.to_json()?,
    };
    write_output(args.output.as_deref(), &text)?;
    if report.equal {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "verify: {} difference(s) between the source and the target",
            report.differences.len()
        ))
    }
}

/// `verify --workload`: measured routing next to the prediction.
async fn routing(
    args: &VerifyArgs,
    workload: &str,
    source: &citus_migrate_core::ConnInfo,
    target: &citus_migrate_core::ConnInfo,
) -> anyhow::Result<()> {
    let opts = citus_migrate_core::catalog::ReadOptions {
        filters: args.filters.selection()?,
        exact_counts: false,
        jobs: 1,
    };
    let catalog = citus_migrate_core::catalog::analyze(source, &opts).await?;
    let w = crate::workload::load(workload, source, &catalog).await?;
    let src = citus_migrate_core::connect::connect(source).await?;
    let tgt = citus_migrate_core::connect::connect(target).await?;
    let check = citus_migrate_core::workload::explain::check(&src, &tgt, &catalog, &w).await?;
    let text = match args.format {
        SummaryFormat::Text => crate::render::routing_check_text(&check),
        SummaryFormat::Json => serde_json::to_string_pretty(&check)?,
    };
    write_output(args.output.as_deref(), &text)?;
    if args.strict && check.disagreements > 0 {
        return Err(anyhow::anyhow!(
            "verify: the measured routing differs from the prediction for {} of {} queries",
            check.disagreements,
            check.queries.len()
        ));
    }
    Ok(())
}
