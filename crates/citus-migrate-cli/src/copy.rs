//! `citus-migrate copy`: table data from the source into the target, parallel and resumable.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use citus_migrate_core::copy::{self, CopyMode, CopyOptions, CopySummary};
use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::util::{human_bytes, thousands};
use citus_migrate_core::Error;

use crate::args::{print_warnings, SourceArgs, SummaryFormat, TargetArgs};
use crate::progress::CliProgress;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).multiple(true).args(["tables", "schemas", "plan"])))]
pub struct CopyArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// A table to copy, in SQL syntax: orders, shop.orders, 'shop."Order Notes"' (repeatable).
    #[arg(long = "table", short = 't', value_name = "SCHEMA.TABLE")]
    pub tables: Vec<String>,
    /// Copy every table of this schema, in SQL syntax: shop, '"My Schema"' (repeatable).
    #[arg(long = "schema", short = 'n', value_name = "SCHEMA")]
    pub schemas: Vec<String>,
    /// Copy the tables listed in this plan.json (written by `citus-migrate generate`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Parallel streams (each uses one source and one target connection).
    #[arg(long, short = 'j', default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Write copy.log (one line per chunk) and summary.json into this directory.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Continue an interrupted copy: skip the chunks already committed on the target.
    #[arg(long, conflicts_with = "truncate")]
    pub resume: bool,
    /// Empty the target tables first and start over.
    #[arg(long)]
    pub truncate: bool,
    /// Approximate size of a chunk of source table: 64MB, 1GiB, 500kB, or bytes [default: 32MB; for
    /// a table copied straight to its shards on the workers, 4MB per shard, at most 256MB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub chunk_size: Option<u64>,
    /// Further attempts of a chunk after a terminated backend or lost connection.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_retries: u32,
    /// Seconds without any progress after which a stream counts as dead (and is retried).
    #[arg(long, default_value_t = 300, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout: u64,
    /// Send every row through the Citus coordinator, even where sending rows straight to the shard
    /// placements on the workers would be safe.
    #[arg(long)]
    pub via_coordinator: bool,
    /// Keep the source writable: take a replication slot for just these tables before the copy, then
    /// keep applying their changes until `citus-migrate cutover` (or `abort`) is run on the same
    /// --work-dir, which it needs. --resume continues an interrupted online copy. See docs/online.md.
    #[arg(long, requires = "work_dir")]
    pub online: bool,
    /// Format of the final summary on stdout.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// Parses `64MB`, `64MiB`, `1g`, `500kB`, `4096`: units are powers of 1024, as in PostgreSQL.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 64MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use kB, MB, GB or TB)"
            ))
        }
    };
    let v = (n * mult as f64) as u64;
    if v == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(v)
}

/// A schema name in SQL syntax: `shop`, `"My Schema"`.
fn schema_name(s: &str) -> Result<String, Error> {
    match citus_migrate_core::ident::split_sql_name(s)?.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::usage(format!(
            "invalid schema name {s:?}: give one name, double-quoted where needed"
        ))),
    }
}

