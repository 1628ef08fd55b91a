//! The `analyze` report: the catalog and the advice as data, and as JSON (schema in `docs/analyze.md`). The CLI
//! renders it as text and CSV.
//!
//! Entry point: [`AnalyzeReport::new`] from a catalog, [`AnalyzeReport::with_advice`] to add the advice
//! and the advised plan's blockers; then `to_json`.

use serde::Serialize;

use std::collections::HashMap;

use crate::advice::{
    Advice, Candidate, ColocationGroup, Kind, ShardCountAdvice, TableAdvice, Verdict,
};
use crate::catalog::{Catalog, Extension, Table};
use crate::error::{Error, Result};
use crate::ident::QualifiedName;
use crate::plan::checks::{Blocker, Code, Severity};
use crate::workload::WorkloadReport;

/// Version of the JSON layout; bumped on incompatible changes.
pub const REPORT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct SourceSummary<'a> {
    pub database: &'a str,
    pub server_version: &'a str,
    pub server_version_num: i32,
    pub citus_version: Option<&'a str>,
    pub database_bytes: i64,
    /// Set when the source is a hot standby.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<&'a crate::catalog::Standby>,
    pub table_count: usize,
    pub extensions: &'a [Extension],
}

#[derive(Debug, Serialize)]
#[non_exhaustive]
pub struct AnalyzeReport<'a> {
    pub format_version: u32,
    pub source: SourceSummary<'a>,
    /// The advice's verdict: `distributed`, `single_node` or `schema_based` (with advice only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why, and what would change the answer (with advice only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict_reasons: Option<&'a [String]>,
    pub tables: Vec<ReportTable<'a>>,
    /// The advised co-location groups (with advice only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colocation_groups: Option<&'a [ColocationGroup]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<&'a ShardCountAdvice>,
    /// The workload's predicted routing under the advised plan (with a workload only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<&'a WorkloadReport>,
}

/// One table of the report: the catalog's facts, plus the advice's fields when there is advice.
#[derive(Debug, Serialize)]
pub struct ReportTable<'a> {
    #[serde(flatten)]
    pub table: &'a Table,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub advice: Option<AdviceFields<'a>>,
}

/// The advice's fields on a `tables[]` object (`docs/advice.md`).
#[derive(Debug, Serialize)]
pub struct AdviceFields<'a> {
    pub kind: Kind,
    pub distribution_column: Option<&'a str>,
    pub colocation_group: Option<&'a str>,
    pub reasons: &'a [String],
    pub candidates: &'a [Candidate],
    pub blockers: Vec<&'a Blocker>,
}

impl std::ops::Deref for ReportTable<'_> {
    type Target = Table;
    fn deref(&self) -> &Table {
        self.table
    }
}

impl<'a> AnalyzeReport<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        let mut tables: Vec<&Table> = catalog.tables.iter().collect();
        tables.sort_by(|a, b| {
            b.total_bytes
                .cmp(&a.total_bytes)
                .then_with(|| a.qualified().cmp(&b.qualified()))
        });
        AnalyzeReport {
            format_version: REPORT_FORMAT_VERSION,
            source: SourceSummary {
                database: &catalog.database,
                server_version: &catalog.server_version,
                server_version_num: catalog.server_version_num,
                citus_version: catalog.citus_version.as_deref(),
                database_bytes: catalog.database_bytes,
                standby: catalog.standby.as_ref(),
                table_count: catalog.tables.len(),
                extensions: &catalog.extensions,
            },
            verdict: None,
            verdict_reasons: None,
            tables: tables
                .into_iter()
                .map(|table| ReportTable {
                    table,
                    advice: None,
                })
                .collect(),
            colocation_groups: None,
            shard_count: None,
            workload: None,
        }
    }

    /// Adds the advice (per-table decisions, reasons and candidates; groups and shard count) and the
    /// blockers of the advised plan ([`crate::plan::checks`]).
    pub fn with_advice(mut self, advice: &'a Advice, blockers: &'a [Blocker]) -> Self {
        let by_name: HashMap<(&str, &str), &TableAdvice> = advice
            .tables
            .iter()
            .rev()
            .map(|a| ((a.schema.as_str(), a.name.as_str()), a))
            .collect();
        // Each table's blockers: the NULLs counted in the data first, then by severity and code.
        let mut sorted: Vec<&Blocker> = blockers.iter().collect();
        sorted.sort_by_key(|b| {
            let counted =
                b.severity == Severity::Error && b.code == Code::NullsInDistributionColumn;
            (b.severity, !counted, b.code.as_str())
        });
        let mut by_table: HashMap<&QualifiedName, Vec<&Blocker>> = HashMap::new();
        for b in sorted {
            by_table.entry(&b.table).or_default().push(b);
        }
        for t in &mut self.tables {
            t.advice = by_name
                .get(&(t.table.schema.as_str(), t.table.name.as_str()))
                .map(|a| AdviceFields {
                    kind: a.kind,
                    distribution_column: a.distribution_column.as_deref(),
                    colocation_group: a.colocation_group.as_deref(),
                    reasons: &a.reasons,
                    candidates: &a.candidates,
                    blockers: by_table
                        .get(&t.table.qualified())
                        .cloned()
                        .unwrap_or_default(),
                });
        }
        self.verdict = Some(advice.verdict);
        self.verdict_reasons = Some(&advice.verdict_reasons);
        self.colocation_groups = Some(&advice.colocation_groups);
        self.shard_count = Some(&advice.shard_count);
        self
    }

    /// Adds the workload's predicted routing ([`crate::workload::Workload::route`]).
    pub fn with_workload(mut self, workload: &'a WorkloadReport) -> Self {
        self.workload = Some(workload);
        self
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))
    }
}
