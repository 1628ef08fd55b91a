//! The `analyze` report ([`AnalyzeReport`]) as readable text and as CSV with one row per table.

use std::fmt::Write as _;

use citus_migrate_core::advice::Kind;
use citus_migrate_core::error::{Error, Result};
use citus_migrate_core::ident::{indent_sql, quote_ident};
use citus_migrate_core::plan::checks::{Blocker, Severity};
use citus_migrate_core::report::{AdviceFields, AnalyzeReport, ReportTable};
use citus_migrate_core::util::{human_bytes, thousands};

/// The report as CSV, one row per table.
pub fn analyze_csv(report: &AnalyzeReport) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Other(format!("cannot write CSV: {e}"));
    w.write_record([
        "schema",
        "name",
        "table_kind",
        "total_bytes",
        "heap_bytes",
        "index_bytes",
        "toast_bytes",
        "rows_estimate",
        "rows_exact",
        "columns",
        "primary_key",
        "unique_constraints",
        "foreign_keys",
        "referenced_by",
        "indexes",
        "triggers",
        "rules",
        "policies",
        "kind",
        "distribution_column",
        "colocation_group",
        "blockers",
    ])
    .map_err(err)?;
    for t in &report.tables {
        let fks: Vec<String> = t
            .foreign_keys
            .iter()
            .map(|f| {
                format!(
                    "({})->{}({})",
                    f.columns.join(","),
                    f.referenced_table,
                    f.referenced_columns.join(",")
                )
            })
            .collect();
        let refs: Vec<String> = t
            .referenced_by
            .iter()
            .map(|r| r.table.to_string())
            .collect();
        w.write_record([
            t.schema.clone(),
            t.name.clone(),
            t.table_kind.label().to_string(),
            t.total_bytes.to_string(),
            t.heap_bytes.to_string(),
            t.index_bytes.to_string(),
            t.toast_bytes.to_string(),
            t.rows_estimate.to_string(),
            t.rows_exact.map(|n| n.to_string()).unwrap_or_default(),
            t.columns.len().to_string(),
            t.primary_key
                .as_ref()
                .map(|k| k.columns.join(","))
                .unwrap_or_default(),
            t.unique_constraints
                .iter()
                .map(|k| k.columns.join(","))
                .collect::<Vec<_>>()
                .join(";"),
            fks.join(";"),
            refs.join(";"),
            t.indexes.len().to_string(),
            t.triggers.len().to_string(),
            t.rules.len().to_string(),
            t.policies.len().to_string(),
            t.advice
                .as_ref()
                .map(|a| a.kind.to_string())
                .unwrap_or_default(),
            t.advice
                .as_ref()
                .and_then(|a| a.distribution_column)
                .unwrap_or_default()
                .to_string(),
            t.advice
                .as_ref()
                .and_then(|a| a.colocation_group)
                .unwrap_or_default()
                .to_string(),
            t.advice
                .as_ref()
                .map(|a| {
                    a.blockers
                        .iter()
                        .map(|b| b.code.as_str())
                        .collect::<Vec<_>>()
                        .join(";")
                })
                .unwrap_or_default(),
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Other(format!("cannot write CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Other(format!("cannot write CSV: {e}")))
}

/// The report as readable text.
pub fn analyze_text(report: &AnalyzeReport) -> String {
    let mut out = String::new();
    // The verdict first: it decides what the rest of the advice means.
    if let Some(v) = report.verdict {
        let schemas: std::collections::BTreeSet<&str> = report
            .tables
            .iter()
            .filter(|t| t.advice.as_ref().is_some_and(|a| a.kind == Kind::Schema))
            .map(|t| t.schema.as_str())
            .collect();
        out.push_str(&crate::render::verdict_line(v, schemas.len()));
        for r in report.verdict_reasons.unwrap_or_default() {
            let _ = writeln!(out, "  - {r}");
        }
        out.push('\n');
    }
    let s = &report.source;
    let _ = writeln!(
        out,
        "Source database {:?}: PostgreSQL {}, {}",
        s.database,
        s.server_version,
        human_bytes(s.database_bytes)
    );
    if let Some(st) = s.standby {
        let _ = writeln!(out, "  {}", crate::render::standby(st));
    }
    if let Some(v) = s.citus_version {
        let _ = writeln!(out, "  The source already has Citus {v} installed.");
    }
    if !s.extensions.is_empty() {
        let names: Vec<String> = s
            .extensions
            .iter()
            .map(|e| format!("{} {}", e.name, e.version))
            .collect();
        let _ = writeln!(out, "  Extensions: {}", names.join(", "));
    }
    let total_rows: i64 = report
        .tables
        .iter()
        .filter(|t| t.holds_data())
        .map(|t| t.rows())
        .sum();
    let _ = writeln!(
        out,
        "  {} tables, about {} rows\n",
        report.tables.len(),
        thousands(total_rows)
    );
    if report.tables.is_empty() {
        let _ = writeln!(out, "No tables selected.");
        return out;
    }
    let name_w = report
        .tables
        .iter()
        .map(|t| t.qualified().to_string().chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 60);
    let _ = writeln!(
        out,
        "{:<name_w$}  {:>10}  {:>14}  {:<18}  {:<24}  FKs",
        "TABLE", "SIZE", "ROWS", "KIND", "PRIMARY KEY"
    );
    for t in &report.tables {
        let rows = match (t.rows_exact, t.rows_estimate) {
            (Some(n), _) => thousands(n),
            (None, -1) => "never analyzed".into(),
            (None, n) => format!("~{}", thousands(n)),
        };
        let pk = t
            .primary_key
            .as_ref()
            .map(|k| k.columns.join(", "))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<name_w$}  {:>10}  {:>14}  {:<18}  {:<24}  {}",
            t.qualified().to_string(),
            human_bytes(t.total_bytes),
            rows,
            t.table_kind.label(),
            pk,
            t.foreign_keys.len()
        );
    }
    let fk_total: usize = report.tables.iter().map(|t| t.foreign_keys.len()).sum();
    let _ = writeln!(out, "\nForeign keys: {fk_total}");
    let mut referenced: Vec<&ReportTable> = report
        .tables
        .iter()
        .filter(|t| !t.referenced_by.is_empty())
        .collect();
    referenced.sort_by(|a, b| {
        b.referenced_by
            .len()
            .cmp(&a.referenced_by.len())
            .then_with(|| a.qualified().cmp(&b.qualified()))
    });
    const SHOWN: usize = 25;
    for t in referenced.iter().take(SHOWN) {
        let mut names: Vec<String> = t
            .referenced_by
            .iter()
            .take(8)
            .map(|r| format!("{}({})", r.table, r.columns.join(", ")))
            .collect();
        if t.referenced_by.len() > 8 {
            names.push(format!("… {} more", t.referenced_by.len() - 8));
        }
        let _ = writeln!(out, "  {} <- {}", t.qualified(), names.join(", "));
    }
    if referenced.len() > SHOWN {
        let _ = writeln!(
            out,
            "  … and {} more referenced tables (see --format json)",
            referenced.len() - SHOWN
        );
    }
    let notable: Vec<String> = report
        .tables
        .iter()
        .filter_map(|t| {
            let mut v = Vec::new();
            for (n, one, many) in [
                (t.triggers.len(), "trigger", "triggers"),
                (t.rules.len(), "rule", "rules"),
                (t.policies.len(), "policy", "policies"),
                (
                    t.exclusion_constraints.len(),
                    "exclusion constraint",
                    "exclusion constraints",
                ),
            ] {
                if n > 0 {
                    v.push(format!("{n} {}", if n == 1 { one } else { many }));
                }
            }
            if t.rls_enabled {
                v.push("row-level security enabled".into());
            }
            (!v.is_empty()).then(|| format!("{}: {}", t.qualified(), v.join(", ")))
        })
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(out, "\nTriggers, rules, policies, exclusion constraints:");
        for n in notable {
            let _ = writeln!(out, "  {n}");
        }
    }
    advice_text(report, &mut out);
    out
}

fn advice_text(report: &AnalyzeReport, out: &mut String) {
    let Some(shards) = report.shard_count else {
        return;
    };
    let advised: Vec<(&ReportTable, &AdviceFields)> = report
        .tables
        .iter()
        .filter_map(|t| t.advice.as_ref().map(|a| (t, a)))
        .collect();
    let _ = writeln!(
        out,
        "\nDistribution advice: {} shards ({})",
        shards.count, shards.reason
    );
    for g in report.colocation_groups.unwrap_or_default() {
        let _ = writeln!(
            out,
            "\n  Co-location group {:?} ({}, leader {}): {}",
            g.name, g.column_type, g.leader, g.reason
        );
        for name in &g.tables {
            if let Some((t, a)) = advised.iter().find(|(t, _)| t.qualified() == *name) {
                let _ = writeln!(
                    out,
                    "    {} distributed on {}",
                    t.qualified(),
                    quote_ident(a.distribution_column.unwrap_or(""))
                );
                for r in a.reasons {
                    let _ = writeln!(out, "      - {r}");
                }
            }
        }
    }
    let mut schemas: Vec<(&str, Vec<&str>)> = Vec::new();
    for (t, _) in advised.iter().filter(|(_, a)| a.kind == Kind::Schema) {
        match schemas.iter_mut().find(|(s, _)| *s == t.schema) {
            Some((_, v)) => v.push(&t.name),
            None => schemas.push((&t.schema, vec![&t.name])),
        }
    }
    if !schemas.is_empty() {
        schemas.sort();
        let _ = writeln!(
            out,
            "\n  Distributed schemas (citus_schema_distribute; each a co-location group of single-shard tables):"
        );
        for (s, mut tables) in schemas {
            tables.sort();
            let _ = writeln!(
                out,
                "    {}: {} table(s): {}",
                quote_ident(s),
                tables.len(),
                tables
                    .iter()
                    .map(|t| quote_ident(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for (kind, title) in [
        (Kind::Reference, "Reference tables"),
        (Kind::Local, "Local tables (stay on the coordinator)"),
    ] {
        let v: Vec<_> = advised.iter().filter(|(_, a)| a.kind == kind).collect();
        if v.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n  {title}:");
        for (t, a) in v {
            let _ = writeln!(out, "    {}: {}", t.qualified(), a.reasons.join("; "));
        }
    }
    let blockers: Vec<&Blocker> = advised
        .iter()
        .flat_map(|(_, a)| a.blockers.iter().copied())
        .collect();
    let errors = blockers
        .iter()
        .filter(|b| b.severity == Severity::Error)
        .count();
    if blockers.is_empty() {
        let _ = writeln!(
            out,
            "\nNo blockers: `citus-migrate generate` can write the SQL for this plan."
        );
        return;
    }
    let _ = writeln!(
        out,
        "\nBlockers: {errors} error(s), {} warning(s)",
        blockers.len() - errors
    );
    for b in blockers {
        let sev = if b.severity == Severity::Error {
            "ERROR  "
        } else {
            "warning"
        };
        let _ = writeln!(out, "  {sev} {b}");
        if let Some(fix) = &b.fix {
            let _ = writeln!(out, "          fix: {}", indent_sql(fix, "               "));
        }
    }
}
