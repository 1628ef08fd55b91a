//! The result of `verify` ([`VerifyReport`]) as readable text.

use std::fmt::Write as _;

use citus_migrate_core::util::thousands;
use citus_migrate_core::verify::VerifyReport;

/// The comparison as a table per source table, then the layout, the sequences and the differences.
pub fn verify_text(report: &VerifyReport) -> String {
    let mut out = String::new();
    let w = report
        .tables
        .iter()
        .map(|t| t.table.to_string().chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 60);
    if !report.tables.is_empty() {
        let _ = writeln!(
            out,
            "{:<w$}  {:>14}  {:>14}  {:<32}  RESULT",
            "TABLE", "SOURCE ROWS", "TARGET ROWS", "CHECKSUM"
        );
    }
    for t in &report.tables {
        let target = t
            .target_rows
            .map(thousands)
            .unwrap_or_else(|| "missing".into());
        let digest = if t.ranges.len() == 1 {
            t.ranges[0].source.digest.clone()
        } else {
            format!("{} ranges", t.ranges.len())
        };
        let _ = writeln!(
            out,
            "{:<w$}  {:>14}  {:>14}  {:<32}  {}",
            t.table.to_string(),
            thousands(t.source_rows),
            target,
            digest,
            if t.equal { "equal" } else { "DIFFERENT" }
        );
    }
    if !report.layout.is_empty() {
        let ok = report.layout.iter().filter(|l| l.equal).count();
        let _ = writeln!(
            out,
            "\nCitus layout: {ok} of {} tables as planned",
            report.layout.len()
        );
    }
    if !report.sequences.is_empty() {
        let ok = report.sequences.iter().filter(|s| s.ok).count();
        let _ = writeln!(
            out,
            "Sequences: {ok} of {} past the source's value",
            report.sequences.len()
        );
    }
    if report.equal {
        let rows: i64 = report.tables.iter().map(|t| t.source_rows).sum();
        let _ = writeln!(
            out,
            "\nOK: {} tables, {} rows: the target holds exactly the source's data.",
            report.tables.len(),
            thousands(rows)
        );
    } else {
        let _ = writeln!(out, "\n{} difference(s):", report.differences.len());
        for d in &report.differences {
            match &d.range {
                Some(r) => {
                    let _ = writeln!(out, "  {}: {} [range {r}]", d.object, d.message);
                }
                None => {
                    let _ = writeln!(out, "  {}: {}", d.object, d.message);
                }
            }
        }
    }
    out
}
