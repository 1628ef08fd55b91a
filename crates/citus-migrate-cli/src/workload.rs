//! `--workload` of analyze, generate and verify: where the application's queries come from.

use std::path::PathBuf;

use citus_migrate_core::catalog::Catalog;
use citus_migrate_core::workload::{self, Workload, WorkloadSource};
use citus_migrate_core::ConnInfo;

/// The value of `--workload`: `pg_stat_statements` (the source's view) or a file.
pub fn source(value: &str) -> WorkloadSource {
    if value == "pg_stat_statements" {
        WorkloadSource::PgStatStatements
    } else {
        WorkloadSource::File(PathBuf::from(value))
    }
}

/// Reads and parses the workload against the source's catalog; says on stderr what did not parse.
pub async fn load(value: &str, source: &ConnInfo, catalog: &Catalog) -> anyhow::Result<Workload> {
    let raw = workload::read(&self::source(value), source).await?;
    let w = workload::analyze(raw, catalog);
    if !w.unparsed.is_empty() {
        eprintln!(
            "warning: {} statement(s) of the workload could not be read and are left out (listed in the report)",
            w.unparsed.len()
        );
    }
    Ok(w)
}