pub async fn run(args: CopyArgs) -> anyhow::Result<()> {
    let source = args.source.conninfo()?;
    let target = args.target.conninfo()?;
    print_warnings(&source);
    print_warnings(&target);
    let mut tables = args
        .tables
        .iter()
        .map(|t| QualifiedName::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut computed_columns = Default::default();
    if let Some(plan) = &args.plan {
        // The plan's tables, read with the plan's own loader (clear errors with line and column); the
        // columns it adds are read on the source from the parents' rows.
        let plan = citus_migrate_core::plan::Plan::load(plan)?;
        tables.extend(plan.tables.iter().map(|t| t.qualified()));
        computed_columns = citus_migrate_core::plan::changes::computed_columns_on_source(
            &source,
            &plan,
            &Default::default(),
        )
        .await?;
    }
    let schemas = args
        .schemas
        .iter()
        .map(|s| schema_name(s))
        .collect::<Result<Vec<_>, _>>()?;
    let tables = copy::tables_to_copy(&source, &tables, &schemas).await?;
    let opts = CopyOptions {
        jobs: args.jobs as usize,
        chunk_bytes: args.chunk_size,
        mode: match (args.resume, args.truncate) {
            (true, _) => CopyMode::Resume,
            (_, true) => CopyMode::Truncate,
            _ => CopyMode::Fresh,
        },
        work_dir: args.work_dir.clone(),
        max_retries: args.max_retries,
        stall_timeout: Duration::from_secs(args.stall_timeout),
        via_coordinator: args.via_coordinator,
        snapshot_file: None,
        test_pause: crate::args::test_pause(),
        computed_columns,
    };
    let progress = CliProgress::new();
    if args.online {
        return online(&source, &target, &tables, opts, &args, &progress).await;
    }
    let result = copy::copy_tables(&source, &target, &tables, &opts, &progress).await;
    progress.finish();
    let summary = result?;
    let text = match args.format {
        SummaryFormat::Text => summary_text(&summary),
        SummaryFormat::Json => serde_json::to_string_pretty(&summary)?,
    };
    crate::args::write_output(None, &text)
}

/// `copy --online`: the copy from the slot's snapshot, then the catch-up until cutover or abort.
async fn online(
    source: &citus_migrate_core::ConnInfo,
    target: &citus_migrate_core::ConnInfo,
    tables: &[QualifiedName],
    copy: CopyOptions,
    args: &CopyArgs,
    progress: &CliProgress,
) -> anyhow::Result<()> {
    let opts = citus_migrate_core::online::OnlineCopyOptions {
        work_dir: args.work_dir.clone().unwrap_or_default(),
        resume: args.resume,
        copy: CopyOptions {
            mode: if args.truncate {
                CopyMode::Truncate
            } else {
                CopyMode::Fresh
            },
            ..copy
        },
        follow: citus_migrate_core::online::FollowOptions {
            test_crash_after_commits: crate::online::crash_after_commits(),
        },
    };
    let result = citus_migrate_core::online::copy(source, target, tables, &opts, progress).await;
    progress.finish();
    let summary = result?;
    let text = match args.format {
        SummaryFormat::Text => {
            let mut text = summary.copy.as_ref().map(summary_text).unwrap_or_default();
            text.push_str(&format!(
                "online: following stopped for the cutover; {}\n",
                crate::render::online_line(&summary.follow.status)
            ));
            text
        }
        SummaryFormat::Json => serde_json::to_string_pretty(&summary)?,
    };
    crate::args::write_output(None, &text)
}

fn per_sec(bytes: u64, secs: f64) -> String {
    if secs > 0.0 {
        format!("{}/s", human_bytes((bytes as f64 / secs) as i64))
    } else {
        "-".into()
    }
}

/// The final summary as text: totals, then one line per table. What this run copied is told apart
/// from the chunks earlier runs had committed.
pub fn summary_text(s: &CopySummary) -> String {
    let tables = format!(
        "{} table{}",
        s.tables.len(),
        if s.tables.len() == 1 { "" } else { "s" }
    );
    let this_run = format!(
        "{} rows, {} in {:.1} s ({}) with {} stream{}",
        thousands(s.rows as i64),
        human_bytes(s.bytes as i64),
        s.seconds,
        per_sec(s.bytes, s.seconds),
        s.jobs,
        if s.jobs == 1 { "" } else { "s" },
    );
    let earlier_chunks: u32 = s.tables.iter().map(|t| t.skipped_chunks).sum();
    let mut out = if earlier_chunks == 0 {
        format!("copied {tables}: {this_run}\n")
    } else {
        format!(
            "resumed the copy of {tables}: this run copied {this_run}; earlier runs had committed {} rows, {} in {earlier_chunks} chunk{}\n",
            thousands(s.tables.iter().map(|t| t.skipped_rows).sum::<u64>() as i64),
            human_bytes(s.tables.iter().map(|t| t.skipped_bytes).sum::<u64>() as i64),
            if earlier_chunks == 1 { "" } else { "s" },
        )
    };
    let width = s
        .tables
        .iter()
        .map(|t| t.table.to_string().chars().count())
        .max()
        .unwrap_or(0);
    for t in &s.tables {
        let mut skipped = String::new();
        if t.skipped_chunks > 0 {
            skipped = format!(
                ", {} already committed before ({} rows)",
                t.skipped_chunks,
                thousands(t.skipped_rows as i64)
            );
        }
        let retries = if t.retries > 0 {
            format!(", {} retried", t.retries)
        } else {
            String::new()
        };
        let direct = if t.worker_direct {
            ", straight to the workers"
        } else if t.inserts {
            ", through the coordinator as INSERTs"
        } else {
            ""
        };
        let format = if t.binary { ", binary" } else { "" };
        out.push_str(&format!(
            "  {:<width$}  {:>13} rows  {:>9}  {:>6.1} s  {:>11}  {} chunk{}{direct}{format}{skipped}{retries}\n",
            t.table.to_string(),
            thousands(t.rows as i64),
            human_bytes(t.bytes as i64),
            t.seconds,
            per_sec(t.bytes, t.seconds),
            t.chunks,
            if t.chunks == 1 { "" } else { "s" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("500kB").unwrap(), 500 << 10);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }
}
