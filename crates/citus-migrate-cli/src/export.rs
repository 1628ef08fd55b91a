//! `citus-migrate export`: one source table into a CSV file with a header line.

use std::path::PathBuf;

use clap::Args;

use citus_migrate_core::copy::{export_csv, CsvSummary};
use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::util::{human_bytes, thousands};

use crate::args::{print_warnings, SourceArgs, SummaryFormat};
use crate::progress::CliProgress;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The table to export, in SQL syntax: orders, shop.orders, 'shop."Order Notes"'.
    #[arg(long, short = 't', value_name = "SCHEMA.TABLE")]
    pub table: String,
    /// The CSV file to write (it appears only once complete).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Format of the final summary on stdout.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    print_warnings(&source);
    let table = QualifiedName::parse(&args.table)?;
    let progress = CliProgress::new();
    let result = export_csv(&source, &table, &args.output, &progress).await;
    progress.finish();
    print_csv_summary("exported", "to", &result?, args.format)
}

/// Prints the summary of an export or import.
pub fn print_csv_summary(
    verb: &str,
    preposition: &str,
    s: &CsvSummary,
    format: SummaryFormat,
) -> anyhow::Result<()> {
    let text = match format {
        SummaryFormat::Json => serde_json::to_string_pretty(s)?,
        SummaryFormat::Text => format!(
            "{verb} {} rows of {} {preposition} {} ({}, {} columns) in {:.1} s",
            thousands(s.rows as i64),
            s.table,
            s.file.display(),
            human_bytes(s.bytes as i64),
            s.columns.len(),
            s.seconds
        ),
    };
    crate::args::write_output(None, &text)
}
