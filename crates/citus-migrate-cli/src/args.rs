//! Options shared by several commands, and their one conversion into core configuration.

use clap::{Args, ValueEnum};

use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::filter::Selection;
use citus_migrate_core::Side;

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Source database: a postgresql:// URI or a "key=value" string; missing parts come from the
    /// PG* environment variables and ~/.pgpass, as with psql.
    #[arg(
        long,
        env = "CITUS_MIGRATE_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: String,
}

impl SourceArgs {
    pub fn conninfo(&self) -> citus_migrate_core::Result<ConnInfo> {
        ConnInfo::parse(Side::Source, &self.source)
    }
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Target Citus coordinator (or a PgBouncer / PgCat in front of it), as a URI or "key=value" string.
    #[arg(
        long,
        env = "CITUS_MIGRATE_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: String,
}

impl TargetArgs {
    pub fn conninfo(&self) -> citus_migrate_core::Result<ConnInfo> {
        ConnInfo::parse(Side::Target, &self.target)
    }
}

/// pg_dump-style table selection.
#[derive(Debug, Args, Default)]
pub struct FilterArgs {
    /// Only tables in schemas matching this pattern (repeatable; * and ? are wildcards).
    #[arg(long = "schema", short = 'n', value_name = "PATTERN")]
    pub schemas: Vec<String>,
    /// Only tables matching this [schema.]table pattern (repeatable).
    #[arg(long = "table", short = 't', value_name = "PATTERN")]
    pub tables: Vec<String>,
    /// Leave out schemas matching this pattern (repeatable).
    #[arg(long = "exclude-schema", short = 'N', value_name = "PATTERN")]
    pub exclude_schemas: Vec<String>,
    /// Leave out tables matching this pattern (repeatable).
    #[arg(long = "exclude-table", short = 'T', value_name = "PATTERN")]
    pub exclude_tables: Vec<String>,
}

impl FilterArgs {
    /// The one conversion of the options into core's selection (bad patterns are usage errors).
    pub fn selection(&self) -> citus_migrate_core::Result<Selection> {
        Selection::new(
            &self.schemas,
            &self.tables,
            &self.exclude_schemas,
            &self.exclude_tables,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Csv,
}

/// Test hook (not for users): `CITUS_MIGRATE_TEST_PAUSE_MS` makes every copy stream pause that long
/// around each chunk's commit, so that a test can interrupt a copy part-way.
pub fn test_pause() -> Option<std::time::Duration> {
    std::env::var("CITUS_MIGRATE_TEST_PAUSE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(std::time::Duration::from_millis)
}

/// Prints warnings collected while resolving connection options (never contains a password).
pub fn print_warnings(info: &ConnInfo) {
    for w in &info.warnings {
        eprintln!("warning: {} connection: {w}", info.side);
    }
}

/// Writes `text` to `path`, or to stdout when no path is given.
pub fn write_output(path: Option<&std::path::Path>, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    match path {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display())),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(text.as_bytes())
                .and_then(|()| match text.ends_with('\n') {
                    true => Ok(()),
                    false => out.write_all(b"\n"),
                })
                .and_then(|()| out.flush());
            match written {
                // The reader stopped early (`| head`): what it did not read is not wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("cannot write to stdout"),
            }
        }
    }
}

/// Format of a command's final summary or report (copy, export, import, verify, migrate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}
