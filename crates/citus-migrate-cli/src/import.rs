//! `citus-migrate import`: a CSV file with a header line into one target table, in one transaction.

use std::path::PathBuf;

use clap::Args;

use citus_migrate_core::copy::import_csv;
use citus_migrate_core::ident::QualifiedName;

use crate::args::{print_warnings, SummaryFormat, TargetArgs};
use crate::export::print_csv_summary;
use crate::progress::CliProgress;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The table to import into, in SQL syntax: orders, shop.orders, 'shop."Order Notes"'.
    #[arg(long, short = 't', value_name = "SCHEMA.TABLE")]
    pub table: String,
    /// The CSV file to read; its header line names the columns.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: PathBuf,
    /// Format of the final summary on stdout.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let target = args.target.conninfo()?;
    print_warnings(&target);
    let table = QualifiedName::parse(&args.table)?;
    let progress = CliProgress::new();
    let result = import_csv(&target, &table, &args.input, &progress).await;
    progress.finish();
    print_csv_summary("imported", "from", &result?, args.format)
}
